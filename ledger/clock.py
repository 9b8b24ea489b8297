"""Clocks.  The store is given one; nothing else in the project reads the time.

``recorded_at`` is set at commit from the store's clock, and never decreases along the
ledger's positions: if a clock steps backwards, the ledger keeps the previous instant.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Anything with ``now()`` returning an aware datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """The machine's clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to: for tests, examples and replays.

    ``step`` (if given) advances the clock after every reading, so successive appends get
    distinct ``recorded_at`` instants without the caller managing them.
    """

    def __init__(self, start: datetime, step: timedelta | None = None) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = start
        self._step = step

    def now(self) -> datetime:
        current = self._now
        if self._step is not None:
            self._now = current + self._step
        return current

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = moment

    def advance(self, delta: timedelta) -> None:
        self._now += delta
