"""The fact interchange format: round trips and the door's refusals."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from strategies import FACT_STRATEGIES, any_fact

from compute_ledger.ledger import facts as F
from compute_ledger.ledger.errors import InputError

ANNOUNCEMENT = {
    "id": "xai-anthropic-announced-2026-05-06",
    "type": "announcement",
    "occurred_at": "2026-05-06T10:00:00-07:00",
    "source": {"url": "https://x.ai/news/anthropic-compute-partnership", "publisher": "xAI",
               "title": "t", "quote": "q"},
    "speaker": "xai", "channel": "official_site", "availability": "available",
    "deal": {"deal_id": "xai-anthropic-colossus", "provider": "xai", "customer": "anthropic",
             "service": "training_and_inference", "consideration": "cash",
             "facilities": ["colossus-1"], "capacity_mw": "300",
             "usd_per_month": None, "starts_on": "2026-05-06", "ends_on": None},
}


def test_the_domain_example_decodes_as_written() -> None:
    [(line, fact)] = F.parse_facts(json.dumps(ANNOUNCEMENT))
    assert line == 1
    assert isinstance(fact, F.Announcement)
    assert fact.deal is not None
    assert fact.deal.capacity_mw == F.Quantity("300")
    assert fact.deal.usd_per_month is None
    assert fact.occurred_at.utcoffset() is not None


@pytest.mark.parametrize("tag", sorted(FACT_STRATEGIES))
def test_every_fact_type_round_trips(tag: str) -> None:
    @settings(max_examples=150, deadline=None)
    @given(FACT_STRATEGIES[tag])
    def check(fact: F.Fact) -> None:
        assert fact.__struct_config__.tag == tag
        assert F.check_fact(fact) == []
        data = F.canonical_bytes(fact)
        again = F.decode_fact(data)
        assert again == fact
        assert F.canonical_bytes(again) == data  # canonical: a fixed point
        [(_, parsed)] = F.parse_facts(data)
        assert parsed == fact

    check()


@settings(max_examples=300, deadline=None)
@given(any_fact)
def test_the_door_carries_exactly_the_canonical_bytes_it_stores(fact: F.Fact) -> None:
    """The append stores the bytes the door carries (``Encoded.raw``) without encoding the
    fact again: on either door, from Python or from text however laid out, they are the
    canonical bytes of the fact that passed, and only a fact with an id carries them."""
    def carried(checked: F.Checked) -> bytes | None:
        return checked.raw if isinstance(checked, F.Encoded) else None

    [from_python] = F.check_facts([fact])
    canonical = F.canonical_bytes(from_python.fact)
    # the same fact laid out otherwise: indented, every non-ASCII character escaped
    pretty = msgspec.json.format(json.dumps(json.loads(canonical), ensure_ascii=True).encode(),
                                 indent=3)
    [from_text] = F.parse_facts(canonical)
    [from_pretty] = F.parse_facts(pretty)
    assert from_text.fact == from_pretty.fact == from_python.fact
    for checked in (from_python, from_text, from_pretty):
        line, passed = checked  # still a (line, fact) pair
        assert line == 1 and passed == from_python.fact
        assert carried(checked) == (None if fact.id is None else canonical)


@settings(max_examples=200, deadline=None)
@given(any_fact)
def test_a_lean_fact_holds_its_bytes_and_gives_back_the_fact(fact: F.Fact) -> None:
    """What a bulk append holds of each fact (``read_facts(..., lean=True)``): the line, id
    and canonical bytes; the fact decoded from them is the one that passed the door, and
    only a correction, a retraction or a corporate event keeps it decoded."""
    [checked] = F.check_facts([fact])
    text = F.canonical_bytes(checked.fact)
    [passed], problems = F.read_facts(text, lean=True)
    assert problems == []
    if fact.id is None:
        assert passed == checked  # no bytes to keep: the append derives the id
        return
    assert isinstance(passed, F.Lean)
    assert (passed.line, passed.fact_id, passed.raw) == (1, fact.id, text)
    assert passed.fact == checked.fact
    amends = isinstance(fact, (F.Correction, F.Retraction, F.CorporateEvent))
    assert (passed.kept is not None) == amends
    # through the door again it is as it was, and check_facts gives its checked form back
    assert F.through_door(1, passed) == (passed, [])
    assert F.check_facts([passed]) == [checked]


def test_a_lean_batch_is_stored_byte_for_byte_as_a_decoded_one(tmp_path: Any) -> None:
    from builders import announce, correct, retract

    from compute_ledger.projections.api import ComputeLedger

    first = announce("2026-05-01T12:00:00Z", "d1", id="a1")
    facts: list[F.Fact] = [first, correct("2026-05-02T12:00:00Z", first,
                                          announce("2026-05-01T12:00:00Z", "d1",
                                                   customer="initech"), id="c1"),
                           retract("2026-05-03T12:00:00Z", first, id="r1"),
                           announce("2026-05-04T12:00:00Z", "d2", customer="globex", id="a2")]
    text = b"".join(F.canonical_bytes(f) + b"\n" for f in facts)
    stored = []
    for lean in (False, True):
        with ComputeLedger.open(str(tmp_path / f"{lean}.sqlite3"), environ={}) as ledger:
            batch, _ = F.read_facts(text, lean=lean)
            assert [type(c) is F.Lean for c in batch] == [lean] * 4
            ledger.append(batch)
            stored.append([(e.position, e.raw) for e in ledger.facts()])
            assert ledger.party_warnings(batch) == []
    assert stored[0] == stored[1] and len(stored[0]) == 4


@settings(max_examples=200, deadline=None)
@given(any_fact)
def test_derived_ids_depend_on_content_only(fact: F.Fact) -> None:
    anonymous = msgspec.structs.replace(fact, id=None)
    assert F.derive_id(anonymous) == F.derive_id(fact)
    assert F.with_id(anonymous).id == F.derive_id(fact)
    assert F.with_id(anonymous).id is not None
    assert (F.with_id(anonymous).id or "").startswith("sha256:")


def test_canonical_bytes_sort_keys_and_omit_absent_fields() -> None:
    [(_, fact)] = F.parse_facts(json.dumps(ANNOUNCEMENT))
    data = F.canonical_bytes(fact)
    assert b"null" not in data
    keys = list(json.loads(data))
    assert keys == sorted(keys)
    assert data.startswith(b'{"availability":"available","channel":"official_site","deal":{')


def _with(**changes: object) -> dict[str, object]:
    fact: dict[str, Any] = json.loads(json.dumps(ANNOUNCEMENT))
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        target = fact
        for parent in parents:
            target = target[parent]
        if value is DELETE:
            del target[leaf]
        else:
            target[leaf] = value
    return fact


DELETE = object()

# (what, the fact, the JSON path named, a fragment of the reason)
BAD = [
    ("unknown type", _with(type="tweet"), "$.type", "'tweet' is not a fact type"),
    ("unknown field", _with(mood="bullish"), "$.mood", "unknown field"),
    ("unknown nested field", _with(deal__price="1"), "$.deal.price", "unknown field"),
    ("unknown enum value", _with(channel="blog"), "$.channel",
     "Invalid enum value 'blog'; expected one of official_site"),
    ("float quantity", _with(deal__capacity_mw=300.5), "$.deal.capacity_mw", "got float 300.5"),
    ("integer quantity", _with(deal__usd_per_month=1250000000), "$.deal.usd_per_month",
     "got int 1250000000"),
    ("exponent quantity", _with(deal__capacity_mw="3e2"), "$.deal.capacity_mw",
     "not a plain non-negative decimal"),
    ("negative quantity", _with(deal__capacity_mw="-1"), "$.deal.capacity_mw",
     "not a plain non-negative decimal"),
    ("naive timestamp", _with(occurred_at="2026-05-06T10:00:00"), "$.occurred_at",
     "no UTC offset"),
    ("date for a timestamp", _with(occurred_at="2026-05-06"), "$.occurred_at",
     "not an RFC 3339 timestamp; write the date, the time and an offset"),
    ("missing source", _with(source=DELETE), "$.source", "required field is missing"),
    ("source without url or document", _with(source={"publisher": "xAI"}), "$.source",
     "needs a url or a document"),
    ("bad slug", _with(deal__customer="Anthropic Inc"), "$.deal.customer",
     "expected a lowercase slug"),
    ("bad date", _with(deal__starts_on="2026-02-30"), "$.deal.starts_on", "Invalid"),
    ("ends before it starts", _with(deal__ends_on="2026-01-01"), "$.deal.ends_on",
     "is before starts_on"),
    ("both deal and offering", _with(offering={"offering_id": "grok-cloud"}), "$",
     "exactly one of deal or offering"),
    ("long quote", _with(source__quote="x" * 201), "$.source.quote", "length <= 200"),
    ("string for bool", {"type": "filing", "occurred_at": "2026-05-22T00:00:00Z",
                         "source": {"document": "d"}, "filer": "spacex", "form": "other",
                         "discloses_compute_revenue": "yes"},
     "$.discloses_compute_revenue", "Expected `bool`"),
    ("ruling without a deal", {"type": "creator_ruling", "occurred_at": "2026-05-06T00:00:00Z",
                               "source": {"document": "d"}, "ruling": "counts",
                               "summary": "s"}, "$.deal_id", "must name a deal"),
    ("unknown clause", {"type": "creator_ruling", "occurred_at": "2026-05-06T00:00:00Z",
                        "source": {"document": "d"}, "ruling": "clarification",
                        "clauses": ["exc-vibes"], "summary": "s"}, "$.clauses[0]",
     "Invalid enum value 'exc-vibes'"),
    ("replacement with an id", {"type": "correction", "occurred_at": "2026-05-07T00:00:00Z",
                                "corrects": "a", "reason": "r",
                                "fact": {**ANNOUNCEMENT}}, "$.fact.id",
     "a replacement has no id"),
    ("merger result not a party", {"type": "corporate_event",
                                   "occurred_at": "2025-01-01T00:00:00Z",
                                   "source": {"document": "d"}, "action": "merger",
                                   "parties": ["xai", "spacex"], "result": "tesla"},
     "$.result", "must be one of the parties"),
    ("array instead of object", [ANNOUNCEMENT], "$", "Expected `object`, got `array`"),
    # Python's datetimes end at years 1 and 9999: an instant that only fits because of its
    # offset, or a date at the very end, would break every later fold, so the door refuses
    # them.
    ("instant before the range", _with(occurred_at="0001-01-01T00:00:00+01:00"),
     "$.occurred_at", "outside the supported range 0002-01-01 to 9998-12-31"),
    ("instant after the range", _with(occurred_at="9999-12-31T23:00:00-05:00"),
     "$.occurred_at", "outside the supported range"),
    ("date after the range", _with(deal__ends_on="9999-12-31"), "$.deal.ends_on",
     "outside the supported range"),
    ("replacement's instant out of range", {
        "type": "correction", "occurred_at": "2026-05-07T00:00:00Z", "corrects": "a",
        "reason": "r", "fact": {**_with(occurred_at="9999-12-31T12:00:00Z"), "id": None}},
     "$.fact.occurred_at", "outside the supported range"),
]


@pytest.mark.parametrize(("what", "fact", "path", "reason"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_names_line_path_and_reason(
    what: str, fact: object, path: str, reason: str
) -> None:
    good = json.dumps(ANNOUNCEMENT)
    other = json.dumps({**ANNOUNCEMENT, "id": "another"})
    batch = "\n".join([good, other, json.dumps(fact)])
    with pytest.raises(InputError) as raised:
        F.parse_facts(batch)
    problems = raised.value.problems
    assert [(p.line, p.path) for p in problems] == [(3, path)], problems
    assert reason in problems[0].reason
    assert f"line 3, {path}: " in str(raised.value)


def test_malformed_json_names_its_line() -> None:
    batch = json.dumps(ANNOUNCEMENT) + "\n\n{not json\n"
    with pytest.raises(InputError) as raised:
        F.parse_facts(batch)
    [problem] = raised.value.problems
    assert problem.line == 3
    assert problem.reason.startswith("not valid JSON")


def test_every_bad_line_is_reported_not_just_the_first() -> None:
    bad = json.dumps(_with(channel="blog"))
    with pytest.raises(InputError) as raised:
        F.parse_facts("\n".join([bad, json.dumps(ANNOUNCEMENT), bad]))
    assert [p.line for p in raised.value.problems] == [1, 3]


def test_a_pretty_printed_object_is_one_fact() -> None:
    [(line, fact)] = F.parse_facts("\n\n" + json.dumps(ANNOUNCEMENT, indent=2))
    assert line == 3
    assert fact.id == ANNOUNCEMENT["id"]


def test_empty_input_is_refused() -> None:
    with pytest.raises(InputError, match="no facts given"):
        F.parse_facts(b"  \n\n")


def test_schema_lists_every_type_and_forbids_extra_fields() -> None:
    schema = F.fact_schema()
    assert set(schema["discriminator"]["mapping"]) == set(F.FACT_TYPES)
    announcement = schema["$defs"]["Announcement"]
    assert announcement["additionalProperties"] is False
    assert "source" in announcement["required"]
    deal = schema["$defs"]["DealTerms"]
    capacity = deal["properties"]["capacity_mw"]["anyOf"][0]
    assert capacity["type"] == "string"
    # Published in ECMA-262 form ($), enforced in Python form (\Z, see test_poison.py).
    assert capacity["pattern"] == F.QUANTITY_PATTERN.removesuffix("\\Z") + "$"
    assert "\\Z" not in json.dumps(schema)


def test_an_instant_finer_than_a_microsecond_is_refused_not_rounded() -> None:
    """msgspec would round .1234567 to .123457: the door refuses it, as --as-of does, so a
    fact is never stored other than written; the same text in free text is no instant."""
    fine = _with(occurred_at="2026-05-06T10:00:00.1234567Z")
    with pytest.raises(InputError) as caught:
        F.parse_facts(json.dumps(fine))
    [problem] = caught.value.problems
    assert (problem.line, problem.path) == (1, "$.occurred_at")
    assert problem.reason.startswith("more than 6 fractional digits")
    six = _with(occurred_at="2026-05-06T10:00:00.123456Z", source__note="at 10:00:00.1234567")
    [(_, fact)] = F.parse_facts(json.dumps(six))
    assert fact.occurred_at.microsecond == 123456
    replacement = {k: v for k, v in six.items() if k != "id"}
    replacement["occurred_at"] = "2026-05-06T10:00:00.0000001+02:00"
    correction = {"type": "correction", "corrects": "x", "reason": "r",
                  "occurred_at": "2026-05-07T00:00:00Z", "fact": replacement}
    with pytest.raises(InputError) as caught:
        F.parse_facts(json.dumps(correction))
    assert [p.path for p in caught.value.problems] == ["$.fact.occurred_at"]
