"""Hypothesis strategies for realistic fact histories, and ways to replay them.

A history is a list of valid facts in an order they may be appended in: a few deals and
offerings whose terms are filled in over time; announcements through every channel, with
every availability; confirmations, filings, offerings; creator rulings including resolve and
unresolve; mergers and renames that move parties between groups; corrections and retractions
of earlier facts (and of corrections).  Times come from a small pool, so occurred_at values
tie, and are drawn independently of the order, so facts arrive out of valid-time order.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import msgspec
from hypothesis import strategies as st

from compute_ledger.ledger import facts as F

SOURCE = F.Source(document="hypothesis")
TIMES = [
    datetime(2025, 12, 1, tzinfo=UTC),
    datetime(2026, 3, 1, 12, tzinfo=UTC),
    datetime(2026, 5, 6, 7, tzinfo=UTC),
    datetime(2026, 5, 6, 7, tzinfo=UTC) + timedelta(hours=5),
    datetime(2026, 9, 30, tzinfo=UTC),
    datetime(2027, 1, 1, 7, 59, tzinfo=UTC),  # 23:59 PT on Dec 31: just in time
    datetime(2027, 1, 1, 8, tzinfo=UTC),  # 00:00 PT on Jan 1: too late
    datetime(2027, 2, 15, tzinfo=UTC),
]
DAYS = [None, date(2026, 1, 1), date(2026, 6, 1), date(2027, 2, 1), date(2029, 5, 1)]
DEALS = ["d1", "d2", "d3"]
OFFERINGS = ["o1", "o2"]
PROVIDERS = [None, "xai", "spacex", "spacexai", "tesla", "coreweave"]
CUSTOMERS = [None, "acme", "globex", "tesla", "x-corp", "initech"]
SERVICES = [None, "training", "inference", "compute_capacity", "byom_training", "model_api",
            "model_license", "hardware_sale"]
CONSIDERATIONS = [None, "cash", "revenue_share", "free", "resource_exchange", "equity"]
FACILITIES = [None, ("colossus-1",), ("colossus-2", "colossus-1"), ("oracle-abilene",)]
AMOUNTS = [None, "100", "300", "1250000000"]
KINDS = ["announcement"] * 6 + ["offering_announcement", "offering", "confirmation",
                                "filing", "filing", "ruling", "ruling", "market_ruling",
                                "corporate", "correction", "correction", "retraction"]


def _terms(draw: st.DrawFn, deal_id: str) -> F.DealTerms:
    def amount() -> F.Quantity | None:
        value = draw(st.sampled_from(AMOUNTS))
        return None if value is None else F.Quantity(value)

    start, end = draw(st.sampled_from(DAYS)), draw(st.sampled_from(DAYS))
    if start is not None and end is not None and end < start:
        start, end = end, start
    return F.DealTerms(
        deal_id=deal_id, provider=draw(st.sampled_from(PROVIDERS)),
        customer=draw(st.sampled_from(CUSTOMERS)), service=draw(st.sampled_from(SERVICES)),
        consideration=draw(st.sampled_from(CONSIDERATIONS)),
        facilities=draw(st.sampled_from(FACILITIES)), capacity_mw=amount(),
        usd_per_month=amount(), starts_on=start, ends_on=end,
    )


def _offering_terms(draw: st.DrawFn) -> F.OfferingTerms:
    return F.OfferingTerms(
        offering_id=draw(st.sampled_from(OFFERINGS)),
        provider=draw(st.sampled_from(PROVIDERS)), service=draw(st.sampled_from(SERVICES)),
        signup_open=draw(st.sampled_from([None, True, False])),
        pricing_published=draw(st.sampled_from([None, True, False])),
        available_from=draw(st.sampled_from(DAYS)),
    )


RULING_CLAUSES: list[tuple[F.ClauseId, ...] | None] = [
    None, ("exc-collaboration",), ("prf-availability", "exc-musk-company")]
CORPORATE_EVENTS: list[tuple[F.CorporateAction, tuple[str, ...], str]] = [
    ("merger", ("xai", "spacex"), "spacex"),
    ("merger", ("xai", "tesla"), "xai"),
    ("rename", ("spacex",), "spacexai"),
    ("acquisition", ("x-corp", "initech"), "x-corp"),
]


def _fact(draw: st.DrawFn, kind: str, fact_id: str | None) -> F.SourcedFact:
    """One fact of a kind (corrections and retractions are made by ``histories``)."""
    at = draw(st.sampled_from(TIMES))
    match kind:
        case "announcement":
            return F.Announcement(
                id=fact_id, occurred_at=at, source=SOURCE,
                speaker=draw(st.sampled_from(["xai", "elon-musk", "acme", "reuters", "tesla"])),
                channel=draw(st.sampled_from(
                    ["official_site", "press_release", "social_post", "media_report",
                     "earnings_call", "interview"])),
                availability=draw(st.sampled_from(["available", "available", "planned",
                                                   "considering"])),
                available_from=draw(st.sampled_from(DAYS)),
                deal=_terms(draw, draw(st.sampled_from(DEALS))),
            )
        case "offering_announcement":
            return F.Announcement(
                id=fact_id, occurred_at=at, source=SOURCE, speaker="xai",
                channel="press_release",
                availability=draw(st.sampled_from(["available", "planned"])),
                offering=_offering_terms(draw),
            )
        case "offering":
            return F.Offering(id=fact_id, occurred_at=at, source=SOURCE,
                              offering=_offering_terms(draw))
        case "confirmation":
            return F.CustomerConfirmation(
                id=fact_id, occurred_at=at, source=SOURCE,
                customer=draw(st.sampled_from(["acme", "globex", "tesla"])),
                deal_id=draw(st.sampled_from(DEALS)), in_use=draw(st.booleans()),
                statement="we use it",
            )
        case "filing":
            with_deal = draw(st.booleans()) or draw(st.booleans())
            return F.Filing(
                id=fact_id, occurred_at=at, source=SOURCE, filer="spacex", form="10-Q",
                discloses_compute_revenue=draw(st.booleans()),
                deal=_terms(draw, draw(st.sampled_from(DEALS))) if with_deal else None,
            )
        case "ruling":
            return F.CreatorRuling(
                id=fact_id, occurred_at=at, source=SOURCE,
                ruling=draw(st.sampled_from(["counts", "does_not_count", "under_review",
                                             "clarification"])),
                deal_id=draw(st.sampled_from(DEALS + OFFERINGS)),
                clauses=draw(st.sampled_from(RULING_CLAUSES)),
                summary="a ruling",
            )
        case "market_ruling":
            return F.CreatorRuling(
                id=fact_id, occurred_at=at, source=SOURCE,
                ruling=draw(st.sampled_from(["resolve_yes", "resolve_no", "resolve_na",
                                             "unresolve", "clarification"])),
                summary="about the market",
            )
        case "corporate":
            action, parties, result = draw(st.sampled_from(CORPORATE_EVENTS))
            return F.CorporateEvent(id=fact_id, occurred_at=at, source=SOURCE, action=action,
                                    parties=parties, result=result)
    raise AssertionError(kind)


_KIND_OF = {
    F.Announcement: ("announcement", "offering_announcement"),
    F.Filing: ("filing",), F.CustomerConfirmation: ("confirmation",),
    F.Offering: ("offering",), F.CreatorRuling: ("ruling", "market_ruling"),
    F.CorporateEvent: ("corporate",),
}


@st.composite
def histories(draw: st.DrawFn, min_size: int = 1, max_size: int = 24) -> list[F.Fact]:
    """A valid history: every correction and retraction comes after the fact it names."""
    size = draw(st.integers(min_size, max_size))
    made: list[F.Fact] = []
    for i in range(size):
        kind = draw(st.sampled_from(KINDS))
        fact_id = f"h{i:02d}"
        bases = [f for f in made if not isinstance(f, (F.Correction, F.Retraction))]
        if kind == "correction" and bases:
            target = draw(st.sampled_from(bases))
            same = draw(st.sampled_from(_KIND_OF[type(target)]))
            if isinstance(target, F.Announcement):
                same = "announcement" if target.deal is not None else "offering_announcement"
            replacement = _fact(draw, same, None)
            made.append(F.Correction(id=fact_id, occurred_at=draw(st.sampled_from(TIMES)),
                                     corrects=target.id or "", fact=replacement,
                                     reason="corrected"))
        elif kind == "retraction" and made:
            targets = [f for f in made if not isinstance(f, F.Retraction)]
            if not targets:
                continue
            withdrawn = draw(st.sampled_from(targets))
            made.append(F.Retraction(id=fact_id, occurred_at=draw(st.sampled_from(TIMES)),
                                     retracts=withdrawn.id or "", reason="withdrawn"))
        elif kind in ("correction", "retraction"):
            made.append(_fact(draw, "announcement", fact_id))
        else:
            made.append(_fact(draw, kind, fact_id))
    return made


def target_of(fact: F.Fact) -> str | None:
    if isinstance(fact, F.Correction):
        return fact.corrects
    if isinstance(fact, F.Retraction):
        return fact.retracts
    return None


def reordered(facts: Sequence[F.Fact], seed: int) -> list[F.Fact]:
    """A random order in which every fact still comes after the fact it names."""
    rng = random.Random(seed)
    placed: set[str] = set()
    waiting = list(facts)
    order: list[F.Fact] = []
    while waiting:
        ready = [f for f in waiting if target_of(f) is None or target_of(f) in placed]
        pick = rng.choice(ready)
        waiting.remove(pick)
        order.append(pick)
        placed.add(pick.id or "")
    return order


def batches(facts: Sequence[F.Fact], seed: int) -> list[list[F.Fact]]:
    """The facts split into consecutive non-empty batches at random cut points."""
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(facts)), k=rng.randrange(len(facts)))) \
        if len(facts) > 1 else []
    bounds = [0, *cuts, len(facts)]
    return [list(facts[a:b]) for a, b in itertools.pairwise(bounds) if b > a]


def question_times() -> list[datetime]:
    """Valid times worth asking at: around every time in the pool, and the deadline."""
    found = set()
    for t in TIMES:
        found.update({t - timedelta(microseconds=1), t, t + timedelta(hours=1)})
    found.add(datetime(2027, 1, 1, 7, 59, 59, 999999, tzinfo=UTC))
    return sorted(found)


def strip_id(fact: F.Fact) -> F.Fact:
    return msgspec.structs.replace(fact, id=None)
