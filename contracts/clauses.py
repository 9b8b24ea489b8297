"""The market's clauses, each a named rule with its own tests.

Every rule takes the state of one deal or offering and a :class:`Context` (the valid time,
the party groups then, the deadline) and returns a :class:`Check`: the clause id, whether it
is met, failed, unknown or not applicable, the ids of the facts that decide it, and a note a
person can read.  ``held`` is true when the clause does not stand in the way of counting
(met, or not applicable).  For an exclusion clause, *met* means the exclusion does not apply.

The verdict composes these checks (see :mod:`contracts.market`); the explanation it prints
is the list of checks, so it cannot drift from the rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import msgspec

from contracts.parties import BASE_MUSK_COMPANIES, MUSK, Groups, is_xai_facility
from contracts.state import Statement, SubjectState
from contracts.terms import deciding, value
from ledger.instants import market_text, start_of_day

CheckState = Literal["met", "failed", "unknown", "not_applicable"]
COMPUTE_SERVICES = frozenset(
    {"training", "inference", "training_and_inference", "fine_tuning", "byom_training",
     "compute_capacity"}
)
PAID = frozenset({"cash", "revenue_share"})
OFFICIAL_CHANNELS = frozenset({"official_site", "press_release"})


class Check(msgspec.Struct, frozen=True, gc=False):
    """One clause applied to one deal or offering."""

    clause: str
    state: CheckState
    facts: tuple[str, ...]
    note: str

    @property
    def held(self) -> bool:
        return self.state in ("met", "not_applicable")


@dataclass(frozen=True, slots=True)
class Context:
    at: datetime
    groups: Groups
    deadline: datetime


Rule = Callable[[SubjectState, Context], Check]


def _check(clause: str, state: CheckState, note: str, *facts: str) -> Check:
    if len(facts) == 1:  # the common case, on the projections' hot path
        return Check(clause, state, facts if facts[0] else (), note)
    return Check(clause, state, tuple(dict.fromkeys(f for f in facts if f)), note)


# ---------------------------------------------------------------------------------------------
# Who provides it
# ---------------------------------------------------------------------------------------------


def provider_side(s: SubjectState, c: Context) -> Literal["xai", "tesla", "other", "unknown"]:
    provider = value(s.terms, "provider")
    if provider is None:
        return "unknown"
    if c.groups.is_tesla(provider):
        return "tesla"
    if c.groups.in_xai_group(provider):
        return "xai"
    return "other"


def _speaks_for_provider(statement: Statement, s: SubjectState, c: Context) -> bool:
    provider = value(s.terms, "provider")
    return (
        c.groups.in_xai_group(statement.speaker)
        or statement.speaker == MUSK
        or (provider is not None and statement.speaker == provider)
    )


def _provider_problem(clause: str, s: SubjectState, c: Context) -> Check | None:
    side = provider_side(s, c)
    if side == "unknown":
        return _check(clause, "unknown", "the provider is not known yet")
    if side == "other":
        provider = value(s.terms, "provider")
        return _check(
            clause, "failed", f"the provider {provider} is not in the xAI group",
            *deciding(s.terms, "provider"), *c.groups.shaped_by,
        )
    return None


# ---------------------------------------------------------------------------------------------
# Inclusion: the routes by which a deal or offering can count
# ---------------------------------------------------------------------------------------------


def inc_public_offering(s: SubjectState, c: Context) -> Check:
    clause = "inc-public-offering"
    if s.kind != "offering":
        return _check(clause, "not_applicable", "not a public offering")
    if (problem := _provider_problem(clause, s, c)) is not None:
        return problem
    signup, pricing = value(s.terms, "signup_open"), value(s.terms, "pricing_published")
    if signup or pricing:
        what = " and ".join(
            w for w, on in (("sign-up is open", signup), ("pricing is published", pricing)) if on
        )
        return _check(clause, "met", what, *deciding(s.terms, "signup_open", "pricing_published"))
    if signup is False and pricing is False:
        return _check(clause, "failed", "no open sign-up and no published pricing",
                      *deciding(s.terms, "signup_open", "pricing_published"))
    return _check(clause, "unknown", "not known whether sign-up is open or pricing published",
                  *deciding(s.terms, "signup_open", "pricing_published"))


def inc_enterprise_deal(s: SubjectState, c: Context) -> Check:
    clause = "inc-enterprise-deal"
    if s.kind != "deal":
        return _check(clause, "not_applicable", "not a deal")
    if (problem := _provider_problem(clause, s, c)) is not None:
        return problem
    customer = value(s.terms, "customer")
    if customer is None:
        return _check(clause, "unknown", "no named customer yet")
    for statement in s.statements:
        if statement.channel != "media_report" and (
            _speaks_for_provider(statement, s, c) or statement.speaker == customer
        ):
            return _check(
                clause, "met",
                f"announced by {statement.speaker} ({statement.channel}) with customer "
                f"{customer}", statement.fact, *deciding(s.terms, "customer"),
            )
    if s.statements:
        return _check(clause, "failed", "known only from media reports",
                      *(st.fact for st in s.statements))
    return _check(clause, "failed", "no announcement of the deal")


def inc_sec_filing(s: SubjectState, c: Context) -> Check:
    clause = "inc-sec-filing"
    if s.kind != "deal":
        return _check(clause, "not_applicable", "not a deal")
    if s.revenue_filing is None:
        return _check(clause, "failed", "no filing disclosing compute revenue")
    if (problem := _provider_problem(clause, s, c)) is not None:
        return problem
    return _check(clause, "met", "a filing discloses compute service revenue", s.revenue_filing)


def inc_earnings(s: SubjectState, c: Context) -> Check:
    clause = "inc-earnings"
    if s.kind != "deal":
        return _check(clause, "not_applicable", "not a deal")
    for statement in s.statements:
        if statement.channel == "earnings_call" and _speaks_for_provider(statement, s, c):
            if (problem := _provider_problem(clause, s, c)) is not None:
                return problem
            return _check(clause, "met", f"reported on an earnings call by {statement.speaker}",
                          statement.fact)
    return _check(clause, "failed", "no earnings report")


def inc_official_confirmation(s: SubjectState, c: Context) -> Check:
    clause = "inc-official-confirmation"
    if s.kind != "deal":
        return _check(clause, "not_applicable", "not a deal")
    if (problem := _provider_problem(clause, s, c)) is not None and problem.state == "failed":
        return problem
    for statement in s.statements:
        if statement.channel in OFFICIAL_CHANNELS and _speaks_for_provider(statement, s, c):
            return _check(clause, "met", f"confirmed by {statement.speaker} ({statement.channel})",
                          statement.fact)
        if statement.channel == "social_post" and statement.speaker == MUSK:
            return _check(clause, "met", "confirmed by Elon Musk on X", statement.fact)
    if s.confirmation is not None:
        return _check(clause, "met", "confirmed by the customer", s.confirmation)
    return _check(clause, "failed", "no official confirmation or customer testimonial")


# ---------------------------------------------------------------------------------------------
# Exclusions: met means the exclusion does not apply
# ---------------------------------------------------------------------------------------------


def _by_term(clause: str, s: SubjectState, name: str, bad: dict[str, str]) -> Check:
    current = value(s.terms, name)
    facts = deciding(s.terms, name)
    if current is None:
        return _check(clause, "unknown", f"the {name} is not known yet")
    if current in bad:
        return _check(clause, "failed", bad[current], *facts)
    return _check(clause, "met", f"{name}: {current}", *facts)


def exc_free_research(s: SubjectState, c: Context) -> Check:
    if s.kind != "deal":
        return _check("exc-free-research", "not_applicable", "not a deal")
    return _by_term("exc-free-research", s, "consideration",
                    {"free": "free of charge: a grant or free research partnership"})


def exc_collaboration(s: SubjectState, c: Context) -> Check:
    if s.kind != "deal":
        return _check("exc-collaboration", "not_applicable", "not a deal")
    return _by_term("exc-collaboration", s, "consideration", {
        "resource_exchange": "both parties contribute resources: a collaboration",
        "equity": "paid in equity, not for compute: a collaboration",
    })


def exc_musk_company(s: SubjectState, c: Context) -> Check:
    clause = "exc-musk-company"
    if s.kind != "deal":
        return _check(clause, "not_applicable", "not a deal")
    customer = value(s.terms, "customer")
    facts = deciding(s.terms, "customer")
    if customer is None:
        return _check(clause, "unknown", "the customer is not known yet")
    if c.groups.is_musk_company(customer):
        by_events = () if customer in BASE_MUSK_COMPANIES else c.groups.shaped_by
        return _check(clause, "failed", f"{customer} is a Musk company: internal use",
                      *facts, *by_events)
    return _check(clause, "met", f"{customer} is not a Musk company", *facts)


def _by_service(clause: str, bad: str, note: str) -> Rule:
    def rule(s: SubjectState, c: Context) -> Check:
        return _by_term(clause, s, "service", {bad: note})

    rule.__name__ = clause.replace("-", "_")
    return rule


exc_model_license = _by_service(
    "exc-model-license", "model_license", "licensing the model, without compute"
)
exc_hardware_sale = _by_service("exc-hardware-sale", "hardware_sale", "a sale of hardware")
exc_api_access = _by_service(
    "exc-api-access", "model_api", "model API access, without a compute component"
)


def exc_vague_statement(s: SubjectState, c: Context) -> Check:
    clause = "exc-vague-statement"
    latest = s.latest_statement
    if s.evidence is None and latest is not None and latest.availability == "considering":
        return _check(clause, "failed", "only considered or explored, nothing available",
                      latest.fact)
    return _check(clause, "met", "more than a statement of intent",
                  *(() if s.evidence is None else (s.evidence.fact,)))


# ---------------------------------------------------------------------------------------------
# Special cases
# ---------------------------------------------------------------------------------------------


def spc_tesla_merger(s: SubjectState, c: Context) -> Check:
    clause = "spc-tesla-merger"
    if provider_side(s, c) != "tesla":
        return _check(clause, "not_applicable", "the provider is not Tesla")
    provider_facts = deciding(s.terms, "provider")
    if c.groups.tesla_merger is None:
        return _check(clause, "failed", "Tesla-branded compute, but no formal xAI-Tesla merger",
                      *provider_facts)
    facilities = value(s.terms, "facilities")
    if facilities is None:
        return _check(clause, "unknown", "Tesla merged with xAI; the facilities are not known",
                      c.groups.tesla_merger)
    if all(is_xai_facility(f) for f in facilities):
        return _check(clause, "met", f"Tesla merged with xAI; runs on {', '.join(facilities)}",
                      c.groups.tesla_merger, *deciding(s.terms, "facilities"))
    return _check(clause, "failed", "Tesla-branded compute not on an xAI facility",
                  c.groups.tesla_merger, *deciding(s.terms, "facilities"))


def spc_byom(s: SubjectState, c: Context) -> Check:
    if value(s.terms, "service") == "byom_training":
        return _check("spc-byom", "met", "bring-your-own-model training counts",
                      *deciding(s.terms, "service"))
    return _check("spc-byom", "not_applicable", "not bring-your-own-model training")


def spc_resale(s: SubjectState, c: Context) -> Check:
    facilities = value(s.terms, "facilities")
    if provider_side(s, c) == "xai" and facilities and not all(
        is_xai_facility(f) for f in facilities
    ):
        return _check("spc-resale", "met",
                      f"resold compute ({', '.join(facilities)}) counts even if not xAI's own",
                      *deciding(s.terms, "facilities"))
    return _check("spc-resale", "not_applicable", "not a resale of others' compute")


def spc_revenue_share(s: SubjectState, c: Context) -> Check:
    if value(s.terms, "consideration") == "revenue_share":
        return _check("spc-revenue-share", "met", "a revenue share paid for compute counts",
                      *deciding(s.terms, "consideration"))
    return _check("spc-revenue-share", "not_applicable", "not a revenue share")


# ---------------------------------------------------------------------------------------------
# Proof and deadline
# ---------------------------------------------------------------------------------------------


def available_since(s: SubjectState) -> tuple[datetime, str] | None:
    """Since when the compute is actually available, and the fact that shows it."""
    if s.kind == "offering":
        start = s.terms.available_from
        if start is not None and s.evidence is not None:
            return start_of_day(start.value), start.fact
    if s.evidence is not None:
        return s.evidence.since, s.evidence.fact
    return None


def prf_availability(s: SubjectState, c: Context) -> Check:
    clause = "prf-availability"
    since = available_since(s)
    latest = s.latest_statement
    if since is not None and since[0] <= c.at:
        return _check(clause, "met", f"available since {market_text(since[0])}", since[1])
    if since is not None:
        return _check(clause, "failed", f"announced as available only from "
                      f"{market_text(since[0])}", since[1])
    if latest is not None and latest.availability in ("planned", "considering"):
        when = f" (from {latest.available_from})" if latest.available_from else ""
        return _check(clause, "failed", f"only {latest.availability}{when}", latest.fact)
    return _check(clause, "unknown", "no evidence of actual availability yet")


def prf_customer(s: SubjectState, c: Context) -> Check:
    clause = "prf-customer"
    if s.kind == "offering":
        signup, pricing = value(s.terms, "signup_open"), value(s.terms, "pricing_published")
        facts = deciding(s.terms, "signup_open", "pricing_published")
        if signup or pricing:
            return _check(clause, "met", "open to the public", *facts)
        if signup is False and pricing is False:
            return _check(clause, "failed", "not open to the public", *facts)
        return _check(clause, "unknown", "not known whether the public can sign up", *facts)
    customer = value(s.terms, "customer")
    if customer is None:
        return _check(clause, "unknown", "no named customer yet")
    if c.groups.is_musk_company(customer):
        return _check(clause, "failed", f"{customer} is not an external customer",
                      *deciding(s.terms, "customer"))
    return _check(clause, "met", f"{customer} is a named external customer",
                  *deciding(s.terms, "customer"), s.confirmation or "")


def ddl_deadline(s: SubjectState, c: Context) -> Check:
    clause = "ddl-deadline"
    since = available_since(s)
    if since is None:
        return _check(clause, "unknown", "no availability date yet")
    if since[0] <= c.deadline:
        return _check(clause, "met", "available by the deadline", since[1])
    return _check(clause, "failed", f"available only from {market_text(since[0])}, after "
                  "the deadline", since[1])


RULES: dict[str, Rule] = {
    "inc-public-offering": inc_public_offering,
    "inc-enterprise-deal": inc_enterprise_deal,
    "inc-sec-filing": inc_sec_filing,
    "inc-earnings": inc_earnings,
    "inc-official-confirmation": inc_official_confirmation,
    "exc-free-research": exc_free_research,
    "exc-musk-company": exc_musk_company,
    "exc-model-license": exc_model_license,
    "exc-collaboration": exc_collaboration,
    "exc-hardware-sale": exc_hardware_sale,
    "exc-api-access": exc_api_access,
    "exc-vague-statement": exc_vague_statement,
    "spc-tesla-merger": spc_tesla_merger,
    "spc-byom": spc_byom,
    "spc-resale": spc_resale,
    "spc-revenue-share": spc_revenue_share,
    "prf-availability": prf_availability,
    "prf-customer": prf_customer,
    "ddl-deadline": ddl_deadline,
}
