"""Hypothesis strategies for valid facts of every type."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import cast

from hypothesis import strategies as st

from compute_ledger.ledger import facts as F

ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=-7)), timezone(timedelta(hours=-8)),
     timezone(timedelta(hours=5, minutes=30))]
)
slugs = st.from_regex(r"[a-z0-9]{1,6}(-[a-z0-9]{1,6}){0,2}", fullmatch=True)
fact_ids = st.from_regex(r"[a-z0-9]([a-z0-9._:-]{0,20}[a-z0-9])?", fullmatch=True)
instants = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2028, 12, 31), timezones=ZONES
)
days = st.dates(min_value=datetime(2024, 1, 1).date(), max_value=datetime(2030, 12, 31).date())
texts = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=40)


def _in_bounds(text: str) -> bool:
    whole, _, fraction = text.partition(".")
    return len(whole) <= F.QUANTITY_DIGITS[0] and len(fraction) <= F.QUANTITY_DIGITS[1]


quantities = st.from_regex(F.QUANTITY_PATTERN, fullmatch=True).filter(_in_bounds).map(
    F.Quantity)


def _literal(vocabulary: object) -> st.SearchStrategy[str]:
    """One value of a Literal type, as a plain string (each use below casts it back)."""
    import typing

    return st.sampled_from(typing.get_args(vocabulary))


# mypy cannot carry a Literal through typing.get_args, so each vocabulary's strategy is cast
# to the Literal it samples from (the values are exactly that Literal's arguments).
services = cast("st.SearchStrategy[F.Service]", _literal(F.Service))
considerations = cast("st.SearchStrategy[F.Consideration]", _literal(F.Consideration))
channels = cast("st.SearchStrategy[F.Channel]", _literal(F.Channel))
availabilities = cast("st.SearchStrategy[F.Availability]", _literal(F.Availability))
forms = cast("st.SearchStrategy[F.Form]", _literal(F.Form))
ruling_kinds = cast("st.SearchStrategy[F.RulingKind]", _literal(F.RulingKind))
clause_ids = cast("st.SearchStrategy[F.ClauseId]", _literal(F.ClauseId))
corporate_actions = cast("st.SearchStrategy[F.CorporateAction]", _literal(F.CorporateAction))


sources = st.one_of(
    st.builds(F.Source, url=st.just("https://example.org/a"), publisher=st.none() | texts,
              title=st.none() | texts, quote=st.none() | texts, note=st.none() | texts),
    st.builds(F.Source, document=texts),
)


@st.composite
def deal_terms(draw: st.DrawFn) -> F.DealTerms:
    start = draw(st.none() | days)
    end = draw(st.none() | days)
    if start is not None and end is not None and end < start:
        start, end = end, start
    return F.DealTerms(
        deal_id=draw(slugs),
        provider=draw(st.none() | slugs),
        customer=draw(st.none() | slugs),
        service=draw(st.none() | services),
        consideration=draw(st.none() | considerations),
        facilities=draw(
            st.none() | st.lists(slugs, min_size=1, max_size=3, unique=True).map(tuple)
        ),
        capacity_mw=draw(st.none() | quantities),
        usd_per_month=draw(st.none() | quantities),
        starts_on=start,
        ends_on=end,
    )


offering_terms = st.builds(
    F.OfferingTerms,
    offering_id=slugs,
    provider=st.none() | slugs,
    service=st.none() | services,
    signup_open=st.none() | st.booleans(),
    pricing_published=st.none() | st.booleans(),
    available_from=st.none() | days,
)

_ids = st.none() | fact_ids


@st.composite
def announcements(draw: st.DrawFn, ids: st.SearchStrategy[str | None] = _ids) -> F.Announcement:
    with_deal = draw(st.booleans())
    return F.Announcement(
        id=draw(ids), occurred_at=draw(instants), source=draw(sources), speaker=draw(slugs),
        channel=draw(channels), availability=draw(availabilities),
        available_from=draw(st.none() | days),
        deal=draw(deal_terms()) if with_deal else None,
        offering=None if with_deal else draw(offering_terms),
    )


def filings(ids: st.SearchStrategy[str | None] = _ids) -> st.SearchStrategy[F.Filing]:
    return st.builds(F.Filing, id=ids, occurred_at=instants, source=sources, filer=slugs,
                     form=forms, discloses_compute_revenue=st.booleans(),
                     deal=st.none() | deal_terms())


def confirmations(
    ids: st.SearchStrategy[str | None] = _ids,
) -> st.SearchStrategy[F.CustomerConfirmation]:
    return st.builds(F.CustomerConfirmation, id=ids, occurred_at=instants, source=sources,
                     customer=slugs, deal_id=slugs, in_use=st.booleans(), statement=texts)


def offerings(ids: st.SearchStrategy[str | None] = _ids) -> st.SearchStrategy[F.Offering]:
    return st.builds(F.Offering, id=ids, occurred_at=instants, source=sources,
                     offering=offering_terms)


@st.composite
def rulings(draw: st.DrawFn, ids: st.SearchStrategy[str | None] = _ids) -> F.CreatorRuling:
    kind = draw(ruling_kinds)
    needs_deal = kind in ("counts", "does_not_count", "under_review")
    return F.CreatorRuling(
        id=draw(ids), occurred_at=draw(instants), source=draw(sources), ruling=kind,
        deal_id=draw(slugs) if needs_deal else draw(st.none() | slugs),
        clauses=draw(st.none() | st.lists(clause_ids, min_size=1, max_size=3,
                                          unique=True).map(tuple)),
        summary=draw(texts),
    )


@st.composite
def corporate_events(
    draw: st.DrawFn, ids: st.SearchStrategy[str | None] = _ids
) -> F.CorporateEvent:
    action = draw(corporate_actions)
    if action == "rename":
        old, new = draw(st.lists(slugs, min_size=2, max_size=2, unique=True))
        parties: tuple[str, ...] = (old,)
        result = new
    else:
        parties = tuple(draw(st.lists(slugs, min_size=2, max_size=3, unique=True)))
        result = draw(st.sampled_from(parties))
    return F.CorporateEvent(id=draw(ids), occurred_at=draw(instants), source=draw(sources),
                            action=action, parties=parties, result=result)


def sourced_facts(ids: st.SearchStrategy[str | None] = _ids) -> st.SearchStrategy[F.Fact]:
    return st.one_of(announcements(ids), filings(ids), confirmations(ids), offerings(ids),
                     rulings(ids), corporate_events(ids))


corrections = st.builds(
    F.Correction, id=_ids, occurred_at=instants, source=st.none() | sources, corrects=fact_ids,
    fact=sourced_facts(st.none()), reason=texts,
).filter(lambda c: c.id != c.corrects)
retractions = st.builds(
    F.Retraction, id=_ids, occurred_at=instants, source=st.none() | sources,
    retracts=fact_ids, reason=texts,
).filter(lambda r: r.id != r.retracts)

any_fact = st.one_of(sourced_facts(), corrections, retractions)
"""Any single valid fact (corrections and retractions name arbitrary targets)."""

FACT_STRATEGIES = {
    "announcement": announcements(),
    "filing": filings(),
    "customer_confirmation": confirmations(),
    "offering": offerings(),
    "creator_ruling": rulings(),
    "corporate_event": corporate_events(),
    "correction": corrections,
    "retraction": retractions,
}
