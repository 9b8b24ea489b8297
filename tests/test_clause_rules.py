"""Each of the market's clauses, its rule called directly: a hand-built SubjectState and Context
in, a Check out.  No ledger, no projection, no fold: pure functions, so every case is fast.

Every case id starts with its clause id, so ``pytest tests/test_clause_rules.py -k
exc-collaboration`` runs that clause's cases, and a clause registered without a case of its own
fails ``test_every_clause_has_cases``.  The expected outcomes are read from the market's text
(DOMAIN.md section 3 and the market itself), not from the rules.

Fact ids are simple: the terms of a plain deal all come from ``deal-fact`` (of an offering, from
``offering-fact``); a term a case sets itself comes from ``<name>-fact``, so a check that names
``customer-fact`` was decided by the customer the case chose.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import pytest

from compute_ledger.contracts.clauses import REGISTRY, CheckState, Context
from compute_ledger.contracts.market import DEADLINE
from compute_ledger.contracts.parties import CorporateChange, groups_after
from compute_ledger.contracts.state import Evidence, Statement, SubjectKind, SubjectState
from compute_ledger.contracts.terms import Term, Terms
from compute_ledger.ledger.facts import ClauseId

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
"""The valid time most cases are judged at."""
SAID = datetime(2026, 5, 6, 17, 0, tzinfo=UTC)
"""When the statements of most cases were made."""

DEAL_TERMS: Mapping[str, object] = {
    "provider": "xai", "customer": "anthropic", "service": "training_and_inference",
    "consideration": "cash", "facilities": ("colossus-1",),
}
OFFERING_TERMS: Mapping[str, object] = {"provider": "xai", "service": "inference"}

# Corporate events, as the rules see them.
XAI_INTO_SPACEX = CorporateChange("xai-spacex-merger", "merger", ("xai", "spacex"), "spacex")
TESLA_MERGER = CorporateChange("xai-tesla-merger", "merger", ("xai", "tesla"), "tesla")
SPACEX_TESLA_MERGER = CorporateChange("spacex-tesla-merger", "merger", ("spacex", "tesla"),
                                      "tesla")
X_BUYS_STARTUP = CorporateChange("x-buys-startup", "acquisition", ("x-corp", "startup-ai"),
                                 "x-corp")
XAI_BUYS_CURSOR = CorporateChange("xai-buys-cursor", "acquisition", ("xai", "cursor"), "xai")
X_RENAMED = CorporateChange("x-renamed", "rename", ("x-corp",), "x-holdings")


# ---------------------------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------------------------


def _terms(defaults: Mapping[str, object], base_fact: str, changes: Mapping[str, object]) -> Terms:
    """``defaults`` decided by ``base_fact``; each of ``changes`` by ``<name>-fact`` (None:
    the term is unknown)."""
    fields: dict[str, Term[Any]] = {name: Term(v, base_fact) for name, v in defaults.items()}
    for name, v in changes.items():
        if v is None:
            fields.pop(name, None)
        else:
            fields[name] = Term(v, f"{name}-fact")
    return Terms(**fields)


def statement(speaker: str = "xai", channel: str = "official_site",
              availability: str = "available", *, available_from: date | None = None,
              fact: str | None = None, at: datetime = SAID) -> Statement:
    """An announcement; its fact id is ``<speaker>-<channel>-<availability>`` unless given."""
    return Statement(speaker, channel, availability, available_from,
                     fact or f"{speaker}-{channel}-{availability}", at)


def evidence(since: datetime = SAID, fact: str = "evidence-fact",
             kind: Literal["announcement", "customer_confirmation", "filing",
                           "offering"] = "announcement") -> Evidence:
    return Evidence(since, fact, kind)


def _subject(kind: SubjectKind, terms: Terms, *, statements: tuple[Statement, ...],
             latest: Statement | None, proof: Evidence | None, revenue_filing: str | None,
             confirmation: str | None) -> SubjectState:
    return SubjectState(
        kind=kind, id=f"{kind}-1", terms=terms, first_fact=f"{kind}-fact", first_at=SAID,
        statements=statements,
        latest_statement=latest if latest is not None else (
            statements[-1] if statements else None),
        evidence=proof, revenue_filing=revenue_filing, filing=revenue_filing,
        confirmation=confirmation,
    )


def deal(*, statements: tuple[Statement, ...] = (), latest: Statement | None = None,
         proof: Evidence | None = None, revenue_filing: str | None = None,
         confirmation: str | None = None, **changes: object) -> SubjectState:
    """A plain cash-for-compute deal of xAI with Anthropic on Colossus 1, with ``changes`` to
    its terms.  ``latest`` defaults to the last of ``statements``."""
    return _subject("deal", _terms(DEAL_TERMS, "deal-fact", changes), statements=statements,
                    latest=latest, proof=proof, revenue_filing=revenue_filing,
                    confirmation=confirmation)


def offering(*, statements: tuple[Statement, ...] = (), latest: Statement | None = None,
             proof: Evidence | None = None, **changes: object) -> SubjectState:
    """A public inference offering of xAI (sign-up, pricing, dates unknown unless given)."""
    return _subject("offering", _terms(OFFERING_TERMS, "offering-fact", changes),
                    statements=statements, latest=latest, proof=proof, revenue_filing=None,
                    confirmation=None)


def ctx(at: datetime = T0, changes: Iterable[CorporateChange] = ()) -> Context:
    """The context at ``at`` with the groups after ``changes`` (all in force at ``at``)."""
    return Context(at, groups_after(changes), DEADLINE)


def pt(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """An instant given in Pacific Standard Time (UTC-8, as in winter)."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC) + timedelta(hours=8)


# ---------------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------------


NOW = ctx()
"""At T0, with the base groups."""


@dataclass(frozen=True)
class Case:
    clause: ClauseId
    name: str
    subject: SubjectState
    state: CheckState
    facts: tuple[str, ...]
    note: str = ""
    """A fragment the check's note must contain."""
    context: Context = NOW
    exact: bool = True
    """Whether ``facts`` are exactly the check's facts (else: they are among them)."""

    @property
    def id(self) -> str:
        return f"{self.clause}-{self.name}"


XAI_SITE = statement()
MUSK_ON_X = statement("elon-musk", "social_post")
MEDIA = statement("reuters", "media_report")
XAI_EARNINGS = statement("xai", "earnings_call")
CONSIDERING = statement(availability="considering", fact="xai-considering")
PLANNED_2027 = statement(availability="planned", available_from=date(2027, 1, 15),
                         fact="xai-ga-2027")

CASES: list[Case] = [
    # -- inc-public-offering: sign-up open or pricing published, by the xAI group -------------
    Case("inc-public-offering", "open-signup-met",
         offering(signup_open=True, pricing_published=False), "met",
         ("signup_open-fact", "pricing_published-fact"), "sign-up is open"),
    Case("inc-public-offering", "published-pricing-met",
         offering(signup_open=False, pricing_published=True), "met",
         ("signup_open-fact", "pricing_published-fact"), "pricing is published"),
    Case("inc-public-offering", "signup-and-pricing-met",
         offering(signup_open=True, pricing_published=True), "met",
         ("signup_open-fact", "pricing_published-fact"),
         "sign-up is open and pricing is published"),
    Case("inc-public-offering", "closed-and-unpriced-fails",
         offering(signup_open=False, pricing_published=False), "failed",
         ("signup_open-fact", "pricing_published-fact"), "no open sign-up"),
    Case("inc-public-offering", "closed-pricing-unknown-unknown",
         offering(signup_open=False), "unknown", ("signup_open-fact",)),
    Case("inc-public-offering", "nothing-known-unknown", offering(), "unknown", ()),
    Case("inc-public-offering", "provider-outside-xai-group-fails",
         offering(provider="oracle", signup_open=True), "failed", ("provider-fact",),
         "oracle is not in the xAI group"),
    Case("inc-public-offering", "provider-unknown-unknown",
         offering(provider=None, signup_open=True), "unknown", (), "provider is not known"),
    Case("inc-public-offering", "spacex-before-merger-fails",
         offering(provider="spacex", signup_open=True), "failed", ("provider-fact",)),
    Case("inc-public-offering", "spacex-after-xai-merger-met",
         offering(provider="spacex", signup_open=True, pricing_published=False), "met",
         ("signup_open-fact", "pricing_published-fact"),
         context=ctx(changes=[XAI_INTO_SPACEX])),
    Case("inc-public-offering", "deal-not-applicable", deal(statements=(XAI_SITE,)),
         "not_applicable", (), "not a public offering"),
    # -- inc-enterprise-deal: announced, by the provider or the customer, with a named customer
    Case("inc-enterprise-deal", "announced-by-xai-met", deal(statements=(XAI_SITE,)), "met",
         ("xai-official_site-available", "deal-fact"), "with customer anthropic"),
    Case("inc-enterprise-deal", "announced-by-customer-met",
         deal(statements=(statement("anthropic", "press_release"),)), "met",
         ("anthropic-press_release-available", "deal-fact"), "announced by anthropic"),
    Case("inc-enterprise-deal", "announced-by-musk-met",
         deal(statements=(statement("elon-musk", "interview"),)), "met",
         ("elon-musk-interview-available", "deal-fact")),
    Case("inc-enterprise-deal", "announced-by-xai-group-member-met",
         deal(statements=(statement("spacex", "press_release"),)), "met",
         ("spacex-press_release-available", "deal-fact"),
         context=ctx(changes=[XAI_INTO_SPACEX])),
    Case("inc-enterprise-deal", "media-report-alone-fails", deal(statements=(MEDIA,)),
         "failed", ("reuters-media_report-available",), "media reports"),
    Case("inc-enterprise-deal", "xai-quoted-in-media-only-fails",
         deal(statements=(statement("xai", "media_report"),)), "failed",
         ("xai-media_report-available",)),
    Case("inc-enterprise-deal", "third-party-only-fails",
         deal(statements=(statement("analyst-firm", "interview"),)), "failed",
         ("analyst-firm-interview-available",)),
    Case("inc-enterprise-deal", "no-announcement-fails", deal(), "failed", (),
         "no announcement"),
    Case("inc-enterprise-deal", "customer-unknown-unknown",
         deal(customer=None, statements=(XAI_SITE,)), "unknown", (), "no named customer"),
    Case("inc-enterprise-deal", "provider-outside-xai-group-fails",
         deal(provider="oracle", statements=(statement("oracle", "press_release"),)),
         "failed", ("provider-fact",), "not in the xAI group"),
    Case("inc-enterprise-deal", "provider-unknown-unknown",
         deal(provider=None, statements=(XAI_SITE,)), "unknown", ()),
    Case("inc-enterprise-deal", "offering-not-applicable", offering(signup_open=True),
         "not_applicable", (), "not a deal"),
    # -- inc-sec-filing: a filing that mentions compute service revenue -----------------------
    Case("inc-sec-filing", "revenue-filing-met", deal(revenue_filing="s1-filing"), "met",
         ("s1-filing",), "compute service revenue"),
    Case("inc-sec-filing", "no-revenue-filing-fails", deal(statements=(XAI_SITE,)), "failed",
         (), "no filing"),
    Case("inc-sec-filing", "provider-outside-xai-group-fails",
         deal(provider="oracle", revenue_filing="s1-filing"), "failed", ("provider-fact",)),
    Case("inc-sec-filing", "provider-unknown-unknown",
         deal(provider=None, revenue_filing="s1-filing"), "unknown", ()),
    Case("inc-sec-filing", "offering-not-applicable", offering(signup_open=True),
         "not_applicable", (), "not a deal"),
    # -- inc-earnings: an earnings report (of the provider) showing IaaS revenue --------------
    Case("inc-earnings", "xai-earnings-call-met", deal(statements=(XAI_EARNINGS,)), "met",
         ("xai-earnings_call-available",), "earnings call"),
    Case("inc-earnings", "musk-on-earnings-call-met",
         deal(statements=(statement("elon-musk", "earnings_call"),)), "met",
         ("elon-musk-earnings_call-available",)),
    Case("inc-earnings", "xai-group-member-earnings-call-met",
         deal(provider="spacex", statements=(statement("spacex", "earnings_call"),)), "met",
         ("spacex-earnings_call-available",), context=ctx(changes=[XAI_INTO_SPACEX])),
    Case("inc-earnings", "no-earnings-call-fails",
         deal(statements=(XAI_SITE, MUSK_ON_X)), "failed", (), "no earnings report"),
    Case("inc-earnings", "customers-earnings-call-fails",
         deal(statements=(statement("anthropic", "earnings_call"),)), "failed", ()),
    Case("inc-earnings", "provider-outside-xai-group-own-call-fails",
         deal(provider="oracle", statements=(statement("oracle", "earnings_call"),)),
         "failed", ("provider-fact",), "not in the xAI group"),
    Case("inc-earnings", "provider-outside-xai-group-musk-call-fails",
         deal(provider="oracle", statements=(statement("elon-musk", "earnings_call"),)),
         "failed", ("provider-fact",), "not in the xAI group"),
    Case("inc-earnings", "provider-unknown-unknown",
         deal(provider=None, statements=(XAI_EARNINGS,)), "unknown", (),
         "provider is not known"),
    Case("inc-earnings", "offering-not-applicable",
         offering(statements=(XAI_EARNINGS,), signup_open=True), "not_applicable", (),
         "not a deal"),
    # -- inc-official-confirmation: xAI's site or press releases, Musk on X, a testimonial ----
    Case("inc-official-confirmation", "xai-site-met", deal(statements=(XAI_SITE,)), "met",
         ("xai-official_site-available",), "confirmed by xai"),
    Case("inc-official-confirmation", "xai-press-release-met",
         deal(statements=(statement("xai", "press_release"),)), "met",
         ("xai-press_release-available",)),
    Case("inc-official-confirmation", "musk-on-x-met", deal(statements=(MUSK_ON_X,)), "met",
         ("elon-musk-social_post-available",), "Musk on X"),
    Case("inc-official-confirmation", "customer-testimonial-met",
         deal(statements=(MEDIA,), confirmation="anthropic-confirms"), "met",
         ("anthropic-confirms",), "customer"),
    Case("inc-official-confirmation", "media-report-fails", deal(statements=(MEDIA,)),
         "failed", (), "no official confirmation"),
    Case("inc-official-confirmation", "musk-interview-not-on-x-fails",
         deal(statements=(statement("elon-musk", "interview"),)), "failed", ()),
    Case("inc-official-confirmation", "customers-own-press-release-fails",
         deal(statements=(statement("anthropic", "press_release"),)), "failed", ()),
    Case("inc-official-confirmation", "nothing-fails", deal(), "failed", ()),
    Case("inc-official-confirmation", "provider-outside-xai-group-fails",
         deal(provider="oracle", statements=(MUSK_ON_X,)), "failed", ("provider-fact",)),
    Case("inc-official-confirmation", "offering-not-applicable",
         offering(statements=(XAI_SITE,), signup_open=True), "not_applicable", (),
         "not a deal"),
    # -- exc-free-research: free research partnerships or grants ------------------------------
    Case("exc-free-research", "cash-met", deal(), "met", ("deal-fact",)),
    Case("exc-free-research", "revenue-share-met", deal(consideration="revenue_share"), "met",
         ("consideration-fact",)),
    Case("exc-free-research", "free-fails", deal(consideration="free"), "failed",
         ("consideration-fact",), "free"),
    Case("exc-free-research", "unknown-consideration-unknown", deal(consideration=None),
         "unknown", ()),
    Case("exc-free-research", "offering-not-applicable", offering(signup_open=True),
         "not_applicable", (), "not a deal"),
    # -- exc-musk-company: Tesla, X, SpaceX or another Musk company as the customer -----------
    *(Case("exc-musk-company", f"{customer}-fails", deal(customer=customer), "failed",
           ("customer-fact",), "Musk company")
      for customer in ("tesla", "x-corp", "spacex", "xai", "neuralink", "boring-company")),
    Case("exc-musk-company", "external-customer-met", deal(), "met", ("deal-fact",)),
    Case("exc-musk-company", "acquired-by-x-fails", deal(customer="startup-ai"), "failed",
         ("customer-fact", "x-buys-startup"), context=ctx(changes=[X_BUYS_STARTUP])),
    Case("exc-musk-company", "before-acquisition-met", deal(customer="startup-ai"), "met",
         ("customer-fact",)),
    Case("exc-musk-company", "absorbed-by-xai-fails", deal(customer="cursor"), "failed",
         ("customer-fact", "xai-buys-cursor"), context=ctx(changes=[XAI_BUYS_CURSOR])),
    Case("exc-musk-company", "renamed-musk-company-fails", deal(customer="x-holdings"),
         "failed", ("customer-fact", "x-renamed"), context=ctx(changes=[X_RENAMED])),
    Case("exc-musk-company", "unknown-customer-unknown", deal(customer=None), "unknown", ()),
    Case("exc-musk-company", "offering-not-applicable", offering(signup_open=True),
         "not_applicable", (), "not a deal"),
    # -- exc-model-license: licensing Grok without compute -----------------------------------
    Case("exc-model-license", "compute-met", deal(), "met", ("deal-fact",)),
    Case("exc-model-license", "byom-training-met", deal(service="byom_training"), "met",
         ("service-fact",)),
    Case("exc-model-license", "licence-fails", deal(service="model_license"), "failed",
         ("service-fact",), "licensing"),
    Case("exc-model-license", "offering-licence-fails", offering(service="model_license"),
         "failed", ("service-fact",)),
    Case("exc-model-license", "offering-compute-met", offering(), "met", ("offering-fact",)),
    Case("exc-model-license", "unknown-service-unknown", deal(service=None), "unknown", ()),
    # -- exc-collaboration: both parties contribute resources ---------------------------------
    Case("exc-collaboration", "cash-met", deal(), "met", ("deal-fact",)),
    Case("exc-collaboration", "revenue-share-met", deal(consideration="revenue_share"), "met",
         ("consideration-fact",)),
    Case("exc-collaboration", "resource-exchange-fails",
         deal(consideration="resource_exchange"), "failed", ("consideration-fact",),
         "both parties contribute resources"),
    Case("exc-collaboration", "equity-fails", deal(consideration="equity"), "failed",
         ("consideration-fact",)),
    Case("exc-collaboration", "unknown-consideration-unknown", deal(consideration=None),
         "unknown", ()),
    Case("exc-collaboration", "offering-not-applicable", offering(signup_open=True),
         "not_applicable", (), "not a deal"),
    # -- exc-hardware-sale: selling hardware --------------------------------------------------
    Case("exc-hardware-sale", "compute-met", deal(), "met", ("deal-fact",)),
    Case("exc-hardware-sale", "hardware-fails", deal(service="hardware_sale"), "failed",
         ("service-fact",), "hardware"),
    Case("exc-hardware-sale", "offering-hardware-fails", offering(service="hardware_sale"),
         "failed", ("service-fact",)),
    Case("exc-hardware-sale", "offering-compute-met", offering(), "met", ("offering-fact",)),
    Case("exc-hardware-sale", "unknown-service-unknown", offering(service=None), "unknown",
         ()),
    # -- exc-api-access: plain Grok API access / model-as-a-service ---------------------------
    Case("exc-api-access", "compute-met", deal(), "met", ("deal-fact",)),
    Case("exc-api-access", "model-api-fails", deal(service="model_api"), "failed",
         ("service-fact",), "model API"),
    Case("exc-api-access", "offering-model-api-fails", offering(service="model_api"),
         "failed", ("service-fact",)),
    Case("exc-api-access", "offering-inference-met", offering(), "met", ("offering-fact",)),
    Case("exc-api-access", "byom-training-met", offering(service="byom_training"), "met",
         ("service-fact",)),
    Case("exc-api-access", "unknown-service-unknown", deal(service=None), "unknown", ()),
    # -- exc-vague-statement: "considering" or "exploring" without availability --------------
    Case("exc-vague-statement", "considering-without-evidence-fails",
         deal(statements=(CONSIDERING,)), "failed", ("xai-considering",), "only considered"),
    Case("exc-vague-statement", "offering-considering-fails",
         offering(statements=(CONSIDERING,)), "failed", ("xai-considering",)),
    Case("exc-vague-statement", "considering-with-evidence-met",
         deal(statements=(CONSIDERING,),
              proof=evidence(fact="anthropic-in-use", kind="customer_confirmation")),
         "met", ("anthropic-in-use",)),
    Case("exc-vague-statement", "offering-considering-with-evidence-met",
         offering(statements=(CONSIDERING,), signup_open=True,
                  proof=evidence(fact="offering-live", kind="offering")),
         "met", ("offering-live",)),
    Case("exc-vague-statement", "available-met",
         deal(statements=(CONSIDERING, XAI_SITE),
              proof=evidence(fact="xai-official_site-available")),
         "met", ("xai-official_site-available",)),
    Case("exc-vague-statement", "planned-is-not-vague-met", deal(statements=(PLANNED_2027,)),
         "met", ()),
    Case("exc-vague-statement", "no-statement-met", deal(), "met", ()),
    # -- spc-tesla-merger: Tesla-branded compute after a formal merger, on an xAI facility ----
    Case("spc-tesla-merger", "xai-provider-not-applicable", deal(), "not_applicable", (),
         "not Tesla"),
    Case("spc-tesla-merger", "other-provider-not-applicable", deal(provider="oracle"),
         "not_applicable", ()),
    Case("spc-tesla-merger", "without-merger-fails",
         deal(provider="tesla", facilities=("colossus-2",)), "failed", ("provider-fact",),
         "no formal xAI-Tesla merger"),
    Case("spc-tesla-merger", "without-merger-xai-merged-elsewhere-fails",
         deal(provider="tesla", facilities=("colossus-2",)), "failed", ("provider-fact",),
         context=ctx(changes=[XAI_INTO_SPACEX])),
    Case("spc-tesla-merger", "after-merger-on-colossus-met",
         deal(provider="tesla", facilities=("colossus-1", "colossus-2")), "met",
         ("xai-tesla-merger", "facilities-fact"), "Tesla merged with xAI",
         context=ctx(changes=[TESLA_MERGER])),
    Case("spc-tesla-merger", "after-merger-through-spacex-met",
         deal(provider="tesla", facilities=("colossus-2",)), "met",
         ("spacex-tesla-merger", "facilities-fact"),
         context=ctx(changes=[XAI_INTO_SPACEX, SPACEX_TESLA_MERGER])),
    Case("spc-tesla-merger", "after-merger-off-xai-facility-fails",
         deal(provider="tesla", facilities=("cortex-texas",)), "failed",
         ("xai-tesla-merger", "facilities-fact"), "not on an xAI facility",
         context=ctx(changes=[TESLA_MERGER])),
    Case("spc-tesla-merger", "after-merger-partly-off-xai-facility-fails",
         deal(provider="tesla", facilities=("colossus-1", "cortex-texas")), "failed",
         ("xai-tesla-merger", "facilities-fact"), context=ctx(changes=[TESLA_MERGER])),
    Case("spc-tesla-merger", "after-merger-facilities-unknown-unknown",
         deal(provider="tesla", facilities=None), "unknown", ("xai-tesla-merger",),
         "facilities are not known", context=ctx(changes=[TESLA_MERGER])),
    Case("spc-tesla-merger", "offering-without-merger-fails",
         offering(provider="tesla", signup_open=True), "failed", ("provider-fact",)),
    Case("spc-tesla-merger", "offering-after-merger-facilities-unknown-unknown",
         offering(provider="tesla", signup_open=True), "unknown", ("xai-tesla-merger",),
         context=ctx(changes=[TESLA_MERGER])),
    # -- spc-byom: bring-your-own-model training counts ---------------------------------------
    Case("spc-byom", "byom-training-met", deal(service="byom_training"), "met",
         ("service-fact",), "bring-your-own-model"),
    Case("spc-byom", "offering-byom-training-met", offering(service="byom_training"), "met",
         ("service-fact",)),
    Case("spc-byom", "other-service-not-applicable", deal(), "not_applicable", ()),
    Case("spc-byom", "model-api-not-applicable", offering(service="model_api"),
         "not_applicable", ()),
    Case("spc-byom", "unknown-service-not-applicable", deal(service=None), "not_applicable",
         ()),
    # -- spc-resale: reselling compute, not all the hardware owned ----------------------------
    Case("spc-resale", "others-facility-met", deal(facilities=("oracle-abilene",)), "met",
         ("facilities-fact",), "resold compute"),
    Case("spc-resale", "partly-others-facility-met",
         deal(facilities=("colossus-1", "oracle-abilene")), "met", ("facilities-fact",)),
    Case("spc-resale", "xai-group-member-reselling-met",
         deal(provider="spacex", facilities=("oracle-abilene",)), "met", ("facilities-fact",),
         context=ctx(changes=[XAI_INTO_SPACEX])),
    Case("spc-resale", "own-colossus-not-applicable", deal(), "not_applicable", ()),
    Case("spc-resale", "facilities-unknown-not-applicable", deal(facilities=None),
         "not_applicable", ()),
    Case("spc-resale", "outside-provider-not-applicable",
         deal(provider="oracle", facilities=("oracle-abilene",)), "not_applicable", ()),
    Case("spc-resale", "offering-not-applicable", offering(signup_open=True),
         "not_applicable", ()),
    # -- spc-revenue-share: partners pay for compute with a share of revenue ------------------
    Case("spc-revenue-share", "revenue-share-met", deal(consideration="revenue_share"), "met",
         ("consideration-fact",), "revenue share"),
    Case("spc-revenue-share", "cash-not-applicable", deal(), "not_applicable", ()),
    Case("spc-revenue-share", "unknown-consideration-not-applicable", deal(consideration=None),
         "not_applicable", ()),
    Case("spc-revenue-share", "offering-not-applicable", offering(signup_open=True),
         "not_applicable", ()),
    # -- prf-availability: actual availability, not plans -------------------------------------
    Case("prf-availability", "available-before-met",
         deal(statements=(XAI_SITE,), proof=evidence(fact="xai-official_site-available")),
         "met", ("xai-official_site-available",), "available since 2026-05-06"),
    Case("prf-availability", "available-at-that-instant-met",
         deal(proof=evidence(since=T0)), "met", ("evidence-fact",)),
    Case("prf-availability", "customer-in-use-met",
         deal(proof=evidence(fact="anthropic-in-use", kind="customer_confirmation")), "met",
         ("anthropic-in-use",)),
    Case("prf-availability", "available-only-later-fails",
         deal(proof=evidence(since=T0 + timedelta(days=30))), "failed", ("evidence-fact",),
         "only from"),
    Case("prf-availability", "ga-in-2027-fails", deal(statements=(PLANNED_2027,)), "failed",
         ("xai-ga-2027",), "only planned (from 2027-01-15)"),
    Case("prf-availability", "considering-fails", deal(statements=(CONSIDERING,)), "failed",
         ("xai-considering",), "only considering"),
    Case("prf-availability", "nothing-known-unknown", deal(), "unknown", (),
         "no evidence of actual availability"),
    Case("prf-availability", "offering-live-met",
         offering(signup_open=True, available_from=date(2026, 5, 1),
                  proof=evidence(fact="offering-live", kind="offering")),
         "met", ("available_from-fact",), "available since 2026-05-01"),
    Case("prf-availability", "offering-ga-2027-fails",
         offering(signup_open=True, available_from=date(2027, 3, 1),
                  proof=evidence(since=datetime(2027, 3, 1, 8, tzinfo=UTC), fact="offering-ga",
                                 kind="offering")),
         "failed", ("available_from-fact",), "only from 2027-03-01"),
    Case("prf-availability", "offering-planned-fails",
         offering(statements=(PLANNED_2027,), signup_open=False), "failed", ("xai-ga-2027",)),
    # -- prf-customer: a confirmed external customer, or public sign-up -----------------------
    Case("prf-customer", "confirmed-external-customer-met",
         deal(statements=(XAI_SITE,), confirmation="anthropic-confirms"), "met",
         ("deal-fact", "anthropic-confirms"), "named external customer"),
    Case("prf-customer", "named-by-xai-met", deal(statements=(XAI_SITE,)), "met",
         ("deal-fact",)),
    *(Case("prf-customer", f"{customer}-customer-fails",
           deal(customer=customer, statements=(XAI_SITE,)), "failed", ("customer-fact",),
           "not an external customer")
      for customer in ("tesla", "spacex", "x-corp", "xai")),
    Case("prf-customer", "acquired-by-x-fails", deal(customer="startup-ai"), "failed",
         ("customer-fact",), context=ctx(changes=[X_BUYS_STARTUP]), exact=False),
    Case("prf-customer", "before-acquisition-met", deal(customer="startup-ai"), "met",
         ("customer-fact",)),
    Case("prf-customer", "customer-unknown-unknown", deal(customer=None), "unknown", (),
         "no named customer"),
    Case("prf-customer", "offering-open-signup-met", offering(signup_open=True), "met",
         ("signup_open-fact",), "open to the public"),
    Case("prf-customer", "offering-closed-fails",
         offering(signup_open=False, pricing_published=False), "failed",
         ("signup_open-fact",), exact=False),
    # The market's proof asks for open sign-up or a confirmed external customer: a price list
    # alone, with sign-up closed, is not proof (DOMAIN.md section 3).
    Case("prf-customer", "offering-price-list-with-closed-signup-fails",
         offering(signup_open=False, pricing_published=True), "failed",
         ("signup_open-fact",), "a price list alone is not proof"),
    Case("prf-customer", "offering-price-list-signup-unknown-unknown",
         offering(pricing_published=True), "unknown", ("pricing_published-fact",)),
    Case("prf-customer", "offering-nothing-known-unknown", offering(), "unknown", ()),
    # -- ddl-deadline: by 2026-12-31 23:59 America/Los_Angeles ---------------------------------
    Case("ddl-deadline", "available-in-may-met", deal(proof=evidence()), "met",
         ("evidence-fact",), "by the deadline"),
    Case("ddl-deadline", "available-at-2359-pt-met",
         deal(proof=evidence(since=pt(2026, 12, 31, 23, 59))), "met", ("evidence-fact",)),
    Case("ddl-deadline", "available-at-the-deadline-met", deal(proof=evidence(since=DEADLINE)),
         "met", ("evidence-fact",)),
    Case("ddl-deadline", "available-at-midnight-pt-fails",
         deal(proof=evidence(since=pt(2027, 1, 1))), "failed", ("evidence-fact",),
         "after the deadline"),
    Case("ddl-deadline", "available-a-microsecond-late-fails",
         deal(proof=evidence(since=DEADLINE + timedelta(microseconds=1))), "failed",
         ("evidence-fact",)),
    Case("ddl-deadline", "late-filing-about-december-met",
         deal(revenue_filing="10k-feb-2027",
              proof=evidence(since=pt(2026, 12, 1), fact="10k-feb-2027", kind="filing")),
         "met", ("10k-feb-2027",), context=ctx(at=pt(2027, 2, 15))),
    Case("ddl-deadline", "ga-in-2027-announced-fails",
         deal(proof=evidence(since=pt(2027, 1, 15))), "failed", ("evidence-fact",)),
    Case("ddl-deadline", "no-availability-unknown", deal(statements=(PLANNED_2027,)),
         "unknown", (), "no availability date"),
    Case("ddl-deadline", "offering-from-new-years-eve-met",
         offering(signup_open=True, available_from=date(2026, 12, 31),
                  proof=evidence(kind="offering")),
         "met", ("available_from-fact",)),
    Case("ddl-deadline", "offering-from-new-years-day-fails",
         offering(signup_open=True, available_from=date(2027, 1, 1),
                  proof=evidence(kind="offering")),
         "failed", ("available_from-fact",), "after the deadline"),
]


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_clause_rule(case: Case) -> None:
    check = REGISTRY[case.clause](case.subject, case.context)
    assert check.clause == case.clause
    assert check.state == case.state, check
    if case.exact:
        assert check.facts == case.facts, check
    else:
        assert set(case.facts) <= set(check.facts), check
    assert case.note in check.note, check


def test_every_clause_has_cases() -> None:
    """Each registered clause is selected by ``-k <clause-id>``, and each clause that does not
    apply to some kind of subject has a case of that kind."""
    ids = [case.id for case in CASES]
    assert len(set(ids)) == len(ids), "duplicate case ids"
    for clause_id, entry in REGISTRY.items():
        own = [case for case in CASES if case.id.startswith(f"{clause_id}-")]
        assert own, f"{clause_id} has no case"
        assert all(case.clause == clause_id for case in own)
        states = {case.state for case in own}
        assert "met" in states or "not_applicable" in states, clause_id
        for kind in ("deal", "offering"):
            if kind not in entry.applies_to:
                assert any(case.subject.kind == kind and case.state == "not_applicable"
                           for case in own), f"{clause_id}: no case of a {kind}"
