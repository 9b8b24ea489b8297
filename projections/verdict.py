"""The verdict: every deal and offering assessed at a valid time, composed into the market's
status (DOMAIN.md section 4).  Pure: it reads :class:`~projections.view.Histories`."""

from __future__ import annotations

from datetime import datetime

import msgspec

from compute_ledger.contracts.clauses import Context
from compute_ledger.contracts.market import (
    CLAUSE_KINDS,
    DEADLINE,
    MARKET_ID,
    QUESTION,
    Assessment,
    assess,
    disagrees_with_rules,
    judged_groups_time,
    ruled,
    status,
)
from compute_ledger.contracts.parties import Groups
from compute_ledger.contracts.state import RulingRef, SubjectState
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


def qualified_at(histories: Histories, as_of: datetime,
                 steps: dict[str, SubjectStep]) -> dict[str, datetime]:
    """The valid time at which each deal or offering first qualified, by ``as_of``
    (DOMAIN.md, "When a deal is judged"): each step was judged with the party groups of its
    own time (never later than the deadline), and the creator's ruling in force at ``as_of``
    applies to the whole history: ``counts`` makes it qualify from its first step,
    ``does_not_count`` removes it at every time."""
    found: dict[str, datetime] = {}
    for key, (first, by_rules) in histories.qualified_by(as_of).items():
        step = steps.get(key)
        decided = ruled(None if step is None else step.state.ruling)
        when = first if decided else by_rules if decided is None else None
        if when is not None:
            found[key] = when
    return found


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
    for clarification in histories.clarifications_at(states, at):
        refs[clarification.fact] = clarification
    return [
        RulingOut(fact=r.fact, ruling=r.ruling, subject=r.subject, at=utc(r.at),
                  clauses=list(r.clauses), summary=r.summary)
        for r in sorted(refs.values(), key=lambda r: (r.at, r.fact))
    ]


def candidate_out(assessment: Assessment, qualified: datetime | None = None) -> CandidateOut:
    return CandidateOut(
        id=assessment.id,
        kind=assessment.kind,  # type: ignore[arg-type]
        standing=assessment.standing,
        qualifies=assessment.qualifies,
        by_ruling=assessment.by_ruling,
        under_review=assessment.under_review,
        qualified_at=utc_or_none(qualified),
        available_since=utc_or_none(assessment.available_since),
        missing=list(assessment.missing),
        checks=[
            CheckOut(clause=c.clause, kind=CLAUSE_KINDS[c.clause], state=c.state, held=c.held,
                     facts=list(c.facts), note=c.note)
            for c in assessment.checks
        ],
    )


def judged(histories: Histories, as_of: datetime
           ) -> tuple[dict[str, SubjectStep], dict[str, datetime], dict[str, Assessment]]:
    """Every deal and offering as the verdict judges it as of ``as_of``: its step then, when
    it first qualified (for those that did), and its assessment: for one that qualified, at
    the time it first did (its state and groups then, the ruling in force at ``as_of``),
    whose checklist is what made it count; for the others, as of ``as_of`` (groups of the
    deadline at the latest)."""
    steps = histories.subjects_at(as_of)
    when = qualified_at(histories, as_of, steps)
    assessed: dict[str, Assessment] = {}
    for key, step in sorted(steps.items()):
        at = when.get(key, as_of)
        state = step.state
        if at != as_of:
            then = histories.subject_at(key, at)
            if then is not None:
                state = msgspec.structs.replace(then.state, ruling=step.state.ruling)
        assessed[key] = assess_subject(state, at,
                                       histories.groups_at(judged_groups_time(at)))
    return steps, when, assessed


def verdict(histories: Histories, as_of: datetime, known_at: datetime) -> Verdict:
    """The verdict as of ``as_of`` given what ``histories`` hold (known at ``known_at``)."""
    steps, when, assessed = judged(histories, as_of)
    qualifying = [key for key in assessed if key in when]
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
        under_review=current == "CRITERIA_MET"
        and all(assessed[k].under_review for k in qualifying),
        disagrees_with_rules=disagrees_with_rules(current, met, as_of),
        criteria_met=met,
        qualifying=[assessed[k].id for k in qualifying],
        criteria_met_since=utc_or_none(min(when.values(), default=None)),
        candidates=[candidate_out(a, when.get(k)) for k, a in assessed.items()],
        rulings=_rulings(histories, as_of, {k: s.state for k, s in steps.items()}),
        clauses_used=used,
        ledger_position=histories.position,
        ledger_head=histories.head,
    )
