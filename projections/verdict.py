"""The verdict: every deal and offering assessed at a valid time, composed into the market's
status (DOMAIN.md section 4).  Pure: it reads :class:`~projections.view.Histories`."""

from __future__ import annotations

from datetime import datetime

from compute_ledger.contracts.clauses import Context
from compute_ledger.contracts.market import (
    CLAUSE_KINDS,
    DEADLINE,
    MARKET_ID,
    QUESTION,
    Assessment,
    assess,
    disagrees_with_rules,
    status,
)
from compute_ledger.contracts.parties import Groups
from compute_ledger.contracts.state import RulingRef, SubjectState
from compute_ledger.ledger.instants import ONE_MICROSECOND
from compute_ledger.projections.answers import (
    CandidateOut,
    CheckOut,
    RulingOut,
    Verdict,
    utc,
    utc_or_none,
)
from compute_ledger.projections.subjects import SubjectStep
from compute_ledger.projections.view import Histories

CLAUSE_ORDER: dict[str, int] = {clause: n for n, clause in enumerate(CLAUSE_KINDS)}


def assess_subject(state: SubjectState, at: datetime, groups: Groups) -> Assessment:
    return assess(state, Context(at, groups, DEADLINE))


def criteria_met_since(histories: Histories, steps: dict[str, SubjectStep]) -> datetime | None:
    """The start of the stretch of valid time, ending at the time of ``steps``, throughout
    which something qualified: the earliest start of the qualifying runs in force, extended
    back while another deal or offering was qualifying just before it."""
    starts = [s.run_start for s in steps.values() if s.qualifies and s.run_start is not None]
    if not starts:
        return None
    start = min(starts)
    while True:
        earlier = [t for t in histories.qualifying_since(start - ONE_MICROSECOND) if t < start]
        if not earlier:
            return start
        start = min(earlier)


def _rulings(histories: Histories, at: datetime, states: dict[str, SubjectState]
             ) -> list[RulingOut]:
    refs: dict[str, RulingRef] = {}
    market = histories.market_at(at)
    if market is not None:
        if market.resolution is not None:
            refs[market.resolution.fact] = market.resolution
        for clarification in market.clarifications:
            refs[clarification.fact] = clarification
    for state in states.values():
        if state.ruling is not None:
            refs[state.ruling.fact] = state.ruling
        for clarification in state.clarifications:
            refs[clarification.fact] = clarification
    return [
        RulingOut(fact=r.fact, ruling=r.ruling, subject=r.subject, at=utc(r.at),
                  clauses=list(r.clauses), summary=r.summary)
        for r in sorted(refs.values(), key=lambda r: (r.at, r.fact))
    ]


def candidate_out(assessment: Assessment) -> CandidateOut:
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


def verdict(histories: Histories, as_of: datetime, known_at: datetime) -> Verdict:
    """The verdict as of ``as_of`` given what ``histories`` hold (known at ``known_at``)."""
    steps = histories.subjects_at(as_of)
    groups = histories.groups_at(as_of)
    assessed = {key: assess_subject(step.state, as_of, groups)
                for key, step in sorted(steps.items())}
    qualifying = [key for key, a in assessed.items() if a.qualifies]
    met = bool(qualifying)
    market = histories.market_at(as_of)
    current = status(met, None if market is None else market.resolution, as_of)
    used: list[str] = sorted({
        check.clause
        for a in assessed.values()
        for check in a.checks
        if check.state in ("met", "failed")
    }, key=CLAUSE_ORDER.__getitem__)
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
        criteria_met_since=utc_or_none(criteria_met_since(histories, steps)),
        candidates=[candidate_out(a) for a in assessed.values()],
        rulings=_rulings(histories, as_of, {k: s.state for k, s in steps.items()}),
        clauses_used=used,
        ledger_position=histories.position,
        ledger_head=histories.head,
    )
