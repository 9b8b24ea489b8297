"""The verdict: every deal and offering assessed at a valid time, composed into the market's
status (DOMAIN.md section 4).  Pure: it reads a :class:`~projections.view.View`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from contracts.clauses import Context, available_since
from contracts.market import (
    CLAUSE_KINDS,
    DEADLINE,
    MARKET_ID,
    QUESTION,
    Assessment,
    assess,
    disagrees_with_rules,
    status,
)
from contracts.parties import Groups
from contracts.state import RulingRef, SubjectState
from projections.answers import CandidateOut, CheckOut, RulingOut, Verdict, utc, utc_or_none
from projections.subjects import groups_at
from projections.view import View


def assess_subject(state: SubjectState, at: datetime, groups: Groups) -> Assessment:
    return assess(state, Context(at, groups, DEADLINE))


def assessments_at(view: View, at: datetime) -> dict[str, Assessment]:
    """Every deal and offering known at ``at``, assessed."""
    groups = groups_at(view.groups, at)
    found: dict[str, Assessment] = {}
    for key, history in view.subjects.items():
        state = history.at(at)
        if state is not None:
            found[key] = assess_subject(state, at, groups)
    return found


def criteria(assessed: dict[str, Assessment]) -> list[str]:
    """The keys of the deals and offerings that qualify."""
    return sorted(key for key, a in assessed.items() if a.qualifies)


def change_points(view: View) -> list[datetime]:
    """Every valid time at which some deal's or offering's assessment may change."""
    points: set[datetime] = set(view.groups.times)
    for history in view.subjects.values():
        points.update(history.times)
        for time, state in zip(history.times, history.states, strict=True):
            since = available_since(state)
            if since is not None and since[0] > time:
                points.add(since[0])
    return sorted(points)


def sweep(
    view: View, until: datetime | None = None
) -> Iterator[tuple[datetime, dict[str, Assessment]]]:
    """Walk the change points in valid-time order (up to ``until``), yielding the
    assessments in force from each point on.  Only what can have changed is re-assessed."""
    current: dict[str, Assessment] = {}
    states: dict[str, SubjectState] = {}
    seen_groups: Groups | None = None
    for point in change_points(view):
        if until is not None and point > until:
            return
        groups = groups_at(view.groups, point)
        everything = groups is not seen_groups
        seen_groups = groups
        for key, history in view.subjects.items():
            state = history.at(point)
            if state is None:
                continue
            since = available_since(state)
            if everything or state is not states.get(key) or (
                since is not None and since[0] == point
            ):
                states[key] = state
                current[key] = assess_subject(state, point, groups)
        yield point, dict(current)


def criteria_met_since(view: View, as_of: datetime) -> datetime | None:
    """The start of the stretch of valid time, ending at ``as_of``, throughout which the
    clauses have been met (None if they are not met at ``as_of``)."""
    since: datetime | None = None
    for point, assessed in sweep(view, until=as_of):
        met = any(a.qualifies for a in assessed.values())
        if met and since is None:
            since = point
        elif not met:
            since = None
    return since


def _rulings(view: View, as_of: datetime, assessed: dict[str, Assessment]) -> list[RulingOut]:
    refs: dict[str, RulingRef] = {}
    market = view.market.at(as_of)
    if market is not None:
        if market.resolution is not None:
            refs[market.resolution.fact] = market.resolution
        for clarification in market.clarifications:
            refs[clarification.fact] = clarification
    for key, history in view.subjects.items():
        state = history.at(as_of)
        if state is None or key not in assessed:
            continue
        if state.ruling is not None:
            refs[state.ruling.fact] = state.ruling
        for clarification in state.clarifications:
            refs[clarification.fact] = clarification
    return [
        RulingOut(fact=r.fact, ruling=r.ruling, subject=r.subject, at=utc(r.at),
                  clauses=list(r.clauses), summary=r.summary)
        for r in sorted(refs.values(), key=lambda r: (r.at, r.fact))
    ]


def candidate_out(key: str, assessment: Assessment) -> CandidateOut:
    return CandidateOut(
        id=assessment.id,
        kind=assessment.kind,  # type: ignore[arg-type]
        standing=assessment.standing,
        qualifies=assessment.qualifies,
        by_ruling=assessment.by_ruling,
        under_review=assessment.under_review,
        available_since=utc_or_none(assessment.available_since),
        missing=list(assessment.missing),
        checks=[
            CheckOut(clause=c.clause, kind=CLAUSE_KINDS[c.clause], state=c.state, held=c.held,
                     facts=list(c.facts), note=c.note)
            for c in assessment.checks
        ],
    )


def verdict(view: View, as_of: datetime, known_at: datetime) -> Verdict:
    """The verdict as of ``as_of`` given what ``view`` holds (known at ``known_at``)."""
    assessed = assessments_at(view, as_of)
    qualifying = criteria(assessed)
    met = bool(qualifying)
    market = view.market.at(as_of)
    resolution = None if market is None else market.resolution
    current = status(met, resolution, as_of)
    used = sorted({
        check.clause
        for a in assessed.values()
        for check in a.checks
        if check.state in ("met", "failed")
    }, key=list(CLAUSE_KINDS).index)
    return Verdict(
        market=MARKET_ID,
        question=QUESTION,
        deadline=DEADLINE,
        as_of=utc(as_of),
        known_at=utc(known_at),
        status=current,
        under_review=met and all(assessed[k].under_review for k in qualifying),
        disagrees_with_rules=disagrees_with_rules(current, met, as_of),
        criteria_met=met,
        qualifying=[assessed[k].id for k in qualifying],
        criteria_met_since=utc_or_none(criteria_met_since(view, as_of)) if met else None,
        candidates=[candidate_out(k, a) for k, a in sorted(assessed.items())],
        rulings=_rulings(view, as_of, assessed),
        clauses_used=used,
        ledger_position=view.position,
        ledger_head=view.head,
    )

