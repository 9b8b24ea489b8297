"""Merging the terms of one deal (or offering) from many facts.

Every fact about a deal names it by ``deal_id`` and may carry some of its terms.  A null term
is unknown and changes nothing; a known term overrides the same term from any fact earlier in
valid time (``occurred_at``, ties broken by fact id, never by ledger position).  Each merged
term remembers the fact that decided it: the first fact that gave it its current value (a
later fact repeating the same value changes nothing).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from ledger.facts import DealTerms, OfferingTerms

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


class Term(msgspec.Struct, frozen=True, gc=False):
    """A merged term and the fact that decided it.  Quantities are plain Decimals."""

    value: Any
    fact: str


def _plain(term: Any) -> Any:
    return Decimal(term) if isinstance(term, Decimal) else term


Terms = dict[str, Term]


def merge(terms: Terms, update: DealTerms | OfferingTerms, fact: str) -> Terms:
    """The terms after a fact that comes later in valid time than every fact merged so far."""
    fields = DEAL_FIELDS if isinstance(update, DealTerms) else OFFERING_FIELDS
    merged: Terms | None = None
    for name in fields:
        value = getattr(update, name)
        if value is None or value == "unknown":
            continue
        current = terms.get(name)
        if current is not None and current.value == value:
            continue
        if merged is None:
            merged = dict(terms)
        merged[name] = Term(_plain(value), fact)
    return terms if merged is None else merged


def set_term(terms: Terms, name: str, value: Any, fact: str) -> Terms:
    """One term set by a fact that is not a terms object (a confirmation's customer, say)."""
    current = terms.get(name)
    if current is not None and current.value == value:
        return terms
    merged = dict(terms)
    merged[name] = Term(_plain(value), fact)
    return merged


def value(terms: Terms, name: str) -> Any:
    term = terms.get(name)
    return None if term is None else term.value


def deciding(terms: Terms, *names: str) -> tuple[str, ...]:
    """The ids of the facts that decided these terms (known ones only, no repeats)."""
    found: list[str] = []
    for name in names:
        term = terms.get(name)
        if term is not None and term.fact not in found:
            found.append(term.fact)
    return tuple(found)
