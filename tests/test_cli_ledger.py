"""What a person sees from the ledger commands: output, `Error: ...` lines, exit codes."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import click
import pytest
from cli_runner import run

from compute_ledger.cli.main import main
from compute_ledger.ledger.errors import ConfigurationError
from compute_ledger.projections.api import ComputeLedger, Head, bundled_record

RECORD_LINES = bundled_record().decode().splitlines()



@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "ledger.sqlite3")


@pytest.fixture
def record_file(tmp_path: Path) -> Path:
    path = tmp_path / "record.jsonl"
    path.write_bytes(bundled_record())
    return path


def digest(db: str) -> str:
    result = run("digest", "--db", db)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_append_then_append_again_reports_duplicates(db: str, record_file: Path) -> None:
    first = run("append", str(record_file), "--db", db)
    assert first.exit_code == 0
    assert first.stdout.startswith("appended 8 facts (positions 1-8), 0 duplicates; head 8:")
    pinned = digest(db)
    second = run("append", str(record_file), "--db", db, "--json")
    assert second.exit_code == 0
    summary = json.loads(second.stdout)
    assert (summary["appended"], summary["duplicates"]) == (0, 8)
    assert summary["head"]["position"] == 8
    assert digest(db) == pinned


def test_a_malformed_line_3_changes_nothing(db: str, record_file: Path) -> None:
    assert run("append", str(record_file), "--db", db).exit_code == 0
    pinned = digest(db)
    fresh = [json.loads(line) for line in RECORD_LINES[:3]]
    for i, fact in enumerate(fresh):
        fact["id"] = f"new-{i}"
    fresh[2]["occurred_at"] = "2026-04-24T00:00:00"  # no offset
    text = "\n".join(json.dumps(f) for f in fresh)
    result = run("append", "-", "--db", db, input=text)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "Error: input refused, nothing was appended: line 3, $.occurred_at: timestamp has no "
        "UTC offset; add Z or an offset such as -07:00 (a time zone is never guessed)"
    ]
    assert digest(db) == pinned


def test_several_bad_lines_are_all_listed(db: str) -> None:
    good = json.loads(RECORD_LINES[0])
    lines = [dict(good, id="a", mood=1), dict(good, id="b"), dict(good, id="c", action="split")]
    result = run("append", "--db", db, input="\n".join(json.dumps(x) for x in lines))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "Error: input refused, nothing was appended:",
        "  line 1, $.mood: unknown field (not in the fact format)",
        "  line 3, $.action: Invalid enum value 'split'; expected one of merger, acquisition, "
        "rename",
    ]
    if "://" not in db:
        assert not Path(db).exists()  # a refused first batch makes no ledger
    else:
        assert digest(db).startswith("0:")


def test_a_conflicting_id_points_to_a_correction(db: str, record_file: Path) -> None:
    assert run("append", str(record_file), "--db", db).exit_code == 0
    changed = json.loads(RECORD_LINES[3])
    changed["deal"]["capacity_mw"] = "350"
    result = run("append", "--db", db, input=json.dumps(changed))
    assert result.exit_code == 2
    assert "line 1, $.id: fact 'xai-anthropic-announced-2026-05-06' is already in the ledger " \
           "at position 4 with other content" in result.stderr
    assert '"type": "correction", "corrects": "xai-anthropic-announced-2026-05-06"' in \
        result.stderr


def test_log_show_feed(db: str, record_file: Path) -> None:
    assert run("append", str(record_file), "--db", db).exit_code == 0
    log = run("log", "--db", db, "--type", "creator_ruling")
    lines = log.stdout.splitlines()
    assert lines[0].split() == ["POS", "RECORDED_AT", "(UTC)", "HASH", "TYPE", "OCCURRED_AT",
                                "(UTC)", "ID"]
    assert lines[1].split()[4] == "2026-04-24T07:00:00Z"  # given as 00:00 -07:00: one zone
    assert [line.split()[0] for line in lines[1:]] == ["3", "7"]
    assert lines[1].split()[-1] == "creator-ruling-cursor-2026-04-24"

    as_json = run("log", "--db", db, "--json", "--after", "6", "--limit", "1")
    [record] = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert record["position"] == 7
    assert record["fact"]["ruling"] == "under_review"

    shown = run("show", "xai-anthropic-announced-2026-05-06", "--db", db, "--json")
    entry = json.loads(shown.stdout)
    assert entry["position"] == 4
    assert entry["fact"]["deal"]["capacity_mw"] == "300"

    missing = run("show", "nope", "--db", db)
    assert missing.exit_code == 1
    assert missing.stderr.startswith("Error: no fact with id 'nope' in ledger ")

    feed = run("feed", "--after", "6", "--db", db)
    positions = [json.loads(line)["position"] for line in feed.stdout.splitlines()]
    assert positions == [7, 8]
    assert run("feed", "--after", "8", "--db", db).stdout == ""


def test_verify_and_digest(db: str, record_file: Path) -> None:
    assert run("append", str(record_file), "--db", db).exit_code == 0
    pinned = digest(db)
    ok = run("verify", "--db", db, "--against", pinned)
    assert ok.exit_code == 0
    assert ok.stdout.startswith(
        "ok: 8 records, chain and Merkle tree intact; extends the pinned head 8; head 8:")
    wrong = pinned.split(":")[0] + ":" + "0" * 64
    bad = run("verify", "--db", db, "--against", wrong)
    assert bad.exit_code == 1
    assert bad.stderr.startswith("Error: ledger verification failed at position 8: the hash "
                                 "differs from the pinned one")
    nonsense = run("verify", "--db", db, "--against", "eight")
    assert nonsense.exit_code == 2
    assert "is not a pinned head; expected POSITION:HASH" in nonsense.stderr
    as_json = json.loads(run("digest", "--db", db, "--json").stdout)
    assert f"{as_json['position']}:{as_json['hash']}" == pinned


def test_a_pin_may_be_a_prefix_of_twelve_or_more_hex_digits_in_either_case(
        db: str, record_file: Path) -> None:
    """As git takes a commit's prefix: the 12 digits human output shows pin a head too."""
    assert run("append", str(record_file), "--db", db).exit_code == 0
    position, full = digest(db).split(":")
    for given in (full[:12], full[:12].upper(), full[:40], full.upper()):
        ok = run("verify", "--db", db, "--against", f"{position}:{given}")
        assert ok.exit_code == 0, (given, ok.stderr)
        assert "extends the pinned head 8" in ok.stdout
    wrong = f"{position}:{full[:11]}{'0' if full[11] != '0' else '1'}"
    assert run("verify", "--db", db, "--against", wrong).exit_code == 1
    short = run("verify", "--db", db, "--against", f"{position}:{full[:11]}")
    assert short.exit_code == 2
    assert "first 12 or more hex digits" in short.stderr
    with ComputeLedger.open(db, environ={}) as ledger:  # the API takes the same pins
        assert ledger.verify(f"{position}:{full[:12].upper()}").against is not None
        with pytest.raises(ConfigurationError, match="is not a pinned head"):
            ledger.verify(f"{position}:{full[:11]}")
        with pytest.raises(ConfigurationError, match="is not a pinned head"):
            ledger.verify(Head(int(position), ""))  # an empty hash would match any


READS = [["verify"], ["verdict"], ["business"], ["timeline"], ["replay"], ["log"], ["feed"],
         ["digest"], ["checkpoint"], ["show", "x"], ["deal", "x"], ["check", "-"]]


@pytest.mark.parametrize("command", READS, ids=lambda c: c[0])
def test_only_append_creates_a_ledger(tmp_path: Path, command: list[str]) -> None:
    """A mistyped --db is refused by every command but append, and nothing is created."""
    path = tmp_path / "mistyped.sqlite3"
    result = run(*command, "--db", str(path), input="")
    assert result.exit_code == 1, result.output
    assert f"no ledger at {path}" in result.stderr and "append" in result.stderr
    assert list(tmp_path.iterdir()) == []
    assert run("append", "--public-record", "--db", str(path)).exit_code == 0
    assert run("digest", "--db", str(path)).stdout.startswith(f"{len(RECORD_LINES)}:")


@pytest.mark.parametrize("command", READS, ids=lambda c: c[0])
def test_a_file_that_is_not_a_ledger_is_refused_and_left_as_it_was(
        tmp_path: Path, command: list[str]) -> None:
    other = tmp_path / "export.sqlite3"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE deals (id TEXT)")
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n")
    for path, reason in ((other, "without the ledger's stored_events table"),
                         (text, "not a database")):
        before = path.read_bytes()
        result = run(*command, "--db", str(path), input="")
        assert result.exit_code == 1, result.output
        assert f"{path} is not a ledger" in result.stderr and reason in result.stderr
        assert path.read_bytes() == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["export.sqlite3", "notes.txt"]


def test_append_makes_no_ledger_inside_another_tools_file(tmp_path: Path) -> None:
    """append creates a ledger at a new path, in an empty file or an empty database, never
    beside another tool's tables or over a file that is not SQLite."""
    other = tmp_path / "export.sqlite3"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE deals (id TEXT)")
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n")
    for path, reason in ((other, "it has deals; nothing was changed in it; append makes a "
                                 "ledger only at a new path"),
                         (text, "not a database")):
        before = path.read_bytes()
        result = run("append", "--public-record", "--db", str(path))
        assert result.exit_code == 1, result.output
        assert f"{path} is not a ledger" in result.stderr and reason in result.stderr
        assert path.read_bytes() == before
    empty_file = tmp_path / "empty.sqlite3"
    empty_file.touch()
    empty_database = tmp_path / "empty-database.sqlite3"
    sqlite3.connect(empty_database).close()
    for path in (empty_file, empty_database):
        assert run("append", "--public-record", "--db", str(path)).exit_code == 0
        assert run("digest", "--db", str(path)).stdout.startswith(f"{len(RECORD_LINES)}:")


@pytest.mark.postgres
def test_a_postgresql_database_without_a_ledger_is_refused_and_gets_no_table(
        pg_url: str) -> None:
    import psycopg

    result = run("verdict", "--db", pg_url)
    assert result.exit_code == 1 and "no ledger at postgresql://" in result.stderr
    with psycopg.connect(pg_url) as connection:
        tables = connection.execute("SELECT count(*) FROM information_schema.tables WHERE "
                                    "table_schema = 'public'").fetchone()
    assert tables == (0,)
    assert run("append", "--public-record", "--db", pg_url).exit_code == 0
    assert run("verdict", "--db", pg_url).exit_code == 0


def test_a_missing_directory_is_a_usage_error(tmp_path: Path) -> None:
    result = run("log", "--db", str(tmp_path / "no" / "such" / "ledger.sqlite3"))
    assert result.exit_code == 2
    assert "directory" in result.stderr and "does not exist" in result.stderr


def test_the_default_ledger_holds_the_public_record() -> None:
    result = run("log", "--json")
    ids = [json.loads(line)["fact"]["id"] for line in result.stdout.splitlines()]
    assert ids == [json.loads(line)["id"] for line in RECORD_LINES]
    first = digest("")
    assert first.startswith(f"{len(RECORD_LINES)}:")
    assert run("verdict").exit_code == 0  # another command on the same default ledger
    assert digest("") == first  # opening it again appends nothing


def test_the_environment_variable_selects_the_ledger(
    db: str, record_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMPUTE_LEDGER_DB", db)
    assert run("append", str(record_file)).exit_code == 0
    assert digest(db).startswith("8:")


def test_schema_is_json_schema_of_the_fact_format() -> None:
    schema = json.loads(run("schema").stdout)
    assert schema["discriminator"]["propertyName"] == "type"


def command_paths(group: click.Group = main, prefix: tuple[str, ...] = ()) -> list[str]:
    """Every command the CLI has, groups' subcommands included (``export sqlite``)."""
    found: list[str] = []
    for name, command in sorted(group.commands.items()):
        path = (*prefix, name)
        found.append(" ".join(path))
        if isinstance(command, click.Group):
            found += command_paths(command, path)
    return found


def test_the_command_list_is_the_clis() -> None:
    assert {"append", "verdict", "export", "export sqlite"} <= set(command_paths())


@pytest.mark.parametrize("command", command_paths())
def test_every_command_has_help_with_an_example(command: str) -> None:
    result = run(*command.split(), "--help")
    assert result.exit_code == 0
    assert "Example:" in result.stdout
    assert "compute-ledger " + command in result.stdout


def test_unknown_options_are_usage_errors() -> None:
    result = run("log", "--nope")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "Usage: compute-ledger log [OPTIONS]",
        "Try 'compute-ledger log --help' for help.",
        "",
        "Error: No such option '--nope'. Did you mean '--type'?",
    ]
