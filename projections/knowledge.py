"""What the ledger knows at a position: its facts with corrections applied and retractions
removed.  A pure fold in ledger order.

* A **correction** replaces the content of the fact it names at every valid time, from the
  moment it is recorded.  When several corrections of one fact are known, the one latest in
  valid time wins (``occurred_at``, then fact id), so the outcome never depends on the order
  in which they were appended.
* A **retraction** withdraws the fact it names from the moment it is recorded.  Retracting a
  correction withdraws the correction, and the fact it corrected stands again.

Adding an entry returns the ids of the base facts whose effective content may have changed,
so a caller can refresh just what they touch.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import msgspec

from compute_ledger.ledger.facts import Correction, Fact, Retraction, SourcedFact


class Known(msgspec.Struct, frozen=True):
    """A base fact's effective content at a knowledge position."""

    fact_id: str
    fact: SourcedFact
    """The content in force: the original, or the replacement of the winning correction
    (carrying the original's id)."""
    position: int
    """Where the original was recorded."""
    corrected_by: str | None = None

    @property
    def at(self) -> datetime:
        return self.fact.occurred_at


class _Fix(msgspec.Struct):
    fact_id: str
    at: datetime
    position: int
    target: str
    replacement: SourcedFact


class _Withdrawal(msgspec.Struct, frozen=True):
    fact_id: str
    at: datetime
    position: int
    target: str


class Knowledge(msgspec.Struct):
    """Facts in ledger order, folded into their effective contents."""

    position: int = 0
    base: dict[str, tuple[int, SourcedFact]] = msgspec.field(default_factory=dict)
    fixes: dict[str, list[_Fix]] = msgspec.field(default_factory=dict)
    fix_by_id: dict[str, _Fix] = msgspec.field(default_factory=dict)
    retracted: dict[str, str] = msgspec.field(default_factory=dict)
    """Retracted fact id -> the retraction's id."""
    withdrawals: dict[str, _Withdrawal] = msgspec.field(default_factory=dict)
    """Every retraction, by its id."""

    def add(self, position: int, fact: Fact) -> tuple[str, ...]:
        """Fold one stored fact in; return the base fact ids whose content may have changed."""
        self.position = position
        fact_id = fact.id
        assert fact_id is not None
        if isinstance(fact, Correction):
            fix = _Fix(fact_id, fact.occurred_at, position, fact.corrects,
                       msgspec.structs.replace(fact.fact, id=fact.corrects))
            self.fixes.setdefault(fact.corrects, []).append(fix)
            self.fix_by_id[fact_id] = fix
            return (fact.corrects,)
        if isinstance(fact, Retraction):
            self.retracted[fact.retracts] = fact_id
            self.withdrawals[fact_id] = _Withdrawal(fact_id, fact.occurred_at, position,
                                                    fact.retracts)
            voided = self.fix_by_id.get(fact.retracts)
            return (voided.target,) if voided is not None else (fact.retracts,)
        self.base[fact_id] = (position, fact)
        return (fact_id,)

    def issued(self) -> Iterator[tuple[int, datetime]]:
        """The position and issue time of every correction and retraction."""
        for fix in self.fix_by_id.values():
            yield fix.position, fix.at
        for withdrawal in self.withdrawals.values():
            yield withdrawal.position, withdrawal.at

    def positions(self) -> Iterator[tuple[str, int]]:
        """Every base fact's id and position, in ledger order."""
        for fact_id, (position, _) in self.base.items():
            yield fact_id, position

    def contents(self) -> Iterator[tuple[str, SourcedFact, bool]]:
        """Every base fact's content in force (or that would be, if retracted), and whether it
        is live: the fast path for laying out a whole view."""
        fixes, retracted = self.fixes, self.retracted
        for fact_id, (_, original) in self.base.items():
            content = original
            if fact_id in fixes:
                known = self.would_be(fact_id)
                assert known is not None
                content = known.fact
            yield fact_id, content, fact_id not in retracted

    def effective(self, fact_id: str) -> Known | None:
        """The content in force for a base fact, or ``None`` if retracted or unknown."""
        if fact_id in self.retracted:
            return None
        return self.would_be(fact_id)

    def would_be(self, fact_id: str) -> Known | None:
        """The content that would be in force were the fact not retracted (its corrections
        applied): what a retracted fact is remembered by."""
        stored = self.base.get(fact_id)
        if stored is None:
            return None
        position, fact = stored
        live = [f for f in self.fixes.get(fact_id, ()) if f.fact_id not in self.retracted]
        if not live:
            return Known(fact_id, fact, position)
        winner = max(live, key=lambda f: (f.at, f.fact_id))
        return Known(fact_id, winner.replacement, position, winner.fact_id)

