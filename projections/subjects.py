"""Facts to subjects: which deal, offering or market-level record a fact is about, and the
pure fold of a subject's facts, in valid-time order, into its history of states.

A subject's *history* is a list of steps ``(valid_from, state)``: the state holds from
``valid_from`` until the next step.  Facts sharing an ``occurred_at`` make one step; ties are
folded in fact-id order, never in ledger order.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

import msgspec

from contracts.parties import INITIAL, CorporateChange, Groups, apply
from contracts.state import Evidence, RulingRef, Statement, SubjectKind, SubjectState
from contracts.terms import Terms, merge, set_term
from ledger.facts import (
    Announcement,
    CorporateEvent,
    CreatorRuling,
    CustomerConfirmation,
    Filing,
    Offering,
    SourcedFact,
)
from ledger.instants import start_of_day

MARKET = "market"
GROUPS = "groups"
STATUS_RULINGS = frozenset({"counts", "does_not_count", "under_review"})
RESOLUTION_RULINGS = frozenset({"resolve_yes", "resolve_no", "resolve_na", "unresolve"})

S = TypeVar("S")


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


def subject_keys_of_bucket(bucket: str) -> tuple[str, ...]:
    """The subjects whose history a bucket's facts enter."""
    if bucket.startswith("ruling:"):
        subject_id = bucket.removeprefix("ruling:")
        return (f"deal:{subject_id}", f"offering:{subject_id}")
    return (bucket,)


def split_key(key: str) -> tuple[SubjectKind, str]:
    kind, _, subject_id = key.partition(":")
    assert kind in ("deal", "offering"), key
    return kind, subject_id  # type: ignore[return-value]


def order(fact: SourcedFact) -> tuple[datetime, str]:
    """Valid-time order: occurred_at, then fact id."""
    return fact.occurred_at, fact.id or ""


# ---------------------------------------------------------------------------------------------
# Histories
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class History(Generic[S]):
    """Steps along valid time: ``states[i]`` holds from ``times[i]`` until ``times[i + 1]``;
    ``facts[i]`` are the ids of the facts that occurred at ``times[i]``."""

    times: tuple[datetime, ...]
    states: tuple[S, ...]
    facts: tuple[tuple[str, ...], ...]

    def at(self, moment: datetime) -> S | None:
        index = bisect_right(self.times, moment) - 1
        return self.states[index] if index >= 0 else None

    def __len__(self) -> int:
        return len(self.times)


def _steps(facts: Sequence[SourcedFact], fold: _Fold[S]) -> History[S]:
    times: list[datetime] = []
    states: list[S] = []
    ids: list[tuple[str, ...]] = []
    ordered = sorted(facts, key=order)
    here: list[str] = []
    for index, fact in enumerate(ordered):
        fold.add(fact)
        here.append(fact.id or "")
        last_of_its_time = index + 1 == len(ordered) or ordered[index + 1].occurred_at != \
            fact.occurred_at
        if last_of_its_time:
            state = fold.snapshot()
            if state is not None:
                times.append(fact.occurred_at)
                states.append(state)
                ids.append(tuple(here))
                here = []
    return History(tuple(times), tuple(states), tuple(ids))


class _Fold(Generic[S]):
    def add(self, fact: SourcedFact) -> None:
        raise NotImplementedError

    def snapshot(self) -> S | None:
        raise NotImplementedError


# ---------------------------------------------------------------------------------------------
# Deals and offerings
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class SubjectFold(_Fold[SubjectState]):
    """Folds one deal's (or offering's) facts, in valid-time order, into its state."""

    kind: SubjectKind
    subject_id: str
    terms: Terms = field(default_factory=dict)
    facts: int = 0
    first: tuple[str, datetime] | None = None
    last_at: datetime | None = None
    statements: dict[tuple[str, str], Statement] = field(default_factory=dict)
    latest: Statement | None = None
    evidence: Evidence | None = None
    filing: str | None = None
    revenue_filing: str | None = None
    confirmation: str | None = None
    ruling: RulingRef | None = None
    clarifications: list[RulingRef] = field(default_factory=list)
    _cached: SubjectState | None = None

    def _evidence(self, since: datetime, fact: str, kind: str) -> None:
        if self.evidence is None or (since, fact) < (self.evidence.since, self.evidence.fact):
            self.evidence = Evidence(since, fact, kind)  # type: ignore[arg-type]

    def _own(self, fact_id: str, at: datetime) -> None:
        self.facts += 1
        if self.first is None:
            self.first = (fact_id, at)
        self.last_at = at

    def add(self, fact: SourcedFact) -> None:
        self._cached = None
        fact_id = fact.id or ""
        at = fact.occurred_at
        match fact:
            case Announcement():
                self._own(fact_id, at)
                terms = fact.deal if fact.deal is not None else fact.offering
                assert terms is not None
                self.terms = merge(self.terms, terms, fact_id)
                statement = Statement(fact.speaker, fact.channel, fact.availability,
                                      fact.available_from, fact_id, at)
                self.statements.setdefault((fact.speaker, fact.channel), statement)
                self.latest = statement
                if fact.availability == "available":
                    start = fact.available_from or getattr(terms, "starts_on", None) or \
                        getattr(terms, "available_from", None)
                    self._evidence(start_of_day(start) if start else at, fact_id, "announcement")
            case Filing():
                self._own(fact_id, at)
                if fact.deal is not None:
                    self.terms = merge(self.terms, fact.deal, fact_id)
                elif "provider" not in self.terms:
                    self.terms = set_term(self.terms, "provider", fact.filer, fact_id)
                self.filing = self.filing or fact_id
                if fact.discloses_compute_revenue:
                    self.revenue_filing = self.revenue_filing or fact_id
                    start = fact.deal.starts_on if fact.deal is not None else None
                    self._evidence(start_of_day(start) if start else at, fact_id, "filing")
            case CustomerConfirmation():
                self._own(fact_id, at)
                self.terms = set_term(self.terms, "customer", fact.customer, fact_id)
                self.confirmation = self.confirmation or fact_id
                if fact.in_use:
                    self._evidence(at, fact_id, "customer_confirmation")
            case Offering():
                self._own(fact_id, at)
                self.terms = merge(self.terms, fact.offering, fact_id)
                start = fact.offering.available_from
                self._evidence(start_of_day(start) if start else at, fact_id, "offering")
            case CreatorRuling():
                ref = RulingRef(fact.ruling, fact_id, at, fact.clauses or (), fact.summary,
                                fact.deal_id)
                if fact.ruling in STATUS_RULINGS:
                    self.ruling = ref
                else:
                    self.clarifications.append(ref)
            case _:
                raise AssertionError(f"{fact!r} is not about a deal or an offering")

    def snapshot(self) -> SubjectState | None:
        if self.first is None or self.last_at is None:
            return None  # only rulings so far: the subject itself is not known yet
        if self._cached is None:
            self._cached = SubjectState(
                kind=self.kind,
                id=self.subject_id,
                terms=self.terms,
                facts=self.facts,
                first_fact=self.first[0],
                first_at=self.first[1],
                last_at=self.last_at,
                statements=tuple(self.statements.values()),
                latest_statement=self.latest,
                evidence=self.evidence,
                filing=self.filing,
                revenue_filing=self.revenue_filing,
                confirmation=self.confirmation,
                ruling=self.ruling,
                clarifications=tuple(self.clarifications),
            )
        return self._cached


def subject_history(key: str, facts: Sequence[SourcedFact]) -> History[SubjectState]:
    kind, subject_id = split_key(key)
    return _steps(facts, SubjectFold(kind, subject_id))


# ---------------------------------------------------------------------------------------------
# The market (resolutions, clarifications) and the party groups
# ---------------------------------------------------------------------------------------------


class MarketState(msgspec.Struct, frozen=True, gc=False):
    """The creator's market-level rulings in force."""

    resolution: RulingRef | None
    """The resolve_* ruling in force (an unresolve lifts it)."""
    clarifications: tuple[RulingRef, ...]
    last_resolution_change: str | None = None
    """The resolve or unresolve ruling that last changed the resolution."""


@dataclass(slots=True)
class MarketFold(_Fold[MarketState]):
    resolution: RulingRef | None = None
    changed_by: str | None = None
    clarifications: list[RulingRef] = field(default_factory=list)

    def add(self, fact: SourcedFact) -> None:
        assert isinstance(fact, CreatorRuling)
        ref = RulingRef(fact.ruling, fact.id or "", fact.occurred_at, fact.clauses or (),
                        fact.summary, fact.deal_id)
        if fact.ruling == "unresolve":
            self.resolution, self.changed_by = None, ref.fact
        elif fact.ruling in RESOLUTION_RULINGS:
            self.resolution, self.changed_by = ref, ref.fact
        else:
            self.clarifications.append(ref)

    def snapshot(self) -> MarketState:
        return MarketState(self.resolution, tuple(self.clarifications), self.changed_by)


def market_history(facts: Sequence[SourcedFact]) -> History[MarketState]:
    return _steps(facts, MarketFold())


@dataclass(slots=True)
class GroupsFold(_Fold[Groups]):
    groups: Groups = INITIAL

    def add(self, fact: SourcedFact) -> None:
        assert isinstance(fact, CorporateEvent)
        self.groups = apply(
            self.groups, CorporateChange(fact.id or "", fact.action, fact.parties, fact.result)
        )

    def snapshot(self) -> Groups:
        return self.groups


def groups_history(facts: Sequence[SourcedFact]) -> History[Groups]:
    return _steps(facts, GroupsFold())


def groups_at(history: History[Groups], moment: datetime) -> Groups:
    return history.at(moment) or INITIAL
