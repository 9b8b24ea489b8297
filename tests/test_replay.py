"""The auditor's replay: verify, rebuild from the raw facts, compare, reproduce."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from builders import announce, at, retract, rule
from cli_runner import run

from compute_ledger.ledger.clock import ManualClock
from compute_ledger.ledger.errors import VerificationError
from compute_ledger.projections.api import ComputeLedger, bundled_record
from compute_ledger.projections.runner import POINTS, VIEW, ProjectionError


def test_a_replay_reproduces_exactly_the_answer_given_then(
    ledger: ComputeLedger, clock: ManualClock
) -> None:
    ledger.append([announce("2026-05-01T12:00:00Z", "d1")])
    ledger.append([rule("2026-05-02T00:00:00Z", "under_review", "d1")])
    then = clock.now()
    given = ledger.verdict(as_of=then, known_at=then)  # from the maintained projection
    clock.advance(timedelta(days=3))
    ledger.append([rule("2026-05-03T00:00:00Z", "does_not_count", "d1")])
    ledger.append([announce("2026-05-04T00:00:00Z", "d2", customer="globex")])
    report = ledger.replay(known_at=then)
    assert report.ok and report.position == 2
    # The index holds every batch end: the replay is compared with it at position 2 too.
    assert report.projection_compared and report.projection_differs == []
    assert report.answer == given  # position, head, every candidate and check
    assert report.answer.under_review and report.answer.qualifying == ["d1"]
    now = ledger.replay()
    assert now.projection_compared and now.projection_differs == []
    assert now.answer.qualifying == ["d2"]


@pytest.fixture
def record(tmp_path: Path) -> tuple[str, Path]:
    db = str(tmp_path / "ledger.sqlite3")
    facts = tmp_path / "record.jsonl"
    facts.write_bytes(bundled_record())
    assert run("append", str(facts), "--db", db).exit_code == 0
    return db, tmp_path


def test_replay_passes_on_an_intact_ledger(record: tuple[str, Path]) -> None:
    db, _ = record
    result = run("replay", "--db", db)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Verified   8 records: chain, positions and fact index intact")
    assert lines[2] == "Projection the maintained projection agrees with the replay"


def test_replay_fails_naming_the_position_on_a_tampered_ledger(record: tuple[str, Path]) -> None:
    db, _ = record
    with sqlite3.connect(db) as conn:
        state = conn.execute("SELECT state FROM stored_events WHERE originator_version = 5"
                             ).fetchone()[0]
        conn.execute("UPDATE stored_events SET state = ? WHERE originator_version = 5",
                     (state.replace(b"Claude Pro", b"Claude Pre"),))
    result = run("replay", "--db", db)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ledger verification failed at position 5: ")
    with ComputeLedger.open(db, environ={}) as ledger, pytest.raises(VerificationError):
        ledger.replay()


def test_replay_catches_a_tampered_projection_and_rebuilds_it(record: tuple[str, Path]) -> None:
    db, _ = record
    assert run("verdict", "--db", db).exit_code == 0  # the projection is caught up
    with sqlite3.connect(db) as conn:
        # forge the maintained history: drop the filing's step of the Anthropic deal
        gone = conn.execute("DELETE FROM cl_steps WHERE subject = 'deal:xai-anthropic-colossus'"
                            " AND valid_from = (SELECT MAX(valid_from) FROM cl_steps WHERE "
                            "subject = 'deal:xai-anthropic-colossus')").rowcount
        assert gone == 1
        steps = conn.execute("SELECT COUNT(*) FROM cl_steps").fetchone()[0] + 1
        [(recorded,)] = conn.execute("SELECT total FROM cl_digests WHERE tbl = 'cl_steps'")
    result = run("replay", "--db", db)
    assert result.exit_code == 1
    assert "Projection DIFFERS from the replay for deal:xai-anthropic-colossus" in result.stdout
    said = result.stderr.strip()
    # the history compared with the facts, and the table's digest, say it both
    assert said.startswith(
        "Error: the maintained projection differs from the replay (deal:xai-anthropic-colossus;"
        f" the projection's table cl_steps holds {steps - 1} rows adding up to ")
    assert said.endswith(f", but its digest records {steps} adding up to {recorded[:16]}); run "
                         "`compute-ledger replay --rebuild`")
    fixed = run("replay", "--db", db, "--rebuild", "--json")
    assert fixed.exit_code == 0
    report = json.loads(fixed.stdout)
    assert (report["ok"], report["projection_rebuilt"], report["projection_differs"]) == (
        True, True, [])
    assert run("replay", "--db", db).exit_code == 0


def test_replay_known_at_a_position_in_json(record: tuple[str, Path]) -> None:
    db, _ = record
    report = json.loads(run("replay", "--db", db, "--known-at", "@8", "--as-of", "2026-04-30",
                            "--json").stdout)
    assert report["schema"] == "compute-ledger/replay/4"
    assert (report["position"], report["head"]["position"]) == (8, 8)
    assert report["answer"]["status"] == "OPEN"
    assert report["answer"]["ledger_position"] == 8
    assert report["answer"]["as_of"] == at("2026-04-30").astimezone().isoformat().replace(
        "+00:00", "Z") or report["answer"]["as_of"] == "2026-05-01T06:59:59.999999Z"


def test_a_replaced_ledger_is_an_error_until_the_projection_is_rebuilt(tmp_path: Path) -> None:
    db = str(tmp_path / "ledger.sqlite3")
    with ComputeLedger.open(db, environ={}) as ledger:
        ledger.append([announce("2026-06-01T12:00:00Z", "d1")])
        assert ledger.verdict(as_of=at("2026-07-01")).qualifying == ["d1"]
    with sqlite3.connect(db) as conn:  # someone swaps the records for another history
        conn.execute("DELETE FROM stored_events")
        conn.execute("DELETE FROM ledger_index")
        conn.execute("UPDATE ledger_index_state SET position = 0")
        conn.execute("DELETE FROM ledger_tree")
        conn.execute("DELETE FROM ledger_tree_state")
    with ComputeLedger.open(db, environ={}) as ledger:
        ledger.append([announce("2026-06-01T12:00:00Z", "d9", customer="initech")])
        with pytest.raises(ProjectionError, match="the maintained projection was folded from "
                           "another history: it tracks position 1 with head"):
            ledger.verdict(as_of=at("2026-07-01"))  # never d1, and never a silent rebuild
        with pytest.raises(ProjectionError):
            ledger.replay()  # the auditor is told, not soothed
        report = ledger.replay(rebuild=True)  # rebuilt on purpose, from the facts as they are
        assert report.projection_rebuilt and report.ok
        answer = ledger.verdict(as_of=at("2026-07-01"))
    assert answer.qualifying == ["d9"]


def test_an_append_during_a_replay_is_no_false_alarm(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Another writer appends between the replay's verification and its comparison: the
    maintained projection is compared at the position replayed, not at the new head."""
    db = str(tmp_path / "ledger.sqlite3")
    with ComputeLedger.open(db, environ={}) as auditor, \
            ComputeLedger.open(db, environ={}) as writer:
        auditor.append([announce("2026-05-01T12:00:00Z", "d1")])
        verify = auditor.ledger.verify

        def verify_then_someone_appends(*args: object, **kwargs: object) -> object:
            verified = verify(*args, **kwargs)  # type: ignore[arg-type]
            writer.append([announce("2026-05-02T12:00:00Z", "d2", customer="globex")])
            return verified

        monkeypatch.setattr(auditor.ledger, "verify", verify_then_someone_appends)
        report = auditor.replay()
        assert report.position == 1 and report.head.position == 1
        assert report.projection_compared and report.ok and report.projection_differs == []
        monkeypatch.undo()
        assert auditor.replay().position == 2


def test_a_projection_of_an_older_layout_is_dropped_and_rebuilt(tmp_path: Path) -> None:
    """The projection is derived data: tables written by an older version (another tracking
    key) are dropped and rebuilt from the facts, never read in the wrong layout."""
    db = str(tmp_path / "ledger.sqlite3")
    with ComputeLedger.open(db, environ={}) as ledger:
        ledger.append_text(bundled_record())
        answer = ledger.verdict(as_of=at("2026-05-23"), known_at=8)
    with sqlite3.connect(db) as conn:  # the layout of histories/1: no rules_qualify column
        conn.execute("DROP TABLE cl_steps")
        conn.execute("CREATE TABLE cl_steps (subject TEXT NOT NULL, valid_from TEXT NOT NULL,"
                     " qualifies INTEGER NOT NULL, state BLOB NOT NULL,"
                     " PRIMARY KEY (subject, valid_from))")
        conn.execute("DELETE FROM cl_tracking WHERE view <> ?", (VIEW,))  # none stored then
        conn.execute("UPDATE cl_tracking SET view = 'histories/1'")
    with ComputeLedger.open(db, environ={}) as ledger:
        assert ledger.verdict(as_of=at("2026-05-23"), known_at=8) == answer
        assert ledger.replay().projection_differs == []
    with sqlite3.connect(db) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(cl_steps)")]
        views = [row[0] for row in conn.execute("SELECT view FROM cl_tracking")]
    assert "pos_to" in columns and sorted(views) == [VIEW, POINTS]


@pytest.mark.parametrize(("tampering", "named"), [
    ("DELETE FROM cl_subjects WHERE subject = 'deal:xai-anthropic-colossus'",
     "deal:xai-anthropic-colossus (missing from the index's subjects)"),
    ("DELETE FROM cl_steps WHERE subject = 'deal:xai-anthropic-colossus'",
     "Projection DIFFERS from the replay for deal:xai-anthropic-colossus"),
    ("DELETE FROM cl_about WHERE position = 4",
     "the list deal:xai-anthropic-colossus at position 4 (missing from the index)"),
    ("INSERT INTO cl_about (subject, position) VALUES ('deal:spacexai-cursor', 5)",
     "the list deal:spacexai-cursor at position 5 (only in the index)"),
    # The latest-knowledge tables every later catch-up folds from:
    ("UPDATE cl_facts SET live = 0 WHERE fact_id = 'xai-anthropic-announced-2026-05-06'",
     "cl_facts row fact_id='xai-anthropic-announced-2026-05-06' (differs from the replay)"),
    ("DELETE FROM cl_bucket_facts WHERE fact_id = 'creator-ruling-cursor-2026-04-24'",
     "cl_bucket_facts row bucket="),
    ("INSERT INTO cl_fixes VALUES ('zz-fix', 'spacexai-cursor-reported-2026-04-24', "
     "'2026-05-01T00:00:00.000000Z', 9, 1)", "cl_fixes row fix_id='zz-fix' (only in the index)"),
])
def test_replay_names_an_altered_derived_table(tmp_path: Path, tampering: str,
                                               named: str) -> None:
    db = str(tmp_path / "ledger.sqlite3")
    run("append", "--public-record", "--db", db)
    assert run("replay", "--db", db).exit_code == 0
    with sqlite3.connect(db) as conn:
        conn.execute(tampering)
    result = run("replay", "--db", db)
    assert result.exit_code == 1
    assert named in result.stdout
    fixed = run("replay", "--rebuild", "--db", db)
    assert fixed.exit_code == 0, fixed.output
    assert run("replay", "--db", db).exit_code == 0


def test_a_full_scratch_file_is_a_clear_error_and_changes_nothing(
        record: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """replay rebuilds the index in a scratch file of its own: when that file cannot grow
    (a full disk, here a file capped at one page), the command says which file and what to
    do, and the ledger is as it was."""
    from compute_ledger.ledger import sqlite as sqlite_backend

    db, _ = record
    before = run("verify", "--db", db).stdout
    opened = sqlite_backend.ScratchTables.__init__

    def capped(self: sqlite_backend.ScratchTables, path: Path) -> None:
        opened(self, path)
        self._conn.execute("PRAGMA max_page_count = 1")

    monkeypatch.setattr(sqlite_backend.ScratchTables, "__init__", capped)
    result = run("replay", "--db", db)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: cannot write the scratch file ")
    assert "rebuilt.sqlite3 (database or disk is full)" in result.stderr
    assert "set TMPDIR to a directory with room for it" in result.stderr
    monkeypatch.undo()
    assert run("verify", "--db", db).stdout == before
    assert run("replay", "--db", db).exit_code == 0


@pytest.mark.parametrize(("tampering", "named"), [
    ("UPDATE cl_retracted SET facts = '[]'", "deal:d1"),
    ("DELETE FROM cl_amendments", "the correction or retraction at position 2, issued "
     "2026-05-02T12:00:00.000000Z (missing from the index)"),
    ("UPDATE cl_steps SET qualifies = 1 - qualifies WHERE subject = 'deal:d2'", "deal:d2"),
])
def test_replay_compares_what_the_rebuild_holds_at_the_position(
        ledger: ComputeLedger, tampering: str, named: str) -> None:
    """The rebuild and the index are compared row by row: a retracted subject's facts, the
    corrections and retractions issued, a column of a step."""
    first = announce("2026-05-01T12:00:00Z", "d1", id="a1")
    ledger.append([first])
    ledger.append([retract("2026-05-02T12:00:00Z", first, id="x1")])
    ledger.append([announce("2026-05-03T12:00:00Z", "d2", customer="globex", id="a2")])
    assert ledger.replay().projection_differs == []
    with ledger.ledger.side_tables(write=True) as cur:
        cur.execute(tampering)
    said = ledger.replay().projection_differs
    assert said[0] == named, said
    assert ledger.replay(rebuild=True).ok
