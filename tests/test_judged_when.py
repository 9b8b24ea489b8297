"""When a deal is judged (DOMAIN.md sections 3 and 4), in cases written from the market's text.

The market asks whether xAI offered compute to an external customer *by* the deadline: a deal
is judged at each valid time with the world as it stood then, and once the criteria are met
they stay met.  Before this, every deal was judged with the party groups of the question's
time, so a later acquisition of the customer undid a YES that had happened, and a Tesla
merger after the deadline made Tesla-branded compute count.
"""

from __future__ import annotations

from pathlib import Path

from builders import (
    announce,
    at,
    corporate,
    filing,
    offering,
    rule,
    timeline_of,
    verdict_of,
)
from cli_runner import run

from compute_ledger.ledger import facts as F
from compute_ledger.projections.timeline import qualifying_along

SALE = "2026-06-01T12:00:00Z"


def test_a_customer_acquired_after_it_bought_compute_stays_an_external_customer() -> None:
    sale = announce(SALE, customer="startup-ai")
    acquired = corporate("2026-08-01T00:00:00Z", "acquisition", ["x-corp", "startup-ai"],
                         "x-corp")
    for as_of in ("2026-07-01", "2026-09-01", "2026-12-31", "2027-03-01"):
        answer = verdict_of(sale, acquired, as_of=as_of)
        assert answer.status == "CRITERIA_MET", as_of
        assert answer.qualifying == ["d1"]
        assert answer.criteria_met_since == at(SALE)
    # Its checklist is the one that made it count: as of the sale, the customer was outside.
    [candidate] = verdict_of(sale, acquired, as_of="2026-09-01").candidates
    assert candidate.qualified_at == at(SALE)
    [customer] = [c for c in candidate.checks if c.clause == "exc-musk-company"]
    assert customer.state == "met"


def test_a_sale_to_a_company_already_acquired_does_not_count() -> None:
    acquired = corporate("2026-05-01T00:00:00Z", "acquisition", ["x-corp", "startup-ai"],
                         "x-corp")
    sale = announce(SALE, customer="startup-ai")
    answer = verdict_of(acquired, sale, as_of="2026-09-01")
    assert (answer.status, answer.qualifying) == ("OPEN", [])
    assert verdict_of(acquired, sale, as_of="2027-02-01").status == "CRITERIA_NOT_MET"


def test_a_tesla_merger_after_the_deadline_changes_nothing() -> None:
    tesla = announce(SALE, provider="tesla", customer="acme")
    merger = corporate("2027-02-01T00:00:00Z", "merger", ["xai", "tesla"], "xai")
    assert verdict_of(tesla, merger, as_of="2027-03-01").status == "CRITERIA_NOT_MET"
    assert verdict_of(tesla, merger, as_of="2027-03-01").qualifying == []


def test_a_tesla_merger_before_the_deadline_counts_from_the_merger_on() -> None:
    tesla = announce(SALE, provider="tesla", customer="acme")
    merger = corporate("2026-10-01T00:00:00Z", "merger", ["xai", "tesla"], "xai")
    assert verdict_of(tesla, merger, as_of="2026-09-01").status == "OPEN"
    after = verdict_of(tesla, merger, as_of="2026-11-01")
    assert (after.status, after.qualifying) == ("CRITERIA_MET", ["d1"])
    assert after.criteria_met_since == at("2026-10-01T00:00:00Z")


def test_met_stays_met_when_the_deal_ends_or_the_deadline_passes() -> None:
    deal = announce(SALE, starts_on="2026-06-01", ends_on="2026-07-01")
    for as_of in ("2026-06-15", "2026-08-01", "2027-06-01"):
        assert verdict_of(deal, as_of=as_of).status == "CRITERIA_MET", as_of


def test_a_price_list_with_closed_signup_is_not_proof() -> None:
    prices = offering("2026-06-01T00:00:00Z", provider="xai", service="inference",
                      pricing_published=True,
                      signup_open=False)
    assert verdict_of(prices, as_of="2026-11-01").status == "OPEN"
    assert verdict_of(prices, as_of="2027-02-01").status == "CRITERIA_NOT_MET"
    opened = offering("2026-09-01T00:00:00Z", provider="xai", service="inference",
                      pricing_published=True,
                      signup_open=True)
    answer = verdict_of(prices, opened, as_of="2026-11-01")
    assert (answer.status, answer.qualifying) == ("CRITERIA_MET", ["o1"])
    assert answer.criteria_met_since == at("2026-09-01T00:00:00Z")


def test_a_ruling_in_force_applies_to_the_whole_history() -> None:
    deal = announce(SALE)
    out = rule("2026-08-01T00:00:00Z", "does_not_count", "d1")
    assert verdict_of(deal, out, as_of="2026-07-01").status == "CRITERIA_MET"  # not yet
    answer = verdict_of(deal, out, as_of="2026-09-01")
    assert (answer.status, answer.qualifying, answer.criteria_met_since) == ("OPEN", [], None)
    back = rule("2026-10-01T00:00:00Z", "counts", "d1")
    answer = verdict_of(deal, out, back, as_of="2026-11-01")
    assert (answer.status, answer.criteria_met_since) == ("CRITERIA_MET", at(SALE))


def test_evidence_after_the_deadline_can_prove_availability_before_it() -> None:
    """A filing in February 2027 disclosing compute revenue of a deal that ran from
    December 2026 counts, as of any time from the filing on (and not before it)."""
    reported = announce("2026-12-10T12:00:00Z", channel="media_report", speaker="compute-wire",
                        starts_on="2026-12-01")
    filed = filing("2027-02-10T12:00:00Z", provider="xai", customer="acme",
                   service="training", consideration="cash", starts_on="2026-12-01")
    assert verdict_of(reported, filed, as_of="2027-01-15").status == "CRITERIA_NOT_MET"
    later = verdict_of(reported, filed, as_of="2027-03-01")
    assert (later.status, later.qualifying) == ("CRITERIA_MET", ["d1"])


def test_under_review_only_with_criteria_met() -> None:
    deal = announce(SALE)
    review = rule("2026-06-02T00:00:00Z", "under_review", "d1")
    assert verdict_of(deal, review).under_review
    resolved = verdict_of(deal, review, rule("2026-06-03T00:00:00Z", "resolve_yes"))
    assert (resolved.status, resolved.under_review) == ("RESOLVED_YES", False)


def test_the_timeline_agrees_with_the_verdict_at_every_point() -> None:
    facts: list[F.Fact] = [
             announce(SALE, customer="startup-ai"),
             corporate("2026-08-01T00:00:00Z", "acquisition", ["x-corp", "startup-ai"],
                       "x-corp"),
             announce("2026-09-01T00:00:00Z", "d2", provider="tesla"),
             corporate("2027-02-01T00:00:00Z", "merger", ["xai", "tesla"], "xai"),
             rule("2027-03-01T00:00:00Z", "does_not_count", "d1")]
    points = timeline_of(*facts).points
    assert [p.status for p in points][:1] == ["CRITERIA_MET"]
    for point, qualifying in qualifying_along(points):
        answer = verdict_of(*facts, as_of=point.at.isoformat())
        assert (point.status, qualifying) == (answer.status, answer.qualifying), point.at
    assert points[-1].status == "CRITERIA_NOT_MET"  # the ruling removed the only YES


def test_a_known_at_before_the_first_record_says_so(tmp_path: Path) -> None:
    db = str(tmp_path / "ledger.sqlite3")
    assert run("append", "--public-record", "--db", db).exit_code == 0
    before = run("verdict", "--known-at", "@0", "--db", db)
    assert before.exit_code == 0
    assert "nothing had been recorded yet" in before.stdout
    assert "Status     OPEN" in before.stdout
    after = run("verdict", "--db", db)
    assert "nothing had been recorded yet" not in after.stdout
    assert "ledger position 8" in after.stdout


def test_the_timeline_shows_the_rulings_and_the_deadline() -> None:
    deal = announce(SALE)
    review = rule("2026-06-02T00:00:00Z", "under_review", "d1")
    counted = rule("2026-07-01T00:00:00Z", "counts", "d1")
    points = {p.at: p for p in timeline_of(deal, review, counted).points}
    [under] = [c for c in points[at("2026-06-02T00:00:00Z")].changes if c.what == "ruling"]
    assert (under.subject, under.before, under.after) == ("deal:d1", None, "under_review")
    [counts] = [c for c in points[at("2026-07-01T00:00:00Z")].changes if c.what == "ruling"]
    assert (counts.before, counts.after) == ("under_review", "counts")
    after = [p for p in points.values() if p.at > at("2026-12-31")]
    assert [c.what for c in after[0].changes] == ["deadline"]
    assert after[0].status == "CRITERIA_MET"  # met before it: the deadline changes nothing
