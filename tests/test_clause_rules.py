"""Each clause's rule called directly on a SubjectState and a Context: no ledger, no fold.

Every case id starts with its clause id, so ``pytest -k exc-collaboration`` runs that
clause's cases.  The expected outcomes are read from the market's text (DOMAIN.md, section
3), each case changing one thing from a plain cash-for-compute deal that qualifies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest

from compute_ledger.contracts.clauses import REGISTRY, CheckState, Context
from compute_ledger.contracts.market import DEADLINE
from compute_ledger.contracts.parties import CorporateChange, Groups, groups_after
from compute_ledger.contracts.state import Evidence, Statement, SubjectState
from compute_ledger.contracts.terms import Term, Terms
from compute_ledger.ledger.facts import ClauseId

AT = datetime(2026, 6, 1, tzinfo=UTC)
SAID = datetime(2026, 5, 6, 17, tzinfo=UTC)
BASE = groups_after(())
TESLA_MERGED = groups_after([CorporateChange("merger-fact", "merger", ("xai", "tesla"), "xai")])


def terms(**values: Any) -> Terms:
    """Terms each decided by the fact ``t-<name>``."""
    return Terms(**{name: None if v is None else Term(v, f"t-{name}")
                    for name, v in values.items()})


def said(speaker: str = "xai", channel: str = "official_site",
         availability: str = "available", fact: str = "ann") -> Statement:
    return Statement(speaker, channel, availability, None, fact, SAID)


AVAILABLE = Evidence(SAID, "ann", "announcement")
DEAL_TERMS: dict[str, Any] = {
    "provider": "xai", "customer": "anthropic", "service": "compute_capacity",
    "consideration": "cash", "facilities": ("colossus-1",),
}


def deal(statements: tuple[Statement, ...] = (said(),), evidence: Evidence | None = AVAILABLE,
         **changes: Any) -> SubjectState:
    """A plain cash-for-compute deal announced by xAI and available, with ``changes``."""
    return SubjectState(
        kind="deal", id="d", terms=terms(**{**DEAL_TERMS, **changes}), first_fact="ann",
        first_at=SAID, statements=statements,
        latest_statement=statements[-1] if statements else None, evidence=evidence,
    )


def with_(state: SubjectState, **fields: Any) -> SubjectState:
    import msgspec

    return msgspec.structs.replace(state, **fields)


def offering(evidence: Evidence | None = AVAILABLE, **changes: Any) -> SubjectState:
    values = {"provider": "xai", "service": "inference", "signup_open": True,
              "pricing_published": True, "available_from": date(2026, 5, 1), **changes}
    return SubjectState(kind="offering", id="o", terms=terms(**values), first_fact="off",
                        first_at=SAID, evidence=evidence)


@dataclass(frozen=True)
class Case:
    id: str
    subject: Callable[[], SubjectState]
    state: CheckState
    facts: tuple[str, ...] | None = None
    note: str | None = None
    groups: Groups = BASE
    at: datetime = AT


CASES = [
    # -- inclusion ---------------------------------------------------------------------------
    Case("inc-public-offering-open-signup-is-met", offering, "met",
         ("t-signup_open", "t-pricing_published")),
    Case("inc-public-offering-closed-and-unpriced-fails",
         lambda: offering(signup_open=False, pricing_published=False), "failed"),
    Case("inc-public-offering-unknown-signup-is-unknown",
         lambda: offering(signup_open=None, pricing_published=None), "unknown"),
    Case("inc-public-offering-from-outside-the-xai-group-fails",
         lambda: offering(provider="coreweave"), "failed", ("t-provider",)),
    Case("inc-public-offering-not-for-a-deal", deal, "not_applicable", (),
         "not a public offering"),
    Case("inc-enterprise-deal-announced-by-xai-is-met", deal, "met", ("ann", "t-customer")),
    Case("inc-enterprise-deal-announced-by-the-customer-is-met",
         lambda: deal(statements=(said(speaker="anthropic"),)), "met", ("ann", "t-customer")),
    Case("inc-enterprise-deal-media-report-alone-fails",
         lambda: deal(statements=(said(speaker="reuters", channel="media_report"),)),
         "failed", ("ann",)),
    Case("inc-enterprise-deal-without-a-customer-is-unknown",
         lambda: deal(customer=None), "unknown"),
    Case("inc-enterprise-deal-not-for-an-offering", offering, "not_applicable", (),
         "not a deal"),
    Case("inc-sec-filing-disclosing-revenue-is-met",
         lambda: with_(deal(), revenue_filing="f-1"), "met", ("f-1",)),
    Case("inc-sec-filing-without-such-a-filing-fails", deal, "failed"),
    Case("inc-sec-filing-from-outside-the-xai-group-fails",
         lambda: with_(deal(provider="coreweave"), revenue_filing="f-1"), "failed"),
    Case("inc-earnings-on-an-earnings-call-is-met",
         lambda: deal(statements=(said(channel="earnings_call", fact="call"),)), "met",
         ("call",)),
    Case("inc-earnings-without-a-report-fails", deal, "failed"),
    Case("inc-earnings-of-a-provider-outside-the-xai-group-fails",
         lambda: deal(provider="coreweave",
                      statements=(said(speaker="coreweave", channel="earnings_call"),)),
         "failed", ("t-provider",)),
    Case("inc-earnings-of-an-unknown-provider-is-unknown",
         lambda: deal(provider=None, statements=(said(channel="earnings_call"),)), "unknown"),
    Case("inc-official-confirmation-on-xais-site-is-met", deal, "met", ("ann",)),
    Case("inc-official-confirmation-musk-on-x-is-met",
         lambda: deal(statements=(said(speaker="elon-musk", channel="social_post"),)), "met",
         ("ann",)),
    Case("inc-official-confirmation-by-the-customer-is-met",
         lambda: with_(deal(statements=(said(channel="media_report", speaker="reuters"),)),
                       confirmation="conf"), "met", ("conf",)),
    Case("inc-official-confirmation-media-only-fails",
         lambda: deal(statements=(said(channel="media_report", speaker="reuters"),)), "failed"),
    # -- exclusions: met means the exclusion does not apply ------------------------------------
    Case("exc-free-research-cash-is-met", deal, "met", ("t-consideration",)),
    Case("exc-free-research-free-fails", lambda: deal(consideration="free"), "failed",
         ("t-consideration",)),
    Case("exc-free-research-unknown-consideration-is-unknown",
         lambda: deal(consideration=None), "unknown"),
    Case("exc-free-research-not-for-an-offering", offering, "not_applicable"),
    Case("exc-musk-company-external-customer-is-met", deal, "met", ("t-customer",)),
    Case("exc-musk-company-tesla-as-customer-fails", lambda: deal(customer="tesla"), "failed",
         ("t-customer",)),
    Case("exc-musk-company-customer-merged-into-spacex-fails",
         lambda: deal(customer="initech"), "failed", ("t-customer", "acq"),
         groups=groups_after([CorporateChange("acq", "acquisition", ("spacex", "initech"),
                                              "spacex")])),
    Case("exc-musk-company-unknown-customer-is-unknown", lambda: deal(customer=None), "unknown"),
    Case("exc-model-license-compute-is-met", deal, "met", ("t-service",)),
    Case("exc-model-license-licence-fails", lambda: deal(service="model_license"), "failed",
         ("t-service",)),
    Case("exc-model-license-on-an-offering-applies",
         lambda: offering(service="model_license"), "failed"),
    Case("exc-collaboration-cash-is-met", deal, "met", ("t-consideration",)),
    Case("exc-collaboration-resource-exchange-fails",
         lambda: deal(consideration="resource_exchange"), "failed", ("t-consideration",)),
    Case("exc-collaboration-equity-fails", lambda: deal(consideration="equity"), "failed"),
    Case("exc-hardware-sale-compute-is-met", deal, "met"),
    Case("exc-hardware-sale-hardware-fails", lambda: deal(service="hardware_sale"), "failed"),
    Case("exc-hardware-sale-unknown-service-is-unknown", lambda: deal(service=None), "unknown"),
    Case("exc-api-access-compute-is-met", deal, "met"),
    Case("exc-api-access-model-api-fails", lambda: deal(service="model_api"), "failed"),
    Case("exc-vague-statement-available-is-met", deal, "met", ("ann",)),
    Case("exc-vague-statement-only-considering-fails",
         lambda: deal(statements=(said(availability="considering", fact="musing"),),
                      evidence=None), "failed", ("musing",)),
    Case("exc-vague-statement-considering-but-shown-available-is-met",
         lambda: deal(statements=(said(availability="considering", fact="musing"),)), "met",
         ("ann",)),
    # -- special cases -------------------------------------------------------------------------
    Case("spc-tesla-merger-xai-provider-not-applicable", deal, "not_applicable"),
    Case("spc-tesla-merger-without-a-merger-fails", lambda: deal(provider="tesla"), "failed",
         ("t-provider",)),
    Case("spc-tesla-merger-after-the-merger-on-colossus-is-met",
         lambda: deal(provider="tesla"), "met", ("merger-fact", "t-facilities"),
         groups=TESLA_MERGED),
    Case("spc-tesla-merger-after-the-merger-elsewhere-fails",
         lambda: deal(provider="tesla", facilities=("giga-texas",)), "failed",
         groups=TESLA_MERGED),
    Case("spc-tesla-merger-after-the-merger-unknown-facilities-is-unknown",
         lambda: deal(provider="tesla", facilities=None), "unknown", groups=TESLA_MERGED),
    Case("spc-byom-byom-training-is-met", lambda: deal(service="byom_training"), "met",
         ("t-service",)),
    Case("spc-byom-other-service-not-applicable", deal, "not_applicable"),
    Case("spc-resale-non-xai-facility-is-met", lambda: deal(facilities=("oracle-abilene",)),
         "met", ("t-facilities",)),
    Case("spc-resale-on-colossus-not-applicable", deal, "not_applicable"),
    Case("spc-revenue-share-is-met", lambda: deal(consideration="revenue_share"), "met",
         ("t-consideration",)),
    Case("spc-revenue-share-cash-not-applicable", deal, "not_applicable"),
    # -- proof and deadline ----------------------------------------------------------------
    Case("prf-availability-available-is-met", deal, "met", ("ann",)),
    Case("prf-availability-only-planned-fails",
         lambda: deal(statements=(said(availability="planned", fact="plan"),), evidence=None),
         "failed", ("plan",)),
    Case("prf-availability-from-a-future-date-fails",
         lambda: deal(evidence=Evidence(datetime(2027, 3, 1, tzinfo=UTC), "ga", "announcement")),
         "failed", ("ga",)),
    Case("prf-availability-no-evidence-is-unknown", lambda: deal(statements=(), evidence=None),
         "unknown"),
    Case("prf-customer-external-customer-is-met", deal, "met", ("t-customer",)),
    Case("prf-customer-musk-company-customer-fails", lambda: deal(customer="spacex"), "failed",
         ("t-customer",)),
    Case("prf-customer-no-customer-is-unknown", lambda: deal(customer=None), "unknown"),
    Case("prf-customer-open-signup-is-met", offering, "met"),
    Case("prf-customer-closed-offering-fails",
         lambda: offering(signup_open=False, pricing_published=False), "failed"),
    Case("ddl-deadline-available-before-is-met", deal, "met", ("ann",)),
    Case("ddl-deadline-available-after-fails",
         lambda: deal(evidence=Evidence(datetime(2027, 1, 1, 8, tzinfo=UTC), "late",
                                        "announcement")), "failed", ("late",)),
    Case("ddl-deadline-no-date-is-unknown", lambda: deal(statements=(), evidence=None),
         "unknown"),
]


def clause_of(case_id: str) -> ClauseId:
    [clause] = [c for c in REGISTRY if case_id.startswith(c + "-")]
    return clause


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rule(case: Case) -> None:
    rule = REGISTRY[clause_of(case.id)]
    check = rule(case.subject(), Context(case.at, case.groups, DEADLINE))
    assert check.clause == rule.id
    assert check.state == case.state, check
    if case.facts is not None:
        assert check.facts == case.facts, check
    if case.note is not None:
        assert check.note == case.note


def test_every_clause_has_cases_of_its_own() -> None:
    covered = {clause_of(case.id) for case in CASES}
    assert covered == set(REGISTRY)
    assert len({case.id for case in CASES}) == len(CASES)
