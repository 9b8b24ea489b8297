"""The market's clauses, each a named rule with its own tests.

Every rule takes the state of one deal or offering and a :class:`Context` (the valid time,
the party groups then, the deadline) and returns a :class:`Check`: the clause id, whether it
is met, failed, unknown or not applicable, the ids of the facts that decide it, and a note a
person can read.  ``held`` is true when the clause does not stand in the way of counting
(met, or not applicable).  For an exclusion clause, *met* means the exclusion does not apply.

Each clause is written once: ``@clause(id, kind=..., applies_to=..., summary=...)`` above its
rule registers it in :data:`REGISTRY` (in the market's order), with an id typed as
:data:`~compute_ledger.ledger.facts.ClauseId` so that a typo is a type error.  The rule is
called with its own id and only for the kinds of subject it applies to; on any other it is
not applicable.  The verdict composes these checks (see :mod:`contracts.market`); the
explanation it prints is the list of checks, so it cannot drift from the rules.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Literal, TypeAlias

import msgspec

from compute_ledger.contracts.parties import BASE_MUSK_COMPANIES, MUSK, Groups, is_xai_facility
from compute_ledger.contracts.state import Statement, SubjectKind, SubjectState
from compute_ledger.contracts.terms import deciding, value
from compute_ledger.ledger.facts import ClauseId
from compute_ledger.ledger.instants import market_text, start_of_day

CheckState = Literal["met", "failed", "unknown", "not_applicable"]
COMPUTE_SERVICES = frozenset(
    {"training", "inference", "training_and_inference", "fine_tuning", "byom_training",
     "compute_capacity"}
)
PAID = frozenset({"cash", "revenue_share"})
OFFICIAL_CHANNELS = frozenset({"official_site", "press_release"})


class Check(msgspec.Struct, frozen=True, gc=False):
    """One clause applied to one deal or offering."""

    clause: ClauseId
    state: CheckState
    facts: tuple[str, ...]
    note: str

    @property
    def held(self) -> bool:
        return self.state in ("met", "not_applicable")


class Context(msgspec.Struct, frozen=True):
    at: datetime
    groups: Groups
    deadline: datetime


ClauseKind = Literal["inclusion", "exclusion", "special", "proof", "deadline"]
Body: TypeAlias = Callable[[ClauseId, SubjectState, Context], Check]
DEALS: tuple[SubjectKind, ...] = ("deal",)
OFFERINGS: tuple[SubjectKind, ...] = ("offering",)
BOTH: tuple[SubjectKind, ...] = ("deal", "offering")
_NOT_ITS_KIND = {"deal": "not a public offering", "offering": "not a deal"}


class Clause(msgspec.Struct, frozen=True):
    """A clause of the market: its registry entry and its rule.  Calling it applies the rule
    to one deal or offering at a valid time."""

    id: ClauseId
    kind: ClauseKind
    summary: str
    applies_to: tuple[SubjectKind, ...]
    body: Body

    def __call__(self, s: SubjectState, c: Context) -> Check:
        if s.kind not in self.applies_to:
            return Check(self.id, "not_applicable", (), _NOT_ITS_KIND[s.kind])
        return self.body(self.id, s, c)


REGISTRY: dict[ClauseId, Clause] = {}
"""Every clause, in the market's order, by id."""


def clause(id: ClauseId, *, kind: ClauseKind, applies_to: tuple[SubjectKind, ...],
           summary: str) -> Callable[[Body], Clause]:
    """Register the rule below as the clause ``id``."""
    def register(body: Body) -> Clause:
        if id in REGISTRY:
            raise ValueError(f"clause {id} is registered twice")
        REGISTRY[id] = entry = Clause(id, kind, summary, applies_to, body)
        return entry
    return register


def _check(clause: ClauseId, state: CheckState, note: str, *facts: str) -> Check:
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


def _provider_problem(clause: ClauseId, s: SubjectState, c: Context) -> Check | None:
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


@clause("inc-public-offering", kind="inclusion", applies_to=OFFERINGS,
        summary=("a public platform to sign up for, rent or buy compute, or published prices for "
                 "compute hours or tokens"))
def inc_public_offering(clause: ClauseId, s: SubjectState, c: Context) -> Check:
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


@clause("inc-enterprise-deal", kind="inclusion", applies_to=DEALS,
        summary=("a deal, announced by the provider or the customer, to supply compute to a named "
                 "company"))
def inc_enterprise_deal(clause: ClauseId, s: SubjectState, c: Context) -> Check:
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


@clause("inc-sec-filing", kind="inclusion", applies_to=DEALS,
        summary="an SEC filing that mentions compute service revenue")
def inc_sec_filing(clause: ClauseId, s: SubjectState, c: Context) -> Check:
    if s.revenue_filing is None:
        return _check(clause, "failed", "no filing disclosing compute revenue")
    if (problem := _provider_problem(clause, s, c)) is not None:
        return problem
    return _check(clause, "met", "a filing discloses compute service revenue", s.revenue_filing)


@clause("inc-earnings", kind="inclusion", applies_to=DEALS,
        summary="an earnings report showing infrastructure-as-a-service revenue")
def inc_earnings(clause: ClauseId, s: SubjectState, c: Context) -> Check:
    for statement in s.statements:
        if statement.channel == "earnings_call" and _speaks_for_provider(statement, s, c):
            if (problem := _provider_problem(clause, s, c)) is not None:
                return problem
            return _check(clause, "met", f"reported on an earnings call by {statement.speaker}",
                          statement.fact)
    return _check(clause, "failed", "no earnings report")


@clause("inc-official-confirmation", kind="inclusion", applies_to=DEALS,
        summary=("confirmed on xAI's site, blog or press releases, explicitly by Musk on X, "
                 "or by a customer testimonial"))
def inc_official_confirmation(clause: ClauseId, s: SubjectState, c: Context) -> Check:
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


def _by_term(clause: ClauseId, s: SubjectState, name: str, bad: dict[str, str]) -> Check:
    current = value(s.terms, name)
    facts = deciding(s.terms, name)
    if current is None:
        return _check(clause, "unknown", f"the {name} is not known yet")
    if current in bad:
        return _check(clause, "failed", bad[current], *facts)
    return _check(clause, "met", f"{name}: {current}", *facts)


@clause("exc-free-research", kind="exclusion", applies_to=DEALS,
        summary="free research partnerships and grants do not count")
def exc_free_research(clause: ClauseId, s: SubjectState, c: Context) -> Check:
    return _by_term(clause, s, "consideration",
                    {"free": "free of charge: a grant or free research partnership"})


@clause("exc-collaboration", kind="exclusion", applies_to=DEALS,
        summary="a collaboration where both sides contribute resources does not count")
def exc_collaboration(clause: ClauseId, s: SubjectState, c: Context) -> Check:
    return _by_term(clause, s, "consideration", {
        "resource_exchange": "both parties contribute resources: a collaboration",
        "equity": "paid in equity, not for compute: a collaboration",
    })


@clause("exc-musk-company", kind="exclusion", applies_to=DEALS,
        summary="use by Tesla, X, SpaceX or another Musk company does not count")
def exc_musk_company(clause: ClauseId, s: SubjectState, c: Context) -> Check:
    customer = value(s.terms, "customer")
    facts = deciding(s.terms, "customer")
    if customer is None:
        return _check(clause, "unknown", "the customer is not known yet")
    if c.groups.is_musk_company(customer):
        by_events = () if customer in BASE_MUSK_COMPANIES else c.groups.shaped_by
        return _check(clause, "failed", f"{customer} is a Musk company: internal use",
                      *facts, *by_events)
    return _check(clause, "met", f"{customer} is not a Musk company", *facts)


@clause("exc-model-license", kind="exclusion", applies_to=BOTH,
        summary="licensing Grok without compute infrastructure does not count")
def exc_model_license(clause: ClauseId, s: SubjectState, c: Context) -> Check:
    return _by_term(clause, s, "service", {"model_license": "licensing the model, without compute"})


@clause("exc-hardware-sale", kind="exclusion", applies_to=BOTH,
        summary="selling hardware does not count")
def exc_hardware_sale(clause: ClauseId, s: SubjectState, c: Context) -> Check:
    return _by_term(clause, s, "service", {"hardware_sale": "a sale of hardware"})


@clause("exc-api-access", kind="exclusion", applies_to=BOTH,
        summary=("plain Grok API access or model-as-a-service without a compute component "
                 "does not count"))
def exc_api_access(clause: ClauseId, s: SubjectState, c: Context) -> Check:
    return _by_term(clause, s, "service",
                    {"model_api": "model API access, without a compute component"})


@clause("exc-vague-statement", kind="exclusion", applies_to=BOTH,
        summary="considering or exploring, with nothing available, does not count")
def exc_vague_statement(clause: ClauseId, s: SubjectState, c: Context) -> Check:
    latest = s.latest_statement
    if s.evidence is None and latest is not None and latest.availability == "considering":
        return _check(clause, "failed", "only considered or explored, nothing available",
                      latest.fact)
    return _check(clause, "met", "more than a statement of intent",
                  *(() if s.evidence is None else (s.evidence.fact,)))


# ---------------------------------------------------------------------------------------------
# Special cases
# ---------------------------------------------------------------------------------------------


@clause("spc-tesla-merger", kind="special", applies_to=BOTH,
        summary=("after a formal xAI-Tesla merger, Tesla-branded compute counts if it runs on "
                 "Colossus or another xAI facility"))
def spc_tesla_merger(clause: ClauseId, s: SubjectState, c: Context) -> Check:
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


@clause("spc-byom", kind="special", applies_to=BOTH,
        summary="bring-your-own-model training services count")
def spc_byom(clause: ClauseId, s: SubjectState, c: Context) -> Check:
    if value(s.terms, "service") == "byom_training":
        return _check(clause, "met", "bring-your-own-model training counts",
                      *deciding(s.terms, "service"))
    return _check(clause, "not_applicable", "not bring-your-own-model training")


@clause("spc-resale", kind="special", applies_to=BOTH,
        summary="reselling compute counts even when not all the hardware is xAI's")
def spc_resale(clause: ClauseId, s: SubjectState, c: Context) -> Check:
    facilities = value(s.terms, "facilities")
    if provider_side(s, c) == "xai" and facilities and not all(
        is_xai_facility(f) for f in facilities
    ):
        return _check(clause, "met",
                      f"resold compute ({', '.join(facilities)}) counts even if not xAI's own",
                      *deciding(s.terms, "facilities"))
    return _check(clause, "not_applicable", "not a resale of others' compute")


@clause("spc-revenue-share", kind="special", applies_to=BOTH,
        summary=("revenue-sharing deals where partners pay for compute, and paid beta "
                 "programs, count"))
def spc_revenue_share(clause: ClauseId, s: SubjectState, c: Context) -> Check:
    if value(s.terms, "consideration") == "revenue_share":
        return _check(clause, "met", "a revenue share paid for compute counts",
                      *deciding(s.terms, "consideration"))
    return _check(clause, "not_applicable", "not a revenue share")


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


@clause("prf-availability", kind="proof", applies_to=BOTH,
        summary="actual availability, not plans (general availability in 2027 does not qualify)")
def prf_availability(clause: ClauseId, s: SubjectState, c: Context) -> Check:
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


@clause("prf-customer", kind="proof", applies_to=BOTH,
        summary="an outside customer is confirmed by name, or anyone can sign up")
def prf_customer(clause: ClauseId, s: SubjectState, c: Context) -> Check:
    if s.kind == "offering":
        # Published prices alone are not proof that anyone can use it: the public must be
        # able to sign up (an offering's confirmed customers are not recorded as such yet).
        signup = value(s.terms, "signup_open")
        facts = deciding(s.terms, "signup_open")
        if signup:
            return _check(clause, "met", "open to the public: anyone can sign up", *facts)
        if signup is False:
            return _check(clause, "failed", "sign-up is closed to the public and no outside "
                          "customer is confirmed (a price list alone is not proof)", *facts)
        return _check(clause, "unknown", "not known whether the public can sign up",
                      *deciding(s.terms, "pricing_published"))
    customer = value(s.terms, "customer")
    if customer is None:
        return _check(clause, "unknown", "no named customer yet")
    if c.groups.is_musk_company(customer):
        return _check(clause, "failed", f"{customer} is not an external customer",
                      *deciding(s.terms, "customer"))
    return _check(clause, "met", f"{customer} is a named external customer",
                  *deciding(s.terms, "customer"), s.confirmation or "")


@clause("ddl-deadline", kind="deadline", applies_to=BOTH,
        summary="by 2026-12-31 23:59 America/Los_Angeles (2027-01-01T07:59Z)")
def ddl_deadline(clause: ClauseId, s: SubjectState, c: Context) -> Check:
    since = available_since(s)
    if since is None:
        return _check(clause, "unknown", "no availability date yet")
    if since[0] <= c.deadline:
        return _check(clause, "met", "available by the deadline", since[1])
    return _check(clause, "failed", f"available only from {market_text(since[0])}, after "
                  "the deadline", since[1])

