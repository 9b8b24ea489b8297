"""Facts to subjects, and each subject's history along valid time.  Pure.

A *subject* is a deal (``deal:ID``), an offering (``offering:ID``), the market-level rulings
(``market``) or the party groups (``groups``).  Its *history* is a list of steps: each step
holds from its ``valid_from`` until the next step, and over a step nothing about the subject
changes: not its state, and (for deals and offerings) not whether it qualifies.  Steps start

* where facts about the subject occurred (facts sharing an ``occurred_at`` make one step;
  ties are folded in fact-id order, never in ledger order),
* where the party groups change (a merger can make a provider part of the xAI group),
* where the subject's availability begins (``available_from`` in the future),

and a step that changes nothing is not made.  So a fact that only repeats what is known
leaves the history as it was.

The fold of a subject can be **resumed** from any of its steps: recomputing the history
from a valid time t0 (after a late fact or a correction) keeps the steps before t0 and folds
only the facts from t0 on.  :func:`subject_steps` gives the same steps either way.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from operator import attrgetter, itemgetter
from typing import Generic, NamedTuple, TypeVar

import msgspec

from compute_ledger.contracts.clauses import Context, available_since
from compute_ledger.contracts.market import DEADLINE, Standing, judge, shown_available
from compute_ledger.contracts.parties import INITIAL, CorporateChange, Groups, apply
from compute_ledger.contracts.state import Evidence, RulingRef, Statement, SubjectKind, SubjectState
from compute_ledger.contracts.terms import NO_TERMS, Terms, merge, set_term, value
from compute_ledger.ledger.facts import (
    Announcement,
    CorporateEvent,
    CreatorRuling,
    CustomerConfirmation,
    DealTerms,
    Filing,
    Offering,
    OfferingTerms,
    SourcedFact,
)
from compute_ledger.ledger.instants import start_of_day

MARKET = "market"
GROUPS = "groups"
STATUS_RULINGS = frozenset({"counts", "does_not_count", "under_review"})
RESOLUTION_RULINGS = frozenset({"resolve_yes", "resolve_no", "resolve_na", "unresolve"})


def buckets(fact: SourcedFact) -> tuple[str, ...]:
    """The buckets a fact feeds: ``deal:ID``, ``offering:ID``, ``ruling:ID``, market, groups."""
    match fact:
        case Announcement(deal=deal, offering=offering):
            if deal is not None:
                return (f"deal:{deal.deal_id}",)
            assert offering is not None
            return (f"offering:{offering.offering_id}",)
        case Filing(deal=deal):
            return (f"deal:{deal.deal_id}" if deal is not None else f"deal:filing:{fact.id}",)
        case CustomerConfirmation(deal_id=deal_id):
            return (f"deal:{deal_id}",)
        case Offering(offering=offering):
            return (f"offering:{offering.offering_id}",)
        case CreatorRuling(ruling=ruling, deal_id=deal_id):
            if ruling in RESOLUTION_RULINGS or deal_id is None:
                return (MARKET,)
            return (f"ruling:{deal_id}",)
        case CorporateEvent():
            return (GROUPS,)
    raise AssertionError(f"unhandled fact {fact!r}")


def subjects_of_bucket(bucket: str) -> tuple[str, ...]:
    """The subjects whose history a bucket's facts enter."""
    if bucket.startswith("ruling:"):
        subject_id = bucket.removeprefix("ruling:")
        return (f"deal:{subject_id}", f"offering:{subject_id}")
    return (bucket,)


def buckets_of_subject(subject: str) -> tuple[str, ...]:
    """The buckets whose facts make up a subject's history."""
    if subject.startswith(("deal:", "offering:")):
        return (subject, "ruling:" + subject.split(":", 1)[1])
    return (subject,)


def split_key(key: str) -> tuple[SubjectKind, str]:
    kind, _, subject_id = key.partition(":")
    assert kind in ("deal", "offering"), key
    return kind, subject_id  # type: ignore[return-value]


order = attrgetter("occurred_at", "id")
"""Valid-time order: ``(occurred_at, id)``; ties broken by fact id, never by ledger position.
(Every fact a projection folds has an id: the store requires one, and a correction's
replacement takes the id of the fact it corrects.)"""


# ---------------------------------------------------------------------------------------------
# Steps and histories
# ---------------------------------------------------------------------------------------------


class SubjectStep(msgspec.Struct, frozen=True, gc=False):
    """A deal or offering from ``valid_from`` until the next step."""

    valid_from: datetime
    state: SubjectState
    qualifies: bool
    """Whether it qualifies over this step, the ruling of this step included."""
    rules_qualify: bool
    """Whether the clauses alone let it count over this step, the creator's rulings aside
    (the verdict applies the ruling in force at its own time to every step)."""
    facts: tuple[str, ...] = ()
    """The facts that occurred at ``valid_from``."""
    standing: Standing = "candidate"
    """Its standing as judged at ``valid_from``, with the party groups of then (what the
    timeline's walk reads there instead of judging it again)."""
    available: bool = False
    """Whether the availability clause is met at ``valid_from`` (an offering's status)."""


class MarketState(msgspec.Struct, frozen=True, gc=False):
    """The creator's market-level rulings in force."""

    resolution: RulingRef | None
    """The resolve_* ruling in force (an unresolve lifts it)."""
    clarifications: tuple[RulingRef, ...]


class MarketStep(msgspec.Struct, frozen=True, gc=False):
    valid_from: datetime
    state: MarketState
    facts: tuple[str, ...] = ()


class GroupsStep(msgspec.Struct, frozen=True, gc=False):
    valid_from: datetime
    state: Groups
    facts: tuple[str, ...] = ()


def step_instants(step: SubjectStep) -> Iterator[datetime]:
    """The instants at which a step of a deal's or an offering's history may change its
    summary: where it starts, on the deal's start and end dates, and from when its compute
    is available (which the clauses and a deal's status read, and which may come before the
    step starts, at the start of the day it was announced as available, or after it, an
    offering's ``available_from``)."""
    yield step.valid_from
    for name in ("starts_on", "ends_on"):
        day = value(step.state.terms, name)
        if day is not None:
            yield start_of_day(day)
    available = available_since(step.state)
    if available is not None:
        yield available[0]


def earliest(step: SubjectStep | MarketStep | GroupsStep) -> datetime:
    """The earliest instant a step names: where it starts, or for a deal's or an offering's
    step the earliest of its :func:`step_instants` (the timeline's first point is the
    earliest instant any step names)."""
    return min(step_instants(step)) if isinstance(step, SubjectStep) else step.valid_from


T = TypeVar("T", SubjectStep, MarketStep, GroupsStep)


class History(msgspec.Struct, Generic[T], frozen=True):
    """A subject's steps in valid-time order."""

    steps: tuple[T, ...]
    times: tuple[datetime, ...] = ()

    def __post_init__(self) -> None:
        msgspec.structs.force_setattr(self, "times", tuple(s.valid_from for s in self.steps))

    def at(self, moment: datetime) -> T | None:
        """The step in force at ``moment``."""
        index = bisect_right(self.times, moment) - 1
        return self.steps[index] if index >= 0 else None

    def before(self, moment: datetime) -> T | None:
        """The last step that starts strictly before ``moment``."""
        index = bisect_left(self.times, moment) - 1
        return self.steps[index] if index >= 0 else None

    def __len__(self) -> int:
        return len(self.steps)

    def __iter__(self) -> Iterator[T]:
        return iter(self.steps)


EMPTY_GROUPS: History[GroupsStep] = History(())


def groups_at(history: History[GroupsStep], moment: datetime) -> Groups:
    step = history.at(moment)
    return INITIAL if step is None else step.state


def _by_time(facts: Iterable[SourcedFact]) -> list[tuple[datetime, list[SourcedFact]]]:
    grouped: list[tuple[datetime, list[SourcedFact]]] = []
    for fact in sorted(facts, key=order):
        if grouped and grouped[-1][0] == fact.occurred_at:
            grouped[-1][1].append(fact)
        else:
            grouped.append((fact.occurred_at, [fact]))
    return grouped


def _points(
    grouped: list[tuple[datetime, list[SourcedFact]]],
    groups: History[GroupsStep],
    since: datetime | None,
) -> list[tuple[datetime, Sequence[SourcedFact]]]:
    """The times a subject's history is evaluated at, in order, with the facts occurring at
    each: its facts' times, the group changes (from ``since``) and ``since`` itself."""
    extra = {t for t in groups.times if since is None or t >= since}
    if since is not None:
        extra.add(since)
    extra.difference_update(t for t, _ in grouped)
    if not extra:
        return list(grouped)
    merged: list[tuple[datetime, Sequence[SourcedFact]]] = [*grouped, *((t, ()) for t in extra)]
    merged.sort(key=itemgetter(0))
    return merged


# ---------------------------------------------------------------------------------------------
# Deals and offerings
# ---------------------------------------------------------------------------------------------


class SubjectFold(msgspec.Struct):
    """Folds one deal's (or offering's) facts, in valid-time order, into its state."""

    kind: SubjectKind
    subject_id: str
    terms: Terms = NO_TERMS
    first: tuple[str, datetime] | None = None
    statements: dict[tuple[str, str], Statement] = msgspec.field(default_factory=dict)
    latest: Statement | None = None
    evidence: Evidence | None = None
    filing: str | None = None
    revenue_filing: str | None = None
    confirmation: str | None = None
    ruling: RulingRef | None = None
    _cached: SubjectState | None = None
    _merged: dict[DealTerms | OfferingTerms, Terms] = msgspec.field(default_factory=dict)

    @classmethod
    def resume(cls, state: SubjectState) -> SubjectFold:
        """A fold that continues from a state it produced earlier."""
        return cls(
            kind=state.kind, subject_id=state.id, terms=state.terms,
            first=(state.first_fact, state.first_at),
            statements={(s.speaker, s.channel): s for s in state.statements},
            latest=state.latest_statement, evidence=state.evidence, filing=state.filing,
            revenue_filing=state.revenue_filing, confirmation=state.confirmation,
            ruling=state.ruling, _cached=state,
        )

    def _evidence(self, since: datetime, fact: str, kind: str) -> None:
        if self.evidence is None or (since, fact) < (self.evidence.since, self.evidence.fact):
            self.evidence = Evidence(since, fact, kind)  # type: ignore[arg-type]
            self._cached = None

    def _own(self, fact_id: str, at: datetime) -> None:
        if self.first is None:
            self.first = (fact_id, at)
            self._cached = None

    def _merge(self, update: DealTerms | OfferingTerms, fact_id: str) -> None:
        # Most facts restate terms already merged: recognise an update seen before, after
        # which the terms have not changed, without comparing them term by term.
        after = self._merged.get(update)
        if after is not None and after is self.terms:
            return
        terms = merge(self.terms, update, fact_id)
        if terms is not self.terms:
            self.terms = terms
            self._cached = None
        self._merged[update] = terms

    def _first(self, name: str, fact_id: str) -> None:
        if getattr(self, name) is None:
            setattr(self, name, fact_id)
            self._cached = None

    def add(self, fact: SourcedFact) -> None:
        """Fold in the next fact (in valid-time order).  The snapshot changes only if the
        state does."""
        fact_id = fact.id or ""
        at = fact.occurred_at
        match fact:
            case Announcement():
                self._own(fact_id, at)
                terms = fact.deal if fact.deal is not None else fact.offering
                assert terms is not None
                self._merge(terms, fact_id)
                latest = self.latest
                key = (fact.speaker, fact.channel)
                new_latest = latest is None or (latest.availability, latest.available_from) != (
                    fact.availability, fact.available_from
                )
                if new_latest or key not in self.statements:
                    statement = Statement(fact.speaker, fact.channel, fact.availability,
                                          fact.available_from, fact_id, at)
                    self.statements.setdefault(key, statement)
                    if new_latest:
                        self.latest = statement
                    self._cached = None
                if fact.availability == "available":
                    start = fact.available_from or getattr(terms, "starts_on", None) or \
                        getattr(terms, "available_from", None)
                    self._evidence(start_of_day(start) if start else at, fact_id, "announcement")
            case Filing():
                self._own(fact_id, at)
                if fact.deal is not None:
                    self._merge(fact.deal, fact_id)
                elif self.terms.provider is None:
                    self.terms = set_term(self.terms, "provider", fact.filer, fact_id)
                    self._cached = None
                self._first("filing", fact_id)
                if fact.discloses_compute_revenue:
                    self._first("revenue_filing", fact_id)
                    start = fact.deal.starts_on if fact.deal is not None else None
                    self._evidence(start_of_day(start) if start else at, fact_id, "filing")
            case CustomerConfirmation():
                self._own(fact_id, at)
                named = set_term(self.terms, "customer", fact.customer, fact_id)
                if named is not self.terms:
                    self.terms = named
                    self._cached = None
                self._first("confirmation", fact_id)
                if fact.in_use:
                    self._evidence(at, fact_id, "customer_confirmation")
            case Offering():
                self._own(fact_id, at)
                self._merge(fact.offering, fact_id)
                start = fact.offering.available_from
                self._evidence(start_of_day(start) if start else at, fact_id, "offering")
            case CreatorRuling():
                if fact.ruling in STATUS_RULINGS:  # the others clarify, deciding nothing
                    self.ruling = ruling_ref(fact)
                    self._cached = None
            case _:
                raise AssertionError(f"{fact!r} is not about a deal or an offering")

    def snapshot(self) -> SubjectState | None:
        if self.first is None:
            return None  # only rulings so far: the subject itself is not known yet
        if self._cached is None:
            self._cached = SubjectState(
                kind=self.kind,
                id=self.subject_id,
                terms=self.terms,
                first_fact=self.first[0],
                first_at=self.first[1],
                statements=tuple(self.statements.values()),
                latest_statement=self.latest,
                evidence=self.evidence,
                filing=self.filing,
                revenue_filing=self.revenue_filing,
                confirmation=self.confirmation,
                ruling=self.ruling,
            )
        return self._cached


class _Judged(NamedTuple):
    """A subject judged at a step's start: what the step records of it."""

    qualifies: bool
    rules_qualify: bool
    standing: Standing
    available: bool


def _judge(state: SubjectState, at: datetime, groups: Groups) -> _Judged:
    """A step starting at ``at`` judged with ``groups``, every clause read at most once."""
    standing, by_rules, check = judge(state, Context(at, groups, DEADLINE))
    return _Judged(standing == "qualifying", by_rules, standing, shown_available(check))


def subject_steps(
    key: str,
    facts: Iterable[SourcedFact],
    groups: History[GroupsStep],
    base: SubjectStep | None = None,
    since: datetime | None = None,
) -> list[SubjectStep]:
    """The steps of a deal or offering.

    With no ``base``, from all its ``facts``.  With a ``base`` (the last step before
    ``since``), the steps from ``since`` on, given the facts that occurred from ``since`` on:
    the result is what a computation from scratch gives from ``since`` on.
    """
    kind, subject_id = split_key(key)
    fold = SubjectFold.resume(base.state) if base is not None else SubjectFold(kind, subject_id)
    if base is not None and since is None:
        raise ValueError("resuming needs the time to resume from")
    points = _points(_by_time(facts), groups, since)
    group_times, group_steps = groups.times, groups.steps
    # The groups in force at the current point: the points only move forward, so an index
    # that moves with them replaces a search per point.  A step after the deadline is
    # judged with the groups of the deadline: a merger after it changes nothing.
    in_force = bisect_right(group_times, points[0][0]) - 1 if points else -1
    at_deadline = groups_at(groups, DEADLINE)
    steps: list[SubjectStep] = []
    previous = base
    previous_groups = None if base is None else \
        at_deadline if base.valid_from > DEADLINE else groups_at(groups, base.valid_from)
    # Where qualification was last evaluated, with the state, groups and result of
    # ``previous``: between two points with those three unchanged, only the start of
    # availability can change the result (no clause reads the time otherwise), so a point
    # on the same side of it as ``checked`` needs no new evaluation.
    checked = None if base is None else base.valid_from
    begins_of: SubjectState | None = None
    begins: tuple[datetime, str] | None = None
    split: datetime | None = None
    here: Sequence[SourcedFact]
    index, count = 0, len(points)
    while True:
        if split is not None:  # availability begins inside the last step: split there
            point, here, split = split, (), None
        elif index < count:
            point, here = points[index]
            index += 1
        else:
            break
        for fact in here:
            fold.add(fact)
        state = fold.snapshot()
        if state is None:
            continue
        while in_force + 1 < len(group_times) and group_times[in_force + 1] <= point:
            in_force += 1
        now_groups = at_deadline if point > DEADLINE else \
            group_steps[in_force].state if in_force >= 0 else INITIAL
        if state is not begins_of:
            begins, begins_of = available_since(state), state
        unchanged = (
            previous is not None and now_groups is previous_groups
            and (previous.state is state or previous.state == state)
            and (begins is None or checked is None
                 or (begins[0] <= checked) == (begins[0] <= point))
        )
        if not unchanged:
            judged = _judge(state, point, now_groups)
            checked = point
            if (previous is None or previous.state != state
                    or previous.qualifies != judged.qualifies
                    or previous.rules_qualify != judged.rules_qualify):
                previous = SubjectStep(point, state, judged.qualifies, judged.rules_qualify,
                                       tuple(f.id or "" for f in here), judged.standing,
                                       judged.available)
                steps.append(previous)
            previous_groups = now_groups
        if begins is not None and begins[0] > point and (
            index >= count or begins[0] < points[index][0]
        ):
            split = begins[0]
    return steps


# ---------------------------------------------------------------------------------------------
# The market (resolutions, clarifications) and the party groups
# ---------------------------------------------------------------------------------------------


def ruling_ref(fact: CreatorRuling) -> RulingRef:
    """What a history keeps of a creator ruling."""
    return RulingRef(fact.ruling, fact.id or "", fact.occurred_at, fact.clauses or (),
                     fact.summary, fact.deal_id)


def clarifications(facts: Iterable[SourcedFact]) -> list[RulingRef]:
    """The creator's rulings among a deal's or offering's facts other than those that
    decide it (``counts``, ``does_not_count``, ``under_review``), in valid-time order: what
    the verdict lists beside the subject.  They change no clause and no standing, so they
    are kept beside its history, one row each, not in every step of it (which grew with
    the square of a subject's rulings)."""
    return sorted((ruling_ref(fact) for fact in facts
                   if isinstance(fact, CreatorRuling) and fact.ruling not in STATUS_RULINGS),
                  key=lambda ref: (ref.at, ref.fact))


def market_steps(facts: Iterable[SourcedFact]) -> list[MarketStep]:
    resolution: RulingRef | None = None
    clarifications: list[RulingRef] = []
    steps: list[MarketStep] = []
    for time, here in _by_time(facts):
        for fact in here:
            assert isinstance(fact, CreatorRuling)
            ref = ruling_ref(fact)
            if fact.ruling == "unresolve":
                resolution = None
            elif fact.ruling in RESOLUTION_RULINGS:
                resolution = ref
            else:
                clarifications.append(ref)
        state = MarketState(resolution, tuple(clarifications))
        if not steps or steps[-1].state != state:
            steps.append(MarketStep(time, state, tuple(f.id or "" for f in here)))
    return steps


def groups_steps(facts: Iterable[SourcedFact]) -> list[GroupsStep]:
    groups = INITIAL
    steps: list[GroupsStep] = []
    for time, here in _by_time(facts):
        for fact in here:
            assert isinstance(fact, CorporateEvent)
            groups = apply(groups, CorporateChange(fact.id or "", fact.action, fact.parties,
                                                   fact.result))
        if (steps[-1].state if steps else INITIAL) != groups:
            steps.append(GroupsStep(time, groups, tuple(f.id or "" for f in here)))
    return steps


def merge_steps(
    kept: Sequence[T], since: datetime | None, recomputed: Sequence[T]
) -> tuple[T, ...]:
    """The kept steps that start before ``since``, then the steps recomputed from it
    (``since`` None: the history was recomputed from scratch)."""
    if since is None:
        return tuple(recomputed)
    cut: int = bisect_left([s.valid_from for s in kept], since)
    return tuple(kept[:cut]) + tuple(recomputed)
