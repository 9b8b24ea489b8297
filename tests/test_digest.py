"""The maintained projection's digest (issue 13, derived data that lies): each table's
multiset hash, kept by every catch-up from the rows it writes and replaces, and checked by
``verify`` against the rows themselves, on both backends."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from builders import announce, correct, retract, rule
from cli_runner import run
from hypothesis import given
from hypothesis import strategies as st

from compute_ledger.ledger import facts as F
from compute_ledger.ledger.errors import VerificationError
from compute_ledger.projections import digest as digests
from compute_ledger.projections.api import ComputeLedger, bundled_record
from compute_ledger.projections.digest import TableSum
from compute_ledger.projections.runner import DIGESTED, KEYS, ProjectionError


def test_every_table_of_the_projection_is_digested_by_its_key() -> None:
    assert set(DIGESTED) == set(digests.COLUMNS) == set(KEYS)

ROWS = st.lists(st.tuples(st.text(max_size=8), st.integers(-5, 2**40), st.binary(max_size=8)),
                max_size=12)


@given(ROWS, st.randoms(use_true_random=False))
def test_a_tables_digest_does_not_depend_on_the_order_of_its_rows(
        rows: list[tuple[str, int, bytes]], rnd: object) -> None:
    shuffled = list(rows)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert TableSum.of("cl_about", rows) == TableSum.of("cl_about", shuffled)


@given(ROWS, ROWS)
def test_removing_rows_undoes_adding_them(kept: list[tuple[str, int, bytes]],
                                          passing: list[tuple[str, int, bytes]]) -> None:
    moved = TableSum.of("cl_steps", kept)
    moved.add("cl_steps", passing)
    moved.remove("cl_steps", passing)
    assert moved == TableSum.of("cl_steps", kept)
    assert moved.plus(TableSum.of("cl_steps", passing)) == TableSum.of("cl_steps",
                                                                       kept + passing)


def test_a_row_counts_per_table_and_per_value() -> None:
    row = ("deal:d1", 4)
    assert digests.row_hash("cl_about", row) != digests.row_hash("cl_subjects", row)
    assert digests.row_hash("cl_about", row) != digests.row_hash("cl_about", ("deal:d1", 5))
    # the same value as the backends hand it out: bytes or a memoryview, a bool or an int
    assert digests.row_hash("cl_steps", (b"ab", True)) == \
        digests.row_hash("cl_steps", (memoryview(b"ab"), 1))
    assert TableSum.of("cl_about", [row, row]).rows == 2  # a multiset, not a set


def _adds_up(ledger: ComputeLedger) -> str:
    audit = ledger.projection.audit()
    assert audit is not None
    assert audit.differs == ()
    return audit.digest


def _gaps(ledger: ComputeLedger) -> int:
    with ledger.ledger.side_tables(write=False) as cur:
        cur.execute("SELECT COUNT(*) AS n FROM cl_gaps")
        return int(cur.fetchone()["n"])


def _history() -> list[list[F.Fact]]:
    """New facts, a correction that moves a deal, a ruling, a subject known only from
    retracted facts, then no longer (its row closed), a retracted correction: each kind of
    row closed and opened."""
    first = announce("2026-05-01T12:00:00Z", "d1", id="a1")
    second = announce("2026-05-02T12:00:00Z", "d2", id="a2")
    moved = correct("2026-05-03T00:00:00Z", first,
                    announce("2026-05-01T12:00:00Z", "d3", customer="globex"), id="f1")
    return [
        [first, second],
        [rule("2026-05-02T00:00:00Z", "under_review", "d1", id="r1")],
        [moved],
        [retract("2026-05-04T00:00:00Z", second, id="x1")],  # d2 known only from it
        [announce("2026-05-05T00:00:00Z", "d2", id="a3")],  # d2 known again: row closed
        [retract("2026-05-06T00:00:00Z", moved, id="x2")],  # the correction withdrawn
        [retract("2026-05-07T00:00:00Z", first, id="x3")],
    ]


@pytest.mark.parametrize("how", ["incremental", "one-pass", "one-transaction"])
def test_every_write_path_keeps_the_digest(ledger: ComputeLedger, how: str) -> None:
    """Each batch caught up as it comes, folded on its own (each catch-up a transaction of
    its own, reading the rows the last one wrote) or in one pass from the position before
    it; or all of them by one catch-up that folds them one after the other in one
    transaction (so that rows are written again over rows this same transaction wrote)."""
    one_pass = how == "one-pass"
    ledger.projection.rebuild_share = ledger.projection.batch_share = 0.0 if one_pass else 1.0
    batches = _history()
    seen = set()
    ledger.append(batches[0])
    ledger.projection.catch_up()
    for batch in batches[1:]:
        ledger.append(batch)
        if how != "one-transaction":
            gaps = _gaps(ledger)
            ledger.projection.catch_up()
            assert _gaps(ledger) == gaps + one_pass  # a one-pass catch-up records its gap
            seen.add(_adds_up(ledger))
    if how != "one-transaction":
        assert len(seen) == len(batches) - 1  # every batch moved it
    else:
        gaps = _gaps(ledger)
        ledger.projection.catch_up()
        assert _gaps(ledger) == gaps  # folded batch by batch, not in one pass
    _adds_up(ledger)
    with ledger.ledger.side_tables(write=False) as cur:
        cur.execute("SELECT COUNT(*) AS n FROM cl_retracted WHERE pos_to < 2147483647")
        assert cur.fetchone()["n"] >= 1  # a retracted subject's row was closed, not deleted
    ledger.projection.reset()
    ledger.projection.catch_up()
    _adds_up(ledger)


def test_the_digest_is_the_same_on_both_backends(tmp_path: Path, pg_url: str) -> None:
    found = []
    for where in (str(tmp_path / "ledger.sqlite3"), pg_url):
        with ComputeLedger.open(where, environ={}) as ledger:
            ledger.append_text(bundled_record())
            ledger.projection.catch_up()
            found.append(_adds_up(ledger))
    assert found[0] == found[1]


TAMPERING = [
    ("cl_subjects", "DELETE FROM cl_subjects WHERE kind = 'deal'"),
    ("cl_steps", "UPDATE cl_steps SET qualifies = 1 - qualifies"),
    ("cl_about", "INSERT INTO cl_about (subject, position) VALUES ('deal:d9', 1)"),
    ("cl_facts", "UPDATE cl_facts SET live = 0 WHERE fact_id = 'a1'"),
    ("cl_bucket_facts", "DELETE FROM cl_bucket_facts WHERE fact_id = 'a1'"),
    ("cl_fixes", "INSERT INTO cl_fixes VALUES ('zz', 'a1', '2026-05-01T00:00:00.000000Z', 9, 1)"),
    ("cl_gaps", "INSERT INTO cl_gaps (after, until) VALUES (1, 2)"),
    ("cl_retracted", "INSERT INTO cl_retracted VALUES ('deal:d9', 1, 2, '2026-05-01', '[]')"),
    ("cl_amendments", "INSERT INTO cl_amendments VALUES (1, '2026-05-01T00:00:00.000000Z')"),
]


@pytest.mark.parametrize(("table", "tampering"), TAMPERING, ids=[t for t, _ in TAMPERING])
def test_verify_names_a_derived_table_altered_outside_a_catch_up(
        ledger: ComputeLedger, table: str, tampering: str) -> None:
    ledger.append([announce("2026-05-01T12:00:00Z", "d1", id="a1")])
    ledger.append([rule("2026-05-02T00:00:00Z", "counts", "d1", id="r1")])
    ledger.projection.catch_up()
    assert ledger.verify().projection is not None
    with ledger.ledger.side_tables(write=True) as cur:
        cur.execute(tampering)
    with pytest.raises(VerificationError) as caught:
        ledger.verify()
    assert f"the projection's table {table} holds" in str(caught.value)
    assert str(caught.value).count("the projection's table") == 1  # that table alone
    assert str(caught.value).startswith("the records check out, but the maintained answers "
                                        "(folded to position 2) do not: ")
    said = ledger.replay().projection_differs
    assert any(f"the projection's table {table} holds" in d for d in said), said
    if table == "cl_amendments":  # the comparison with the facts names the row itself
        assert "the correction or retraction at position 1, issued 2026-05-01T00:00:00" \
            ".000000Z (only in the index)" in said
    assert ledger.replay(rebuild=True).ok
    assert ledger.verify().projection is not None


@pytest.mark.parametrize("later", ["incremental", "one-pass"])
@pytest.mark.parametrize(("table", "tampering"), TAMPERING, ids=[t for t, _ in TAMPERING])
def test_a_later_catch_up_never_absorbs_what_was_altered(
        ledger: ComputeLedger, table: str, tampering: str, later: str) -> None:
    """After the tampering, more facts are appended and caught up, one batch at a time or
    in one pass: the altered table still does not add up, or the catch-up refuses to write
    over it (no catch-up writes a table whole again, so none hides what was altered)."""
    ledger.projection.rebuild_share = ledger.projection.batch_share = \
        0.0 if later == "one-pass" else 1.0
    ledger.append([announce("2026-05-01T12:00:00Z", "d1", id="a1")])
    ledger.append([rule("2026-05-02T00:00:00Z", "counts", "d1", id="r1")])
    ledger.projection.catch_up()
    with ledger.ledger.side_tables(write=True) as cur:
        cur.execute(tampering)
    ledger.append([rule("2026-05-03T00:00:00Z", "counts", "d1", id="r2"),
                   announce("2026-05-04T00:00:00Z", "d9", id="a9")])
    try:
        ledger.projection.catch_up()
    except ProjectionError as exc:
        assert f"the projection's table {table} already holds" in str(exc)
    else:
        with pytest.raises(VerificationError, match=f"the projection's table {table} "):
            ledger.verify()
    assert ledger.replay(rebuild=True).ok
    assert ledger.verify().projection is not None


@pytest.mark.parametrize("table", ["cl_steps", "cl_digests", "cl_amendments"])
def test_a_dropped_table_fails_verify(ledger: ComputeLedger, table: str) -> None:
    ledger.append([announce("2026-05-01T12:00:00Z", "d1", id="a1")])
    ledger.projection.catch_up()
    with ledger.ledger.side_tables(write=True) as cur:
        cur.execute(f"DROP TABLE {table}")
    with pytest.raises(VerificationError, match=f"the projection's table {table} is missing"):
        ledger.verify()


def test_a_deleted_tracking_row_fails_verify(ledger: ComputeLedger) -> None:
    ledger.append([announce("2026-05-01T12:00:00Z", "d1", id="a1")])
    ledger.projection.catch_up()
    with ledger.ledger.side_tables(write=True) as cur:
        cur.execute("DELETE FROM cl_tracking")
    with pytest.raises(VerificationError, match="the projection's tracking row is missing"):
        ledger.verify()


def test_a_projection_folded_from_another_history_fails_verify(ledger: ComputeLedger) -> None:
    ledger.append([announce("2026-05-01T12:00:00Z", "d1", id="a1")])
    ledger.projection.catch_up()
    with ledger.ledger.side_tables(write=True) as cur:
        cur.execute("UPDATE cl_tracking SET head = ?", ("ab" * 32,))
    with pytest.raises(VerificationError, match="folded from another history"):
        ledger.verify()


def test_the_cli_says_what_it_checked(tmp_path: Path) -> None:
    db = str(tmp_path / "ledger.sqlite3")
    assert run("append", "--public-record", "--db", db).exit_code == 0
    text = run("verify", "--db", db)
    assert text.exit_code == 0, text.output
    held = text.stdout.splitlines()[1]
    assert held.startswith("ok: the maintained answers, folded to position 8, hold ")
    assert "rows that add up to their digest " in held
    answer = json.loads(run("verify", "--json", "--db", db).stdout)
    assert answer["schema"] == "compute-ledger/verify/3"
    projection = answer["projection"]
    assert projection["position"] == 8 and projection["head"] == answer["head"]["hash"]
    assert projection["digest"].startswith(held.rsplit(" ", 1)[1])
    with sqlite3.connect(db) as conn:
        # the stored timeline, kept at a position of its own, is not in the digest's rows
        total = sum(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in DIGESTED
                    if t != "cl_points")
        conn.execute("DELETE FROM cl_subjects")
    assert projection["rows"] == total
    failed = run("verify", "--db", db)
    assert failed.exit_code == 1
    assert "the records check out, but the maintained answers (folded to position 8) do not:"\
        " the projection's table cl_subjects" in failed.output
    assert "compute-ledger replay --rebuild" in failed.output


def test_verify_without_a_projection_creates_none(tmp_path: Path) -> None:
    db = tmp_path / "ledger.sqlite3"
    with ComputeLedger.open(str(db), environ={}) as ledger:
        ledger.append([announce("2026-05-01T12:00:00Z", "d1", id="a1")])
    files = sorted(tmp_path.glob("ledger.sqlite3*"))
    before = [f.read_bytes() for f in files]
    answer = json.loads(run("verify", "--json", "--db", str(db)).stdout)
    assert answer["ok"] and answer["projection"] is None
    assert sorted(tmp_path.glob("ledger.sqlite3*")) == files
    assert [f.read_bytes() for f in files] == before


def test_the_side_cursor_counts_the_rows_an_insert_added(ledger: ComputeLedger) -> None:
    """What a catch-up relies on to add only new rows to a digest (else it recounts)."""
    with ledger.ledger.side_tables(write=True) as cur:
        cur.execute("CREATE TABLE scratch (k INTEGER PRIMARY KEY)")
        cur.executemany("INSERT INTO scratch (k) VALUES (?)", [(1,), (2,)])
        assert cur.rowcount == 2
        cur.executemany("INSERT INTO scratch (k) VALUES (?) ON CONFLICT (k) DO NOTHING",
                        [(2,), (3,), (4,)])
        assert cur.rowcount == 2
        cur.execute("SELECT k FROM scratch ORDER BY k")
        assert [r["k"] for r in cur.fetchall()] == [1, 2, 3, 4]
        cur.execute("DROP TABLE scratch")
