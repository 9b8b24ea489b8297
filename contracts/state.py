"""The typed state of one deal or offering at a valid time: what the clauses read.

It is built by a pure fold over the subject's facts (``projections.subjects``) and holds only
what the rules need, so its size does not grow with the number of facts: the merged terms,
the first statement per speaker and channel, the earliest evidence of availability, the
creator's ruling in force.  A fact that only repeats what is known leaves it unchanged.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

import msgspec

from compute_ledger.contracts.terms import Terms

SubjectKind = Literal["deal", "offering"]


class Statement(msgspec.Struct, frozen=True, gc=False):
    """An announcement about the subject: who said it, where, and what it said of availability."""

    speaker: str
    channel: str
    availability: str
    available_from: date | None
    fact: str
    at: datetime


class Evidence(msgspec.Struct, frozen=True, gc=False):
    """Proof that the compute is actually available, and since when."""

    since: datetime
    fact: str
    kind: Literal["announcement", "customer_confirmation", "filing", "offering"]


class RulingRef(msgspec.Struct, frozen=True, gc=False):
    """A creator ruling: its kind, fact, time, the clauses it names and what it says."""

    ruling: str
    fact: str
    at: datetime
    clauses: tuple[str, ...] = ()
    summary: str = ""
    subject: str | None = None
    """The deal or offering id it names, if any."""


class SubjectState(msgspec.Struct, frozen=True, gc=False):
    """One deal or offering as of a valid time, as known at a knowledge position."""

    kind: SubjectKind
    id: str
    terms: Terms
    first_fact: str
    first_at: datetime
    statements: tuple[Statement, ...] = ()
    """The first announcement per (speaker, channel)."""
    latest_statement: Statement | None = None
    """The announcement that last changed what is said of availability."""
    evidence: Evidence | None = None
    """The evidence of availability with the earliest ``since``."""
    filing: str | None = None
    """The first filing about the subject."""
    revenue_filing: str | None = None
    """The first filing about the subject that discloses compute revenue."""
    confirmation: str | None = None
    """The first customer confirmation."""
    ruling: RulingRef | None = None
    """The creator's counts / does_not_count / under_review ruling in force.  (Its
    clarifications decide nothing, so they are no part of the state: see
    :func:`projections.subjects.clarifications`.)"""

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"
