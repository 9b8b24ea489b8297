"""The ledger as known at one position, laid out for questions along valid time.

A :class:`View` holds, for every deal and offering, its history of states along valid time,
plus the histories of the market-level rulings and of the party groups.  It is what the
verdict, the business and the timeline read.  :func:`build_view` folds it from stored facts
(the reference computation, used by replays and tests); the maintained projection builds the
same histories incrementally and stores them (see :mod:`projections.runner`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from contracts.parties import Groups
from contracts.state import SubjectState
from ledger.facts import Fact, SourcedFact
from ledger.instants import from_utc_text
from projections.knowledge import Knowledge
from projections.subjects import (
    GROUPS,
    MARKET,
    History,
    MarketState,
    buckets,
    groups_history,
    market_history,
    subject_history,
    subject_keys_of_bucket,
)


@dataclass(frozen=True, slots=True)
class View:
    """Everything known at ``position``, as histories along valid time."""

    position: int
    head: str
    recorded_at: datetime | None
    subjects: dict[str, History[SubjectState]]
    market: History[MarketState]
    groups: History[Groups]
    retracted: dict[str, Retracted] = field(default_factory=dict)
    """Deals and offerings all of whose facts were retracted."""


@dataclass(frozen=True, slots=True)
class Retracted:
    """A deal or offering that is known only from retracted facts."""

    first_at: datetime
    facts: tuple[str, ...]


def group_facts(
    knowledge: Knowledge,
) -> tuple[dict[str, list[SourcedFact]], dict[str, list[SourcedFact]]]:
    """The effective facts of every bucket, and the retracted facts (as first recorded)."""
    live: dict[str, list[SourcedFact]] = defaultdict(list)
    gone: dict[str, list[SourcedFact]] = defaultdict(list)
    for fact_id in knowledge.base:
        known = knowledge.effective(fact_id)
        if known is not None:
            for bucket in buckets(known.fact):
                live[bucket].append(known.fact)
        else:
            original = knowledge.originals(fact_id)
            assert original is not None
            for bucket in buckets(original):
                gone[bucket].append(original)
    return live, gone


def view_of(knowledge: Knowledge, head: str, recorded_at: str | None) -> View:
    """Lay out what ``knowledge`` holds as histories."""
    live, gone = group_facts(knowledge)
    subjects: dict[str, History[SubjectState]] = {}
    retracted: dict[str, Retracted] = {}
    for bucket in sorted(set(live) | set(gone)):
        if not bucket.startswith(("deal:", "offering:")):
            continue
        (key,) = subject_keys_of_bucket(bucket)
        subject_id = key.split(":", 1)[1]
        facts = live.get(bucket, []) + live.get(f"ruling:{subject_id}", [])
        history = subject_history(key, facts) if live.get(bucket) else None
        if history:
            subjects[key] = history
        elif gone.get(bucket):
            withdrawn = gone[bucket]
            retracted[key] = Retracted(
                min(f.occurred_at for f in withdrawn),
                tuple(sorted(f.id or "" for f in withdrawn)),
            )
    return View(
        position=knowledge.position,
        head=head,
        recorded_at=None if recorded_at is None else from_utc_text(recorded_at),
        subjects=subjects,
        market=market_history(live.get(MARKET, [])),
        groups=groups_history(live.get(GROUPS, [])),
        retracted=retracted,
    )


def build_view(entries: Iterable[tuple[int, str, str, Fact]]) -> View:
    """Fold ``(position, recorded_at, hash, fact)`` in ledger order into a view."""
    knowledge = Knowledge()
    head, recorded_at = "0" * 64, None
    for position, recorded, digest, fact in entries:
        knowledge.add(position, fact)
        head, recorded_at = digest, recorded
    return view_of(knowledge, head, recorded_at)
