"""The state of xAI's compute business as of a valid time (DOMAIN.md section 5).  Pure.

A deal's status, strongest first: ``retracted`` (every fact about it withdrawn), ``ended``
(its ``ends_on`` has come), ``active`` (it has started: ``starts_on`` has come, or without a
start date it is shown to be in use, and it has not ended), ``confirmed`` (the customer said
so), ``filed`` (a filing names it), ``announced`` (the provider or customer announced it),
``reported`` (media reports only).  Only deals known from more than media reports can be
active.  Capacity, run-rate and backlog count active deals; the backlog is each active deal's
monthly amount times the months left to its ``ends_on`` (30.436875-day months), and active
deals without an end date are listed as open-ended instead.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from compute_ledger.contracts.clauses import Check, available_since
from compute_ledger.contracts.market import Assessment, shown_available
from compute_ledger.contracts.parties import Groups
from compute_ledger.contracts.state import SubjectState
from compute_ledger.contracts.terms import known, value
from compute_ledger.ledger.facts import ClauseId
from compute_ledger.ledger.instants import start_of_day
from compute_ledger.projections.answers import (
    Business,
    CustomerOut,
    DealOut,
    OfferingOut,
    TermOut,
    utc,
)
from compute_ledger.projections.verdict import assess_subject, qualified_at
from compute_ledger.projections.view import Histories

SECONDS_PER_MONTH = Decimal(2_629_746)  # 30.436875 days
ZERO = Decimal(0)


def deal_status(state: SubjectState, at: datetime) -> str:
    """A deal's status at ``at`` (see the module docstring)."""
    official = any(st.channel != "media_report" for st in state.statements)
    real = official or state.filing is not None or state.confirmation is not None
    starts, ends = value(state.terms, "starts_on"), value(state.terms, "ends_on")
    if real:
        if ends is not None and at >= start_of_day(ends):
            return "ended"
        since = available_since(state)
        started = at >= start_of_day(starts) if starts is not None else (
            since is not None and since[0] <= at
        )
        if started:
            return "active"
    if state.confirmation is not None:
        return "confirmed"
    if state.filing is not None:
        return "filed"
    return "announced" if official else "reported"


def months_left(at: datetime, until: datetime) -> Decimal:
    seconds = Decimal(max(0, int((until - at).total_seconds())))
    return seconds / SECONDS_PER_MONTH


def _term_value(term: object) -> str | bool | list[str]:
    if isinstance(term, (bool, str)):
        return term
    if isinstance(term, tuple):
        return list(term)
    return str(term)  # Decimal, date


def _terms(state: SubjectState) -> dict[str, TermOut]:
    return {
        name: TermOut(value=_term_value(t.value), fact=t.fact)
        for name, t in sorted(known(state.terms))
    }


def deal_out(state: SubjectState, at: datetime, groups: Groups, qualifies: bool) -> DealOut:
    customer = value(state.terms, "customer")
    facilities = value(state.terms, "facilities")
    return DealOut(
        id=state.id,
        status=deal_status(state, at),  # type: ignore[arg-type]
        provider=value(state.terms, "provider"),
        customer=customer,
        external=None if customer is None else not groups.is_musk_company(customer),
        service=value(state.terms, "service"),
        consideration=value(state.terms, "consideration"),
        facilities=None if facilities is None else list(facilities),
        capacity_mw=value(state.terms, "capacity_mw"),
        usd_per_month=value(state.terms, "usd_per_month"),
        starts_on=value(state.terms, "starts_on"),
        ends_on=value(state.terms, "ends_on"),
        qualifies=qualifies,
        terms=_terms(state),
        first_fact=state.first_fact,
    )


def offering_status(assessment: Assessment) -> str:
    """An offering's status: ``available`` once its availability is shown, else
    ``announced``."""
    return status_of_offering({c.clause: c for c in assessment.checks}.__getitem__)


def status_of_offering(check: Callable[[ClauseId], Check]) -> str:
    """:func:`offering_status` from a reader of the assessment's checks."""
    return status_if_available(shown_available(check))


def status_if_available(available: bool) -> str:
    """An offering's status, from whether its availability is shown."""
    return "available" if available else "announced"


def offering_out(state: SubjectState, assessment: Assessment, qualifies: bool) -> OfferingOut:
    return OfferingOut(
        id=state.id,
        status=offering_status(assessment),  # type: ignore[arg-type]
        provider=value(state.terms, "provider"),
        service=value(state.terms, "service"),
        signup_open=value(state.terms, "signup_open"),
        pricing_published=value(state.terms, "pricing_published"),
        available_from=value(state.terms, "available_from"),
        qualifies=qualifies,
        terms=_terms(state),
    )


def retracted_offering(subject_id: str) -> OfferingOut:
    return OfferingOut(
        id=subject_id, status="retracted", provider=None, service=None, signup_open=None,
        pricing_published=None, available_from=None, qualifies=False, terms={},
    )


def retracted_deal(subject_id: str) -> DealOut:
    return DealOut(
        id=subject_id, status="retracted", provider=None, customer=None, external=None,
        service=None, consideration=None, facilities=None, capacity_mw=None,
        usd_per_month=None, starts_on=None, ends_on=None, qualifies=False, terms={},
        first_fact=None,
    )


def business(histories: Histories, as_of: datetime, known_at: datetime) -> Business:
    """The business as of ``as_of`` given what ``histories`` hold (known at ``known_at``)."""
    groups = histories.groups_at(as_of)
    deals: list[DealOut] = []
    offerings: list[OfferingOut] = []
    steps = histories.subjects_at(as_of)
    # "qualifies" is the verdict's: qualified at some time by as_of (met for good); the
    # rest (statuses, customers, money) is the business as it stands at as_of.
    when = qualified_at(histories, as_of, steps)
    for key, step in sorted(steps.items()):
        state = step.state
        if state.kind == "deal":
            deals.append(deal_out(state, as_of, groups, key in when))
        else:
            assessment = assess_subject(state, as_of, groups)
            offerings.append(offering_out(state, assessment, key in when))
    for key in sorted(histories.retracted_at(as_of)):
        kind, subject_id = key.split(":", 1)
        if kind == "deal":
            deals.append(retracted_deal(subject_id))
        else:
            offerings.append(retracted_offering(subject_id))
    return summarise(deals, offerings, as_of, known_at, histories)


def capacity_facility(deal: DealOut) -> str:
    """Where a deal's capacity counts: the facilities it was reported for (the
    ``capacity_facilities`` term), else those the deal names, joined with ``+`` when several;
    ``unknown`` when none is known."""
    reported = deal.terms.get("capacity_facilities")
    facilities = reported.value if reported is not None else deal.facilities
    return "+".join(facilities) if isinstance(facilities, list) and facilities else "unknown"


def summarise(
    deals: list[DealOut], offerings: list[OfferingOut], as_of: datetime, known_at: datetime,
    histories: Histories,
) -> Business:
    by_facility: dict[str, Decimal] = defaultdict(Decimal)
    by_customer: dict[str, Decimal] = defaultdict(Decimal)
    customers: dict[str, dict[str, Any]] = {}
    run_rate, backlog = ZERO, ZERO
    open_ended: list[str] = []
    for deal in deals:
        active = deal.status == "active"
        if deal.customer is not None and deal.external and deal.status not in (
            "reported", "retracted"
        ):
            entry = customers.setdefault(
                deal.customer, {"deals": [], "capacity": ZERO, "usd": ZERO}
            )
            entry["deals"].append(deal.id)
            if active:
                entry["capacity"] += deal.capacity_mw or ZERO
                entry["usd"] += deal.usd_per_month or ZERO
        if not active:
            continue
        if deal.capacity_mw is not None:
            by_facility[capacity_facility(deal)] += deal.capacity_mw
            by_customer[deal.customer or "unknown"] += deal.capacity_mw
        if deal.usd_per_month is not None:
            run_rate += deal.usd_per_month
            if deal.ends_on is None:
                open_ended.append(deal.id)
            else:
                left = months_left(as_of, start_of_day(deal.ends_on))
                backlog += deal.usd_per_month * left
    return Business(
        as_of=utc(as_of),
        known_at=utc(known_at),
        deals=deals,
        offerings=offerings,
        external_customers=[
            CustomerOut(customer=name, deals=entry["deals"], capacity_mw=entry["capacity"],
                        usd_per_month=entry["usd"])
            for name, entry in sorted(customers.items())
        ],
        capacity_mw_by_facility=dict(sorted(by_facility.items())),
        capacity_mw_by_customer=dict(sorted(by_customer.items())),
        monthly_run_rate_usd=run_rate,
        contracted_backlog_usd=backlog.quantize(Decimal(1)),
        open_ended_deals=open_ended,
        ledger_position=histories.position,
        ledger_head=histories.head,
    )
