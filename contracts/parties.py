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

from collections.abc import Iterable

import msgspec

XAI = "xai"
TESLA = "tesla"
MUSK = "elon-musk"
BASE_MUSK_COMPANIES = frozenset({"tesla", "x-corp", "spacex", "xai", "neuralink", "boring-company"})
XAI_FACILITY_PREFIX = "colossus"


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
