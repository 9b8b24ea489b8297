"""The store's contract, run on every backend (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest

from compute_ledger.ledger import facts as F
from compute_ledger.ledger.chain import GENESIS, link_hash
from compute_ledger.ledger.clock import (
    BEHIND_TOLERANCE,
    ClockError,
    ManualClock,
    OffsetClock,
    SystemClock,
)
from compute_ledger.ledger.errors import (
    ConfigurationError,
    InputError,
    NotFoundError,
    StorageError,
)
from compute_ledger.ledger.instants import ONE_MICROSECOND, utc_text
from compute_ledger.projections.api import ComputeLedger, Head

WHEN = datetime(2026, 5, 6, 10, tzinfo=UTC)


def announcement(i: int, **deal: object) -> F.Announcement:
    terms = {"deal_id": f"deal-{i % 7}", "provider": "xai", "customer": f"customer-{i}", **deal}
    return F.Announcement(
        id=f"fact-{i:04d}",
        occurred_at=WHEN + timedelta(hours=i),
        source=F.Source(url=f"https://example.org/{i}"),
        speaker="xai",
        channel="official_site",
        availability="available",
        deal=msgspec.convert(terms, F.DealTerms),
    )


def test_positions_recorded_at_and_the_chain(ledger: ComputeLedger, clock: ManualClock) -> None:
    first = ledger.append([announcement(i) for i in range(3)])
    second = ledger.append([announcement(3)])
    assert (first.appended, first.first_position, first.head.position) == (3, 1, 3)
    assert (second.first_position, second.head.position) == (4, 4)
    entries = list(ledger.facts())
    assert [e.position for e in entries] == [1, 2, 3, 4]
    assert [e.fact_id for e in entries] == ["fact-0000", "fact-0001", "fact-0002", "fact-0003"]
    # one commit, one recorded_at, taken from the store's clock
    assert {e.recorded_at for e in entries[:3]} == {utc_text(datetime(2026, 6, 1, 12, tzinfo=UTC))}
    assert entries[3].recorded_at > entries[2].recorded_at
    # each hash covers the previous hash, the position, recorded_at and the canonical bytes
    prev = GENESIS
    for entry in entries:
        assert entry.prev == prev
        assert entry.raw == F.canonical_bytes(entry.fact)
        assert entry.hash == link_hash(prev, entry.position, entry.recorded_at, entry.raw)
        prev = entry.hash
    assert ledger.head() == Head(4, prev, entries[3].recorded_at)


def test_a_clock_set_back_is_refused_naming_both_times(
    ledger: ComputeLedger, clock: ManualClock
) -> None:
    ledger.append([announcement(0)])
    head = ledger.head()
    clock.set(datetime(2020, 1, 1, tzinfo=UTC))
    with pytest.raises(ClockError) as refused:
        ledger.append([announcement(1)])
    assert "2020-01-01T00:00:00.000000Z" in str(refused.value)
    assert str(head.recorded_at) in str(refused.value)
    assert ledger.head() == head  # nothing written, nothing clamped


def test_a_clock_a_little_behind_still_moves_recorded_at_forward(
    ledger: ComputeLedger, clock: ManualClock
) -> None:
    ledger.append([announcement(0), announcement(1)])
    clock.set(clock.now() - BEHIND_TOLERANCE)  # behind the head, within the tolerance
    ledger.append([announcement(2)])
    clock.set(datetime.fromisoformat(ledger.head().recorded_at or ""))  # exactly the head
    ledger.append([announcement(3)])
    times = [entry.recorded_instant for entry in ledger.facts()]
    assert times[0] == times[1]  # one batch, one instant
    assert times[1] < times[2] < times[3]  # strictly increasing from batch to batch
    assert times[3] - times[2] == ONE_MICROSECOND


@pytest.mark.postgres
def test_a_wall_clock_far_from_the_servers_is_refused(pg_url: str) -> None:
    for offset in (timedelta(days=3650), -timedelta(minutes=5)):
        with ComputeLedger.open(pg_url, clock=OffsetClock(offset), environ={}) as skewed:
            with pytest.raises(ClockError, match="database server's says"):
                skewed.append([announcement(0)])
            assert skewed.head().position == 0
    with ComputeLedger.open(pg_url, clock=SystemClock(), environ={}) as right:
        assert right.append([announcement(0)]).appended == 1


def test_the_same_fact_twice_is_a_duplicate(ledger: ComputeLedger) -> None:
    ledger.append([announcement(i) for i in range(5)])
    head = ledger.head()
    again = ledger.append([announcement(i) for i in range(6)])
    assert (again.appended, again.duplicates) == (1, 5)
    assert again.first_position == 6
    repeat = ledger.append([announcement(i) for i in range(6)])
    assert (repeat.appended, repeat.duplicates, repeat.head.position) == (0, 6, 6)
    assert ledger.head().position == head.position + 1


def test_a_duplicate_inside_one_batch_is_stored_once(ledger: ComputeLedger) -> None:
    result = ledger.append([announcement(1), announcement(2), announcement(1)])
    assert (result.appended, result.duplicates) == (2, 1)


def test_the_same_id_with_other_content_is_refused(ledger: ComputeLedger) -> None:
    ledger.append([announcement(1)])
    head = ledger.head()
    changed = announcement(1, capacity_mw=F.Quantity("300"))
    with pytest.raises(InputError) as raised:
        ledger.append([announcement(2), changed])
    [problem] = raised.value.problems
    assert (problem.line, problem.path) == (2, "$.id")
    assert "already in the ledger at position 1" in problem.reason
    assert "correction" in problem.reason
    assert ledger.head() == head  # nothing of the batch was written


def test_facts_without_an_id_get_one_from_their_content(ledger: ComputeLedger) -> None:
    anonymous = msgspec.structs.replace(announcement(1), id=None)
    first = ledger.append([anonymous])
    [entry] = ledger.facts()
    assert entry.fact_id == F.derive_id(anonymous)
    assert ledger.append([anonymous]).duplicates == 1
    assert first.head == ledger.head()


def correction(target: str, replacement: F.SourcedFact, fact_id: str = "fix-1") -> F.Correction:
    return F.Correction(
        id=fact_id, occurred_at=WHEN + timedelta(days=30), corrects=target,
        fact=msgspec.structs.replace(replacement, id=None), reason="wrong customer",
    )


def test_corrections_and_retractions_need_an_existing_target(ledger: ComputeLedger) -> None:
    ledger.append([announcement(1)])
    good = correction("fact-0001", announcement(1, customer="openai"))
    retract = F.Retraction(id="drop-1", occurred_at=WHEN, retracts="fact-0001", reason="r")
    both: list[F.Fact] = [good, retract]
    assert ledger.append(both).appended == 2
    with pytest.raises(InputError, match=r"line 1, \$.corrects: no fact 'nope'"):
        ledger.append([correction("nope", announcement(1), "fix-2")])
    with pytest.raises(InputError, match=r"only facts \(not corrections or retractions\) can be"):
        ledger.append([correction("fix-1", announcement(1), "fix-3")])
    with pytest.raises(InputError, match=r"\$.retracts: 'drop-1' is itself a retraction"):
        ledger.append([F.Retraction(id="drop-2", occurred_at=WHEN, retracts="drop-1",
                                    reason="r")])
    ruling = F.CreatorRuling(id="r-1", occurred_at=WHEN, source=F.Source(document="d"),
                             ruling="clarification", summary="s")
    with pytest.raises(InputError, match=r"\$.fact.type: a correction keeps the type"):
        ledger.append([correction("fact-0001", ruling, "fix-4")])
    assert ledger.head().position == 3


def test_a_correction_may_target_an_earlier_line_of_the_same_batch(
    ledger: ComputeLedger,
) -> None:
    batch: list[F.Fact] = [announcement(1),
                           correction("fact-0001", announcement(1, customer="x"))]
    assert ledger.append(batch).appended == 2
    with pytest.raises(InputError, match=r"line 1, .*no fact 'fact-0009'"):
        early: list[F.Fact] = [correction("fact-0009", announcement(9), "fix-9"),
                               announcement(9)]
        ledger.append(early)


def test_a_batch_is_all_or_nothing(ledger: ComputeLedger) -> None:
    ledger.append([announcement(0)])
    head = ledger.head()
    bad: list[F.Fact] = [announcement(1), announcement(2),
                         correction("missing", announcement(3), "fix-x")]
    with pytest.raises(InputError, match="line 3"):
        ledger.append(bad)
    assert ledger.head() == head
    assert [e.fact_id for e in ledger.facts()] == ["fact-0000"]


def test_find_show_and_positions(ledger: ComputeLedger) -> None:
    ledger.append([announcement(i) for i in range(4)])
    assert ledger.show("fact-0002").position == 3
    with pytest.raises(NotFoundError, match="no fact with id 'nope'"):
        ledger.show("nope")
    assert [e.position for e in ledger.facts(after=1, until=3)] == [2, 3]


def test_position_known_at(ledger: ComputeLedger, clock: ManualClock) -> None:
    for i in range(5):
        ledger.append([announcement(i)])
    times = [e.recorded_instant for e in ledger.facts()]
    store = ledger.ledger
    assert store.position_known_at(times[0] - timedelta(seconds=1)) == 0
    for position, moment in enumerate(times, start=1):
        assert store.position_known_at(moment) == position
        assert store.position_known_at(moment + timedelta(microseconds=500_000)) == position
    assert store.position_known_at(clock.now()) == 5
    with pytest.raises(ConfigurationError, match="later than now"):
        store.position_known_at(clock.now() + timedelta(days=9))


def test_verify_and_pins(ledger: ComputeLedger) -> None:
    assert ledger.verify().head == Head(0, GENESIS, None)
    ledger.append([announcement(i) for i in range(3)])
    pinned = ledger.head()
    ledger.append([announcement(3)])
    report = ledger.verify(against=pinned)
    assert report.checked == 4
    assert report.head == ledger.head()


def test_an_empty_batch_is_refused(ledger: ComputeLedger) -> None:
    with pytest.raises(InputError, match="no facts given"):
        ledger.append([])


def test_reopening_sees_the_same_ledger(db: str, clock: ManualClock) -> None:
    with ComputeLedger.open(db, clock=clock, environ={}) as first:
        first.append([announcement(i) for i in range(3)])
        head = first.head()
    with ComputeLedger.open(db, clock=clock, environ={}) as second:
        assert second.head() == head
        assert second.verify().checked == 3


def test_feed_records_are_the_stored_bytes(ledger: ComputeLedger) -> None:
    ledger.append([announcement(i) for i in range(3)])
    from compute_ledger.projections.api import record_json

    lines = [json.loads(record_json(r)) for r in ledger.records(after=1)]
    assert [line["position"] for line in lines] == [2, 3]
    assert lines[0]["fact"]["id"] == "fact-0001"
    assert set(lines[0]) == {"fact", "hash", "position", "prev", "recorded_at"}


def test_an_unreachable_postgres_names_the_url_without_the_password() -> None:
    url = "postgresql://ledger:s3cret-pw@127.0.0.1:1/nowhere?connect_timeout=1"
    with pytest.raises(StorageError) as raised, ComputeLedger.open(url, environ={}) as opened:
        opened.head()
    message = str(raised.value)
    assert "s3cret-pw" not in message
    assert "postgresql://ledger:***@127.0.0.1:1/nowhere" in message


def test_the_fast_record_encoding_is_the_mappers() -> None:
    from compute_ledger.ledger.persistence import Record, RecordMapper, record_state

    raw = F.canonical_bytes(F.with_id(announcement(7)))
    record = Record(12, "2026-06-01T12:00:00.000000Z", "a" * 64, "b" * 64, msgspec.Raw(raw))
    mapped = RecordMapper(transcoder=None).to_stored_event(record)  # type: ignore[arg-type]
    fast = record_state(12, record.recorded_at.encode(), record.prev.encode(),
                        record.hash.encode(), raw)
    assert fast == mapped.state == msgspec.json.Encoder(order="sorted").encode(record)


def test_facts_built_in_python_are_checked_as_text_is(ledger: ComputeLedger) -> None:
    """msgspec checks types when decoding, never in a constructor: a fact built in Python
    goes through the same door as text before the store takes it."""
    ledger.append([announcement(0)])
    before = ledger.head()
    deal = announcement(1).deal
    assert deal is not None
    # A float where a Decimal belongs, on purpose (replace takes its changes as Any, so the
    # type checker lets it through, as a caller's code would).
    float_quantity = msgspec.structs.replace(
        announcement(1), deal=msgspec.structs.replace(deal, capacity_mw=300.5))
    out_of_range = msgspec.structs.replace(
        announcement(2), occurred_at=datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))))
    neither = msgspec.structs.replace(announcement(3), deal=None)
    with pytest.raises(InputError) as raised:
        ledger.append([announcement(4), float_quantity, out_of_range, neither])
    assert [(p.line, p.path) for p in raised.value.problems] == [
        (2, "$.deal.capacity_mw"), (3, "$.occurred_at"), (4, "$")]
    assert "got float 300.5" in raised.value.problems[0].reason
    assert "outside the supported range" in raised.value.problems[1].reason
    assert "exactly one of deal or offering" in raised.value.problems[2].reason
    assert ledger.head() == before
    with pytest.raises(InputError, match=r"line 1, \$: not a fact but dict"):
        ledger.append([{"type": "announcement"}])  # type: ignore[list-item]  # on purpose
    assert ledger.head() == before


def test_check_facts_is_the_door_for_python_facts(ledger: ComputeLedger) -> None:
    checked = F.check_facts([announcement(0), (7, announcement(1))])
    assert [(c.line, c.fact) for c in checked] == [(1, announcement(0)), (7, announcement(1))]
    assert all(isinstance(c, F.Checked) for c in checked)
    assert F.check_facts(checked) == checked  # checked facts pass as they are
    assert ledger.append(checked).appended == 2
    with pytest.raises(InputError, match=r"line 7, \$.deal.ends_on: 2026-01-01 is before"):
        F.check_facts([(7, announcement(2, starts_on="2026-05-01", ends_on="2026-01-01"))])


def test_the_default_known_at_is_never_before_the_head(
    ledger: ComputeLedger, clock: ManualClock
) -> None:
    """A clock a little behind the head (within the writers' tolerance): a question about
    now still sees every fact, and asking about the head's own time is not "the future"."""
    ledger.append([announcement(0)])
    ledger.append([announcement(1)])
    head = ledger.head()
    assert head.recorded_at is not None
    recorded = datetime.fromisoformat(head.recorded_at)
    behind = recorded - timedelta(seconds=1)  # the clock steps a second per reading
    clock.set(behind)
    assert ledger.known_instant() == recorded
    clock.set(behind)
    assert ledger.verdict().ledger_position == 2
    clock.set(behind)
    assert ledger.ledger.position_known_at(recorded) == 2
