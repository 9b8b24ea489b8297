"""The timeline: every valid time at which the verdict or the business changes.  Pure.

The candidate instants are the starts of every step of every history (facts, party-group
changes, the start of availability), each deal's start and end date, and the instant just
after the deadline (when OPEN turns into CRITERIA_NOT_MET; always a point, marking the
deadline).  At each, the verdict's status and the business's deal statuses, the creator's
ruling in force on each deal and the run-rate are recomputed; the points where something
changed are kept, each listing what changed and the facts that occurred then.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from compute_ledger.contracts.clauses import Check, Context, available_since
from compute_ledger.contracts.market import (
    DEADLINE,
    Standing,
    Status,
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
    """For each instant, the deals and offerings whose summary may change then (see
    :func:`step_instants`)."""
    found: dict[datetime, set[str]] = defaultdict(set)
    for key, history in view.subjects.items():
        for step in history:
            for at in step_instants(step):
                found[at].add(key)
    return found


def step_instants(step: SubjectStep) -> Iterator[datetime]:
    """The instants at which a step of a deal's or an offering's history may change its
    summary: where it starts, on the deal's start and end dates, and from when its compute
    is available (which the clauses and a deal's status read, and which may come after the
    step starts: the start of the day it was announced as available, an offering's
    ``available_from``)."""
    yield step.valid_from
    for name in ("starts_on", "ends_on"):
        day = value(step.state.terms, name)
        if day is not None:
            yield start_of_day(day)
    available = available_since(step.state)
    if available is not None:
        yield available[0]


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


AmendmentsFrom = Callable[[datetime | None], Iterable[FactRef]]
"""A reader of the corrections and retractions known: those issued at or after an instant
(None: every one), in ledger order."""

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


def points(histories: Histories, amendments: Iterable[FactRef] | AmendmentsFrom = (),
           window: Window = (None, None)) -> Iterator[PointOut]:
    """The change points of :func:`timeline`, one at a time as the walk reaches them.

    ``amendments`` are the corrections and retractions known, or a reader of them
    (:data:`AmendmentsFrom`): then, where the window opens after the first instant of the
    histories other than an amendment's, only those issued from its start are asked for.
    With a window that opens, the histories are read from its start
    (:meth:`~projections.view.Histories.since`).

    Walks the instants once, recomputing at each only the deals and offerings that can have
    changed there (all of them where the party groups change).  Only the points in
    ``window`` are given, each naming what changed since the point before it, in the window
    or not (the walk starts at the first instant whatever the window: what holds at a point
    depends on everything before it; it stops after ``until``).  A caller that prints them
    as they come needs no progress bar over the walk: its output is one."""
    view = histories.full() if window[0] is None else histories.since(window[0])
    return _walk(view, amendments if callable(amendments) else _reader(amendments), window)


def _reader(amendments: Iterable[FactRef]) -> AmendmentsFrom:
    """The reader of a list of corrections and retractions."""
    known = list(amendments)

    def issued(since: datetime | None) -> Iterable[FactRef]:
        return known if since is None else [r for r in known if r.occurred_at >= since]

    return issued


def _walk(view: View, amendments: AmendmentsFrom,
          window: Window = (None, None)) -> Iterator[PointOut]:
    since, until = window
    changing = _when_subjects_change(view)
    group_times = set(view.groups.times)
    walked = {*changing, *group_times, *view.market.times, AFTER_DEADLINE}
    # Before ``since``, a correction or retraction is only an instant the walk passes, and
    # it matters only as the first one: the market's status is first named at the first
    # instant walked, and between two other instants the status cannot change (it changes
    # with what qualifies, the market's rulings and the deadline, each an instant of its
    # own).  So when another instant comes before ``since``, only those issued since count.
    amended = _amended(view, amendments(
        since if since is not None and min(walked) < since else None))
    instants = sorted({*walked, *amended})
    walk = _Walk(view)
    starting = _facts_starting([view.market, view.groups, *view.subjects.values()])
    if since is not None:
        # What holds just before ``since`` is what the walk would have reached there: each
        # subject's summary at its last instant before it, with one judgement each, and
        # the points from ``since`` on are computed as the whole walk computes them.
        earlier = instants[:bisect_left(instants, since)]
        instants = instants[len(earlier):]
        if earlier:
            walk.skip_to(since, earlier[-1], changing, sorted(group_times))
    for at in instants:
        if until is not None and at > until:
            break
        groups = view.groups_at(judged_groups_time(at))
        keys = view.subjects if at in group_times else changing.get(at, ())
        before = {key: walk.current.get(key, {}) for key in keys}
        for key in keys:
            walk.visit(key, at, groups)
        now = walk.status(at)
        changes = _diff(before, {key: walk.current.get(key, {}) for key in keys})
        changes += amended.get(at, ())
        if now != walk.last_status:
            changes.insert(0, ChangeOut(subject="market", what="status",
                                        before=walk.last_status, after=now))
        if at == AFTER_DEADLINE:
            changes.insert(0, ChangeOut(subject="market", what="deadline", before=None,
                                        after="passed"))
        if changes:  # every instant left is in the window: those before it were skipped
            yield PointOut(
                at=utc(at), status=now, criteria_met=bool(walk.qualifying),
                monthly_run_rate_usd=walk.run_rate, changes=changes,
                facts=sorted({*starting.get(at, ()),
                              *(c.after for c in amended.get(at, ()) if c.after)}),
            )
        walk.last_status = now


_Basis = tuple[SubjectStep, Groups, bool]
"""What a judgement of a subject at an instant rests on: its step, the party groups, and
whether its compute is available yet (the one clause that reads the instant)."""


def _basis(step: SubjectStep, groups: Groups, at: datetime) -> _Basis:
    available = available_since(step.state)
    return step, groups, available is not None and available[0] <= at


def _same(one: _Basis, other: _Basis) -> bool:
    return one[0] is other[0] and one[1] is other[1] and one[2] == other[2]


class _Walk:
    """What the timeline's walk carries from one instant to the next: each subject's summary
    as last computed, which subjects qualify, the run-rate and the market's status."""

    def __init__(self, view: View) -> None:
        self.view = view
        self.judged: dict[str, tuple[_Basis, Standing, Callable[[ClauseId], Check]]] = {}
        self.current: dict[str, dict[str, Any]] = {}
        self.qualifying: set[str] = set()
        # the clauses let them count at some time (before the view's first steps, too)
        self.counted_by_rules: set[str] = set(view.counted_before)
        self.run_rate = Decimal(0)
        self.last_status: Status | None = None

    def visit(self, key: str, at: datetime, groups: Groups) -> None:
        """Recompute one deal's or offering's summary at ``at``, judged with ``groups``."""
        step = self.view.subjects[key].at(at)
        if step is None:
            return
        basis = _basis(step, groups, at)
        seen = self.judged.get(key)
        if seen is None or not _same(seen[0], basis):
            seen = (basis, *judge(step.state, Context(at, groups, DEADLINE)))
            self.judged[key] = seen
        ruling = step.state.ruling
        summary: dict[str, Any] = {"standing": seen[1],
                                   "ruling": None if ruling is None else ruling.ruling}
        if step.state.kind == "offering":
            summary["status"] = status_of_offering(seen[2])
        else:
            summary["status"] = deal_status(step.state, at)
            if summary["status"] == "active":
                summary["usd_per_month"] = value(step.state.terms, "usd_per_month")
        self.run_rate += (summary.get("usd_per_month") or 0) - \
            (self.current.get(key, {}).get("usd_per_month") or 0)
        # Met for good: once the clauses let it count it stays counted, unless the ruling
        # in force now says otherwise (DOMAIN.md, "When a deal is judged").
        if step.rules_qualify:
            self.counted_by_rules.add(key)
        decided = ruled(step.state.ruling)
        counts = key in self.counted_by_rules if decided is None else decided
        (self.qualifying.add if counts else self.qualifying.discard)(key)
        summary["qualifies"] = counts
        self.current[key] = summary

    def status(self, at: datetime) -> Status:
        market = self.view.market_at(at)
        return status(bool(self.qualifying), None if market is None else market.resolution, at)

    def skip_to(self, since: datetime, last: datetime, changing: dict[datetime, set[str]],
                group_times: list[datetime]) -> None:
        """Stand where the walk stands after ``last``, the last instant before ``since``,
        without walking there.  Each subject's instants before ``since`` (where a step of
        its starts, on one of its dates, where the groups change) are gone through without
        judging: the walk judges a subject where what its judgement rests on changes (its
        step, its groups, whether its compute is available yet) and keeps that judgement
        until it changes again, so one judgement each, where the last such change was, and
        the summary at its last instant, give what the walk gives."""
        visits: dict[str, list[datetime]] = defaultdict(list)
        for at, keys in changing.items():
            if at < since:
                for key in keys:
                    visits[key].append(at)
        grouped = group_times[:bisect_left(group_times, since)]
        for key, history in self.view.subjects.items():
            instants = sorted({*visits.get(key, ()), *grouped})
            basis: _Basis | None = None
            judged_at = None
            for at in instants:
                step = history.at(at)
                if step is None:
                    continue
                if step.rules_qualify:
                    self.counted_by_rules.add(key)
                now = _basis(step, self.view.groups_at(judged_groups_time(at)), at)
                if basis is None or not _same(basis, now):
                    basis, judged_at = now, at
            if basis is None or judged_at is None:
                continue
            step, groups, _ = basis
            self.judged[key] = (basis,
                                *judge(step.state, Context(judged_at, groups, DEADLINE)))
            self.visit(key, instants[-1], groups)
        self.last_status = self.status(last)


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
    for point in _walk(view, _reader(amendments)):
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
