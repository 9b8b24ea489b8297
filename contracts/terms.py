"""Merging the terms of one deal (or offering) from many facts.

Every fact about a deal names it by ``deal_id`` and may carry some of its terms.  A null term
is unknown and changes nothing; a known term overrides the same term from any fact earlier in
valid time (``occurred_at``, ties broken by fact id, never by ledger position).  Each merged
term remembers the fact that decided it: the first fact that gave it its current value (a
later fact repeating the same value changes nothing).

Terms are typed (a :class:`Terms` Struct), so they survive a round trip through storage
exactly: quantities stay Decimals, dates stay dates.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any, Generic, TypeVar

import msgspec

from compute_ledger.ledger.facts import DealTerms, OfferingTerms

V = TypeVar("V")

DEAL_FIELDS = (
    "provider",
    "customer",
    "service",
    "consideration",
    "facilities",
    "capacity_mw",
    "usd_per_month",
    "starts_on",
    "ends_on",
)
OFFERING_FIELDS = ("provider", "service", "signup_open", "pricing_published", "available_from")


class Term(msgspec.Struct, Generic[V], frozen=True, gc=False):
    """A merged term and the fact that decided it."""

    value: V
    fact: str


class Terms(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    """The merged terms of a deal or an offering (unset: unknown)."""

    provider: Term[str] | None = None
    customer: Term[str] | None = None
    service: Term[str] | None = None
    consideration: Term[str] | None = None
    facilities: Term[tuple[str, ...]] | None = None
    capacity_mw: Term[Decimal] | None = None
    usd_per_month: Term[Decimal] | None = None
    starts_on: Term[date] | None = None
    ends_on: Term[date] | None = None
    signup_open: Term[bool] | None = None
    pricing_published: Term[bool] | None = None
    available_from: Term[date] | None = None
    capacity_facilities: Term[tuple[str, ...]] | None = None
    """The facilities the capacity was reported for: those named by the fact that stated
    it, else the facilities known then (a later fact naming more facilities for the deal
    does not move its megawatts there)."""


NO_TERMS = Terms()


def _plain(term: Any) -> Any:
    return Decimal(term) if isinstance(term, Decimal) else term


def merge(terms: Terms, update: DealTerms | OfferingTerms, fact: str) -> Terms:
    """The terms after a fact that comes later in valid time than every fact merged so far."""
    fields = DEAL_FIELDS if isinstance(update, DealTerms) else OFFERING_FIELDS
    changes: dict[str, Term[Any]] = {}
    for name in fields:
        new = getattr(update, name)
        if new is None or new == "unknown":
            continue
        current: Term[Any] | None = getattr(terms, name)
        if current is None or current.value != new:
            changes[name] = Term(_plain(new), fact)
    if isinstance(update, DealTerms) and update.capacity_mw is not None:
        where = update.facilities if update.facilities is not None else (
            None if terms.facilities is None or "capacity_mw" not in changes
            else terms.facilities.value)
        if where is not None and (terms.capacity_facilities is None
                                  or terms.capacity_facilities.value != tuple(where)):
            changes["capacity_facilities"] = Term(tuple(where), fact)
    return msgspec.structs.replace(terms, **changes) if changes else terms


def set_term(terms: Terms, name: str, new: Any, fact: str) -> Terms:
    """One term set by a fact that is not a terms object (a confirmation's customer, say)."""
    current: Term[Any] | None = getattr(terms, name)
    if current is not None and current.value == new:
        return terms
    return msgspec.structs.replace(terms, **{name: Term(_plain(new), fact)})


def value(terms: Terms, name: str) -> Any:
    """A term's value, or None when unknown."""
    term: Term[Any] | None = getattr(terms, name)
    return None if term is None else term.value


def known(terms: Terms) -> Iterator[tuple[str, Term[Any]]]:
    """The known terms, as (name, term)."""
    for name in terms.__struct_fields__:
        term: Term[Any] | None = getattr(terms, name)
        if term is not None:
            yield name, term


def deciding(terms: Terms, *names: str) -> tuple[str, ...]:
    """The ids of the facts that decided these terms (known ones only, no repeats)."""
    found: list[str] = []
    for name in names:
        term: Term[Any] | None = getattr(terms, name)
        if term is not None and term.fact not in found:
            found.append(term.fact)
    return tuple(found)
