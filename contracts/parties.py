"""Party groups: the xAI group and the Musk companies, as corporate events change them.

Pure: the caller passes the corporate events in force (those with ``occurred_at <= T``), in
valid-time order; the groups at T come back with the ids of the events that shaped them.

* The **xAI group** starts as ``{xai}`` and takes in every party of a merger or acquisition
  that involves a member, and the new name of a renamed member.  Tesla never joins it: a
  formal xAI-Tesla merger instead switches on the Tesla exception (``spc-tesla-merger``).
* The **Musk companies** start as tesla, x-corp, spacex, xai, neuralink and boring-company
  and take in every party merged into, acquiring or acquired by one of them.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable, Iterator

import msgspec

XAI = "xai"
TESLA = "tesla"
MUSK = "elon-musk"
BASE_MUSK_COMPANIES = frozenset({"tesla", "x-corp", "spacex", "xai", "neuralink", "boring-company"})
XAI_FACILITY_PREFIX = "colossus"

KNOWN_PARTIES: dict[str, str] = {
    MUSK: "Elon Musk himself (his own posts confirm under inc-official-confirmation)",
    XAI: "xAI, the provider the market is about",
    "spacex": "SpaceX, a Musk company (xAI became part of it by share exchange)",
    TESLA: "Tesla, a Musk company; its compute counts only after a formal xAI merger",
    "x-corp": "X Corp., a Musk company",
    "neuralink": "Neuralink, a Musk company",
    "boring-company": "The Boring Company, a Musk company",
}
"""The party slugs the rules know by name (docs/facts.md lists them); corporate events add
more (whoever merges into or is acquired by one of them)."""

PARTY_ROLES = ("speaker", "provider", "filer", "customer")
"""The fields where a party's slug decides a clause, so a misspelt one changes a verdict
(``x-ai`` as a provider is outside the xAI group; ``tesla-inc`` as a customer is external)."""


class CorporateChange(msgspec.Struct, frozen=True):
    """What the rules need from a corporate_event fact."""

    fact: str
    action: str
    parties: tuple[str, ...]
    result: str


class Groups(msgspec.Struct, frozen=True, gc=False):
    """The groups at a valid time.  Members are kept sorted, so equal groups encode equally."""

    xai_group: tuple[str, ...]
    musk_companies: tuple[str, ...]
    tesla_names: tuple[str, ...]
    tesla_merger: str | None
    """The id of the corporate event that formally merged Tesla and the xAI group, if any."""
    shaped_by: tuple[str, ...]
    """Ids of the corporate events that changed either group."""

    def in_xai_group(self, party: str) -> bool:
        return party in self.xai_group

    def is_musk_company(self, party: str) -> bool:
        return party in self.musk_companies

    def is_tesla(self, party: str) -> bool:
        return party in self.tesla_names


INITIAL = Groups((XAI,), tuple(sorted(BASE_MUSK_COMPANIES)), (TESLA,), None, ())


def groups_after(changes: Iterable[CorporateChange]) -> Groups:
    """The groups after applying ``changes`` (in valid-time order) to the initial groups."""
    groups = INITIAL
    for change in changes:
        groups = apply(groups, change)
    return groups


def apply(groups: Groups, change: CorporateChange) -> Groups:
    """The groups after one corporate event."""
    involved = frozenset(change.parties) | {change.result}
    xai = frozenset(groups.xai_group)
    musk = frozenset(groups.musk_companies)
    tesla = frozenset(groups.tesla_names)
    merger = groups.tesla_merger
    if change.action == "rename":
        old = change.parties[0]
        if old in xai:
            xai = xai | {change.result}
        if old in musk:
            musk = musk | {change.result}
        if old in tesla:
            tesla = tesla | {change.result}
    else:
        if involved & tesla and (involved - tesla) & xai:
            merger = merger or change.fact
        if involved & xai:
            xai = xai | (involved - tesla)
        if involved & musk:
            musk = musk | involved
    after = (tuple(sorted(xai)), tuple(sorted(musk)), tuple(sorted(tesla)), merger)
    if after == (groups.xai_group, groups.musk_companies, groups.tesla_names,
                 groups.tesla_merger):
        return groups
    return Groups(*after, shaped_by=(*groups.shaped_by, change.fact))


def is_xai_facility(facility: str) -> bool:
    """Colossus 1, Colossus 2 and any other ``colossus*`` site are explicitly xAI facilities."""
    return facility.startswith(XAI_FACILITY_PREFIX)


class PartyWarning(msgspec.Struct, frozen=True):
    """A slug in a role where it matters, unknown to the rules but close to one they know:
    most likely a misspelling.  Not refused: an outside party is named the same way."""

    path: str
    slug: str
    suggestion: str

    @property
    def reason(self) -> str:
        return (f"{self.slug!r} is not a party the rules know, so it counts as an outside "
                f"party; did you mean {self.suggestion!r}?")

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def _named(node: object, path: str) -> Iterator[tuple[str, str]]:
    """(JSON path, slug) of every party role in a fact or a struct inside it (the roles are
    read by name: a bulk append asks this of every fact)."""
    for role in PARTY_ROLES:
        value = getattr(node, role, None)
        if isinstance(value, str):
            yield f"{path}.{role}", value
    for inner in ("deal", "offering", "fact"):
        value = getattr(node, inner, None)
        if isinstance(value, msgspec.Struct):
            yield from _named(value, f"{path}.{inner}")


def known_names(known: Iterable[str] = ()) -> frozenset[str]:
    """The slugs the rules know, with ``known`` (parties corporate events have named)."""
    return frozenset(KNOWN_PARTIES) | frozenset(known)


def party_warnings(fact: object, names: frozenset[str]) -> list[PartyWarning]:
    """The party roles of ``fact`` (a fact, a correction's replacement included) whose slug
    is not in ``names`` (:func:`known_names`) but is close to one of them (``difflib``'s
    ratio of at least 0.7): a likely typo, with the nearest known slug.  A slug close to
    none (``anthropic``) is an outside party."""
    found = []
    for path, slug in _named(fact, "$"):
        if slug not in names:
            nearest = _nearest(slug, names)
            if nearest is not None:
                found.append(PartyWarning(path, slug, nearest))
    return found


@functools.lru_cache(maxsize=4096)
def _nearest(slug: str, names: frozenset[str]) -> str | None:
    """The known slug closest to ``slug``, if close enough (cached: a bulk append names the
    same few parties again and again)."""
    nearest = difflib.get_close_matches(slug, sorted(names), n=1, cutoff=0.7)
    return nearest[0] if nearest else None


def named_by(groups: Groups) -> set[str]:
    """Every party the groups hold (what corporate events have taught the rules)."""
    return {*groups.xai_group, *groups.musk_companies, *groups.tesla_names}
