"""Every clause, exclusion and special case, each on its own (pure: no database)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from builders import (
    announce,
    at,
    checks,
    confirm,
    corporate,
    filing,
    judge,
    offering,
    offering_announcement,
    rule,
    verdict_of,
)

from compute_ledger.contracts.clauses import REGISTRY
from compute_ledger.contracts.clauses import clause as register_clause
from compute_ledger.contracts.market import CLAUSES, DEADLINE
from compute_ledger.ledger.facts import CLAUSE_IDS

ROOT = Path(__file__).resolve().parent.parent


def test_the_clause_registry_matches_the_fact_format() -> None:
    assert tuple(info.id for info in CLAUSES) == CLAUSE_IDS
    assert set(REGISTRY) == set(CLAUSE_IDS)
    for entry in REGISTRY.values():
        assert entry.summary and entry.applies_to, entry.id
        assert entry.body.__name__ == entry.id.replace("-", "_"), entry.id


def test_the_docs_clause_table_is_the_registry() -> None:
    table = re.findall(r"^\| `([a-z-]+)` \| (\w+) \| (\w+) \|",
                       (ROOT / "docs" / "verdict.md").read_text(), re.M)
    named = {"deals": ("deal",), "offerings": ("offering",), "both": ("deal", "offering")}
    documented = [(clause, kind, named[applies]) for clause, kind, applies in table]
    assert documented == [(c.id, c.kind, c.applies_to) for c in CLAUSES]


def test_a_clause_is_not_applicable_to_a_kind_it_does_not_apply_to() -> None:
    offering_only = REGISTRY["inc-public-offering"]
    a = judge(announce())
    [check] = [c for c in a.checks if c.clause == offering_only.id]
    assert (check.state, check.note, check.facts) == ("not_applicable", "not a public offering",
                                                      ())


def test_a_clause_id_is_registered_once() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        register_clause("ddl-deadline", kind="deadline", applies_to=("deal",), summary="again")(
            REGISTRY["ddl-deadline"].body)


def test_a_plain_cash_for_compute_deal_qualifies() -> None:
    a = judge(announce())
    assert a.qualifies and a.standing == "qualifying"
    got = checks(a)
    for clause in ("inc-enterprise-deal", "inc-official-confirmation", "exc-free-research",
                   "exc-musk-company", "exc-model-license", "exc-collaboration",
                   "exc-hardware-sale", "exc-api-access", "exc-vague-statement",
                   "prf-availability", "prf-customer", "ddl-deadline"):
        assert got[clause] == "met", clause
    assert got["inc-public-offering"] == "not_applicable"
    assert got["spc-tesla-merger"] == "not_applicable"


@pytest.mark.parametrize(("what", "change", "clause"), [
    ("a free grant", {"consideration": "free"}, "exc-free-research"),
    ("a collaboration", {"consideration": "resource_exchange"}, "exc-collaboration"),
    ("paid in equity", {"consideration": "equity"}, "exc-collaboration"),
    ("a Musk-company customer", {"customer": "tesla"}, "exc-musk-company"),
    ("a model licence", {"service": "model_license"}, "exc-model-license"),
    ("a hardware sale", {"service": "hardware_sale"}, "exc-hardware-sale"),
    ("API access only", {"service": "model_api"}, "exc-api-access"),
])
def test_each_exclusion_excludes(what: str, change: dict[str, str], clause: str) -> None:
    a = judge(announce(**change))
    assert not a.qualifies
    assert a.standing == "excluded"
    failed = [c for c in a.checks if c.state == "failed"]
    assert clause in [c.clause for c in failed], failed
    assert a.missing == ()


def test_a_customer_merged_into_a_musk_company_is_not_external() -> None:
    deal = announce("2026-06-01T12:00:00Z", customer="twitter-ads")
    assert judge(deal).qualifies
    merged = corporate("2026-07-01T00:00:00Z", "acquisition", ["x-corp", "twitter-ads"],
                       "x-corp")
    assert judge(deal, merged, as_of="2026-06-29").qualifies
    later = judge(deal, merged, as_of="2026-07-02")
    assert not later.qualifies
    musk = next(c for c in later.checks if c.clause == "exc-musk-company")
    assert musk.state == "failed" and merged.id in musk.facts


def test_considering_is_a_vague_statement() -> None:
    a = judge(announce(availability="considering"))
    assert checks(a)["exc-vague-statement"] == "failed"
    assert checks(a)["prf-availability"] == "failed"
    assert a.standing == "excluded"


def test_a_future_general_availability_does_not_qualify() -> None:
    planned = announce("2026-06-01T12:00:00Z", availability="planned",
                       available_from="2027-03-01")
    a = judge(planned)
    assert not a.qualifies
    assert checks(a)["prf-availability"] == "failed"
    later = announce("2026-06-01T12:00:00Z", available_from="2027-03-01", id="ga-2027")
    b = judge(later, as_of="2027-04-01")
    assert checks(b)["prf-availability"] == "met"  # it did become available...
    assert checks(b)["ddl-deadline"] == "failed"  # ...but after the deadline
    assert not b.qualifies


def test_a_media_report_alone_is_not_enough() -> None:
    a = judge(announce(channel="media_report", speaker="techcrunch"))
    assert not a.qualifies
    assert a.standing == "candidate"
    assert checks(a)["inc-enterprise-deal"] == "failed"
    assert "inc-enterprise-deal" in a.missing
    confirmed = judge(announce(channel="media_report", speaker="techcrunch"),
                      confirm("2026-06-02T00:00:00Z"))
    assert confirmed.qualifies
    assert checks(confirmed)["inc-official-confirmation"] == "met"


def test_unknown_terms_make_a_candidate_that_lists_what_is_missing() -> None:
    a = judge(announce(consideration=None, customer=None))
    assert a.standing == "candidate"
    assert set(a.missing) >= {"exc-free-research", "exc-collaboration", "exc-musk-company",
                              "prf-customer"}


def test_the_tesla_exception_needs_a_merger_and_an_xai_facility() -> None:
    tesla_deal = announce(provider="tesla", speaker="tesla", facilities=["colossus-2"])
    without = judge(tesla_deal)
    assert checks(without)["spc-tesla-merger"] == "failed"
    assert not without.qualifies
    merger = corporate("2026-03-01T00:00:00Z", "merger", ["xai", "tesla"], "tesla")
    with_merger = judge(tesla_deal, merger)
    assert checks(with_merger)["spc-tesla-merger"] == "met"
    assert with_merger.qualifies
    elsewhere = announce(provider="tesla", speaker="tesla", facilities=["cortex-texas"],
                         id="tesla-cortex")
    off_site = judge(elsewhere, merger)
    assert checks(off_site)["spc-tesla-merger"] == "failed"
    assert not off_site.qualifies


def test_the_xai_group_grows_with_mergers() -> None:
    sold_by_spacex = announce(provider="spacex", speaker="spacex")
    assert checks(judge(sold_by_spacex))["inc-enterprise-deal"] == "failed"
    merger = corporate("2025-01-01T00:00:00Z", "merger", ["xai", "spacex"], "spacex")
    assert judge(sold_by_spacex, merger).qualifies
    renamed = corporate("2026-02-01T00:00:00Z", "rename", ["spacex"], "spacexai")
    by_new_name = announce(provider="spacexai", speaker="spacexai", id="by-spacexai")
    assert judge(by_new_name, merger, renamed).qualifies
    assert not judge(by_new_name, renamed).qualifies  # spacex was never xAI without the merger


def test_bring_your_own_model_training_counts() -> None:
    a = judge(announce(service="byom_training"))
    assert a.qualifies
    assert checks(a)["spc-byom"] == "met"


def test_a_revenue_share_counts() -> None:
    a = judge(announce(consideration="revenue_share"))
    assert a.qualifies
    assert checks(a)["spc-revenue-share"] == "met"


def test_resale_of_others_compute_counts() -> None:
    a = judge(announce(facilities=["oracle-abilene"]))
    assert a.qualifies
    assert checks(a)["spc-resale"] == "met"


def test_a_filing_disclosing_compute_revenue_is_a_route() -> None:
    reported = announce(channel="media_report", speaker="reuters")
    a = judge(reported, filing("2026-06-10T00:00:00Z"))
    assert checks(a)["inc-sec-filing"] == "met"
    assert a.qualifies
    silent = judge(reported, filing("2026-06-10T00:00:00Z", discloses=False, id="silent"))
    assert checks(silent)["inc-sec-filing"] == "failed"


def test_an_earnings_call_is_a_route() -> None:
    a = judge(announce(channel="earnings_call"))
    assert checks(a)["inc-earnings"] == "met"
    assert a.qualifies


def test_musk_confirming_on_x_is_official() -> None:
    a = judge(announce(channel="social_post", speaker="elon-musk"))
    assert checks(a)["inc-official-confirmation"] == "met"
    assert a.qualifies


def test_a_provider_outside_the_xai_group_never_counts() -> None:
    a = judge(announce(provider="coreweave", speaker="coreweave"))
    assert not a.qualifies
    assert a.standing == "excluded"
    assert checks(a)["inc-enterprise-deal"] == "failed"


def test_the_deadline_is_2359_pacific_on_december_31() -> None:
    just_in_time = announce("2026-12-31T23:59:00-08:00", id="in-time")
    too_late = announce("2027-01-01T00:00:00-08:00", id="too-late")
    assert checks(judge(just_in_time, as_of="2027-01-05"))["ddl-deadline"] == "met"
    assert checks(judge(too_late, as_of="2027-01-05"))["ddl-deadline"] == "failed"
    assert DEADLINE == at("2027-01-01T07:59:59.999999Z") == at("2026-12-31")
    assert verdict_of(just_in_time, as_of="2027-01-05").status == "CRITERIA_MET"
    assert verdict_of(too_late, as_of="2027-01-05").status == "CRITERIA_NOT_MET"
    assert verdict_of(too_late, as_of="2026-12-31").status == "OPEN"
    assert verdict_of(too_late, as_of="2026-12-31T23:59:59-08:00").status == "OPEN"
    assert verdict_of(too_late, as_of="2027-01-01T00:00:00-08:00").status == "CRITERIA_NOT_MET"


def test_evidence_after_the_deadline_can_prove_availability_before_it() -> None:
    reported = announce("2026-12-01T00:00:00Z", channel="media_report", speaker="reuters")
    late_filing = filing("2027-02-15T00:00:00Z", starts_on="2026-12-01")
    assert verdict_of(reported, late_filing, as_of="2027-01-31").status == "CRITERIA_NOT_MET"
    after = verdict_of(reported, late_filing, as_of="2027-02-20")
    assert after.status == "CRITERIA_MET"
    assert after.criteria_met_since == at("2027-02-15T00:00:00Z")


def test_a_public_offering_with_open_signup_qualifies() -> None:
    live = offering("2026-08-01T00:00:00Z", provider="xai", service="inference",
                    signup_open=True)
    a = judge(live, key="offering:o1")
    assert a.qualifies
    assert checks(a)["inc-public-offering"] == "met"
    assert checks(a)["inc-enterprise-deal"] == "not_applicable"


def test_an_offering_available_only_in_2027_does_not_qualify() -> None:
    ga = offering_announcement("2026-08-01T00:00:00Z", provider="xai", service="inference",
                               pricing_published=True, available_from="2027-02-01")
    a = judge(ga, key="offering:o1", as_of="2026-12-31")
    assert checks(a)["prf-availability"] == "failed"
    b = judge(ga, key="offering:o1", as_of="2027-03-01")
    assert checks(b)["ddl-deadline"] == "failed"
    assert not a.qualifies and not b.qualifies


def test_an_offering_of_model_api_access_is_excluded() -> None:
    api = offering("2026-08-01T00:00:00Z", provider="xai", service="model_api",
                   pricing_published=True)
    a = judge(api, key="offering:o1")
    assert checks(a)["exc-api-access"] == "failed"
    assert not a.qualifies


def test_rulings_counts_does_not_count_and_under_review() -> None:
    reported = announce(channel="media_report", speaker="reuters")
    counted = judge(reported, rule("2026-06-05T00:00:00Z", "counts", "d1"))
    assert counted.qualifies and counted.by_ruling
    good = announce(id="good")
    ruled_out = judge(good, rule("2026-06-05T00:00:00Z", "does_not_count", "d1"))
    assert not ruled_out.qualifies and ruled_out.standing == "excluded"
    review = rule("2026-06-05T00:00:00Z", "under_review", "d1")
    assert judge(good, review).under_review
    assert not judge(good, review, rule("2026-06-09T00:00:00Z", "counts", "d1")).under_review
    # a ruling takes effect at its own valid time
    assert judge(good, rule("2026-06-05T00:00:00Z", "does_not_count", "d1"),
                 as_of="2026-06-03").qualifies


def test_a_ruling_naming_clauses_marks_them_failed() -> None:
    good = announce()
    a = judge(good, rule("2026-06-05T00:00:00Z", "does_not_count", "d1",
                         clauses=["exc-collaboration"], id="ruling-x"))
    collaboration = next(c for c in a.checks if c.clause == "exc-collaboration")
    assert collaboration.state == "failed"
    assert collaboration.facts[0] == "ruling-x"


def test_ties_in_occurred_at_are_broken_by_fact_id_not_ledger_order() -> None:
    first = announce("2026-06-01T00:00:00Z", id="a-first", consideration="free")
    second = announce("2026-06-01T00:00:00Z", id="b-second", consideration="cash")
    assert judge(first, second).qualifies
    assert judge(second, first).qualifies  # b-second still wins: it sorts after a-first
