"""The market ``xai-compute-2026``: its clauses, how they combine, and its statuses.

A **deal** qualifies when its provider is in the xAI group (or the Tesla exception holds), at
least one inclusion route is met (an enterprise deal announced by the provider or the
customer, a filing disclosing compute revenue, an earnings report, an official confirmation),
and every exclusion, proof and deadline clause holds; unless the creator's ruling in force
says otherwise: ``does_not_count`` excludes it, ``counts`` makes it qualify by the creator's
word.  An **offering** qualifies when ``inc-public-offering`` is met and the same exclusion,
proof and deadline clauses hold.

The status of the market at a valid time T (see :func:`status`) follows DOMAIN.md section 4.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

import msgspec

from compute_ledger.contracts.clauses import (
    REGISTRY,
    Check,
    Clause,
    ClauseKind,
    Context,
    available_since,
    provider_side,
)
from compute_ledger.contracts.state import RulingRef, SubjectState
from compute_ledger.ledger.facts import CLAUSE_IDS, ClauseId

MARKET_ID = "xai-compute-2026"
QUESTION = (
    "Will xAI offer AI compute services to external customers by 11:59 PM PT on "
    "December 31, 2026?"
)
DEADLINE = datetime(2027, 1, 1, 7, 59, 59, 999999, tzinfo=UTC)
"""The end of the minute 23:59 on 2026-12-31 in America/Los_Angeles (2027-01-01T07:59Z):
"by 11:59 PM" includes all of 11:59 PM; 00:00 on January 1 is too late.  It is also the
instant a query for the date 2026-12-31 resolves to."""

CLAUSES: tuple[Clause, ...] = tuple(REGISTRY[clause] for clause in CLAUSE_IDS)
"""The market's clauses in the order of the fact format's ``ClauseId`` (the order every
checklist lists them in); each registered beside its rule in :mod:`contracts.clauses`."""
CLAUSE_KINDS: dict[ClauseId, ClauseKind] = {info.id: info.kind for info in CLAUSES}

DEAL_ROUTES: tuple[ClauseId, ...] = tuple(
    c.id for c in CLAUSES if c.kind == "inclusion" and "deal" in c.applies_to)
OFFERING_ROUTES: tuple[ClauseId, ...] = tuple(
    c.id for c in CLAUSES if c.kind == "inclusion" and "offering" in c.applies_to)
REQUIRED: tuple[ClauseId, ...] = (
    "exc-free-research", "exc-musk-company", "exc-model-license", "exc-collaboration",
    "exc-hardware-sale", "exc-api-access", "exc-vague-statement", "spc-tesla-merger",
    "prf-availability", "prf-customer", "ddl-deadline",
)

Standing = Literal["qualifying", "candidate", "excluded"]
Status = Literal[
    "OPEN", "CRITERIA_MET", "CRITERIA_NOT_MET", "RESOLVED_YES", "RESOLVED_NO", "RESOLVED_NA"
]


class Assessment(msgspec.Struct, frozen=True, gc=False):
    """One deal or offering judged against every clause at a valid time."""

    kind: str
    id: str
    standing: Standing
    qualifies: bool
    by_ruling: bool
    under_review: bool
    available_since: datetime | None
    checks: tuple[Check, ...]
    missing: tuple[str, ...]
    """Clauses that are unknown, or the inclusion routes when none is met: what a fact would
    have to settle for this candidate to qualify."""
    ruling: RulingRef | None


def _rules_say(state: SubjectState, context: Context, check: Callable[[ClauseId], Check]) -> bool:
    """Whether the clauses (rulings aside) let it count.  ``check`` gives one clause's check;
    evaluation stops at the first clause that decides, so a caller that only needs the
    answer pays for the clauses it reads."""
    if provider_side(state, context) not in ("xai", "tesla"):
        return False
    if not all(check(clause).held for clause in REQUIRED):
        return False
    routes = DEAL_ROUTES if state.kind == "deal" else OFFERING_ROUTES
    return any(check(route).state == "met" for route in routes)


def rules_qualify(state: SubjectState, context: Context) -> bool:
    """Whether the clauses alone let it count, the creator's rulings aside: what a history
    records at every step, so that the verdict can apply the ruling in force at the
    question's time to the subject's whole history (DOMAIN.md, "When a deal is judged")."""
    return _rules_say(state, context, lambda clause: REGISTRY[clause](state, context))


def ruled(ruling: RulingRef | None) -> bool | None:
    """What a ruling in force decides by itself: True for ``counts``, False for
    ``does_not_count``, None when the clauses decide (no ruling, or ``under_review``)."""
    if ruling is not None and ruling.ruling in ("counts", "does_not_count"):
        return ruling.ruling == "counts"
    return None


def judged_groups_time(at: datetime, deadline: datetime = DEADLINE) -> datetime:
    """The valid time whose party groups judge a deal at ``at``: ``at`` itself, but never
    later than the deadline (a merger or an acquisition after it changes nothing)."""
    return min(at, deadline)


def qualifies(state: SubjectState, context: Context) -> bool:
    """Whether a deal or offering qualifies: :func:`assess`'s answer, reading only the clauses
    needed to reach it (the projections ask this at every step of every history)."""
    decided = ruled(state.ruling)
    return rules_qualify(state, context) if decided is None else decided


def _ruled(check: Check, ruling: RulingRef | None) -> Check:
    """A clause's check as the creator's ruling in force leaves it: failed, naming the
    ruling, for a clause a ``does_not_count`` ruling names; as it is otherwise."""
    if ruling is None or ruling.ruling != "does_not_count" or check.clause not in ruling.clauses:
        return check
    note = "ruled out by the market's creator"
    if check.state == "failed":
        note = f"{check.note}; the market's creator ruled so too"
    return Check(check.clause, "failed", tuple(dict.fromkeys((ruling.fact, *check.facts))), note)


def _standing(state: SubjectState, context: Context, check: Callable[[ClauseId], Check]
              ) -> tuple[Standing, bool]:
    """The standing and whether the clauses alone let it count, from ``check`` (a clause's
    check as its rule gives it, rulings aside), reading only the clauses needed."""
    ruling = state.ruling
    blocked = ruling is not None and ruling.ruling == "does_not_count"
    by_ruling = ruling is not None and ruling.ruling == "counts"
    rules_say = _rules_say(state, context, check)
    if by_ruling or (rules_say and not blocked):
        return "qualifying", rules_say
    # A ruling changes only the clauses it names, and only to failed: with none that blocks,
    # the checks read here are the assessment's.
    excluded = blocked or provider_side(state, context) == "other" or any(
        check(c).state == "failed" for c in REQUIRED if CLAUSE_KINDS[c] == "exclusion")
    return ("excluded" if excluded else "candidate"), rules_say


def shown_available(check: Callable[[ClauseId], Check]) -> bool:
    """Whether the availability clause is met, from a reader of the checks (what an
    offering's status says: ``available``, else ``announced``)."""
    return check("prf-availability").state == "met"


def judge(state: SubjectState, context: Context
          ) -> tuple[Standing, bool, Callable[[ClauseId], Check]]:
    """What :func:`assess` says of the standing, whether the clauses alone let it count
    (:func:`rules_qualify`), and a reader of any clause's check as the assessment holds it,
    each clause applied only when first read (every step of every history is judged so,
    and one clause more is read of an offering)."""
    raw: dict[ClauseId, Check] = {}

    def check(clause: ClauseId) -> Check:
        found = raw.get(clause)
        if found is None:
            found = raw[clause] = REGISTRY[clause](state, context)
        return found

    standing, rules_say = _standing(state, context, check)
    return standing, rules_say, lambda clause: _ruled(check(clause), state.ruling)


def assess(state: SubjectState, context: Context) -> Assessment:
    """Every clause applied to one deal or offering, and whether it qualifies."""
    ruling = state.ruling
    raw = {clause: rule(state, context) for clause, rule in REGISTRY.items()}
    standing, rules_say = _standing(state, context, raw.__getitem__)
    checks = {clause: _ruled(check, ruling) for clause, check in raw.items()}
    by_ruling = ruling is not None and ruling.ruling == "counts"
    qualifies = standing == "qualifying"
    routes = DEAL_ROUTES if state.kind == "deal" else OFFERING_ROUTES
    missing = [c for c in REQUIRED if checks[c].state == "unknown"]
    if not any(checks[r].state == "met" for r in routes):
        missing[:0] = [r for r in routes if checks[r].state in ("unknown", "failed")]
    since = available_since(state)
    return Assessment(
        kind=state.kind,
        id=state.id,
        standing=standing,
        qualifies=qualifies,
        by_ruling=by_ruling and not rules_say,
        under_review=ruling is not None and ruling.ruling == "under_review",
        available_since=None if since is None else since[0],
        checks=tuple(checks[info.id] for info in CLAUSES),
        missing=tuple(missing) if standing == "candidate" else (),
        ruling=ruling,
    )


RESOLUTIONS: dict[str, Status] = {
    "resolve_yes": "RESOLVED_YES",
    "resolve_no": "RESOLVED_NO",
    "resolve_na": "RESOLVED_NA",
}


def status(
    criteria_met: bool, resolution: RulingRef | None, at: datetime, deadline: datetime = DEADLINE
) -> Status:
    """The market's status at ``at`` (DOMAIN.md section 4)."""
    if resolution is not None and resolution.ruling in RESOLUTIONS:
        return RESOLUTIONS[resolution.ruling]
    if criteria_met:
        return "CRITERIA_MET"
    if at > deadline:
        return "CRITERIA_NOT_MET"
    return "OPEN"


def disagrees_with_rules(
    resolved: Status, criteria_met: bool, at: datetime, deadline: datetime = DEADLINE
) -> bool:
    """Whether a resolution in force contradicts what the clauses say at ``at``.

    The clauses say YES once something qualifies, NO once the deadline has passed with
    nothing qualifying, and nothing yet before that.  RESOLVED_YES disagrees unless they say
    YES; RESOLVED_NO disagrees unless they say NO; RESOLVED_NA disagrees when they say YES
    or NO (an N/A is the creator's call only while the clauses have not decided).
    """
    rules = "YES" if criteria_met else "NO" if at > deadline else None
    if resolved == "RESOLVED_YES":
        return rules != "YES"
    if resolved == "RESOLVED_NO":
        return rules != "NO"
    if resolved == "RESOLVED_NA":
        return rules is not None
    return False
