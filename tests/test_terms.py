"""Deal terms merged along valid time: capacity stays at the facilities it was reported for."""

from __future__ import annotations

from builders import announce, business_of, filing, terms

from compute_ledger.contracts.terms import NO_TERMS, merge, value


def test_capacity_stays_at_the_facilities_it_was_reported_for() -> None:
    first = merge(NO_TERMS, terms(facilities=["colossus-1"], capacity_mw="300"), "a")
    assert value(first, "capacity_facilities") == ("colossus-1",)
    wider = merge(first, terms(facilities=["colossus-1", "colossus-2"]), "b")
    assert value(wider, "facilities") == ("colossus-1", "colossus-2")
    assert value(wider, "capacity_facilities") == ("colossus-1",)  # not moved
    assert wider.capacity_facilities is not None and wider.capacity_facilities.fact == "a"
    restated = merge(wider, terms(facilities=["colossus-2"], capacity_mw="300"), "c")
    assert value(restated, "capacity_facilities") == ("colossus-2",)  # said again, elsewhere
    grown = merge(wider, terms(capacity_mw="500"), "d")  # no facilities: those known then
    assert value(grown, "capacity_facilities") == ("colossus-1", "colossus-2")
    unknown = merge(NO_TERMS, terms(capacity_mw="100"), "e")
    assert value(unknown, "capacity_facilities") is None


def test_business_counts_capacity_where_it_was_reported() -> None:
    sale = announce("2026-06-01T12:00:00Z", facilities=["colossus-1"], capacity_mw="300")
    later = filing("2026-06-10T12:00:00Z", facilities=["colossus-1", "colossus-2"],
                   usd_per_month="1000000")
    answer = business_of(sale, later, as_of="2026-07-01")
    assert answer.capacity_mw_by_facility == {"colossus-1": 300}
    [deal] = answer.deals
    assert deal.facilities == ["colossus-1", "colossus-2"]
