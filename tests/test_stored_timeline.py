"""The timeline the index stores (``cl_points``): kept by the append, read by ``timeline``
and ``export``, compared by ``replay``, and never trusted against the chain it was not
walked on."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from builders import announce
from cli_runner import run

from compute_ledger.ledger.errors import StorageError
from compute_ledger.projections import runner
from compute_ledger.projections.api import ComputeLedger
from compute_ledger.projections.export import check_export, export_sqlite
from compute_ledger.projections.runner import POINTS, ProjectionError
from compute_ledger.projections.timeline import point_of, points, row_of


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "ledger.sqlite3")
    assert run("append", "--public-record", "--db", path).exit_code == 0
    return path


def _walked(ledger: ComputeLedger) -> list[tuple[object, ...]]:
    position = ledger.projection.tracked()[0]
    return [row_of(p) for p in points(ledger.projection.view(position),
                                      ledger._amendments_from(position))]


def _forge(db: str, statement: str) -> None:
    """Alter the stored timeline, and its digest with it (so only a comparison with a walk
    can tell)."""
    with ComputeLedger.open(db, environ={}) as ledger, \
            ledger.ledger.side_tables(write=True) as cur:
        cur.execute(statement)
        total = runner._table_sum(cur, "cl_points")
        cur.execute("UPDATE cl_digests SET rows = ?, total = ? WHERE tbl = 'cl_points'",
                    (total.rows, total.hex))


LAST = "(SELECT MAX(at) FROM cl_points)"


def test_the_append_command_leaves_the_stored_timeline_walked_at_its_batch(db: str) -> None:
    with ComputeLedger.open(db, environ={}) as ledger:
        assert ledger.projection.points_tracked() == ledger.projection.tracked()
        assert ledger.projection.tracked()[0] == 8
        stored = list(ledger.projection.stored_points(*ledger.projection.points_tracked()))
        assert stored == _walked(ledger) != []
        assert [point_of(row) for row in stored] == ledger.timeline().points


def test_timeline_and_export_read_the_stored_points(db: str, tmp_path: Path) -> None:
    _forge(db, f"UPDATE cl_points SET monthly_run_rate_usd = '12345' WHERE at = {LAST}")
    said = json.loads(run("timeline", "--json", "--db", db).stdout)
    assert said["points"][-1]["monthly_run_rate_usd"] == "12345"
    export = tmp_path / "export.db"
    with ComputeLedger.open(db, environ={}) as ledger:
        export_sqlite(ledger, export)
        with sqlite3.connect(export) as conn:
            [(rate,)] = conn.execute("SELECT monthly_run_rate_usd FROM timeline ORDER BY at "
                                     "DESC LIMIT 1")
        assert rate == "12345"
        # The export is checked against a walk, not against what it was read from.
        checked = check_export(ledger, export)
        assert checked.differs == ["table timeline, row at='2029-05-01T07:00:00.000000Z': "
                                   "monthly_run_rate_usd is '12345' in the file, '0' in the "
                                   "replay"]


def test_replay_names_the_first_stored_point_that_is_not_the_walk(db: str) -> None:
    with sqlite3.connect(db) as conn:
        [(last,)] = conn.execute("SELECT MAX(at) FROM cl_points")
    _forge(db, f"UPDATE cl_points SET status = 'OPEN' WHERE at = '{last}'")
    result = run("replay", "--db", db)
    assert result.exit_code == 1
    assert f"the stored timeline's point at {last} (differs from the replay)" in result.stdout
    _forge(db, f"DELETE FROM cl_points WHERE at = '{last}'")
    result = run("replay", "--db", db)
    assert f"the stored timeline's point at {last} (missing from the index)" in result.stdout
    assert run("replay", "--rebuild", "--db", db).exit_code == 0
    with ComputeLedger.open(db, environ={}) as ledger:
        assert list(ledger.projection.stored_points(*ledger.projection.points_tracked())) \
            == _walked(ledger)
    assert run("replay", "--db", db).exit_code == 0


def test_a_stored_point_altered_without_its_digest_fails_verify(db: str) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(f"DELETE FROM cl_points WHERE at = {LAST}")
    result = run("verify", "--db", db)
    assert result.exit_code == 1
    assert "the projection's table cl_points holds " in result.stderr


def test_a_stored_timeline_walked_on_another_chain_is_an_error(db: str) -> None:
    """Its tracked head is tamper evidence, as the histories' is: never a silent re-walk."""
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE cl_tracking SET position = 4, head = ? WHERE view = ?",
                     ("ab" * 32, POINTS))
    with ComputeLedger.open(db, environ={}) as ledger, \
            pytest.raises(ProjectionError, match="folded from another history: it tracks "
                                                 "position 4 with head abababab"):
        ledger.timeline()
    refused = run("replay", "--db", db)
    assert refused.exit_code == 1 and "folded from another history" in refused.stderr
    # ... and replay --rebuild, as the message says, rebuilds it with the rest
    rebuilt = run("replay", "--rebuild", "--db", db)
    assert rebuilt.exit_code == 0, rebuilt.output
    with ComputeLedger.open(db, environ={}) as ledger:
        assert ledger.projection.points_tracked() == ledger.projection.tracked()
        assert list(ledger.projection.stored_points(*ledger.projection.points_tracked())) \
            == _walked(ledger)


def test_the_stored_points_are_read_a_page_at_a_time_as_one_timeline(
        db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "AUDIT_PAGE", 2)
    with ComputeLedger.open(db, environ={}) as ledger:
        walked_at = ledger.projection.points_tracked()
        assert list(ledger.projection.stored_points(*walked_at)) == _walked(ledger)
        rows = _walked(ledger)
        window = (str(rows[1][0]), str(rows[-2][0]))
        assert list(ledger.projection.stored_points(*walked_at, window)) == rows[1:-1]
        reading = ledger.projection.stored_points(*walked_at)
        next(reading)
        # caught up by another process between two pages: refused, never mixed
        with ledger.ledger.side_tables(write=True) as cur:
            cur.execute("UPDATE cl_tracking SET position = 7 WHERE view = ?", (POINTS,))
        with pytest.raises(StorageError, match="caught up while it was being read"):
            list(reading)


def test_a_timeline_read_while_another_process_catches_it_up_is_the_one_asked_for(
        db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reader between two pages when another process appends and catches the stored
    timeline up gets the rest of the timeline it asked for, walked at its position: no
    error half way, no point of the newer timeline."""
    monkeypatch.setattr(runner, "AUDIT_PAGE", 2)
    with ComputeLedger.open(db, environ={}) as reader:
        asked = _walked(reader)
        head, reading = reader.timeline_points()
        got = [row_of(next(reading))]
        with ComputeLedger.open(db, environ={}) as writer:
            writer.append([announce("2026-03-02T12:00:00Z", "early", customer="initech",
                                    id="early-1")])
            writer.projection.catch_up()
            writer.catch_up_timeline()
            newer = _walked(writer)
        got += [row_of(point) for point in reading]
        _, rows = reader.timeline_rows(head.known_at)  # the export's reader: the same
        assert list(rows) == asked
    assert got == asked != newer
    assert head.ledger_position == 8


def test_a_question_that_stores_the_timeline_leaves_the_digest_verify_says(
        tmp_path: Path) -> None:
    """The digest said with the histories' position and head is of what is held there:
    the stored timeline, kept at a position of its own, is checked but not in it."""
    from builders import announce as a

    path = str(tmp_path / "api.sqlite3")
    with ComputeLedger.open(path, environ={}) as ledger:
        ledger.append([a("2026-05-01T12:00:00Z", "d1", id="a1")])
        ledger.projection.catch_up()
    before = run("verify", "--db", path).stdout
    assert run("timeline", "--db", path).exit_code == 0  # stores the timeline
    with ComputeLedger.open(path, environ={}) as ledger:
        assert ledger.projection.points_tracked()[0] == 1
    assert run("verify", "--db", path).stdout == before


def test_an_append_rewrites_the_stored_points_only_from_where_it_can_change_them(
        db: str) -> None:
    """A point before the earliest valid time the new facts can change is kept as stored
    (here a forged one, which a rewrite from the first point would have put right); the
    points from there are the walk's."""
    with sqlite3.connect(db) as conn:
        [(first,)] = conn.execute("SELECT MIN(at) FROM cl_points")
    _forge(db, f"UPDATE cl_points SET facts = '[\"forged\"]' WHERE at = '{first}'")
    with ComputeLedger.open(db, environ={}) as ledger:
        ledger.append([announce("2026-11-02T12:00:00Z", "late", customer="initech",
                                id="late-1")])
        ledger.projection.catch_up()
        ledger.catch_up_timeline()  # as the append command does
        walked_at = ledger.projection.points_tracked()
        assert walked_at == ledger.projection.tracked()
        stored = list(ledger.projection.stored_points(*walked_at))
        walked = _walked(ledger)
    assert stored[0] == (*walked[0][:5], '["forged"]')
    assert stored[1:] == walked[1:]
    assert any(row[0].startswith("2026-11-02") for row in stored)


def test_a_catch_up_of_many_facts_rewrites_the_stored_points_from_the_first(
        db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """More than SPILL facts after the stored timeline's position, what they changed is not
    gathered (its memory would grow with them): every point is walked again, so a forged
    first point is put right."""
    from compute_ledger.projections import api

    with sqlite3.connect(db) as conn:
        [(first,)] = conn.execute("SELECT MIN(at) FROM cl_points")
    _forge(db, f"UPDATE cl_points SET facts = '[\"forged\"]' WHERE at = '{first}'")
    monkeypatch.setattr(api, "SPILL", 1)
    with ComputeLedger.open(db, environ={}) as ledger:
        ledger.append([announce("2026-11-02T12:00:00Z", "late", customer="initech", id="l-1"),
                       announce("2026-11-03T12:00:00Z", "later", customer="initech",
                                id="l-2")])
        assert ledger.changed_from(8, 10) is None
        ledger.projection.catch_up()
        ledger.catch_up_timeline()
        assert list(ledger.projection.stored_points(*ledger.projection.points_tracked())) \
            == _walked(ledger)
