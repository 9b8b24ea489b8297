"""The CLI's conventions: `--db` and `--json` before the command's name as after it, and with
`--json` every error is also a versioned JSON object on stdout, with the same exit status."""

from __future__ import annotations

import json
import os
import pty
import select
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest
from cli_runner import run

from compute_ledger.cli.layout import Rows, lay_out, wrap
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


AT = ["--as-of", "2026-05-23", "--known-at", "@8"]  # fixed times: two runs say the same
HUMAN = [["verdict", *AT], ["verdict", "--explain", *AT], ["business", *AT],
         ["timeline", "--known-at", "@8"], ["log"], ["show", "xai-anthropic-announced-2026-05-06"],
         ["deal", "xai-anthropic-colossus", *AT],
         ["diff", "--as-of", "2026-05-01", "--to-as-of", "2026-05-23", "--known-at", "@8"],
         ["info"], ["verify"], ["digest"], ["replay", "--known-at", "@8"], ["checkpoint"]]
BLOCKS = {"business", "log"}
"""Commands whose tables become blocks in 80 columns (the headers then read differently)."""


@pytest.mark.parametrize("argv", HUMAN, ids=" ".join)
def test_every_human_command_fits_80_columns(db: str, argv: list[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.chdir(Path(db).parent)  # a short --db: a path is never cut, it overflows
    db = Path(db).name
    done = run(*argv, "--db", db)
    assert done.exit_code == 0, done.stderr
    lines = done.stdout.splitlines()
    too_wide = [line for line in lines if len(line) > 80 and len(line.split()) > 1]
    assert lines and not too_wide  # only a lone word longer than a line (a path) is wider
    monkeypatch.delenv("COLUMNS")
    whole = run(*argv, "--db", db).stdout.split()
    if argv[0] in BLOCKS:  # nothing lost: every value is still there
        assert set(whole) - set(done.stdout.split()) <= {w for w in whole if w.isupper()}
    else:  # only wrapped: the same words in the same order
        assert done.stdout.split() == whole


def test_wide_output_is_as_wide_as_it_needs(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    wide = run("business", *AT, "--db", db, "--wide")
    assert max(len(line) for line in wide.stdout.splitlines()) > 80
    assert "DEAL  " in wide.stdout  # the table, as columns
    narrow = run("business", *AT, "--db", db)
    assert "DEAL  " not in narrow.stdout and "    status active  provider xai" in narrow.stdout
    monkeypatch.delenv("COLUMNS")
    piped = run("business", *AT, "--db", db)  # not a terminal, no COLUMNS: lines stay whole
    assert piped.stdout == wide.stdout


def test_check_reports_fit_80_columns_too(db: str, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    bad = Path(__file__).resolve().parent.parent / "docs" / "examples" / "bad-batch.jsonl"
    done = run("check", str(bad), "--db", db)
    assert done.exit_code == 2
    report = [line for line in done.stderr.splitlines() if not line.startswith("Error:")]
    assert report and max(len(line) for line in report) <= 80


def test_layout_wraps_under_the_label_and_never_cuts_a_word() -> None:
    line = "Status     CRITERIA_MET " + "word " * 20
    wrapped = wrap(line.rstrip(), 40)
    assert all(len(w) <= 40 for w in wrapped)
    assert all(w.startswith(" " * 11) and not w.startswith(" " * 12) for w in wrapped[1:])
    assert " ".join(wrapped).split() == line.split()  # the same words, in order
    pin = "8:" + "a" * 64
    assert wrap(f"ok: 8 records; head {pin}", 40)[-1].strip() == pin  # whole, though wider
    rows = Rows(("DEAL", "STATUS", "FACILITIES"), [("d1", "active", "colossus-1 colossus-2")])
    table = ["DEAL  STATUS  FACILITIES", "d1    active  colossus-1 colossus-2"]
    assert list(lay_out([rows], None)) == list(lay_out([rows], 40)) == table  # it fits
    wider = Rows(rows.header, [("d1", "active", "colossus-1 colossus-2 colossus-3")])
    assert list(lay_out([wider], 40)) == [  # too wide: a block, a name never parted from
        "d1", "    status active",            # its value
        "    facilities colossus-1 colossus-2 colossus-3"]


def _on_a_terminal(argv: list[str], env: dict[str, str], answer: bytes = b"") -> str:
    """``compute-ledger ARGV`` with stdin, stdout and stderr on a pseudo-terminal; once it
    says it reads standard input, ``answer`` is typed, then Ctrl-D.  Returns what it showed.
    ``env`` should name a PAGER that waits for no one (``less`` waits for a key)."""
    master, slave = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "compute_ledger.cli.main", *argv],
                               stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    shown, typed = b"", False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the other end closed
                break
            shown += chunk
            if b"Ctrl-D" in shown and not typed:
                os.write(master, answer + b"\x04")
                typed = True
        elif process.poll() is not None:
            break
    if process.poll() is None:  # still running at the deadline: never leave it behind
        process.kill()
    process.wait(10)
    os.close(master)
    return shown.decode(errors="replace").replace("\r\n", "\n")


def test_on_a_terminal_log_pages_and_reading_stdin_says_so(db: str, tmp_path: Path) -> None:
    paged = tmp_path / "paged.txt"
    pager = tmp_path / "pager"
    pager.write_text(f"#!/bin/sh\ncat > '{paged}'\n")
    pager.chmod(0o755)
    env = {**os.environ, "PAGER": str(pager), "COLUMNS": "80"}
    _on_a_terminal(["log", "--db", db], env)
    assert "spacex-xai-share-exchange-2025" in paged.read_text()  # through the pager
    _on_a_terminal(["timeline", "--db", db], env)
    assert "market deadline: - -> passed" in paged.read_text()
    shown = _on_a_terminal(["check", "--db", db], env, answer=b"")
    assert "Reading facts from standard input" in shown and "Ctrl-D" in shown
    assert "no facts given" in shown
    piped = subprocess.run([sys.executable, "-m", "compute_ledger.cli.main", "log", "--db", db],
                           capture_output=True, text=True, env=env, check=True)
    assert "spacex-xai-share-exchange-2025" in piped.stdout  # piped: never a pager
    quiet = subprocess.run([sys.executable, "-m", "compute_ledger.cli.main", "check", "--db",
                            db], input="", capture_output=True, text=True, env=env, check=False)
    assert "no facts given" in quiet.stderr
    assert "Reading facts" not in quiet.stderr  # stdin piped: nothing to say


def test_on_a_terminal_one_bar_covers_the_whole_append(tmp_path: Path) -> None:
    from builders import announce

    from compute_ledger.ledger.facts import canonical_bytes

    batch = tmp_path / "batch.jsonl"
    batch.write_bytes(b"\n".join(canonical_bytes(announce(id=f"a{i}", deal_id=f"d{i}"))
                                 for i in range(6000)) + b"\n")
    db = str(tmp_path / "ledger.sqlite3")
    shown = _on_a_terminal(["append", str(batch), "--db", db], {**os.environ, "PAGER": "cat"})
    stages = [s for s in ("checking", "appending", "indexing") if s in shown]
    assert stages == ["checking", "appending", "indexing"]
    assert shown.index("checking") < shown.index("appending") < shown.index("indexing")
    assert "100%" in shown and "appended 6000 facts" in shown
    piped = subprocess.run([sys.executable, "-m", "compute_ledger.cli.main", "append",
                            str(batch), "--db", str(tmp_path / "other.sqlite3")],
                           capture_output=True, text=True, check=True)
    assert piped.stderr == ""  # no bar, not even its label, off a terminal
    replayed = _on_a_terminal(["replay", "--db", db], {**os.environ, "PAGER": "cat"})
    assert replayed.index("verifying") < replayed.index("folding") \
        < replayed.index("comparing") < replayed.index("100%")
    assert "the maintained projection agrees with the replay" in replayed.split("100%")[-1]
    exported = _on_a_terminal(["export", "sqlite", str(tmp_path / "out.db"), "--db", db],
                              {**os.environ, "PAGER": "cat"})
    assert exported.index("answering") < exported.index("facts") \
        < exported.index("tables") < exported.index("100%")
    assert "6000 facts added" in exported
    walked = _on_a_terminal(["timeline", "--db", db], {**os.environ, "PAGER": "cat"})
    # The bar covers the reading; the walk is seen by its points arriving, after the bar.
    assert walked.index("reading") < walked.index("100%") < walked.index("Timeline as known at")
