"""The timeline: every valid time at which the verdict or the business changes.  Pure.

The candidate instants are the starts of every step of every history (facts, party-group
changes, the start of availability), each deal's start and end date, and the instant just
after the deadline (when OPEN turns into CRITERIA_NOT_MET; always a point, marking the
deadline).  At each, the verdict's status and the business's deal statuses, the creator's
ruling in force on each deal and the run-rate are recomputed; the points where something
changed are kept, each listing what changed and the facts that occurred then.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from compute_ledger.contracts.clauses import Check, Context
from compute_ledger.contracts.market import (
    DEADLINE,
    Standing,
    judge,
    judged_groups_time,
    ruled,
    status,
)
from compute_ledger.contracts.parties import Groups
from compute_ledger.contracts.terms import value
from compute_ledger.ledger.facts import ClauseId
from compute_ledger.ledger.instants import ONE_MICROSECOND, start_of_day
from compute_ledger.projections.answers import (
    ChangeOut,
    DifferenceOut,
    FactAt,
    PointOut,
    Timeline,
    utc,
)
from compute_ledger.projections.business import deal_status, status_of_offering
from compute_ledger.projections.diff import text
from compute_ledger.projections.provenance import FactRef, Provenance
from compute_ledger.projections.subjects import GROUPS, MARKET, History, SubjectStep
from compute_ledger.projections.view import Histories, View

AFTER_DEADLINE = DEADLINE + ONE_MICROSECOND
"""The first instant after the deadline: always a point of the timeline."""


def _when_subjects_change(view: View) -> dict[datetime, set[str]]:
    """For each instant, the deals and offerings whose summary may change then: where a step
    of theirs starts, and on a deal's start and end dates."""
    found: dict[datetime, set[str]] = defaultdict(set)
    for key, history in view.subjects.items():
        for step in history:
            found[step.valid_from].add(key)
            for name in ("starts_on", "ends_on"):
                day = value(step.state.terms, name)
                if day is not None:
                    found[start_of_day(day)].add(key)
    return found


def _facts_starting(histories: Iterable[History[Any]]) -> dict[datetime, set[str]]:
    """For each instant, the facts of the steps that start then (in any history)."""
    found: dict[datetime, set[str]] = defaultdict(set)
    for history in histories:
        for step in history:
            found[step.valid_from].update(step.facts)
    return found


def _amended(view: View, amendments: Iterable[FactRef]) -> dict[datetime, list[ChangeOut]]:
    """The corrections and retractions, as changes at the valid time each was issued, on
    every subject of the view the fact they name is about."""
    found: dict[datetime, list[ChangeOut]] = defaultdict(list)
    for ref in amendments:
        for subject in ref.subjects:
            # A deal known only from retracted facts has no history, but its retraction
            # is still a point: the follower sees that it was withdrawn, and when.
            if subject in view.subjects or subject in view.retracted \
                    or subject in (MARKET, GROUPS):
                found[ref.occurred_at].append(ChangeOut(
                    subject=subject, what=ref.type, before=ref.target, after=ref.id))
    return found


Window = tuple[datetime | None, datetime | None]
"""``(since, until)``: the points from ``since`` up to and including ``until`` (None: no
bound on that side)."""


def timeline(histories: Histories, known_at: datetime,
             amendments: Iterable[FactRef] = (),
             window: Window = (None, None)) -> Timeline:
    """Every change point of the verdict and the business, given what ``histories`` hold,
    with the ``amendments`` (corrections and retractions) known then (those in ``window``;
    see :func:`points`)."""
    return Timeline(known_at=utc(known_at), ledger_position=histories.position,
                    ledger_head=histories.head,
                    points=list(points(histories, amendments, window)))


def points(histories: Histories, amendments: Iterable[FactRef] = (),
           window: Window = (None, None)) -> Iterator[PointOut]:
    """The change points of :func:`timeline`, one at a time as the walk reaches them.

    Walks the instants once, recomputing at each only the deals and offerings that can have
    changed there (all of them where the party groups change).  Only the points in
    ``window`` are given, each naming what changed since the point before it, in the window
    or not (the walk starts at the first instant whatever the window: what holds at a point
    depends on everything before it; it stops after ``until``).  A caller that prints them
    as they come needs no progress bar over the walk: its output is one."""
    return _walk(histories.full(), amendments, window)


def _walk(view: View, amendments: Iterable[FactRef],
          window: Window = (None, None)) -> Iterator[PointOut]:
    since, until = window
    changing = _when_subjects_change(view)
    group_times = set(view.groups.times)
    amended = _amended(view, amendments)
    instants = sorted({*changing, *group_times, *view.market.times, *amended,
                       AFTER_DEADLINE})
    judged: dict[str, tuple[SubjectStep, Groups, Standing, Callable[[ClauseId], Check]]] = {}
    current: dict[str, dict[str, Any]] = {}
    qualifying_now: set[str] = set()
    counted_by_rules: set[str] = set()  # subjects the clauses let count at some time so far
    run_rate = Decimal(0)
    last_status: str | None = None
    starting = _facts_starting([view.market, view.groups, *view.subjects.values()])
    for at in instants:
        if until is not None and at > until:
            break
        groups = view.groups_at(judged_groups_time(at))
        keys = view.subjects if at in group_times else changing.get(at, ())
        before = {key: current.get(key, {}) for key in keys}
        for key in keys:
            step = view.subjects[key].at(at)
            if step is None:
                continue
            seen = judged.get(key)
            if seen is None or seen[0] is not step or seen[1] is not groups:
                seen = (step, groups, *judge(step.state, Context(at, groups, DEADLINE)))
                judged[key] = seen
            ruling = step.state.ruling
            summary: dict[str, Any] = {"standing": seen[2],
                                       "ruling": None if ruling is None else ruling.ruling}
            if step.state.kind == "offering":
                summary["status"] = status_of_offering(seen[3])
            else:
                summary["status"] = deal_status(step.state, at)
                if summary["status"] == "active":
                    summary["usd_per_month"] = value(step.state.terms, "usd_per_month")
            run_rate += (summary.get("usd_per_month") or 0) - \
                (before[key].get("usd_per_month") or 0)
            # Met for good: once the clauses let it count it stays counted, unless the ruling
            # in force now says otherwise (DOMAIN.md, "When a deal is judged").
            if step.rules_qualify:
                counted_by_rules.add(key)
            decided = ruled(step.state.ruling)
            counts = key in counted_by_rules if decided is None else decided
            (qualifying_now.add if counts else qualifying_now.discard)(key)
            summary["qualifies"] = counts
            current[key] = summary
        market = view.market_at(at)
        now = status(bool(qualifying_now), None if market is None else market.resolution, at)
        changes = _diff(before, {key: current.get(key, {}) for key in keys})
        changes += amended.get(at, ())
        if now != last_status:
            changes.insert(0, ChangeOut(subject="market", what="status", before=last_status,
                                        after=now))
        if at == AFTER_DEADLINE:
            changes.insert(0, ChangeOut(subject="market", what="deadline", before=None,
                                        after="passed"))
        if changes and (since is None or at >= since):
            yield PointOut(
                at=utc(at), status=now, criteria_met=bool(qualifying_now),
                monthly_run_rate_usd=run_rate, changes=changes,
                facts=sorted({*starting.get(at, ()),
                              *(c.after for c in amended.get(at, ()) if c.after)}),
            )
        last_status = now


SUMMARY = ("standing", "status", "ruling", "usd_per_month", "qualifies")
"""What the timeline follows of each deal and offering, in the order its changes are named
(``qualifies``: whether it counts towards the criteria then, ``true`` or ``false``; a subject
not yet known does not)."""


def _diff(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> list[ChangeOut]:
    changes: list[ChangeOut] = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key, {}), after.get(key, {})
        for what in SUMMARY:
            was, now = _summary_value(old, what), _summary_value(new, what)
            if was != now:
                changes.append(ChangeOut(subject=key, what=what, before=_text(was),
                                         after=_text(now)))
    return changes


def _summary_value(summary: dict[str, Any], what: str) -> Any:
    return summary.get(what, False) if what == "qualifies" else summary.get(what)


def _text(value: object) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    return None if value is None else str(value)


def qualifying_along(points: Iterable[PointOut]) -> Iterator[tuple[PointOut, list[str]]]:
    """Each point with the deals and offerings (ids, sorted) that qualify from then on: the
    timeline names only what changes at a point, so the list is its ``qualifies`` changes
    folded from the first point."""
    qualifying: set[str] = set()
    for point in points:
        for change in point.changes:
            if change.what == "qualifies":
                name = change.subject.split(":", 1)[1]
                (qualifying.add if change.after == "true" else qualifying.discard)(name)
        yield point, sorted(qualifying)


def subject_history(histories: Histories, key: str, known_at: datetime,
                    amendments: Iterable[FactRef] = ()) -> list[tuple[PointOut, dict[str, Any]]]:
    """The timeline of one deal or offering alone: each point where something about it
    changed, with its summary then (``standing``, ``status``, ``ruling``, ``qualifies``).
    The walk is :func:`timeline`'s, over a view holding only this subject and the groups."""
    history = histories.history_of(key)
    if history is None:
        return []
    view = View(position=histories.position, head=histories.head, recorded_at=None,
                subjects={key: history}, market=History(()), groups=histories.groups_history())
    summary: dict[str, Any] = {}
    found: list[tuple[PointOut, dict[str, Any]]] = []
    for point in _walk(view, amendments):
        mine = [c for c in point.changes if c.subject == key]
        if not mine:
            continue
        summary.setdefault("qualifies", False)
        for change in mine:
            summary[change.what] = change.after == "true" if change.what == "qualifies" \
                else change.after
        found.append((point, dict(summary)))
    return found


def _point_text(point: PointOut) -> str:
    """A point in one line: the market's status, then each change as ``subject what=after``."""
    return "; ".join([point.status, *(f"{c.subject} {c.what}={c.after or '-'}"
                                       for c in point.changes)])


def compare(before: Timeline, after: Timeline, provenance: Provenance,
            positions: tuple[int, int]) -> list[DifferenceOut]:
    """The points that differ between two timelines (subject ``timeline``, what ``point
    AT``, each side the point in one line: the status, then each change as ``subject
    what=after``; null where a side has no point then), with the facts recorded between the
    two positions that occurred at that instant."""
    old = {p.at: p for p in before.points}
    new = {p.at: p for p in after.points}
    low, high = sorted(positions)
    found: list[DifferenceOut] = []
    for at in sorted(set(old) | set(new)):
        was, now = old.get(at), new.get(at)
        was_text = None if was is None else _point_text(was)
        now_text = None if now is None else _point_text(now)
        if was_text == now_text:
            continue
        named = {*(was.facts if was else ()), *(now.facts if now else ())}
        facts = [FactAt(id=r.id, position=r.position)
                 for r in (provenance.get(f) for f in sorted(named))
                 if r is not None and low < r.position <= high]
        found.append(DifferenceOut(subject="timeline", what=f"point {text(at)}",
                                   before=was_text, after=now_text, facts=facts))
    return found
