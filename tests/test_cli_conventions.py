"""The CLI's conventions: `--db` and `--json` before the command's name as after it, and with
`--json` every error is also a versioned JSON object on stdout, with the same exit status."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import msgspec
import pytest
from cli_runner import run

from compute_ledger.projections.answers import ErrorOut
from compute_ledger.projections.api import bundled_record


@pytest.fixture
def db(tmp_path: Path) -> str:
    record = tmp_path / "record.jsonl"
    record.write_bytes(bundled_record())
    path = str(tmp_path / "ledger.sqlite3")
    assert run("append", str(record), "--db", path).exit_code == 0
    return path


def test_db_and_json_may_come_before_the_command(db: str) -> None:
    before = run("--db", db, "--json", "verdict", "--as-of", "2026-05-23", "--known-at", "@8")
    after = run("verdict", "--as-of", "2026-05-23", "--known-at", "@8", "--db", db, "--json")
    assert before.exit_code == after.exit_code == 0, before.stderr
    assert json.loads(before.stdout) == json.loads(after.stdout)
    assert json.loads(before.stdout)["status"] == "CRITERIA_MET"
    mixed = run("--json", "business", "--as-of", "2026-05-23", "--db", db)
    assert json.loads(mixed.stdout)["schema"].startswith("compute-ledger/business/")
    exported = run("--db", db, "export", "sqlite", str(Path(db).with_name("out.db")))
    assert exported.exit_code == 0, exported.stderr  # a group's subcommand takes them too


def test_the_commands_own_db_wins(db: str, tmp_path: Path) -> None:
    done = run("--db", str(tmp_path / "elsewhere.sqlite3"), "digest", "--db", db)
    assert done.exit_code == 0, done.stderr
    assert done.stdout.startswith("8:")


def test_an_option_before_a_command_that_has_none_is_refused(db: str, tmp_path: Path) -> None:
    done = run("--json", "report", str(tmp_path / "page.html"), "--db", db)
    assert done.exit_code == 2
    assert "report takes no --json" in done.stderr
    assert not (tmp_path / "page.html").exists()
    keygen = run("--db", db, "keygen", "--name", "x", "--out", str(tmp_path / "k"))
    assert keygen.exit_code == 2
    assert "keygen takes no --db" in keygen.stderr


def _tampered(db: str) -> str:
    conn = sqlite3.connect(db)
    with conn:
        # replace() rewrites the blob as TEXT too: verify must read it as bytes, not crash
        changed = conn.execute("UPDATE stored_events SET state = replace(state, 'anthropic', "
                               "'anthropiX') WHERE instr(state, 'anthropic') > 0").rowcount
    assert changed > 0
    conn.close()
    return db


FAILURES = {
    # name: (argv after --db, exit status, code)
    "missing ledger": (["verdict"], 1, "not_found"),
    "bad instant": (["verdict", "--as-of", "yesterday"], 2, "usage"),
    "unknown command": (["nosuch"], 2, "usage"),
    "unknown option": (["verdict", "--nope"], 2, "usage"),
    "bad batch": (["append", "-"], 2, "bad_input"),
    "unknown fact": (["show", "nope"], 1, "not_found"),
    "bad pin": (["verify", "--against", "8:abc"], 2, "usage"),
    "tampered": (["verify"], 1, "verification_failed"),
    "not a checkpoint": (["verify", "--against", "GARBAGE"], 2, "file_refused"),
}


@pytest.mark.parametrize("name", FAILURES)
@pytest.mark.parametrize("place", ["before", "after"])
def test_with_json_every_error_is_a_json_object_too(db: str, tmp_path: Path, name: str,
                                                     place: str) -> None:
    argv, status, code = FAILURES[name]
    target = str(tmp_path / "nope.sqlite3") if name == "missing ledger" else \
        _tampered(db) if name == "tampered" else db
    garbage = tmp_path / "garbage.txt"
    garbage.write_text("not a checkpoint\n")
    argv = [str(garbage) if a == "GARBAGE" else a for a in argv]
    given = ["--json", "--db", target, *argv] if place == "before" \
        else [*argv, "--db", target, "--json"]
    if name in ("unknown command", "unknown option") and place == "after":
        given = [*argv, "--json"]
    done = run(*given, input='{"type": "announcement"}\n')
    assert done.exit_code == status, done.stderr
    error = msgspec.json.decode(done.stdout, type=ErrorOut).error  # nothing else on stdout
    assert error.code == code
    assert error.exit_code == status
    shown = done.stderr.strip().splitlines()
    assert any(line.startswith("Error: ") for line in shown)
    assert error.message.splitlines()[0] in done.stderr
    if code == "bad_input":
        assert (error.line, error.path) == (1, error.problems[0].path)
        assert len(error.problems) > 1
    else:
        assert error.problems == [] and error.line is None


def test_without_json_errors_stay_off_stdout(tmp_path: Path) -> None:
    done = run("verdict", "--db", str(tmp_path / "nope.sqlite3"))
    assert done.exit_code == 1
    assert done.stdout == ""
    assert done.stderr.startswith("Error: no ledger at ")


def test_the_error_schema_is_published() -> None:
    schema = json.loads(run("schema", "error").stdout)
    assert "ErrorBody" in json.dumps(schema)
    assert "compute-ledger/error/1" in json.dumps(schema)


def test_info_says_which_ledger_and_how_far_its_derived_data_is(db: str, tmp_path: Path
                                                                ) -> None:
    before = Path(db).read_bytes()
    done = run("info", "--db", db)
    assert done.exit_code == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"Ledger      {db} (sqlite)"
    assert lines[1].startswith("Head        8:")
    assert any(line.startswith("Size        ") and line.endswith(" bytes") for line in lines)
    assert "Merkle tree position 8, caught up" in lines
    answer = json.loads(run("--json", "info", "--db", db).stdout)
    assert answer["schema"] == "compute-ledger/info/1"
    assert (answer["backend"], answer["default"], answer["head"]["position"]) == \
        ("sqlite", False, 8)
    assert answer["size_bytes"] >= len(before)
    assert {p["name"] for p in answer["projections"]} == {"fact index", "merkle tree",
                                                          "answers"}
    assert Path(db).read_bytes() == before  # it reads only
    missing = run("info", "--db", str(tmp_path / "nope.sqlite3"))
    assert missing.exit_code == 1 and "no ledger at" in missing.stderr


def test_info_never_shows_a_password() -> None:
    done = run("info", "--db", "postgresql://someone:hunter2secret@127.0.0.1:1/none")
    assert done.exit_code != 0
    assert "hunter2secret" not in done.output
