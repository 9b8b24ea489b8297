"""Replay determinism, searched for counterexamples: properties of the projections over
generated histories (see tests/histories.py).

* any order of the appends, and any split into batches, gives the same answers;
* the maintained projection, updated batch by batch, equals the facts folded afresh at
  every prefix, and equals itself rebuilt from scratch;
* an answer at known_at = K never changes when facts are recorded after K;
* the verdict at T has the status the timeline shows at T;
* SQLite and PostgreSQL give identical answers;
* facts survive the store unchanged, and JSON answers decode back to equal values;
* any single change to a stored record is caught by the chain, at its position.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from unittest.mock import patch
from zoneinfo import ZoneInfo

import msgspec
import pytest
from builders import announce, correct
from histories import batches, histories, question_times, reordered
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from compute_ledger.contracts.market import DEADLINE
from compute_ledger.ledger import facts as F
from compute_ledger.ledger.clock import ManualClock
from compute_ledger.ledger.errors import VerificationError
from compute_ledger.ledger.instants import ONE_MICROSECOND
from compute_ledger.projections import api, runner
from compute_ledger.projections.answers import Business, Timeline, Verdict
from compute_ledger.projections.api import ComputeLedger
from compute_ledger.projections.business import business
from compute_ledger.projections.provenance import AMENDMENTS, Provenance
from compute_ledger.projections.timeline import qualifying_along, timeline
from compute_ledger.projections.verdict import verdict
from compute_ledger.projections.view import Sweep, View, build_view, fold_knowledge

NOW = datetime(2027, 6, 1, tzinfo=UTC)
CENTRAL = settings(max_examples=300, deadline=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
STORED = settings(max_examples=80, deadline=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                         HealthCheck.function_scoped_fixture])


def view_of(facts: Sequence[F.Fact]) -> View:
    return build_view((i, "2027-01-01T00:00:00.000000Z", "h", f)
                      for i, f in enumerate(facts, start=1))


def answers(view: View) -> list[Any]:
    """Every answer worth comparing, without what legitimately depends on the order of
    appends (the head hash) or on when the question is asked (known_at)."""
    found: list[Any] = []
    for t in question_times():
        for answer in (verdict(view, t, NOW), business(view, t, NOW)):
            found.append(stable(answer))
    found.append(stable(timeline(view, NOW)))
    return found


def stable(answer: Any) -> Any:
    data = msgspec.to_builtins(answer)
    data.pop("ledger_head", None)
    data.pop("known_at", None)
    return data


@CENTRAL
@given(histories(), st.data())
def test_the_timeline_since_t_is_the_whole_timelines_points_from_t(
    facts: list[F.Fact], data: st.DataObject
) -> None:
    """``--since`` does not walk from the first instant: it stands where the walk would
    stand just before ``since`` (one judgement a subject) and walks on from there.  What
    it gives must be, point for point, the whole walk's points from ``since`` on, whatever
    ``since`` (a point, just before or after one, or any question time)."""
    entries = [(i, "2027-01-01T00:00:00.000000Z", "h", f) for i, f in enumerate(facts, start=1)]
    knowledge, _, _ = fold_knowledge(entries)
    view = build_view(entries)
    amendments = Provenance(knowledge).amendments()
    whole = timeline(view, NOW, amendments).points
    times = [p.at for p in whole]
    candidates = [*times, *(t + ONE_MICROSECOND for t in times),
                  *(t - ONE_MICROSECOND for t in times), *question_times()]
    since = data.draw(st.sampled_from(candidates))
    part = timeline(view, NOW, amendments, window=(since, None)).points
    assert part == [p for p in whole if p.at >= since]


def test_a_timeline_from_after_an_amendment_issued_first_names_the_status_once(
        ledger: ComputeLedger) -> None:
    """A correction issued before every other instant is the walk's first instant, where
    the market's status is first named: from a later ``since``, the status must not be
    named again.  (The walk reads the corrections and retractions issued before ``since``
    only when no other instant comes before it; the ledger reads only those issued since
    from the index otherwise.)"""
    first = announce("2026-05-10T00:00:00Z", "d1", id="a1")
    fix = correct("2026-05-01T00:00:00Z", first,
                  announce("2026-05-10T00:00:00Z", "d1", customer="globex"), id="f1")
    ledger.append([first])
    ledger.append([fix])
    whole = ledger.timeline().points
    assert whole[0].at == datetime(2026, 5, 1, tzinfo=UTC)
    assert [c.what for c in whole[0].changes][:1] == ["status"]
    for since in ("2026-05-05", "2026-05-10", "2027-01-02"):
        start = datetime.fromisoformat(since).replace(tzinfo=ZoneInfo("America/Los_Angeles"))
        part = ledger.timeline(since=since).points
        assert part == [p for p in whole if p.at >= start], since
        entries: list[tuple[int, str, str, F.Fact]] = [
            (1, "2027-01-01T00:00:00.000000Z", "h", first),
            (2, "2027-01-01T00:00:00.000000Z", "h", fix)]
        amendments = Provenance(fold_knowledge(entries)[0]).amendments()
        pure = timeline(build_view(entries), NOW, amendments, window=(start, None)).points
        assert pure == part, since


# ---------------------------------------------------------------------------------------------
# Order, batches, and the two ways of folding
# ---------------------------------------------------------------------------------------------


@CENTRAL
@given(histories(), st.integers(0, 2**32))
def test_any_order_of_the_appends_gives_the_same_answers(facts: list[F.Fact], seed: int) -> None:
    assert answers(view_of(facts)) == answers(view_of(reordered(facts, seed)))


@CENTRAL
@given(histories())
def test_once_met_the_criteria_stay_met(facts: list[F.Fact]) -> None:
    """Met for good (DOMAIN.md, "When a deal is judged"): along valid time, only a creator
    ruling coming into force on a deal (``does_not_count``, or one replacing a ``counts``)
    can take it out of the qualifying ones; a deal ending, its customer being acquired or the
    deadline passing never does."""
    view = view_of(facts)
    ruled_out = {f.deal_id for f in facts if isinstance(f, F.CreatorRuling)}
    before: set[str] = set()
    for t in question_times():
        now = set(verdict(view, t, NOW).qualifying)
        assert before - now <= ruled_out, t
        before = now


@CENTRAL
@given(histories())
def test_the_verdict_at_t_has_the_status_the_timeline_shows_at_t(facts: list[F.Fact]) -> None:
    view = view_of(facts)
    points = list(qualifying_along(timeline(view, NOW).points))
    for t in question_times():
        shown = [(p, qualifying) for p, qualifying in points if p.at <= t]
        expected = shown[-1][0].status if shown else ("OPEN" if t <= DEADLINE
                                                      else "CRITERIA_NOT_MET")
        expected_qualifying = shown[-1][1] if shown else []
        answer = verdict(view, t, NOW)
        assert answer.status == expected, t
        assert sorted(answer.qualifying) == sorted(expected_qualifying), t


def _ledger(where: Path | str) -> ComputeLedger:
    """A ledger (a SQLite path or a URL) whose clock starts on 2027-03-01 and ticks a second
    per append, so two ledgers fed the same batches record the same times."""
    clock = ManualClock(datetime(2027, 3, 1, tzinfo=UTC), step=timedelta(seconds=1))
    return ComputeLedger.open(str(where), clock=clock, environ={})


@STORED
@given(histories(max_size=16), st.integers(0, 2**32))
def test_the_maintained_projection_equals_the_replay_at_every_prefix(
    tmp_path_factory: pytest.TempPathFactory, facts: list[F.Fact], seed: int
) -> None:
    path = tmp_path_factory.mktemp("incremental") / "ledger.sqlite3"
    with _ledger(path) as ledger:
        for batch in batches(reordered(facts, seed), seed):
            ledger.append(batch)
            head = ledger.head().position
            assert ledger.projection.catch_up() == (head, ledger.head().hash)
            maintained = ledger.projection.view().full()
            assert ledger.replayed(head).differences(maintained) == []
        ledger.projection.reset()
        ledger.projection.catch_up()
        assert ledger.replayed(ledger.head().position).differences(
            ledger.projection.view().full()) == []


@STORED
@given(histories(max_size=14), st.integers(0, 2**32))
def test_an_export_refreshed_after_each_batch_is_the_fresh_export(
    tmp_path_factory: pytest.TempPathFactory, facts: list[F.Fact], seed: int
) -> None:
    """A refresh rewrites the timeline only from the earliest valid time the new facts can
    change (``ComputeLedger.changed_from``) and keeps the points before it: after every
    batch, the file must be, table by table and row by row, a fresh export of the ledger
    there (what ``replay --export`` compares)."""
    from compute_ledger.projections.export import check_export, export_sqlite

    where = tmp_path_factory.mktemp("refresh")
    with _ledger(where / "ledger.sqlite3") as ledger:
        for batch in batches(reordered(facts, seed), seed):
            ledger.append(batch)
            export_sqlite(ledger, where / "export.db")
            checked = check_export(ledger, where / "export.db")
            assert checked.position == ledger.head().position
            assert checked.differs == [], checked.differs


def _index_equals_the_replay_at_every_batch_end(where: Path | str, facts: list[F.Fact],
                                                seed: int) -> None:
    """The bitemporal index (issue 12), caught up in one go after several batches, after
    each batch, or rebuilt from nothing: at every batch end P it holds (unless a one-pass
    catch-up passed over P), it holds exactly what the facts recorded by P fold to (old
    known-at positions included, not only the latest), and the answers at every P are the
    fold's either way."""
    with _ledger(where) as ledger:
        # Folded batch by batch (never in one pass but from nothing), in one pass whenever
        # it can, or as the default share says.
        ledger.projection.rebuild_share, ledger.projection.batch_share = \
            ((1.0, 1.0), (0.0, 0.0), (0.2, 0.05))[seed % 3]
        ends = [0]
        for number, batch in enumerate(batches(reordered(facts, seed), seed)):
            ledger.append(batch)
            ends.append(ledger.head().position)
            if (seed >> number) & 1:  # sometimes caught up now, sometimes later, many at once
                ledger.projection.catch_up()
                if (seed >> (number + 8)) & 1:  # the stored timeline too, as append does
                    ledger.catch_up_timeline()
                _digests_add_up(ledger)
        for attempt in ("incremental", "rebuilt"):
            ledger.projection.catch_up()
            _digests_add_up(ledger)
            assert ledger.projection.holds(ends[-1])
            for end in ends:
                if ledger.projection.holds(end):  # else passed over by a one-pass catch-up
                    stored = ledger.projection.view(end)
                    indexed = stored.full()
                    assert ledger.replayed(end).differences(indexed) == [], (attempt, end)
                    # what a walk from t reads, a page of one row at a time or not
                    with patch.multiple(runner, SWEEP_ROWS=seed % 2 * 4096, SWEEP_PAGE=1):
                        for t in [None, *question_times()[::4]]:
                            assert _swept(stored.sweep(t)) == _swept(indexed.sweep(t)), \
                                (attempt, end, t)
                    # replay's own comparison with a rebuild from nothing, table by table
                    with ledger.ledger.scratch() as scratch:
                        rebuilt = runner.Projection(scratch)
                        rebuilt.catch_up(until=end)
                        assert ledger._differences(rebuilt, end) == [], (attempt, end)
                    replayed, knowledge = ledger._folded(end)
                    # the walk over the index, its corrections and retractions read a page
                    # of one at a time or not, is the walk over the fold
                    known = ledger.known_instant(end)
                    with patch.object(api, "AMENDMENT_PAGE", 1 + seed % 2 * 2000):
                        assert ledger.timeline(known).points == timeline(
                            replayed, known, Provenance(knowledge).amendments()).points
                    if end == ends[-1]:  # there the timeline was read from the stored one
                        assert ledger.projection.points_tracked() == \
                            ledger.projection.tracked()
                _lists_give_what_the_fold_gives(ledger, end)
                known = ledger.known_instant(end) if end else ledger.known_instant(0)
                for t in question_times()[::3]:
                    assert ledger.verdict(t, known) == verdict(ledger.replayed(end), t, known)
            ledger.projection.reset()


def _swept(sweep: Sweep) -> tuple[object, ...]:
    return (sweep.subjects, *sweep[2:], list(sweep.steps))


def _digests_add_up(ledger: ComputeLedger) -> None:
    """Every table of the projection holds what the digest its catch-ups kept, row by row
    from what they wrote and replaced, says: the same as hashing every row afresh."""
    audit = ledger.projection.audit()
    assert audit is not None
    assert audit.differs == (), audit.differs
    assert audit.position == ledger.projection.tracked()[0]


def _lists_give_what_the_fold_gives(ledger: ComputeLedger, end: int) -> None:
    """What became of each fact, read from the index's lists (``cl_about``) for one subject
    or one fact, is what a fold of the whole ledger says of it."""
    full = Provenance(ledger._folded(end)[1])
    for subject in {s for ref in full.refs.values() for s in ref.subjects}:
        scoped = ledger._scoped([subject], end)
        assert scoped.about(subject) == full.about(subject), (end, subject)
        for ref in scoped.about(subject):
            assert scoped.content(ref.id) == full.content(ref.id), (end, ref.id)
    assert ledger._scoped([AMENDMENTS], end).amendments() == full.amendments(), end
    for ref in full.refs.values():
        assert ledger._scoped([], end, seeds=[ref.position]).get(ref.id) == ref, (end, ref)


@STORED
@given(histories(max_size=16), st.integers(0, 2**32))
def test_the_index_equals_the_replay_at_every_batch_end(
    tmp_path_factory: pytest.TempPathFactory, facts: list[F.Fact], seed: int
) -> None:
    path = tmp_path_factory.mktemp("bitemporal") / "ledger.sqlite3"
    _index_equals_the_replay_at_every_batch_end(path, facts, seed)


@pytest.mark.postgres
@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(histories(max_size=12), st.integers(0, 2**32))
def test_the_index_equals_the_replay_at_every_batch_end_on_postgresql(
    pg_server: Any, facts: list[F.Fact], seed: int
) -> None:
    name = pg_server.create_database()
    try:
        _index_equals_the_replay_at_every_batch_end(pg_server.url(name), facts, seed)
    finally:
        pg_server.drop_database(name)


@STORED
@given(histories(max_size=14), st.integers(0, 2**32), st.sampled_from(question_times()))
def test_an_answer_at_known_at_never_changes_when_more_is_recorded(
    tmp_path_factory: pytest.TempPathFactory, facts: list[F.Fact], seed: int, as_of: datetime
) -> None:
    path = tmp_path_factory.mktemp("known") / "ledger.sqlite3"
    then: list[tuple[datetime, Any, Any]] = []
    with _ledger(path) as ledger:
        for batch in batches(reordered(facts, seed), seed):
            result = ledger.append(batch)
            assert result.recorded_at is not None
            known = datetime.fromisoformat(result.recorded_at)
            # asked right after the batch: answered by the maintained projection
            then.append((known, msgspec.to_builtins(ledger.verdict(as_of, known)),
                         msgspec.to_builtins(ledger.business(as_of, known))))
        for known, said_verdict, said_business in then:
            # asked again later, with more recorded since: folded from the facts up to known
            assert msgspec.to_builtins(ledger.verdict(as_of, known)) == said_verdict
            assert msgspec.to_builtins(ledger.business(as_of, known)) == said_business


# ---------------------------------------------------------------------------------------------
# The two backends
# ---------------------------------------------------------------------------------------------


@pytest.mark.postgres
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(histories(max_size=12), st.integers(0, 2**32))
def test_sqlite_and_postgresql_give_identical_answers(
    pg_server: Any, tmp_path_factory: pytest.TempPathFactory, facts: list[F.Fact], seed: int
) -> None:
    name = pg_server.create_database()
    try:
        found = []
        for where in (tmp_path_factory.mktemp("both") / "ledger.sqlite3", pg_server.url(name)):
            with _ledger(where) as ledger:
                for batch in batches(facts, seed):
                    ledger.append(batch)
                cast(ManualClock, ledger.ledger.clock).set(NOW)  # ask once NOW has come
                found.append([
                    msgspec.to_builtins(ledger.verdict(t, NOW)) for t in question_times()[::3]
                ] + [msgspec.to_builtins(ledger.timeline(NOW)),
                     [r.hash for r in ledger.records()]])
        assert found[0] == found[1]
    finally:
        pg_server.drop_database(name)


# ---------------------------------------------------------------------------------------------
# Round trips
# ---------------------------------------------------------------------------------------------


@STORED
@given(histories(max_size=12))
def test_facts_survive_store_and_load_and_answers_decode_back(
    tmp_path_factory: pytest.TempPathFactory, facts: list[F.Fact]
) -> None:
    path = tmp_path_factory.mktemp("roundtrip") / "ledger.sqlite3"
    with _ledger(path) as ledger:
        ledger.append(facts)
        stored = list(ledger.facts())
        assert [e.fact for e in stored] == facts
        assert [e.raw for e in stored] == [F.canonical_bytes(f) for f in facts]
        for answer, kind in ((ledger.verdict(question_times()[4]), Verdict),
                             (ledger.business(question_times()[4]), Business),
                             (ledger.timeline(), Timeline)):
            text = F.encode_json(answer)
            assert msgspec.json.decode(text, type=kind) == answer


# ---------------------------------------------------------------------------------------------
# Tampering
# ---------------------------------------------------------------------------------------------

MUTATIONS = ["flip a byte", "delete", "swap with the next"]


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(histories(min_size=3, max_size=10), st.sampled_from(MUTATIONS), st.data())
def test_any_single_change_to_a_stored_record_is_caught_where_it_is(
    tmp_path_factory: pytest.TempPathFactory, facts: list[F.Fact], mutation: str,
    data: st.DataObject,
) -> None:
    path = tmp_path_factory.mktemp("tamper") / "ledger.sqlite3"
    with _ledger(path) as ledger:
        ledger.append(facts)
        ledger.sync_index()
        count = ledger.head().position
    k = data.draw(st.integers(1, count - 1 if mutation == "swap with the next" else count))
    with sqlite3.connect(path) as db:
        state = db.execute("SELECT state FROM stored_events WHERE originator_version = ?",
                           (k,)).fetchone()[0]
        if mutation == "flip a byte":
            offset = data.draw(st.integers(0, len(state) - 1))
            bit = data.draw(st.integers(0, 6))
            changed = bytearray(state)
            changed[offset] ^= 1 << bit
            assume(bytes(changed) != state)
            db.execute("UPDATE stored_events SET state = ? WHERE originator_version = ?",
                       (bytes(changed), k))
        elif mutation == "delete":
            db.execute("DELETE FROM stored_events WHERE originator_version = ?", (k,))
        else:
            other = db.execute("SELECT state FROM stored_events WHERE originator_version = ?",
                               (k + 1,)).fetchone()[0]
            db.execute("UPDATE stored_events SET state = ? WHERE originator_version = ?",
                       (other, k))
            db.execute("UPDATE stored_events SET state = ? WHERE originator_version = ?",
                       (state, k + 1))
    with ComputeLedger.open(str(path), environ={}) as ledger, \
            pytest.raises(VerificationError) as caught:
        ledger.verify()
    assert caught.value.breach.position == k, caught.value
