"""The ledger as known at one position, laid out for questions along valid time.

:class:`Histories` is what the verdict, the business and the timeline read: each subject's
step in force at a valid time, the party groups and the market rulings then.  Two things
provide it:

* :class:`View`, folded in memory from stored facts by :func:`build_view`: the reference
  computation, used by replays, audits and tests, and for any ``--known-at`` older than
  the maintained projection;
* :class:`projections.runner.StoredView`, the maintained projection kept in the ledger's
  database, which answers without replaying anything.

Both are built from the same pure functions (:mod:`projections.subjects`), and the tests hold
them equal.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from operator import itemgetter
from typing import Any, NamedTuple, Protocol, TypeVar

import msgspec

from compute_ledger.contracts.parties import Groups
from compute_ledger.contracts.state import RulingRef
from compute_ledger.ledger.facts import Fact, SourcedFact
from compute_ledger.ledger.instants import from_utc_text
from compute_ledger.projections.knowledge import Knowledge
from compute_ledger.projections.subjects import (
    EMPTY_GROUPS,
    GROUPS,
    MARKET,
    GroupsStep,
    History,
    MarketState,
    MarketStep,
    SubjectStep,
    buckets,
    buckets_of_subject,
    clarifications,
    earliest,
    groups_at,
    groups_steps,
    market_steps,
    subject_steps,
)

V = TypeVar("V")


class Retracted(msgspec.Struct, frozen=True, gc=False):
    """A deal or offering known only from retracted facts."""

    first_at: datetime
    facts: tuple[str, ...]


class Sweep(NamedTuple):
    """What a walk along valid time reads (:meth:`Histories.sweep`): the deals' and
    offerings' steps one at a time in the order they start, so that the walk holds only the
    step in force of each subject, never every history."""

    subjects: frozenset[str]
    """Every deal and offering with a history."""
    steps: Iterator[tuple[str, SubjectStep]]
    """``(subject, step)`` in the order of ``(valid_from, subject)``: from a walk's start,
    each subject's step in force just before it, then every later one."""
    first: datetime | None
    """The earliest instant any step of any history names (:func:`~projections.subjects.
    earliest`; None: no steps), whatever the start."""
    market: History[MarketStep]
    groups: History[GroupsStep]
    retracted: dict[str, Retracted]
    counted_before: frozenset[str]
    """The deals and offerings with a step before the start over which the clauses let
    them count (met for good: the walk counts them from then)."""


def merged(streams: Mapping[str, Iterable[tuple[Any, V]]]) -> Iterator[tuple[str, V]]:
    """Each subject's ``(start, item)``, in the order of start, merged into ``(subject,
    item)`` in the order of ``(start, subject)``."""
    for _, key, item in heapq.merge(*(_tagged(key, stream) for key, stream in streams.items()),
                                    key=itemgetter(0, 1)):
        yield key, item


def _tagged(key: str, stream: Iterable[tuple[Any, V]]) -> Iterator[tuple[Any, str, V]]:
    for start, item in stream:
        yield start, key, item


class Histories(Protocol):
    """What the answers read (see the module docstring)."""

    @property
    def position(self) -> int: ...

    @property
    def head(self) -> str: ...

    def subjects_at(self, at: datetime) -> dict[str, SubjectStep]:
        """Every deal and offering known at valid time ``at``: its step then."""
        ...

    def subject_at(self, key: str, at: datetime) -> SubjectStep | None:
        """One deal's or offering's step in force at valid time ``at``."""
        ...

    def history_of(self, key: str) -> History[SubjectStep] | None:
        """One deal's or offering's whole history (None if it has none)."""
        ...

    def qualified_by(self, at: datetime) -> dict[str, tuple[datetime, datetime | None]]:
        """For every deal and offering with a step by valid time ``at``: the start of its
        first step, and the start of its first step by ``at`` over which the clauses alone
        let it count (None if none): what the verdict reads to judge each subject over its
        history up to ``at``."""
        ...

    def groups_at(self, at: datetime) -> Groups: ...

    def groups_history(self) -> History[GroupsStep]: ...

    def market_at(self, at: datetime) -> MarketState | None: ...

    def retracted_at(self, at: datetime) -> dict[str, Retracted]: ...

    def clarifications_at(self, keys: Iterable[str], at: datetime) -> list[RulingRef]:
        """The creator's clarifications about these deals and offerings that occurred by
        valid time ``at`` (:func:`~projections.subjects.clarifications`), in time order."""
        ...

    def full(self) -> View:
        """All the histories, read whole (for reports and comparisons; the timeline reads
        :meth:`sweep`)."""
        ...

    def sweep(self, since: datetime | None = None) -> Sweep:
        """The steps a walk from ``since`` reads (None: from the first), one at a time
        (:meth:`View.since` says which)."""
        ...


class View(msgspec.Struct, frozen=True):
    """Everything known at ``position``, as histories along valid time."""

    position: int
    head: str
    recorded_at: datetime | None
    subjects: dict[str, History[SubjectStep]]
    market: History[MarketStep]
    groups: History[GroupsStep]
    retracted: dict[str, Retracted] = msgspec.field(default_factory=dict)
    clarifications: dict[str, tuple[RulingRef, ...]] = msgspec.field(default_factory=dict)
    """The clarifications about each deal and offering with a history, in time order."""
    counted_before: frozenset[str] = frozenset()
    """The deals and offerings with a step before ``at`` over which the clauses let them
    count, in a view made by :meth:`since` (met for good: the walk counts them from then)."""

    def subjects_at(self, at: datetime) -> dict[str, SubjectStep]:
        found: dict[str, SubjectStep] = {}
        for key, history in self.subjects.items():
            step = history.at(at)
            if step is not None:
                found[key] = step
        return found

    def subject_at(self, key: str, at: datetime) -> SubjectStep | None:
        history = self.subjects.get(key)
        return None if history is None else history.at(at)

    def history_of(self, key: str) -> History[SubjectStep] | None:
        return self.subjects.get(key)

    def qualified_by(self, at: datetime) -> dict[str, tuple[datetime, datetime | None]]:
        found: dict[str, tuple[datetime, datetime | None]] = {}
        for key, history in self.subjects.items():
            steps = history.steps
            if not steps or steps[0].valid_from > at:
                continue
            first = next((s.valid_from for s in steps
                          if s.valid_from <= at and s.rules_qualify), None)
            found[key] = (steps[0].valid_from, first)
        return found

    def groups_at(self, at: datetime) -> Groups:
        return groups_at(self.groups, at)

    def groups_history(self) -> History[GroupsStep]:
        return self.groups

    def market_at(self, at: datetime) -> MarketState | None:
        step = self.market.at(at)
        return None if step is None else step.state

    def retracted_at(self, at: datetime) -> dict[str, Retracted]:
        return {k: r for k, r in self.retracted.items() if r.first_at <= at}

    def clarifications_at(self, keys: Iterable[str], at: datetime) -> list[RulingRef]:
        return sorted((ref for key in keys for ref in self.clarifications.get(key, ())
                       if ref.at <= at), key=lambda ref: (ref.at, ref.fact))

    def full(self) -> View:
        return self

    def since(self, at: datetime) -> View:
        """What a walk of the timeline from ``at`` reads: each deal's and offering's
        history from its last step before ``at`` (the one in force just before it; every
        step after), and in :attr:`counted_before` those with a step before ``at`` over
        which the clauses let them count; the market, the groups and the retracted
        subjects whole.  A step left out is in force only before that step begins, and the
        walk judges a subject anew where its step changes; the instants a left-out step
        names after ``at`` (its dates, when it is available) are visits where the step in
        force has not changed, which change nothing.  So from ``at`` on it gives what the
        whole view gives (``tests/test_properties.py`` holds it to that)."""
        subjects: dict[str, History[SubjectStep]] = {}
        counted = set(self.counted_before)
        for key, history in self.subjects.items():
            before = bisect_left(history.times, at)  # the steps that start before ``at``
            if any(step.rules_qualify for step in history.steps[:before]):
                counted.add(key)
            subjects[key] = History(history.steps[max(before - 1, 0):])
        return msgspec.structs.replace(self, subjects=subjects,
                                       counted_before=frozenset(counted))

    def sweep(self, since: datetime | None = None) -> Sweep:
        view = self if since is None else self.since(since)
        instants = [*(earliest(step) for history in self.subjects.values()
                      for step in history.steps),
                    *self.market.times, *self.groups.times]
        steps = merged({key: ((step.valid_from, step) for step in history.steps)
                        for key, history in view.subjects.items()})
        return Sweep(frozenset(view.subjects), steps,
                     min(instants, default=None), view.market, view.groups,
                     view.retracted, view.counted_before)

    def differences(self, other: View) -> list[str]:
        """What differs between two views of the same knowledge: the subjects (and
        'market', 'groups', 'position') whose histories are not equal."""
        found = [] if (self.position, self.head) == (other.position, other.head) else ["position"]
        for key in sorted(set(self.subjects) | set(other.subjects)):
            mine, theirs = self.subjects.get(key), other.subjects.get(key)
            if mine is None or theirs is None or mine.steps != theirs.steps:
                found.append(key)
        for key in sorted(set(self.retracted) | set(other.retracted)):
            if self.retracted.get(key) != other.retracted.get(key) and key not in found:
                found.append(key)
        for key in sorted(set(self.clarifications) | set(other.clarifications)):
            if self.clarifications.get(key) != other.clarifications.get(key) \
                    and key not in found:
                found.append(key)
        if self.market.steps != other.market.steps:
            found.append("market")
        if self.groups.steps != other.groups.steps:
            found.append("groups")
        return found


def group_facts(
    knowledge: Knowledge,
) -> tuple[dict[str, list[SourcedFact]], dict[str, list[SourcedFact]]]:
    """The effective facts of every bucket, and the retracted facts (with their corrections)."""
    live: dict[str, list[SourcedFact]] = defaultdict(list)
    gone: dict[str, list[SourcedFact]] = defaultdict(list)
    for _, fact, alive in knowledge.contents():
        target = live if alive else gone
        for bucket in buckets(fact):
            target[bucket].append(fact)
    return live, gone


def retracted_of(facts: Iterable[SourcedFact]) -> Retracted:
    withdrawn = list(facts)
    return Retracted(min(f.occurred_at for f in withdrawn),
                     tuple(sorted(f.id or "" for f in withdrawn)))


def view_of(knowledge: Knowledge, head: str, recorded_at: str | None) -> View:
    """Lay out what ``knowledge`` holds as histories, computed from scratch."""
    live, gone = group_facts(knowledge)
    groups = History(tuple(groups_steps(live.get(GROUPS, ())))) if live.get(GROUPS) \
        else EMPTY_GROUPS
    subjects: dict[str, History[SubjectStep]] = {}
    retracted: dict[str, Retracted] = {}
    notes: dict[str, tuple[RulingRef, ...]] = {}
    for key in sorted(b for b in set(live) | set(gone) if b.startswith(("deal:", "offering:"))):
        own, rulings = buckets_of_subject(key)
        if live.get(own):
            facts = [*live[own], *live.get(rulings, ())]
            steps = subject_steps(key, facts, groups)
            if steps:
                subjects[key] = History(tuple(steps))
                if said := clarifications(facts):
                    notes[key] = tuple(said)
        elif gone.get(own):
            retracted[key] = retracted_of(gone[own])
    return View(
        position=knowledge.position,
        head=head,
        recorded_at=None if recorded_at is None else from_utc_text(recorded_at),
        subjects=subjects,
        market=History(tuple(market_steps(live.get(MARKET, ())))),
        groups=groups,
        retracted=retracted,
        clarifications=notes,
    )


def fold_knowledge(entries: Iterable[tuple[int, str, str, Fact]]
                   ) -> tuple[Knowledge, str, str | None]:
    """Take ``(position, recorded_at, hash, fact)`` in ledger order into a
    :class:`Knowledge`; returns it with the hash and ``recorded_at`` of the last entry."""
    knowledge = Knowledge()
    head, recorded_at = "0" * 64, None
    for position, recorded, digest, fact in entries:
        knowledge.add(position, fact)
        head, recorded_at = digest, recorded
    return knowledge, head, recorded_at


def build_view(entries: Iterable[tuple[int, str, str, Fact]]) -> View:
    """Fold ``(position, recorded_at, hash, fact)`` in ledger order into a view."""
    return view_of(*fold_knowledge(entries))
