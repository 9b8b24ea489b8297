"""The timeline: every valid time at which the verdict or the business changes.  Pure.

The candidate instants are the times facts occurred, the party-group changes, the start of
availability of each deal or offering, each deal's start and end date, and the instant just
after the deadline (when OPEN turns into CRITERIA_NOT_MET).  At each, the verdict's status
and the business's deal statuses and run-rate are recomputed; the points where something
changed are kept, each listing what changed and the facts that occurred then.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from contracts.clauses import available_since
from contracts.market import DEADLINE, Assessment, status
from contracts.parties import Groups
from contracts.state import SubjectState
from contracts.terms import value
from ledger.instants import ONE_MICROSECOND, start_of_day
from projections.answers import ChangeOut, PointOut, Timeline, utc
from projections.business import deal_status
from projections.subjects import groups_at
from projections.verdict import assess_subject, change_points
from projections.view import View


def _instants(view: View) -> list[datetime]:
    points = set(change_points(view))
    points.update(view.market.times)
    points.add(DEADLINE + ONE_MICROSECOND)
    for history in view.subjects.values():
        for state in history.states:
            for name in ("starts_on", "ends_on"):
                day = value(state.terms, name)
                if day is not None:
                    points.add(start_of_day(day))
    return sorted(points)


def _summary(key: str, state: SubjectState, assessment: Assessment, at: datetime) -> dict[str, Any]:
    summary: dict[str, Any] = {"standing": assessment.standing}
    if state.kind == "deal":
        summary["status"] = deal_status(state, at)
        if summary["status"] == "active":
            summary["usd_per_month"] = value(state.terms, "usd_per_month")
    return summary


def timeline(view: View, known_at: datetime) -> Timeline:
    """Every change point of the verdict and the business, given what ``view`` holds."""
    points: list[PointOut] = []
    states: dict[str, SubjectState] = {}
    assessed: dict[str, Assessment] = {}
    previous: dict[str, dict[str, Any]] = {}
    last_status: str | None = None
    seen_groups: Groups | None = None
    for at in _instants(view):
        groups = groups_at(view.groups, at)
        everything = groups is not seen_groups
        seen_groups = groups
        facts: list[str] = []
        for times, ids in ((view.market.times, view.market.facts),
                           (view.groups.times, view.groups.facts)):
            index = _index(times, at)
            if index is not None:
                facts.extend(ids[index])
        current: dict[str, dict[str, Any]] = {}
        for key, history in view.subjects.items():
            index = _index(history.times, at)
            if index is not None:
                facts.extend(history.facts[index])
            state = history.at(at)
            if state is None:
                continue
            since = available_since(state)
            if everything or state is not states.get(key) or (
                since is not None and since[0] == at
            ):
                states[key] = state
                assessed[key] = assess_subject(state, at, groups)
            current[key] = _summary(key, state, assessed[key], at)
        qualifying = sorted(k for k in current if assessed[k].qualifies)
        market = view.market.at(at)
        now = status(bool(qualifying), None if market is None else market.resolution, at)
        changes = _diff(previous, current)
        if now != last_status:
            changes.insert(0, ChangeOut(subject="market", what="status", before=last_status,
                                        after=now))
        if changes:
            run_rate = sum(
                (s.get("usd_per_month") or Decimal(0) for s in current.values()), Decimal(0)
            )
            points.append(PointOut(
                at=utc(at), status=now, criteria_met=bool(qualifying),
                qualifying=[k.split(":", 1)[1] for k in qualifying],
                monthly_run_rate_usd=run_rate, changes=changes, facts=sorted(set(facts)),
            ))
        previous, last_status = current, now
    return Timeline(known_at=utc(known_at), points=points, ledger_position=view.position,
                    ledger_head=view.head)


def _index(times: tuple[datetime, ...], at: datetime) -> int | None:
    from bisect import bisect_left

    index = bisect_left(times, at)
    return index if index < len(times) and times[index] == at else None


def _diff(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> list[ChangeOut]:
    changes: list[ChangeOut] = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key, {}), after.get(key, {})
        for what in ("standing", "status", "usd_per_month"):
            if old.get(what) != new.get(what):
                changes.append(ChangeOut(subject=key, what=what, before=old.get(what),
                                         after=new.get(what)))
    return changes
