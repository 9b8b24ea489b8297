"""Using compute-ledger from Python: open a ledger, append, ask, iterate, verify."""

from datetime import UTC, datetime, timedelta

from compute_ledger.ledger.clock import ManualClock
from compute_ledger.ledger.facts import (
    Announcement,
    CreatorRuling,
    DealTerms,
    Quantity,
    Source,
)
from compute_ledger.ledger.instants import parse_instant
from compute_ledger.projections.api import ComputeLedger, bundled_record

# A ledger in a file (or a postgresql:// URL).  The clock is optional: a fixed one makes
# recorded_at, and so every hash, reproducible.
clock = ManualClock(datetime(2026, 6, 1, tzinfo=UTC), step=timedelta(seconds=1))
with ComputeLedger.open("api-example.sqlite3", clock=clock) as ledger:
    ledger.append_text(bundled_record())  # JSON Lines, validated at the door

    # Facts can be built as typed structs too (a made-up one here).
    made_up = Announcement(
        id="example-api-deal", occurred_at=parse_instant("2026-06-15T09:00:00-07:00"),
        source=Source(document="docs/examples/api_example.py", note="made up"),
        speaker="xai", channel="press_release", availability="available",
        deal=DealTerms(deal_id="example-api-deal", provider="xai", customer="initech",
                       service="inference", consideration="cash",
                       usd_per_month=Quantity("20000000")),
    )
    result = ledger.append([made_up])
    print("appended", result.appended, "at position", result.first_position)

    verdict = ledger.verdict(as_of=parse_instant("2026-06-30"))
    print(verdict.status, verdict.qualifying, "since", verdict.criteria_met_since)

    then = ledger.verdict(as_of=parse_instant("2026-06-30"), known_at=8)  # as known at @8
    print("as known at position 8:", then.qualifying)

    business = ledger.business(as_of=parse_instant("2026-06-30"))
    customers = [c.customer for c in business.external_customers]
    print("run-rate", business.monthly_run_rate_usd, customers)

    for entry in ledger.facts(after=7):
        print(entry.position, entry.fact_id, type(entry.fact).__name__)

    print("verified", ledger.verify().checked, "records")

    # What if the creator ruled the made-up deal out?  Nothing is written.
    ruling = CreatorRuling(
        id="example-api-ruling", occurred_at=parse_instant("2026-06-20T00:00:00Z"),
        source=Source(document="docs/examples/api_example.py", note="made up"),
        ruling="does_not_count", deal_id="example-api-deal", summary="A made-up ruling.",
    )
    supposed = ledger.verdict(as_of=parse_instant("2026-06-30"),
                              hypothesis=ledger.hypothesis([ruling]))
    assert supposed.what_if is not None
    print("what if:", supposed.qualifying, [(f.subject, f.what) for f in supposed.what_if.flips
                                            if f.subject != "market"])

    # What changed between position 8 and now, and everything about one deal.
    changed = ledger.diff(as_of=parse_instant("2026-06-30"), known_at=8, to_known_at=9)
    print("changed:", sorted({d.subject for d in changed.differences}))
    deal = ledger.deal("example-api-deal", as_of=parse_instant("2026-06-30"))
    print("deal:", deal.deal.status if deal.deal else None, [f.id for f in deal.facts])
