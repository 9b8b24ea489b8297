"""The verdict, the business and the timeline through the API: the two clocks, corrections,
retractions, resolutions, the public record, and order independence."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import msgspec
import pytest
from builders import announce, at, business_of, correct, retract, rule, timeline_of, verdict_of

from compute_ledger.ledger.clock import ManualClock
from compute_ledger.ledger.facts import parse_facts
from compute_ledger.projections import verdict as verdict_projection
from compute_ledger.projections.api import ComputeLedger, bundled_record

PUBLIC = [fact for _, fact in parse_facts(bundled_record())]


def test_a_correction_is_seen_only_from_when_it_was_recorded(
    ledger: ComputeLedger, clock: ManualClock
) -> None:
    original = announce("2026-06-01T12:00:00Z")
    ledger.append([original])
    before_fix = clock.now()
    clock.advance(timedelta(days=10))
    ledger.append([correct("2026-06-20T00:00:00Z", original,
                           announce("2026-06-01T12:00:00Z", consideration="free"))])
    after_fix = clock.now()
    then = ledger.verdict(as_of=at("2026-07-01"), known_at=before_fix)
    now = ledger.verdict(as_of=at("2026-07-01"), known_at=after_fix)
    assert then.status == "CRITERIA_MET"
    assert now.status == "OPEN"
    # the correction applies at every valid time, including before it occurred
    assert ledger.verdict(as_of=at("2026-06-02"), known_at=after_fix).status == "OPEN"
    assert ledger.verdict(as_of=at("2026-06-02"), known_at=before_fix).status == "CRITERIA_MET"
    [candidate] = now.candidates
    free = next(c for c in candidate.checks if c.clause == "exc-free-research")
    assert free.facts == [original.id]  # the corrected fact keeps its id


def test_a_retraction_withdraws_a_fact_from_when_it_was_recorded(
    ledger: ComputeLedger, clock: ManualClock
) -> None:
    deal = announce("2026-06-01T12:00:00Z")
    ledger.append([deal])
    known = clock.now()
    clock.advance(timedelta(days=1))
    ledger.append([retract("2026-06-10T00:00:00Z", deal)])
    assert ledger.verdict(as_of=at("2026-07-01"), known_at=known).qualifying == ["d1"]
    after = ledger.verdict(as_of=at("2026-07-01"))
    assert after.status == "OPEN" and after.candidates == []
    [gone] = ledger.business(as_of=at("2026-07-01")).deals
    assert gone.status == "retracted"


def test_retracting_a_correction_restores_the_original(
    ledger: ComputeLedger, clock: ManualClock
) -> None:
    original = announce("2026-06-01T12:00:00Z")
    fix = correct("2026-06-20T00:00:00Z", original,
                  announce("2026-06-01T12:00:00Z", consideration="free"))
    ledger.append([original, fix])
    assert ledger.verdict(as_of=at("2026-07-01")).status == "OPEN"
    ledger.append([retract("2026-06-21T00:00:00Z", fix)])
    assert ledger.verdict(as_of=at("2026-07-01")).status == "CRITERIA_MET"


def test_the_latest_correction_in_valid_time_wins_whatever_the_append_order() -> None:
    original = announce("2026-06-01T12:00:00Z")
    early = correct("2026-06-05T00:00:00Z", original,
                    announce("2026-06-01T12:00:00Z", consideration="free"), id="fix-early")
    late = correct("2026-06-07T00:00:00Z", original,
                   announce("2026-06-01T12:00:00Z", consideration="cash"), id="fix-late")
    assert verdict_of(original, early, late).status == "CRITERIA_MET"
    assert verdict_of(original, late, early).status == "CRITERIA_MET"


def test_known_at_before_anything_was_recorded_sees_nothing(
    ledger: ComputeLedger, clock: ManualClock
) -> None:
    before = clock.now() - timedelta(seconds=1)
    ledger.append([announce()])
    empty = ledger.verdict(as_of=at("2026-07-01"), known_at=before)
    assert (empty.status, empty.candidates, empty.ledger_position) == ("OPEN", [], 0)
    assert ledger.verdict(as_of=at("2026-07-01")).ledger_position == 1


def test_resolve_unresolve_and_a_resolution_against_the_rules() -> None:
    good = announce("2026-06-01T12:00:00Z")
    yes = rule("2026-06-10T00:00:00Z", "resolve_yes", "d1")
    resolved = verdict_of(good, yes, as_of="2026-06-11")
    assert (resolved.status, resolved.disagrees_with_rules) == ("RESOLVED_YES", False)
    assert [r.ruling for r in resolved.rulings] == ["resolve_yes"]
    lifted = verdict_of(good, yes, rule("2026-06-12T00:00:00Z", "unresolve"), as_of="2026-06-13")
    assert lifted.status == "CRITERIA_MET"
    against = verdict_of(good, rule("2026-06-10T00:00:00Z", "resolve_no"), as_of="2026-06-11")
    assert (against.status, against.disagrees_with_rules) == ("RESOLVED_NO", True)
    premature = verdict_of(rule("2026-06-10T00:00:00Z", "resolve_yes"), as_of="2026-06-11")
    assert (premature.status, premature.disagrees_with_rules) == ("RESOLVED_YES", True)
    annulled = verdict_of(rule("2026-06-10T00:00:00Z", "resolve_na"), as_of="2026-06-11")
    assert (annulled.status, annulled.disagrees_with_rules) == ("RESOLVED_NA", False)
    assert verdict_of(good, yes, as_of="2026-06-08").status == "CRITERIA_MET"


def test_under_review_holds_only_while_every_qualifying_deal_is_under_review() -> None:
    one = announce("2026-06-01T12:00:00Z", "d1")
    two = announce("2026-06-02T12:00:00Z", "d2", customer="globex")
    review = rule("2026-06-03T00:00:00Z", "under_review", "d1")
    assert verdict_of(one, review).under_review
    assert not verdict_of(one, two, review).under_review


def test_criteria_met_since_is_the_start_of_the_current_stretch() -> None:
    one = announce("2026-06-01T12:00:00Z", "d1")
    out = rule("2026-06-10T00:00:00Z", "does_not_count", "d1")
    two = announce("2026-07-01T12:00:00Z", "d2", customer="globex")
    assert verdict_of(one).criteria_met_since == at("2026-06-01T12:00:00Z")
    assert verdict_of(one, out, as_of="2026-06-20").criteria_met_since is None
    assert verdict_of(one, out, two).criteria_met_since == at("2026-07-01T12:00:00Z")


# -- the bundled public record -----------------------------------------------------------------

PUBLIC_RECORD_VERDICTS = [
    ("2026-04-01", "OPEN", [], False),
    ("2026-04-30", "OPEN", [], False),
    ("2026-05-05", "OPEN", [], False),
    ("2026-05-06", "CRITERIA_MET", ["xai-anthropic-colossus"], True),
    ("2026-05-23", "CRITERIA_MET", ["xai-anthropic-colossus"], True),
    ("2026-06-30", "CRITERIA_MET", ["xai-anthropic-colossus"], True),
]


@pytest.mark.parametrize(("as_of", "status", "qualifying", "review"), PUBLIC_RECORD_VERDICTS)
def test_the_public_record(as_of: str, status: str, qualifying: list[str], review: bool) -> None:
    answer = verdict_of(*PUBLIC, as_of=as_of)
    assert (answer.status, answer.qualifying, answer.under_review) == (status, qualifying, review)


def test_the_public_record_rules_out_cursor_and_internal_use() -> None:
    april = verdict_of(*PUBLIC, as_of="2026-04-30")
    [cursor] = april.candidates
    assert (cursor.id, cursor.standing) == ("spacexai-cursor", "excluded")
    ruled = next(c for c in cursor.checks if c.clause == "exc-collaboration")
    assert ruled.state == "failed" and "creator-ruling-cursor-2026-04-24" in ruled.facts
    may = verdict_of(*PUBLIC, as_of="2026-05-23")
    standings = {c.id: c.standing for c in may.candidates}
    assert standings == {"spacexai-cursor": "excluded", "xai-anthropic-colossus": "qualifying",
                         "xai-grok-training-colossus-2": "excluded"}
    assert may.criteria_met_since == at("2026-05-06T00:00:00-07:00")
    assert {r.fact for r in may.rulings} == {"creator-ruling-cursor-2026-04-24",
                                             "creator-review-anthropic-2026-05-06"}


def test_the_public_record_business_on_may_23() -> None:
    answer = business_of(*PUBLIC, as_of="2026-05-23")
    anthropic = next(d for d in answer.deals if d.id == "xai-anthropic-colossus")
    assert (anthropic.status, anthropic.customer, anthropic.external) == \
        ("active", "anthropic", True)
    assert anthropic.facilities == ["colossus-1", "colossus-2"]
    assert str(anthropic.usd_per_month) == "1250000000"
    assert [c.customer for c in answer.external_customers] == ["anthropic"]
    assert answer.capacity_mw_by_customer == {"anthropic": 300}
    assert answer.monthly_run_rate_usd == 1_250_000_000
    assert anthropic.terms["usd_per_month"].fact == \
        "spacex-filings-anthropic-commitment-reported-2026-05-22"
    assert anthropic.terms["capacity_mw"].fact == "xai-anthropic-announced-2026-05-06"
    # about 35.3 months left to May 2029 at $1.25B
    assert 44_000_000_000 < answer.contracted_backlog_usd < 44_200_000_000
    before_filing = business_of(*PUBLIC, as_of="2026-05-21")
    assert before_filing.monthly_run_rate_usd == 0


def test_the_public_record_timeline() -> None:
    points = timeline_of(*PUBLIC).points
    flips = [(p.at, p.status) for p in points if any(c.what == "status" and
                                                      c.subject == "market" for c in p.changes)]
    assert flips == [(at("2025-01-01T00:00:00-08:00"), "OPEN"),
                     (at("2026-05-06T00:00:00-07:00"), "CRITERIA_MET")]
    ended = points[-1]
    assert ended.at == at("2029-05-01T00:00:00-07:00")
    assert [(c.subject, c.after) for c in ended.changes if c.what == "status"] == [
        ("deal:xai-anthropic-colossus", "ended")
    ]


def test_the_timeline_opens_at_the_earliest_instant_any_fact_names(tmp_path: Any) -> None:
    """The market's status is first named at the first instant walked, which can come before
    every fact: here a deal reported in July as started on 1 March.  The maintained index,
    which the walk reads a page at a time, must find it as the in-memory fold does."""
    early = announce("2026-07-01T12:00:00Z", "d2", starts_on=date(2026, 3, 1))
    facts = [announce("2026-06-01T12:00:00Z", starts_on=date(2026, 5, 1)), early]
    with ComputeLedger.open(str(tmp_path / "ledger.sqlite3"), environ={}) as ledger:
        ledger.append(facts)
        stored = ledger.timeline().points
    for points in (timeline_of(*facts).points, stored):
        first = points[0]
        assert (first.at, first.status, first.facts) == (at("2026-03-01T00:00:00-08:00"),
                                                         "OPEN", [])
        assert [(c.subject, c.what) for c in first.changes] == [("market", "status")]
        assert points[1].at == at("2026-06-01T12:00:00Z")  # d1 is not known on 1 May


# -- order independence ------------------------------------------------------------------------

def _stable(answer: Any) -> Any:
    data = msgspec.to_builtins(answer)
    data.pop("ledger_head")  # the chain depends on the order; the answer must not
    data.pop("known_at", None)
    return data


@pytest.mark.parametrize("seed", range(5))
def test_the_same_facts_in_any_order_give_the_same_answers(seed: int) -> None:
    facts = [
        *PUBLIC,
        announce("2026-06-01T12:00:00Z", "d1", id="x-1"),
        rule("2026-06-02T00:00:00Z", "under_review", "d1", id="x-2"),
        announce("2026-06-01T12:00:00Z", "d2", id="x-3", consideration="free"),
    ]
    shuffled = list(facts)
    random.Random(seed).shuffle(shuffled)
    for as_of in ("2026-04-30", "2026-05-23", "2026-06-05"):
        assert _stable(verdict_of(*facts, as_of=as_of)) == \
            _stable(verdict_of(*shuffled, as_of=as_of))
        assert _stable(business_of(*facts, as_of=as_of)) == \
            _stable(business_of(*shuffled, as_of=as_of))
    assert _stable(timeline_of(*facts)) == _stable(timeline_of(*shuffled))


def test_append_order_does_not_change_the_answers_on_the_store(
    db: str, tmp_path: Any
) -> None:
    shuffled = list(PUBLIC)
    random.Random(7).shuffle(shuffled)
    answers = []
    for order, name in ((PUBLIC, "a"), (shuffled, "b")):
        location = db if name == "a" else str(tmp_path / "other.sqlite3")
        clock = ManualClock(at("2026-11-01T00:00:00Z"), step=timedelta(seconds=1))
        with ComputeLedger.open(location, clock=clock, environ={}) as opened:
            opened.append(order)
            answers.append(_stable(opened.verdict(as_of=at("2026-05-23"))))
    assert answers[0] == answers[1]


@pytest.mark.parametrize("argument", ["as_of", "known_at"])
def test_a_naive_instant_is_refused_not_read_as_local_time(
    argument: str, tmp_path: Any
) -> None:
    from datetime import datetime

    from compute_ledger.ledger.errors import ConfigurationError

    naive = datetime(2026, 5, 23, 12, 0)
    with ComputeLedger.open(str(tmp_path / "l.sqlite3"), environ={}) as opened:
        opened.append(PUBLIC)
        before = opened.head()
        asks: tuple[Callable[..., object], ...] = (
            opened.verdict, opened.business, opened.replay)
        for ask in asks:
            with pytest.raises(ConfigurationError, match=f"{argument} .* no UTC offset"):
                ask(**{argument: naive})
        with pytest.raises(ConfigurationError, match="no UTC offset"):
            opened.timeline(known_at=naive) if argument == "known_at" else opened.moments(naive)
        assert opened.head() == before


def test_instants_outside_the_ledgers_range_and_odd_known_ats_are_refused(tmp_path: Any) -> None:
    from datetime import UTC, datetime, timedelta, timezone

    from compute_ledger.ledger.errors import ConfigurationError

    with ComputeLedger.open(str(tmp_path / "l.sqlite3"), environ={}) as opened:
        opened.append(PUBLIC)
        early = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1)))
        late = datetime(9999, 12, 31, 12, tzinfo=UTC)
        for moment in (early, late):
            with pytest.raises(ConfigurationError, match=r"as_of .* outside the supported range"):
                opened.verdict(as_of=moment)
            with pytest.raises(ConfigurationError, match=r"known_at .* outside the supported"):
                opened.business(known_at=moment)
        for odd, message in ((True, "known_at must be an instant .* or a position"),
                             (8.0, "known_at must be an instant .* or a position"),
                             ("8", "known_at: '8' is not a date")):  # a position is "@8"
            with pytest.raises(ConfigurationError, match=message):
                opened.verdict(known_at=odd)  # type: ignore[arg-type]
        assert opened.verdict(known_at=8).ledger_position == 8


def test_clarifications_are_listed_by_the_verdict_and_stored_once_each(
        ledger: ComputeLedger) -> None:
    """A clarification of a deal decides nothing: the verdict lists it beside the deal from
    when it occurred (one made before the deal was known too), and it is a row of its own,
    never a new step of the deal's history repeating every earlier one."""
    ledger.append([rule("2026-04-30", "clarification", "d1", id="c0")])
    ledger.append([announce("2026-05-01T12:00:00Z", "d1", id="a1")])
    steps = len(ledger.projection.view().history_of("deal:d1") or ())
    said = {day: rule(f"2026-05-{day:02d}", "clarification", "d1", id=f"c{day}")
            for day in range(2, 30)}
    ledger.append(list(said.values()))
    ledger.append([retract("2026-05-10T12:00:00Z", said[5], id="x5")])
    assert len(ledger.projection.view().history_of("deal:d1") or ()) == steps
    listed = [r.fact for r in ledger.verdict(as_of=at("2026-05-08")).rulings]
    assert listed == ["c0", "c2", "c3", "c4", "c6", "c7", "c8"]  # c5 withdrawn, c9 not yet
    earlier = [r.fact for r in ledger.verdict(as_of=at("2026-05-08"), known_at=2).rulings]
    assert earlier == ["c0"]
    known = ledger.known_instant(ledger.head().position)
    assert ledger.verdict(as_of=at("2026-05-08"), known_at=known) == \
        verdict_projection.verdict(ledger.view(known), at("2026-05-08"), known)
    with ledger.ledger.side_tables(write=False) as cur:
        cur.execute("SELECT COUNT(*) AS n FROM cl_clarifications WHERE pos_to = 2147483647")
        assert cur.fetchone()["n"] == 28  # c0, c2..c29 but c5: one row each
