"""Short constructors for facts in tests, and a pure (database-free) way to judge them."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, date, datetime

import msgspec

from compute_ledger.contracts.market import Assessment
from compute_ledger.ledger import facts as F
from compute_ledger.ledger.instants import parse_instant
from compute_ledger.projections.answers import Business, Timeline, Verdict
from compute_ledger.projections.business import business
from compute_ledger.projections.timeline import timeline
from compute_ledger.projections.verdict import verdict
from compute_ledger.projections.view import View, build_view

_ids = itertools.count(1)
SOURCE = F.Source(url="https://example.org/report")
NOW = datetime(2026, 11, 23, tzinfo=UTC)


def at(text: str) -> datetime:
    """A test time: a date (end of that day, Pacific) or an RFC 3339 instant."""
    return parse_instant(text)


def _id(prefix: str, given: str | None) -> str:
    return given or f"{prefix}-{next(_ids)}"


def terms(deal_id: str = "d1", **fields: object) -> F.DealTerms:
    base: dict[str, object] = {"deal_id": deal_id}
    base.update({k: v for k, v in fields.items() if v is not None})
    return msgspec.convert(base, F.DealTerms, dec_hook=F._dec_hook, strict=False)


GOOD = {
    "provider": "xai", "customer": "acme", "service": "training", "consideration": "cash",
    "facilities": ["colossus-1"], "capacity_mw": "100", "starts_on": None,
}


def announce(
    when: str = "2026-06-01T12:00:00Z",
    deal_id: str = "d1",
    *,
    id: str | None = None,
    speaker: str = "xai",
    channel: str = "official_site",
    availability: str = "available",
    available_from: str | None = None,
    **changes: object,
) -> F.Announcement:
    """An announcement of a deal; by default one that qualifies (xai sells training to acme
    for cash on Colossus 1, available now, on xAI's site)."""
    fields = {**GOOD, **changes}
    return F.Announcement(
        id=_id("ann", id), occurred_at=at(when), source=SOURCE, speaker=speaker,
        channel=channel,  # type: ignore[arg-type]
        availability=availability,  # type: ignore[arg-type]
        available_from=date.fromisoformat(available_from) if available_from else None,
        deal=terms(deal_id, **fields),
    )


def offering_announcement(
    when: str, offering_id: str = "o1", *, id: str | None = None,
    availability: str = "available", **fields: object,
) -> F.Announcement:
    offering = msgspec.convert({"offering_id": offering_id, **fields}, F.OfferingTerms,
                               strict=False)
    return F.Announcement(
        id=_id("ann", id), occurred_at=at(when), source=SOURCE, speaker="xai",
        channel="official_site", availability=availability,  # type: ignore[arg-type]
        offering=offering,
    )


def offering(when: str, offering_id: str = "o1", *, id: str | None = None,
             **fields: object) -> F.Offering:
    terms_ = msgspec.convert({"offering_id": offering_id, **fields}, F.OfferingTerms,
                             strict=False)
    return F.Offering(id=_id("off", id), occurred_at=at(when), source=SOURCE, offering=terms_)


def confirm(when: str, deal_id: str = "d1", *, customer: str = "acme", in_use: bool = True,
            id: str | None = None) -> F.CustomerConfirmation:
    return F.CustomerConfirmation(
        id=_id("conf", id), occurred_at=at(when), source=SOURCE, customer=customer,
        deal_id=deal_id, in_use=in_use, statement="we use it",
    )


def filing(when: str, deal_id: str | None = "d1", *, discloses: bool = True,
           id: str | None = None, **fields: object) -> F.Filing:
    return F.Filing(
        id=_id("fil", id), occurred_at=at(when), source=SOURCE, filer="spacex", form="10-Q",
        discloses_compute_revenue=discloses,
        deal=None if deal_id is None else terms(deal_id, **fields),
    )


def rule(when: str, ruling: str, deal_id: str | None = None, *, clauses: Sequence[str] = (),
         id: str | None = None) -> F.CreatorRuling:
    return F.CreatorRuling(
        id=_id("rul", id), occurred_at=at(when), source=SOURCE,
        ruling=ruling,  # type: ignore[arg-type]
        deal_id=deal_id, clauses=tuple(clauses) or None,  # type: ignore[arg-type]
        summary=f"{ruling} {deal_id or ''}",
    )


def corporate(when: str, action: str, parties: Sequence[str], result: str,
              *, id: str | None = None) -> F.CorporateEvent:
    return F.CorporateEvent(
        id=_id("corp", id), occurred_at=at(when), source=SOURCE,
        action=action,  # type: ignore[arg-type]
        parties=tuple(parties), result=result,
    )


def correct(when: str, target: F.Fact, replacement: F.Fact, *, id: str | None = None
            ) -> F.Correction:
    assert target.id is not None
    return F.Correction(
        id=_id("fix", id), occurred_at=at(when), corrects=target.id,
        fact=msgspec.structs.replace(replacement, id=None),  # type: ignore[arg-type]
        reason="corrected",
    )


def retract(when: str, target: F.Fact, *, id: str | None = None) -> F.Retraction:
    assert target.id is not None
    return F.Retraction(id=_id("drop", id), occurred_at=at(when), retracts=target.id,
                        reason="withdrawn")


def view_of(*facts: F.Fact) -> View:
    """The view of these facts appended in this order, all in one batch."""
    return build_view((i, "2026-11-23T00:00:00.000000Z", "h", f)
                      for i, f in enumerate(facts, start=1))


def verdict_of(*facts: F.Fact, as_of: str = "2026-11-01") -> Verdict:
    return verdict(view_of(*facts), at(as_of), NOW)


def business_of(*facts: F.Fact, as_of: str = "2026-11-01") -> Business:
    return business(view_of(*facts), at(as_of), NOW)


def timeline_of(*facts: F.Fact) -> Timeline:
    return timeline(view_of(*facts), NOW)


def judge(*facts: F.Fact, as_of: str = "2026-11-01", key: str = "deal:d1") -> Assessment:
    """The assessment of one deal (or offering) as of a time."""
    from compute_ledger.projections.verdict import assess_subject

    view = view_of(*facts)
    moment = at(as_of)
    step = view.subjects[key].at(moment)
    assert step is not None, f"{key} is not known as of {as_of}"
    assessment = assess_subject(step.state, moment, view.groups_at(moment))
    assert assessment.qualifies == step.qualifies  # the step's flag holds over its interval
    return assessment


def checks(assessment: Assessment) -> dict[str, str]:
    return {c.clause: c.state for c in assessment.checks}
