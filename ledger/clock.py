"""Clocks, and the rule that stamps ``recorded_at``.  The store is given a clock; nothing
else in the project reads the time.

``recorded_at`` is stamped by the writer while it holds the ledger's write lock, just before
its batch commits, and it is **strictly increasing** from one batch to the next (the records
of one batch share it: they were learned at once).  :func:`stamp` is that rule.  A clock that
disagrees with the ledger is refused, never silently corrected: a writer whose clock is
behind the head's ``recorded_at`` by more than :data:`BEHIND_TOLERANCE`, or (where the
database has a clock of its own, as a PostgreSQL server does) off the database's clock by
more than :data:`SERVER_TOLERANCE`, gets a :class:`ClockError` naming both times.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import ClassVar, Protocol

from compute_ledger.ledger.errors import StorageError
from compute_ledger.ledger.instants import ONE_MICROSECOND, from_utc_text, utc_text

BEHIND_TOLERANCE = timedelta(seconds=2)
"""How far a writer's clock may be behind the head's ``recorded_at`` and still append (the
batch is then stamped one microsecond after the head).  Two machines that each agree with the
database server within :data:`SERVER_TOLERANCE` agree with each other within this."""

SERVER_TOLERANCE = timedelta(seconds=1)
"""How far a writer's wall clock may be from the database server's clock."""


class Clock(Protocol):
    """Anything with ``now()`` returning an aware datetime.

    ``wall`` says whether it claims to tell the real time: only a wall clock is held against
    the database server's (a manual clock in a test or a replay deliberately does not)."""

    wall: ClassVar[bool]

    def now(self) -> datetime: ...


class ClockError(StorageError):
    """The writer's clock disagrees with the ledger (or the server): nothing was written."""


class SystemClock:
    """The machine's clock, in UTC."""

    wall: ClassVar[bool] = True

    def now(self) -> datetime:
        return datetime.now(UTC)


class OffsetClock(SystemClock):
    """The machine's clock moved by ``offset``: a wall clock that is wrong, for the tests of
    what a skewed writer meets."""

    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


class ManualClock:
    """A clock that moves only when told to: for tests, examples and replays.

    ``step`` (if given) advances the clock after every reading, so successive appends get
    distinct ``recorded_at`` instants without the caller managing them.
    """

    wall: ClassVar[bool] = False

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


def stamp(head: str | None, now: datetime, server: datetime | None = None) -> str:
    """The ``recorded_at`` of a batch committed on top of a head recorded at ``head`` (None:
    the ledger is empty), by a writer whose clock reads ``now``; ``server`` is the database's
    own clock where it has one (checked against ``now`` only for a wall clock: the caller
    passes None otherwise).

    >>> stamp("2026-05-06T17:00:00.000000Z", datetime(2026, 5, 6, 17, 0, 1, tzinfo=UTC))
    '2026-05-06T17:00:01.000000Z'
    >>> stamp("2026-05-06T17:00:00.000000Z", datetime(2026, 5, 6, 17, 0, 0, tzinfo=UTC))
    '2026-05-06T17:00:00.000001Z'
    """
    if server is not None and abs(now - server) > SERVER_TOLERANCE:
        raise ClockError(
            f"this machine's clock says {utc_text(now)} but the database server's says "
            f"{utc_text(server)}: they differ by more than {_seconds(SERVER_TOLERANCE)}, "
            "so the batch could not be given a trustworthy recorded_at; nothing was "
            "written (set the clock right, e.g. with NTP, and append again)"
        )
    if head is None:
        return utc_text(now)
    last = from_utc_text(head)
    if now > last:
        return utc_text(now)
    if last - now > BEHIND_TOLERANCE:
        raise ClockError(
            f"this machine's clock says {utc_text(now)}, before the ledger's last "
            f"recorded_at {head} by more than {_seconds(BEHIND_TOLERANCE)}: recorded_at "
            "never goes back, so nothing was written (set the clock right and append "
            "again; if the ledger's last time is itself wrong, see docs/clocks.md)"
        )
    return utc_text(last + ONE_MICROSECOND)


def _seconds(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    return f"{seconds:g} second{'s' * (seconds != 1)}"
