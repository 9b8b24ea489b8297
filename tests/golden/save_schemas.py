"""Save the JSON Schema of every answer (and of the fact format) whose current version has no
golden copy yet.  Never overwrites: a golden schema is the promise made with its version.

    python -m tests.golden.save_schemas
"""

from __future__ import annotations

import json
from pathlib import Path

from compute_ledger.ledger.facts import FACT_FORMAT, fact_schema
from compute_ledger.projections.answers import ANSWERS, answer_schema, version_of

HERE = Path(__file__).parent / "schemas"


def golden_path(name: str, version: str) -> Path:
    return HERE / f"{name}-{version.replace('@', '/').rsplit('/', 1)[-1]}.json"


def current() -> dict[str, tuple[str, dict[str, object]]]:
    found: dict[str, tuple[str, dict[str, object]]] = {"fact": (FACT_FORMAT, fact_schema())}
    for name in ANSWERS:
        found[name] = (version_of(name), answer_schema(name))
    return found


def main() -> None:
    for name, (version, schema) in current().items():
        path = golden_path(name, version)
        if path.exists():
            continue
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        print(f"saved {path} for {version}")


if __name__ == "__main__":
    main()
