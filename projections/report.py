"""What ``compute-ledger report`` draws, gathered from the other answers.  Pure.

The report is the verdict, the business and the timeline at one (as_of, known_at), plus
what only a picture needs: the market's status as bands over valid time (the timeline's
points, each band lasting until the next point), each deal's capacity and monthly price as
steps over valid time with its facts as marks, and the source of every fact shown.  Nothing
here is decided anew: the bands are the timeline's statuses, the checklist is the verdict's,
the marks are the facts the histories and the verdict name.  ``cli/report.py`` renders it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Literal, NamedTuple

import msgspec

from compute_ledger.contracts.market import DEADLINE, Status
from compute_ledger.contracts.terms import value
from compute_ledger.ledger.facts import Correction, Retraction
from compute_ledger.projections.answers import Business, Timeline, Verdict, utc
from compute_ledger.projections.provenance import Provenance
from compute_ledger.projections.timeline import qualifying_along
from compute_ledger.projections.view import Histories

REPORT_FORMAT = "compute-ledger/report/1"

BandKind = Literal["OPEN", "CRITERIA_MET", "UNDER_REVIEW", "CRITERIA_NOT_MET", "RESOLVED"]


class Band(msgspec.Struct, frozen=True, kw_only=True):
    """The market's status from ``start`` (None: from the start of valid time) until
    ``end`` (None: from then on)."""

    start: datetime | None
    end: datetime | None
    status: Status
    kind: BandKind
    """What the band is drawn as: the status, with CRITERIA_MET under review by the
    market's creator apart, and the three resolutions as one."""


class Level(msgspec.Struct, frozen=True, kw_only=True):
    """A value from ``at`` until the next level (None: unknown, or not counted)."""

    at: datetime
    value: Decimal | None


class Mark(msgspec.Struct, frozen=True, kw_only=True):
    """A fact drawn at the valid time it occurred."""

    fact: str
    at: datetime


class DealSeries(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    capacity_mw: list[Level]
    """Its capacity term along valid time."""
    run_rate_usd: list[Level]
    """What it adds to the monthly run-rate: its price while it is active (the timeline's
    ``usd_per_month`` changes on it)."""
    marks: list[Mark]
    """The facts its history was made of, at the valid time each occurred."""


class SourceOut(msgspec.Struct, frozen=True, kw_only=True):
    """A fact as the report lists it: what it is, when, and where it comes from."""

    id: str
    type: str
    position: int
    occurred_at: datetime
    live: bool
    target: str | None = None
    """For a correction or retraction: the fact it names."""
    reason: str | None = None
    """For a correction or retraction: why, as it says."""
    title: str | None = None
    url: str | None = None
    document: str | None = None
    publisher: str | None = None
    note: str | None = None


class Report(msgspec.Struct, frozen=True, kw_only=True):
    schema: str = REPORT_FORMAT
    verdict: Verdict
    business: Business
    timeline: Timeline
    bands: list[Band]
    deciding: list[Mark]
    """One mark per fact the verdict names (its checks' and its rulings')."""
    deals: list[DealSeries]
    sources: list[SourceOut]
    """Every fact the report shows, in ledger order."""
    deadline: datetime = utc(DEADLINE)


class Answers(NamedTuple):
    """The answers a report draws, all at one (as_of, known_at)."""

    verdict: Verdict
    business: Business
    timeline: Timeline


def bands(timeline: Timeline) -> list[Band]:
    """The market's status between the timeline's points.  CRITERIA_MET is drawn as under
    review while every qualifying deal's ruling in force is ``under_review`` (what the
    verdict's ``under_review`` says at a single instant)."""
    rulings: dict[str, str | None] = {}
    # Before the first change point nothing has happened: the market is open.
    found: list[Band] = [Band(start=None, end=timeline.points[0].at if timeline.points else None,
                              status="OPEN", kind="OPEN")]
    points = timeline.points
    for i, (point, qualifying) in enumerate(qualifying_along(points)):
        for change in point.changes:
            if change.what == "ruling":
                rulings[change.subject.split(":", 1)[1]] = change.after
        kind: BandKind
        if point.status.startswith("RESOLVED"):
            kind = "RESOLVED"
        elif point.status == "CRITERIA_MET" and qualifying \
                and all(rulings.get(q) == "under_review" for q in qualifying):
            kind = "UNDER_REVIEW"
        else:
            kind = point.status  # type: ignore[assignment]  # the other statuses, as they are
        end = points[i + 1].at if i + 1 < len(points) else None
        if found and found[-1].kind == kind and found[-1].status == point.status:
            found[-1] = msgspec.structs.replace(found[-1], end=end)
        else:
            found.append(Band(start=point.at, end=end, status=point.status, kind=kind))
    return found


def deal_series(histories: Histories, provenance: Provenance,
                timeline: Timeline) -> list[DealSeries]:
    """Each deal's capacity and run-rate along valid time, and a mark for every fact about
    it that is not retracted (those that changed nothing included), at the valid time it
    occurred."""
    view = histories.full()
    run_rates: dict[str, list[Level]] = {}
    for point in timeline.points:
        for change in point.changes:
            if change.what == "usd_per_month" and change.subject.startswith("deal:"):
                run_rates.setdefault(change.subject, []).append(Level(
                    at=point.at, value=None if change.after is None else Decimal(change.after)))
    series: list[DealSeries] = []
    for key in sorted(k for k in view.subjects if k.startswith("deal:")):
        capacity: list[Level] = []
        for step in view.subjects[key].steps:
            here = Level(at=utc(step.valid_from), value=value(step.state.terms, "capacity_mw"))
            if not capacity or capacity[-1].value != here.value:
                capacity.append(here)
        marks = [Mark(fact=ref.id, at=utc(ref.occurred_at))
                 for ref in provenance.about(key) if ref.live]
        series.append(DealSeries(id=key.split(":", 1)[1], capacity_mw=capacity,
                                 run_rate_usd=run_rates.get(key, []),
                                 marks=sorted(marks, key=lambda m: (m.at, m.fact))))
    return series


def report(histories: Histories, provenance: Provenance, answers: Answers,
           amendments: Mapping[str, Correction | Retraction]) -> Report:
    """The report of these answers (all at the same (as_of, known_at), which ``histories``
    and ``provenance`` hold); ``amendments`` are the stored corrections and retractions, by
    id, for their sources and reasons."""
    verdict, business, timeline = answers
    named = [fact for candidate in verdict.candidates for check in candidate.checks
             for fact in check.facts] + [ruling.fact for ruling in verdict.rulings]
    deciding = []
    for fact in dict.fromkeys(named):
        ref = provenance.get(fact)
        if ref is not None:
            deciding.append(Mark(fact=fact, at=utc(ref.occurred_at)))
    deciding.sort(key=lambda m: (m.at, m.fact))
    deals = deal_series(histories, provenance, timeline)
    shown = {m.fact for m in deciding} | {m.fact for d in deals for m in d.marks} \
        | {f for p in timeline.points for f in p.facts}
    shown |= {ref.target for f in list(shown) if (ref := provenance.get(f)) is not None
              and ref.target is not None}  # what a correction or retraction shown names
    sources = [_source(provenance, amendments, fact) for fact in shown
               if provenance.get(fact) is not None]
    sources.sort(key=lambda s: s.position)
    return Report(verdict=verdict, business=business, timeline=timeline,
                  bands=bands(timeline), deciding=deciding, deals=deals, sources=sources)


def _source(provenance: Provenance, amendments: Mapping[str, Correction | Retraction],
            fact_id: str) -> SourceOut:
    ref = provenance.get(fact_id)
    assert ref is not None
    amendment = amendments.get(fact_id)
    content = provenance.content(fact_id) if amendment is None else amendment
    source = getattr(content, "source", None)
    return SourceOut(
        id=ref.id, type=ref.type, position=ref.position, occurred_at=utc(ref.occurred_at),
        live=ref.live, target=ref.target,
        reason=None if amendment is None else amendment.reason,
        title=None if source is None else source.title,
        url=None if source is None else source.url,
        document=None if source is None else source.document,
        publisher=None if source is None else source.publisher,
        note=None if source is None else source.note,
    )
