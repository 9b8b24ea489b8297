"""The JSON answers are versioned: a schema that changes without its version fails here.

Each answer declares its version (its "schema" field; a feed record, its stored topic; the
fact format, ledger.facts.FACT_FORMAT), and tests/golden/schemas holds the JSON Schema
promised with each version.  Changing an answer's shape means a new version, whose schema
`python -m tests.golden.save_schemas` saves beside the old ones (it never overwrites).
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from click.testing import CliRunner
from golden.save_schemas import current, golden_path

from compute_ledger.cli.main import main
from compute_ledger.ledger.facts import normalised, schema_of

NAMES = sorted(current())


@pytest.mark.parametrize("name", NAMES)
def test_a_schema_changes_only_with_its_version(name: str) -> None:
    version, schema = current()[name]
    path = golden_path(name, version)
    assert path.exists(), (
        f"{name} is at version {version}, which has no golden schema: if the shape changed "
        "on purpose, run `python -m tests.golden.save_schemas` and commit the new file"
    )
    assert json.loads(json.dumps(schema, sort_keys=True)) == json.loads(path.read_text()), (
        f"the JSON Schema of {name} changed but its version ({version}) did not: bump the "
        "version and save the new schema"
    )


def test_every_json_answer_has_a_golden_schema_and_says_its_version() -> None:
    assert {"fact", "verdict", "business", "timeline", "replay", "append", "verify", "digest",
            "record"} <= set(NAMES)
    for name in NAMES:
        if name in ("fact", "record"):
            continue
        schema: dict[str, Any] = current()[name][1]
        definition = schema["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
        assert "schema" in definition["properties"], name


@pytest.mark.parametrize("name", NAMES)
def test_the_schema_command_prints_it(name: str) -> None:
    result = CliRunner().invoke(main, ["schema", name])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == json.loads(json.dumps(current()[name][1]))


class _Documented(msgspec.Struct):
    """First line.

    An indented second paragraph, as docstrings are written.
    """

    x: int


def test_descriptions_do_not_depend_on_msgspecs_docstring_formatting() -> None:
    # msgspec 0.22 kept a docstring's indentation in "description", 0.23 strips it: what the
    # project publishes is the cleandoc form under both.
    expected = "First line.\n\nAn indented second paragraph, as docstrings are written."
    schema = schema_of(_Documented)
    assert schema["$defs"]["_Documented"]["description"] == expected
    as_022 = {"$defs": {"X": {"description": "First line.\n\n    An indented second paragraph, "
                                             "as docstrings are written.\n    ",
                              "properties": {"description": {"type": "string"}}}}}
    assert normalised(as_022) == {"$defs": {"X": {
        "description": expected, "properties": {"description": {"type": "string"}}}}}
