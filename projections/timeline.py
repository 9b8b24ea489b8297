"""The timeline: every valid time at which the verdict or the business changes.  Pure.

The candidate instants are the starts of every step of every history (facts, party-group
changes, the start of availability), each deal's start and end date, and the instant just
after the deadline (when OPEN turns into CRITERIA_NOT_MET; always a point, marking the
deadline).  At each, the verdict's status and the business's deal statuses, the creator's
ruling in force on each deal and the run-rate are recomputed; the points where something
changed are kept, each listing what changed and the facts that occurred then.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

import msgspec

from compute_ledger.contracts.clauses import Context, available_since
from compute_ledger.contracts.market import (
    DEADLINE,
    Standing,
    Status,
    judge,
    judged_groups_time,
    ruled,
    shown_available,
    status,
)
from compute_ledger.contracts.parties import Groups
from compute_ledger.contracts.terms import value
from compute_ledger.ledger.facts import encode_json
from compute_ledger.ledger.instants import ONE_MICROSECOND, from_utc_text, utc_text
from compute_ledger.projections.answers import (
    ChangeOut,
    DifferenceOut,
    FactAt,
    PointOut,
    Timeline,
    utc,
)
from compute_ledger.projections.business import deal_status, status_if_available
from compute_ledger.projections.diff import text
from compute_ledger.projections.provenance import FactRef, Provenance
from compute_ledger.projections.subjects import (
    GROUPS,
    MARKET,
    History,
    SubjectStep,
    groups_at,
    step_instants,
)
from compute_ledger.projections.view import Histories, Sweep, View

AFTER_DEADLINE = DEADLINE + ONE_MICROSECOND
"""The first instant after the deadline: always a point of the timeline."""


def _facts_starting(histories: Iterable[History[Any]]) -> dict[datetime, set[str]]:
    """For each instant, the facts of the steps that start then (in any history)."""
    found: dict[datetime, set[str]] = defaultdict(set)
    for history in histories:
        for step in history:
            found[step.valid_from].update(step.facts)
    return found


def _amended(sweep: Sweep, amendments: Iterable[FactRef]
             ) -> Iterator[tuple[datetime, list[ChangeOut]]]:
    """The corrections and retractions (in the order they were issued), as changes at the
    valid time each was issued, on every subject of the sweep the fact they name is about:
    each instant with its changes, in time order."""
    at: datetime | None = None
    found: list[ChangeOut] = []
    for ref in amendments:
        if ref.occurred_at != at:
            if found:
                yield cast(datetime, at), found
            at, found = ref.occurred_at, []
        for subject in ref.subjects:
            # A deal known only from retracted facts has no history, but its retraction
            # is still a point: the follower sees that it was withdrawn, and when.
            if subject in sweep.subjects or subject in sweep.retracted \
                    or subject in (MARKET, GROUPS):
                found.append(ChangeOut(subject=subject, what=ref.type, before=ref.target,
                                       after=ref.id))
    if found:
        yield cast(datetime, at), found


AmendmentsFrom = Callable[[datetime | None], Iterable[FactRef]]
"""A reader of the corrections and retractions known: those issued at or after an instant
(None: every one), in the order they were issued (``occurred_at``, then ledger order), which
the walk reads as it goes."""

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

    The walk goes along valid time once, reading the steps one at a time in the order they
    start (:meth:`~projections.view.Histories.sweep`) and holding only each subject's step
    in force, and recomputes at each instant only the deals and offerings that can have
    changed there (all of them where the party groups change).  Only the points in
    ``window`` are given, each naming what changed since the point before it, in the window
    or not: what holds at a point depends on everything before it, so a walk from
    ``since`` starts from each subject's step in force just before it (those before change
    nothing after it), and stops after ``until``.  A caller that prints them as they come
    needs no progress bar over the walk: its output is one."""
    return _walk(histories.sweep(window[0]),
                 amendments if callable(amendments) else reader(amendments), window)


def reader(amendments: Iterable[FactRef]) -> AmendmentsFrom:
    """The reader of a list of corrections and retractions (in any order)."""
    known = sorted(amendments, key=lambda ref: (ref.occurred_at, ref.position))

    def issued(since: datetime | None) -> Iterable[FactRef]:
        return known if since is None else [r for r in known if r.occurred_at >= since]

    return issued


class _Agenda:
    """The instants still to walk that are known so far, each with the deals and offerings
    to visit there: those whose step in force names it (one of its dates, or when its
    compute becomes available).  The starts of steps come from the sweep itself."""

    def __init__(self, instants: Iterable[datetime]) -> None:
        self._visits: dict[datetime, set[str]] = {at: set() for at in instants}
        self._heap = sorted(self._visits)

    def add(self, at: datetime, key: str) -> None:
        if at not in self._visits:
            heapq.heappush(self._heap, at)
            self._visits[at] = set()
        self._visits[at].add(key)

    def next(self) -> datetime | None:
        return self._heap[0] if self._heap else None

    def take(self, at: datetime) -> set[str]:
        """Pass ``at``: the subjects to visit there."""
        if self._heap and self._heap[0] == at:
            heapq.heappop(self._heap)
        return self._visits.pop(at, set())


def _walk(sweep: Sweep, amendments: AmendmentsFrom,
          window: Window = (None, None)) -> Iterator[PointOut]:
    since, until = window
    group_times = set(sweep.groups.times)
    fixed = {*group_times, *sweep.market.times, AFTER_DEADLINE}
    if sweep.first is not None:
        # The first instant walked names the market's status first, even where no step
        # starts (the start of the day a deal was announced as available, say).
        fixed.add(sweep.first)
    # Before ``since``, a correction or retraction is only an instant the walk passes, and
    # it matters only as the first one: the market's status is first named at the first
    # instant walked, and between two other instants the status cannot change (it changes
    # with what qualifies, the market's rulings and the deadline, each an instant of its
    # own).  So when another instant comes before ``since``, only those issued since count.
    amended = _amended(sweep, amendments(
        since if since is not None and min(fixed) < since else None))
    agenda = _Agenda(fixed)
    starting = _facts_starting([sweep.market, sweep.groups])
    walk = _Walk(sweep)
    steps = iter(sweep.steps)
    upcoming = next(steps, None)
    amendment = next(amended, None)
    while True:
        at = min((when for when in (agenda.next(),
                                    None if upcoming is None else upcoming[1].valid_from,
                                    None if amendment is None else amendment[0])
                  if when is not None), default=None)
        if at is None or (until is not None and at > until):
            break
        keys = agenda.take(at)
        issued: list[ChangeOut] = []
        if amendment is not None and amendment[0] == at:
            issued = amendment[1]
            amendment = next(amended, None)
        facts = set(starting.get(at, ()))
        while upcoming is not None and upcoming[1].valid_from == at:
            key, step = upcoming
            walk.in_force[key] = step
            keys.add(key)
            facts.update(step.facts)
            for later in step_instants(step):
                if later > at:
                    agenda.add(later, key)
            upcoming = next(steps, None)
        groups = groups_at(sweep.groups, judged_groups_time(at))
        if at in group_times:
            keys = set(walk.in_force)
        before = {key: walk.current.get(key, {}) for key in keys}
        for key in keys:
            walk.visit(key, at, groups)
        now = walk.status(at)
        changes = _diff(before, {key: walk.current.get(key, {}) for key in keys})
        changes += issued
        if now != walk.last_status:
            changes.insert(0, ChangeOut(subject="market", what="status",
                                        before=walk.last_status, after=now))
        if at == AFTER_DEADLINE:
            changes.insert(0, ChangeOut(subject="market", what="deadline", before=None,
                                        after="passed"))
        if changes and (since is None or at >= since):
            yield PointOut(
                at=utc(at), status=now, criteria_met=bool(walk.qualifying),
                monthly_run_rate_usd=walk.run_rate, changes=changes,
                facts=sorted({*facts, *(c.after for c in issued if c.after)}),
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
    """What the timeline's walk carries from one instant to the next: each subject's step
    in force and summary as last computed, which subjects qualify, the run-rate and the
    market's status."""

    def __init__(self, sweep: Sweep) -> None:
        self.sweep = sweep
        self.in_force: dict[str, SubjectStep] = {}
        self.judged: dict[str, tuple[_Basis, Standing, bool]] = {}
        """Each subject as last judged: on what, its standing, and whether its compute was
        available (an offering's status)."""
        self.current: dict[str, dict[str, Any]] = {}
        self.qualifying: set[str] = set()
        # the clauses let them count at some time (before the sweep's first steps, too)
        self.counted_by_rules: set[str] = set(sweep.counted_before)
        self.run_rate = Decimal(0)
        self.last_status: Status | None = None

    def visit(self, key: str, at: datetime, groups: Groups) -> None:
        """Recompute one deal's or offering's summary at ``at``, judged with ``groups``."""
        step = self.in_force[key]
        basis = _basis(step, groups, at)
        seen = self.judged.get(key)
        if seen is None or not _same(seen[0], basis):
            if at == step.valid_from:  # judged so when the step was made: read, not redone
                seen = (basis, step.standing, step.available)
            else:
                standing, _, check = judge(step.state, Context(at, groups, DEADLINE))
                seen = (basis, standing, shown_available(check))
            self.judged[key] = seen
        ruling = step.state.ruling
        summary: dict[str, Any] = {"standing": seen[1],
                                   "ruling": None if ruling is None else ruling.ruling}
        if step.state.kind == "offering":
            summary["status"] = status_if_available(seen[2])
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
        market = self.sweep.market.at(at)
        return status(bool(self.qualifying), None if market is None else market.state.resolution,
                      at)


ROW = ("at", "status", "criteria_met", "monthly_run_rate_usd", "changes", "facts")
"""A point as a row of text columns (:func:`row_of`): what the index stores
(``cl_points``) and an export's ``timeline`` table holds (there with the run-rate in plain
notation)."""

_DECODE_CHANGES = msgspec.json.Decoder(list[ChangeOut])
_DECODE_FACTS = msgspec.json.Decoder(list[str])


def row_of(point: PointOut) -> tuple[str, str, int, str, str, str]:
    """``point`` as a row of :data:`ROW`: the instant as ``utc_text``, the run-rate as its
    exact decimal text, the changes and facts as JSON (the project's encoding)."""
    return (utc_text(point.at), point.status, int(point.criteria_met),
            str(point.monthly_run_rate_usd), encode_json(point.changes).decode(),
            encode_json(point.facts).decode())


def point_of(row: Sequence[Any]) -> PointOut:
    """The point a row of :data:`ROW` holds (:func:`row_of` undone)."""
    at, status_text, met, run_rate, changes, facts = row
    return PointOut(at=from_utc_text(at), status=status_text, criteria_met=bool(met),
                    monthly_run_rate_usd=Decimal(run_rate),
                    changes=_DECODE_CHANGES.decode(changes), facts=_DECODE_FACTS.decode(facts))


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
    for point in _walk(view.sweep(), reader(amendments)):
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
