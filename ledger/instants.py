"""Instants, dates and the market's time zone.

Pure helpers shared by the fact format, the rules and the CLI.  Two conventions live here and
nowhere else:

* a *query* date (``--as-of 2026-05-07``) means the end of that day in America/Los_Angeles,
  inclusive: the last microsecond before midnight;
* a *term* date (``starts_on``, ``ends_on``, ``available_from``) means the start of that day in
  America/Los_Angeles: a deal that starts on 2026-05-06 is running at 00:00 PT that day.

Timestamps without a UTC offset are refused: guessing a zone is how markets get mis-resolved.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

MARKET_TZ = ZoneInfo("America/Los_Angeles")
ONE_MICROSECOND = timedelta(microseconds=1)

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
_INSTANT = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)"
    r"(?P<offset>[Zz]|[+-]\d{2}:\d{2})?\Z"
)


EARLIEST = date(2, 1, 1)
LATEST = date(9998, 12, 31)
"""The range of time the ledger speaks of: a fact's dates, and its instants and the instants
a question names from the start of EARLIEST (UTC) to the end of LATEST in the market's time
zone (so ``--as-of 9998-12-31``, the end of that day in Los Angeles, is inside).  Python's
datetimes end at years 1 and 9999; the margin leaves room for the time-zone and day
arithmetic of the projections (the end of a day in Los Angeles, the next microsecond), so
whatever is accepted can always be folded."""


_FIRST_INSTANT = datetime.combine(EARLIEST, time(0), UTC)
_AFTER_LAST_INSTANT = datetime.combine(LATEST, time(0), UTC) + timedelta(days=1, hours=8)
"""The end of LATEST in Los Angeles (UTC-8 in winter)."""


def in_range(moment: date) -> bool:
    """Whether an instant (by its UTC date) or a date lies within EARLIEST .. LATEST."""
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            return EARLIEST <= moment.date() <= LATEST
        # Aware datetimes compare by their UTC instants, without converting (which could
        # overflow at the ends of the calendar).
        return _FIRST_INSTANT <= moment < _AFTER_LAST_INSTANT
    return EARLIEST <= moment <= LATEST


def range_problem(moment: date) -> str:
    """Why ``moment`` is refused (for an error message)."""
    return (f"{moment.isoformat()} is outside the supported range {EARLIEST} to {LATEST}"
            + (" (UTC)" if isinstance(moment, datetime) else ""))


class InstantSyntaxError(ValueError):
    """Text that is neither an RFC 3339 instant with an offset nor a YYYY-MM-DD date."""


@lru_cache(maxsize=8192)
def start_of_day(day: date) -> datetime:
    """00:00 of ``day`` in the market's time zone (a term date's instant), in UTC like every
    instant the projections hold (comparing instants of one zone is the fast path).  Cached:
    folds ask for the same few term dates again and again."""
    return datetime.combine(day, time(0), MARKET_TZ).astimezone(UTC)


def end_of_day(day: date) -> datetime:
    """The last microsecond of ``day`` in the market's time zone (a query date's instant)."""
    return start_of_day(day + timedelta(days=1)) - ONE_MICROSECOND


def parse_instant(text: str, *, day_start: bool = False) -> datetime:
    """Parse a query time: an RFC 3339 instant with an offset, or a date (end of that day, PT;
    with ``day_start``, its start: where a date opens a range, as ``--since`` does).

    >>> parse_instant("2026-05-07").isoformat()
    '2026-05-07T23:59:59.999999-07:00'
    >>> parse_instant("2026-05-06T10:00:00Z").isoformat()
    '2026-05-06T10:00:00+00:00'
    """
    text = text.strip()
    if _DATE.match(text):
        try:
            day = date.fromisoformat(text)
        except ValueError as exc:
            raise InstantSyntaxError(f"{text!r} is not a valid date: {exc}") from None
        if not in_range(day):
            raise InstantSyntaxError(range_problem(day))
        return start_of_day(day) if day_start else end_of_day(day)
    match = _INSTANT.match(text)
    if match is None and _INSTANT.match(re.sub(r"(\.\d{6})\d+", r"\1", text)):
        raise InstantSyntaxError(
            f"{text!r} has more than 6 fractional digits: instants are kept to the "
            "microsecond, so give at most 6"
        )
    if match is None:
        raise InstantSyntaxError(
            f"{text!r} is not a date (YYYY-MM-DD) or an RFC 3339 instant "
            "(YYYY-MM-DDTHH:MM:SS with Z or an offset such as -07:00)"
        )
    if match.group("offset") is None:
        raise InstantSyntaxError(
            f"{text!r} has no UTC offset; add Z or an offset such as -07:00 "
            "(a time zone is never guessed)"
        )
    normalised = text.replace("z", "Z").replace("t", "T")
    try:
        moment = datetime.fromisoformat(normalised.replace(" ", "T"))
    except ValueError as exc:
        raise InstantSyntaxError(f"{text!r} is not a valid instant: {exc}") from None
    if not in_range(moment):
        raise InstantSyntaxError(range_problem(moment))
    return moment


def utc_text(moment: datetime) -> str:
    """The sortable, fixed-width UTC text of an instant: ``2026-05-06T17:00:00.000000Z``.

    Used wherever instants are compared as text (stored ``recorded_at``, projection keys).
    """
    if moment.tzinfo is None:
        raise ValueError("naive datetime: an instant needs a time zone")
    # isoformat, not strftime: twice as fast, and it pads years before 1000 to four digits
    # (strftime's %Y does not on glibc, which would break the text's order).
    return moment.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def from_utc_text(text: str) -> datetime:
    """Inverse of :func:`utc_text`."""
    return datetime.fromisoformat(text)


def rfc3339(moment: datetime) -> str:
    """RFC 3339 text in UTC with ``Z``, microseconds only when present (for JSON answers)."""
    text = moment.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def market_text(moment: datetime) -> str:
    """Human text in the market's zone: ``2026-05-07 23:59:59.999999 PDT``."""
    local = moment.astimezone(MARKET_TZ)
    fmt = "%Y-%m-%d %H:%M:%S.%f %Z" if local.microsecond else "%Y-%m-%d %H:%M:%S %Z"
    return local.strftime(fmt)
