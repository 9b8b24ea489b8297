"""The chain's checks and a batch's admission, as pure functions: no database.

Each check ``verify`` makes is exercised here on stored bytes built by hand, so that deleting
any one of them fails a test of its own (the tampering tests in test_tamper.py run the same
checks through both backends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from compute_ledger.ledger import facts as F
from compute_ledger.ledger.admission import Chain, classify, prepare
from compute_ledger.ledger.chain import GENESIS, content_digest, link_hash
from compute_ledger.ledger.errors import InputError, VerificationError
from compute_ledger.ledger.persistence import RECORD_TOPIC, Record, record_json, record_state
from compute_ledger.ledger.verification import ChainVerifier, Pin, index_breach, tail_breach

WHEN = datetime(2026, 5, 6, 10, tzinfo=UTC)
STAMPS = ["2026-06-01T12:00:00.000000Z", "2026-06-01T12:00:01.000000Z",
          "2026-06-01T12:00:02.000000Z"]


def fact(i: int) -> F.Announcement:
    return F.Announcement(
        id=f"fact-{i}", occurred_at=WHEN + timedelta(hours=i),
        source=F.Source(url=f"https://example.org/{i}"), speaker="xai",
        channel="official_site", availability="available",
        deal=F.DealTerms(deal_id=f"deal-{i}", provider="xai", customer=f"customer-{i}"),
    )


def chain(stamps: list[str]) -> list[tuple[int, bytes]]:
    """Correctly linked stored states, one per stamp (whatever order the stamps are in)."""
    states: list[tuple[int, bytes]] = []
    prev = GENESIS
    for position, stamp in enumerate(stamps, start=1):
        raw = F.canonical_bytes(fact(position))
        digest = link_hash(prev, position, stamp, raw)
        states.append((position, record_state(position, stamp.encode(), prev.encode(),
                                               digest.encode(), raw)))
        prev = digest
    return states


def check_all(states: list[tuple[int, bytes]], against: Pin | None = None,
              topic: str = RECORD_TOPIC) -> ChainVerifier:
    verifier = ChainVerifier(against)
    for position, state in states:
        verifier.check(position, topic, state)
    return verifier


def breach_of(states: list[tuple[int, bytes]], against: Pin | None = None,
              topic: str = RECORD_TOPIC) -> tuple[int, str]:
    with pytest.raises(VerificationError) as raised:
        check_all(states, against, topic)
    return raised.value.breach.position, raised.value.breach.reason


def rewrite(state: bytes, **changes: object) -> bytes:
    record = msgspec.json.decode(state, type=Record)
    return record_json(msgspec.structs.replace(record, **changes))


def test_an_intact_chain_checks_out_and_reports_what_the_index_needs() -> None:
    states = chain(STAMPS)
    verifier = ChainVerifier()
    rows = [verifier.check(position, RECORD_TOPIC, state) for position, state in states]
    assert verifier.position == 3
    assert verifier.last_recorded == STAMPS[-1]
    assert [row[:2] for row in rows] == [(1, "fact-1"), (2, "fact-2"), (3, "fact-3")]
    assert rows[0][2] == content_digest(F.canonical_bytes(fact(1)))


def test_the_fast_state_is_the_records_json() -> None:
    [(_, state)] = chain(STAMPS[:1])
    record = msgspec.json.decode(state, type=Record)
    assert record_json(record) == state


def test_recorded_at_going_backwards_is_a_breach_even_with_every_hash_recomputed() -> None:
    states = chain([STAMPS[0], STAMPS[2], STAMPS[1]])
    assert breach_of(states) == (3, "recorded_at goes backwards")


def test_a_missing_position_is_named() -> None:
    states = chain(STAMPS)
    assert breach_of([states[0], states[2]]) == (
        2, "record missing (the next stored record is at position 3)")


def test_a_record_under_another_topic_is_named() -> None:
    assert breach_of(chain(STAMPS), topic="something/else") == (
        1, "the stored record cannot be decoded")


def test_a_record_that_does_not_decode_is_named() -> None:
    states = chain(STAMPS)
    states[1] = (2, b"{not json")
    assert breach_of(states) == (2, "the stored record cannot be decoded")


def test_a_fact_that_does_not_decode_is_named() -> None:
    states = chain(STAMPS)
    states[1] = (2, rewrite(states[1][1], fact=msgspec.Raw(b'{"type":"tweet"}')))
    assert breach_of(states) == (2, "the fact cannot be decoded")


def test_a_record_claiming_another_position_is_named() -> None:
    states = chain(STAMPS)
    states[1] = (2, rewrite(states[1][1], position=7))
    assert breach_of(states) == (2, "the record stored here claims position 7")


def test_a_broken_link_is_named() -> None:
    states = chain(STAMPS)
    states[1] = (2, rewrite(states[1][1], prev="0" * 63 + "1"))
    assert breach_of(states) == (
        2, "the record does not link to the one before it (prev hash differs)")


def test_an_altered_hash_is_named() -> None:
    states = chain(STAMPS)
    states[2] = (3, rewrite(states[2][1], hash="f" * 64))
    assert breach_of(states) == (3, "the stored hash does not match the record's content")


def test_a_pinned_hash_that_differs_is_named() -> None:
    states = chain(STAMPS)
    assert breach_of(states, Pin(2, "e" * 64)) == (
        2, "the hash differs from the pinned one: history was rewritten")
    pinned = msgspec.json.decode(states[1][1], type=Record).hash
    assert check_all(states, Pin(2, pinned)).position == 3


def test_the_index_must_match_every_record() -> None:
    rows = [(1, "a", b"1"), (2, "b", b"2")]
    index_breach(rows, {"a": (1, b"1"), "b": (2, b"2")})
    with pytest.raises(VerificationError) as raised:
        index_breach(rows, {"a": (1, b"1"), "b": (2, b"X")})
    assert raised.value.breach.position == 2


@pytest.mark.parametrize("tail, expected", [
    ((3, 3, 4, 3, None), (4, "record missing (the fact index still lists it)")),
    ((3, 5, None, 5, None), (4, "record missing (the fact index covers positions up to 5)")),
    ((3, 3, None, 4, None), (3, "the fact index holds 4 entries for 3 records")),
    ((3, 3, None, 3, Pin(5, "a" * 64)),
     (4, "the pinned position 5 is beyond the head (3): records were removed")),
])
def test_what_lies_past_the_head_is_named(
    tail: tuple[int, int, int | None, int, Pin | None], expected: tuple[int, str],
) -> None:
    with pytest.raises(VerificationError) as raised:
        tail_breach(*tail)
    assert (raised.value.breach.position, raised.value.breach.reason) == expected


def test_an_intact_tail_passes() -> None:
    tail_breach(3, 3, None, 3, Pin(3, "a" * 64))


# -- admission ------------------------------------------------------------------------------


def test_a_batch_gets_ids_counts_its_own_duplicates_and_refuses_clashes() -> None:
    unnamed = msgspec.structs.replace(fact(1), id=None)
    batch = prepare([fact(1), fact(1), unnamed])
    assert [p.fact_id for p in batch.prepared] == ["fact-1", F.derive_id(unnamed)]
    assert batch.duplicates == 1 and batch.problems == []
    clash = prepare([fact(1), msgspec.structs.replace(fact(2), id="fact-1")])
    [problem] = clash.problems
    assert (problem.line, problem.path) == (2, "$.id")
    assert "already used at line 1" in problem.reason


def test_classify_against_the_index() -> None:
    batch = prepare([fact(1), fact(2)])
    stored = batch.prepared[0]
    new, duplicates = classify(batch, {"fact-1": (9, stored.digest)}, lambda at: fact(1))
    assert [p.fact_id for p in new] == ["fact-2"] and duplicates == 1
    with pytest.raises(InputError) as raised:
        classify(batch, {"fact-1": (9, b"other content")}, lambda at: fact(1))
    [problem] = raised.value.problems
    assert "already in the ledger at position 9 with other content" in problem.reason


def test_a_correction_must_name_a_fact_of_its_type() -> None:
    replacement = msgspec.structs.replace(fact(1), id=None)
    correction = F.Correction(id="fix-1", occurred_at=WHEN, corrects="fact-1",
                              fact=replacement, reason="r")
    batch = prepare([correction])
    assert batch.targets == {"fact-1"}
    with pytest.raises(InputError) as raised:
        classify(batch, {}, lambda at: fact(1))
    assert "no fact 'fact-1' in the ledger" in raised.value.problems[0].reason
    filing = F.Filing(id="fact-1", occurred_at=WHEN, source=F.Source(document="d"),
                      filer="spacex", form="other", discloses_compute_revenue=True)
    with pytest.raises(InputError) as raised:
        classify(batch, {"fact-1": (4, b"")}, lambda at: filing)
    assert raised.value.problems[0].path == "$.fact.type"
    new, _ = classify(batch, {"fact-1": (4, b"")}, lambda at: fact(1))
    assert [p.fact_id for p in new] == ["fix-1"]


def test_the_chain_links_new_records_onto_the_head() -> None:
    batch = prepare([fact(1), fact(2)])
    linked = Chain(0, GENESIS, STAMPS[0], batch.prepared)
    states = list(linked.states())
    assert states == chain([STAMPS[0], STAMPS[0]])
    assert linked.last_hash == msgspec.json.decode(states[-1][1], type=Record).hash
