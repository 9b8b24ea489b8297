"""What differs between two answers, and the facts that made each difference.  Pure.

Two answers (a verdict and the business, each as of a valid time and as known at a ledger
position) are compared field by field:

* the market (subject ``market``): ``status``, ``criteria_met``, ``under_review``,
  ``criteria_met_since``, ``qualifying`` (before: the ids that stopped qualifying, after:
  those that started);
* each deal and offering (``deal:ID``, ``offering:ID``): ``subject`` when it is known (or
  weighed by the verdict) on one side only (each side summarised, null where unknown); else
  ``standing``, ``qualifies``,
  ``under_review``, ``qualified_at``, ``status``, the state of each clause
  (``clause CLAUSE``) and each merged term (``term NAME``);
* the business totals (``business``): ``monthly_run_rate_usd``, ``contracted_backlog_usd``,
  ``external_customers``, ``capacity_mw FACILITY``, ``capacity_mw_for CUSTOMER``.

A difference is explained by the facts about its subject that one answer holds and the other
does not (recorded between the two positions, or occurred between the two valid times), and
by the facts behind a term that changed.  When only time passed (a start date reached), the
facts behind the subject's dates are named.  A market or business difference is explained by
the facts of the subjects whose own answers differ, and the market's rulings between.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from compute_ledger.projections.answers import (
    Business,
    CandidateOut,
    DealOut,
    DifferenceOut,
    FactAt,
    OfferingOut,
    SideOut,
    TermOut,
    Verdict,
)
from compute_ledger.projections.provenance import FactRef, Provenance

Answer = tuple[Verdict, Business]
Raw = tuple[str, str, str | None, str | None, tuple[str, ...]]
"""(subject, what, before, after, the facts behind the values compared)."""

MARKET_FIELDS = ("status", "criteria_met", "under_review", "criteria_met_since", "qualifying")
CANDIDATE_FIELDS = ("standing", "qualifies", "under_review", "qualified_at")
TOTALS = ("monthly_run_rate_usd", "contracted_backlog_usd")
MONEY_TERMS = tuple(f"term {name}" for name in (
    "usd_per_month", "capacity_mw", "ends_on", "facilities", "customer"))
"""The terms of a deal the business totals add up."""
COUNTING = ("subject", "qualifies", "qualified_at", "under_review")
"""The differences of a deal or offering that can change the market's."""
DATE_TERMS = ("starts_on", "ends_on", "available_from")


def text(value: object) -> str | None:
    """A value as the differences show it: None stays None, booleans in JSON's words,
    instants in RFC 3339, lists joined by commas."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or None
    return str(value)


def _pairs(before: dict[str, object], after: dict[str, object], subject: str,
           facts: dict[str, tuple[str, ...]] | None = None) -> Iterator[Raw]:
    """The fields of one subject that differ, in the order the answers list them."""
    for what in [*before, *(name for name in after if name not in before)]:
        old, new = text(before.get(what)), text(after.get(what))
        if old != new:
            yield subject, what, old, new, (facts or {}).get(what, ())


def _candidate_fields(candidate: CandidateOut | None) -> dict[str, object]:
    if candidate is None:
        return {}
    fields: dict[str, object] = {name: getattr(candidate, name) for name in CANDIDATE_FIELDS}
    for check in candidate.checks:
        fields[f"clause {check.clause}"] = check.state
    return fields


def _terms(terms: dict[str, TermOut]) -> tuple[dict[str, object], dict[str, tuple[str, ...]]]:
    return ({f"term {name}": term.value for name, term in terms.items()},
            {f"term {name}": (term.fact,) for name, term in terms.items()})


def _subject_fields(deal: DealOut | OfferingOut | None
                    ) -> tuple[dict[str, object], dict[str, tuple[str, ...]]]:
    if deal is None:
        return {}, {}
    values, facts = _terms(deal.terms)
    return {"status": deal.status, **values}, facts


Shown = tuple[CandidateOut | None, DealOut | OfferingOut | None]
"""A deal or offering as the verdict weighs it and as the business shows it."""


def _subjects(answer: Answer) -> dict[str, Shown]:
    verdict, business = answer
    found: dict[str, Shown] = {}
    for candidate in verdict.candidates:
        found[f"{candidate.kind}:{candidate.id}"] = (candidate, None)
    for deal in business.deals:
        found[f"deal:{deal.id}"] = (found.get(f"deal:{deal.id}", (None, None))[0], deal)
    for offering in business.offerings:
        key = f"offering:{offering.id}"
        found[key] = (found.get(key, (None, None))[0], offering)
    return found


def _totals(business: Business) -> dict[str, object]:
    fields: dict[str, object] = {name: getattr(business, name) for name in TOTALS}
    fields["external_customers"] = [c.customer for c in business.external_customers]
    for facility, mw in business.capacity_mw_by_facility.items():
        fields[f"capacity_mw {facility}"] = mw
    for customer, mw in business.capacity_mw_by_customer.items():
        fields[f"capacity_mw_for {customer}"] = mw
    return fields


def _summary(candidate: CandidateOut | None, shown: DealOut | OfferingOut | None) -> str | None:
    """A deal or offering known on one side of a comparison, in a few words."""
    parts = []
    if shown is not None:
        parts.append(f"status {shown.status}")
    if candidate is not None:
        parts.append(f"standing {candidate.standing}")
        parts.append(f"qualifies {text(candidate.qualifies)}")
    return ", ".join(parts) or None


def _market(verdict: Verdict, other: Verdict) -> dict[str, object]:
    """The market's fields; ``qualifying`` as the ids this answer has and the other not."""
    fields: dict[str, object] = {name: getattr(verdict, name) for name in MARKET_FIELDS}
    fields["qualifying"] = [q for q in verdict.qualifying if q not in other.qualifying]
    return fields


def compare(before: Answer, after: Answer) -> list[Raw]:
    """Every field that differs between two answers (see the module docstring)."""
    found: list[Raw] = list(_pairs(_market(before[0], after[0]), _market(after[0], before[0]),
                                   "market"))
    old, new = _subjects(before), _subjects(after)
    for key in sorted(set(old) | set(new)):
        (was, was_shown), (now, now_shown) = old.get(key, (None, None)), new.get(key, (None, None))
        if key not in old or key not in new or (was is None) != (now is None):
            # known (or weighed by the verdict) on one side only: one difference
            found.append((key, "subject", _summary(was, was_shown), _summary(now, now_shown),
                          tuple(t.fact for shown in (was_shown, now_shown) if shown
                                for t in shown.terms.values())))
            continue
        found += _pairs(_candidate_fields(was), _candidate_fields(now), key, {})
        old_fields, old_facts = _subject_fields(was_shown)
        new_fields, new_facts = _subject_fields(now_shown)
        facts = {what: (*old_facts.get(what, ()), *new_facts.get(what, ()))
                 for what in set(old_facts) | set(new_facts)}
        found += _pairs(old_fields, new_fields, key, facts)
    found += _pairs(_totals(before[1]), _totals(after[1]), "business", {})
    return found


def _date_facts(answer: Answer, subject: str) -> tuple[str, ...]:
    shown = _subjects(answer).get(subject, (None, None))[1]
    if shown is None:
        return ()
    return tuple(shown.terms[name].fact for name in DATE_TERMS if name in shown.terms)


def explain(
    raw: Iterable[Raw],
    provenance: Provenance,
    positions: tuple[int, int],
    times: tuple[datetime, datetime] | None,
    answers: tuple[Answer, Answer],
) -> list[DifferenceOut]:
    """The differences with the facts that made each (see the module docstring)."""
    raw = list(raw)
    low, high = sorted(positions)
    span = None if times is None else (min(times), max(times))
    counted = sorted({r[0] for r in raw if r[0].startswith(("deal:", "offering:"))
                      and r[1] in COUNTING and (r[1] != "subject" or "qualifies true" in
                                                f"{r[2]} {r[3]}")})
    shown = sorted({r[0] for r in raw if r[0].startswith(("deal:", "offering:"))
                    and (r[1] in ("subject", "status") or r[1].startswith("term "))})
    # The totals count active deals: a deal that became or stopped being active, or whose
    # money, capacity or customer changed, explains them; one merely reported does not.
    money = sorted({r[0] for r in raw if r[0] in shown and (
        (r[1] in ("subject", "status") and "active" in f"{r[2]} {r[3]}")
        or r[1] in MONEY_TERMS)}) or shown

    def facts_of(subjects: Iterable[str]) -> list[FactRef]:
        return provenance.between(subjects, (low, high), span)

    out: list[DifferenceOut] = []
    for subject, what, before, after, values_from in raw:
        behind = values_from
        if subject in ("market", "business"):
            subjects = counted if subject == "market" else money
            refs = facts_of(["market", *subjects] if subject == "market" else subjects)
        else:
            subjects = [subject]
            refs = facts_of(subjects)
        if not refs and not behind:  # only time passed: the dates that decided it
            behind = tuple(dict.fromkeys(
                f for key in subjects for answer in answers for f in _date_facts(answer, key)))
        named = {ref.id: ref for ref in refs}
        for fact_id in behind:
            ref = provenance.get(fact_id)
            if ref is not None:
                named.setdefault(fact_id, ref)
        out.append(DifferenceOut(
            subject=subject, what=what, before=before, after=after,
            facts=[FactAt(id=ref.id, position=ref.position)
                   for ref in sorted(named.values(), key=lambda r: r.position)],
        ))
    return out


def of_verdict(raw: Raw) -> bool:
    """A difference the verdict shows: the market's, and each candidate's clauses."""
    return raw[0] == "market" or raw[1] in (*CANDIDATE_FIELDS, "subject") \
        or raw[1].startswith("clause ")


def of_business(raw: Raw) -> bool:
    """A difference the business shows: the totals, each deal's status and terms."""
    return raw[0] == "business" or (raw[0] != "market" and (
        raw[1] in ("status", "qualifies", "subject") or raw[1].startswith("term ")))


def side(answer: Answer) -> SideOut:
    verdict = answer[0]
    return SideOut(as_of=verdict.as_of, known_at=verdict.known_at,
                   ledger_position=verdict.ledger_position, ledger_head=verdict.ledger_head,
                   status=verdict.status)
