"""A synthetic but realistic ledger for the benchmarks: N facts about a fixed set of deals.

What grows as a real ledger of one company's compute business grows is the number of facts
about its deals, not the number of deals: reports, restatements, confirmations, filings,
rulings, corrections.  So the generator spreads ``n`` facts over ``deals`` deals and
``offerings`` offerings (defaults 100 and 10, whatever ``n`` is), roughly in valid-time
order with about one in ten arriving late.  Each deal has stable terms, goes live at its own
time (statements before it say "planned", after it "available") and a third of them grow
once (more capacity and money from then on).  The shares of fact types:

====================================  =====
media reports and restatements          55%
official announcements                  10%
customer confirmations                  10%
filings                                  8%
creator rulings                          5%
offering facts                           6%
corrections                              4%
retractions                              1%
corporate events                      a few
====================================  =====

Deterministic for a given seed.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from compute_ledger.ledger import facts as F

START = datetime(2025, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=900)
SOURCE = F.Source(document="bench/synthetic.py", note="Synthetic benchmark fact.")
SERVICES: tuple[F.Service, ...] = (
    "training", "inference", "training_and_inference", "compute_capacity", "fine_tuning",
    "model_api", "byom_training")
CONSIDERATIONS: tuple[F.Consideration, ...] = (
    "cash", "cash", "cash", "revenue_share", "free", "resource_exchange")
CUSTOMERS = (*(f"customer-{i}" for i in range(60)), "tesla", "x-corp")


def generate(n: int, *, deals: int = 100, offerings: int = 10, seed: int = 7) -> list[F.Fact]:
    """``n`` valid facts, in the order they would be appended."""
    rng = random.Random(seed)
    made: list[F.Fact] = []
    announcements: list[F.Announcement] = []
    retracted: set[str] = set()
    corporate = [
        F.CorporateEvent(id="syn-merger", occurred_at=START + timedelta(days=30), source=SOURCE,
                         action="merger", parties=("xai", "spacex"), result="spacex"),
        F.CorporateEvent(id="syn-rename", occurred_at=START + timedelta(days=400),
                         source=SOURCE, action="rename", parties=("spacex",),
                         result="spacexai"),
    ]

    def when(i: int) -> datetime:
        base = START + SPAN * (i / max(n, 1))
        if rng.random() < 0.1:
            base -= timedelta(days=rng.uniform(1, 60))  # a late report of an earlier event
        return base + timedelta(seconds=rng.randrange(86_400))

    def live_from(d: int) -> datetime:
        """When deal d goes live: statements before say 'planned', after 'available'."""
        return START + SPAN * random.Random(seed * 7_919 + d).random()

    def expanded_from(d: int) -> datetime | None:
        """A third of the deals grow once: more capacity and money from then on."""
        r = random.Random(seed * 104_729 + d)
        return START + SPAN * r.random() if r.random() < 1 / 3 else None

    def deal_terms(d: int, full: bool, at: datetime) -> F.DealTerms:
        r = random.Random(seed * 1_000 + d)  # stable terms per deal
        grown = expanded_from(d)
        bigger = grown is not None and at >= grown
        terms = F.DealTerms(
            deal_id=f"deal-{d}", provider=r.choice(("xai", "xai", "spacex", "spacexai")),
            customer=r.choice(CUSTOMERS), service=r.choice(SERVICES),
            consideration=r.choice(CONSIDERATIONS),
            facilities=(r.choice(("colossus-1", "colossus-2", "oracle-abilene")),),
            capacity_mw=F.Quantity(str(r.choice((50, 100, 150, 300)) * (2 if bigger else 1))),
            usd_per_month=F.Quantity(str(r.randrange(10, 900) * (2 if bigger else 1)
                                         * 1_000_000)),
            starts_on=date(2025, 1, 1) + timedelta(days=r.randrange(700)),
            ends_on=date(2028, 1, 1) + timedelta(days=r.randrange(700)),
        )
        if full:
            return terms
        return F.DealTerms(deal_id=terms.deal_id, provider=terms.provider,
                           customer=terms.customer)

    for i in range(n):
        fact_id = f"syn-{i:07d}"
        at = when(i)
        d = rng.randrange(deals)
        roll = rng.random()
        fact: F.Fact
        if i < len(corporate):
            fact = corporate[i]
        elif roll < 0.55:
            fact = F.Announcement(
                id=fact_id, occurred_at=at, source=SOURCE,
                speaker=rng.choice(("reuters", "bloomberg", "xai")),
                channel="official_site" if rng.random() < 0.2 else "media_report",
                availability="available" if at >= live_from(d) else "planned",
                deal=deal_terms(d, full=rng.random() < 0.7, at=at),
            )
        elif roll < 0.65:
            fact = F.Announcement(id=fact_id, occurred_at=at, source=SOURCE, speaker="xai",
                                  channel="press_release",
                                  availability="available" if at >= live_from(d) else "planned",
                                  deal=deal_terms(d, full=True, at=at))
        elif roll < 0.75:
            fact = F.CustomerConfirmation(
                id=fact_id, occurred_at=at, source=SOURCE,
                customer=deal_terms(d, full=True, at=at).customer or "customer-0",
                deal_id=f"deal-{d}", in_use=at >= live_from(d),
                statement="synthetic confirmation",
            )
        elif roll < 0.83:
            fact = F.Filing(id=fact_id, occurred_at=at, source=SOURCE, filer="spacex",
                            form=rng.choice(("10-Q", "10-K", "other")),
                            discloses_compute_revenue=at >= live_from(d),
                            deal=deal_terms(d, full=True, at=at))
        elif roll < 0.88:
            fact = F.CreatorRuling(
                id=fact_id, occurred_at=at, source=SOURCE,
                ruling=rng.choice(("under_review", "counts", "does_not_count", "clarification")),
                deal_id=f"deal-{d}", summary="synthetic ruling",
            )
        elif roll < 0.94:
            o = rng.randrange(offerings)
            fact = F.Offering(id=fact_id, occurred_at=at, source=SOURCE, offering=F.OfferingTerms(
                offering_id=f"offering-{o}", provider="xai",
                service=rng.choice(("inference", "model_api", "training")),
                signup_open=rng.random() < 0.5, pricing_published=rng.random() < 0.5,
                available_from=date(2025, 6, 1) + timedelta(days=rng.randrange(900)),
            ))
        elif roll < 0.98 and announcements:
            target = rng.choice(announcements)
            assert target.id is not None and target.deal is not None
            changed = F.DealTerms(deal_id=target.deal.deal_id, provider=target.deal.provider,
                                  customer=target.deal.customer,
                                  consideration=rng.choice(CONSIDERATIONS),
                                  capacity_mw=F.Quantity(str(rng.choice((100, 200)))))
            fact = F.Correction(
                id=fact_id, occurred_at=at, corrects=target.id, reason="synthetic correction",
                fact=F.Announcement(occurred_at=target.occurred_at, source=SOURCE,
                                    speaker=target.speaker, channel=target.channel,
                                    availability=target.availability, deal=changed),
            )
        elif announcements:
            target = rng.choice(announcements)
            assert target.id is not None
            if target.id in retracted:
                fact = F.CreatorRuling(id=fact_id, occurred_at=at, source=SOURCE,
                                       ruling="clarification", summary="synthetic")
            else:
                retracted.add(target.id)
                fact = F.Retraction(id=fact_id, occurred_at=at, retracts=target.id,
                                    reason="synthetic retraction")
        else:
            fact = F.CreatorRuling(id=fact_id, occurred_at=at, source=SOURCE,
                                   ruling="clarification", summary="synthetic")
        if isinstance(fact, F.Announcement) and fact.deal is not None:
            announcements.append(fact)
        made.append(fact)
    return made


__all__ = ["Decimal", "generate"]
