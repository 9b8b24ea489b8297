"""The HTML report (``compute-ledger report PATH``): one self-contained page.  Pure.

A function from a :class:`~projections.report.Report` to text: no I/O, no clock, so the same
ledger and (as_of, known_at) give the same bytes.  The page needs nothing from the network:
styles are inline, the charts are inline SVG, there is no script at all, and its Content
Security Policy (``default-src 'none'``) forbids a browser to fetch anything for it.  Every
text from a fact is escaped.  Hovering a mark shows the fact (an SVG ``<title>``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html import escape

from compute_ledger.cli.render import (
    MARK,
    STATE,
    business_totals,
    customer_text,
    flag_text,
    money,
    mw,
    status_text,
    usd_compact,
)
from compute_ledger.ledger.instants import MARKET_TZ, market_text, rfc3339
from compute_ledger.projections.answers import Business, CandidateOut, DealOut, Verdict
from compute_ledger.projections.report import DealSeries, Mark, Report, SourceOut

EARLIEST_INSTANT = datetime.min.replace(tzinfo=UTC) + timedelta(days=2)
LATEST_INSTANT = datetime.max.replace(tzinfo=UTC) - timedelta(days=2)
"""How far the time axis may reach: datetime's range, with room for time zones."""
WIDTH = 960
LEFT, RIGHT = 70, 20
COLOURS = {
    "OPEN": "#8a96a3",
    "CRITERIA_MET": "#2e7d32",
    "UNDER_REVIEW": "#e0a100",
    "CRITERIA_NOT_MET": "#c62828",
    "RESOLVED": "#1565c0",
}
LABELS = {
    "OPEN": "OPEN",
    "CRITERIA_MET": "CRITERIA_MET",
    "UNDER_REVIEW": "CRITERIA_MET, under review by the creator",
    "CRITERIA_NOT_MET": "CRITERIA_NOT_MET",
    "RESOLVED": "resolved by the creator",
}
STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;
max-width:1000px;padding:1.5em;color:#1d232a;background:#fff}
h1{font-size:1.5em;margin:0 0 .2em}h2{font-size:1.15em;margin:1.8em 0 .5em;
border-bottom:1px solid #d6dbe0;padding-bottom:.2em}h3{font-size:1em;margin:1.2em 0 .3em}
.meta{color:#4a5561;margin:.1em 0}.status{font-size:1.3em;font-weight:600;margin:.6em 0;
padding:.4em .7em;border-radius:4px;color:#fff;display:inline-block}
table{border-collapse:collapse;margin:.4em 0;font-size:.93em}
th,td{text-align:left;padding:.25em .6em;border-bottom:1px solid #e6e9ec;vertical-align:top}
th{background:#f4f6f8}td.num{text-align:right;white-space:nowrap}
.met{color:#2e7d32}.failed{color:#c62828}.unknown{color:#8a6d00}.na{color:#8a96a3}
svg{display:block;width:100%;height:auto;margin:.3em 0}
svg text{font:11px system-ui,sans-serif;fill:#4a5561}
.legend span{display:inline-block;margin-right:1.2em;font-size:.9em}
.legend i{display:inline-block;width:.9em;height:.9em;margin-right:.3em;vertical-align:-.1em}
dl.facts dt{font-family:ui-monospace,monospace;margin-top:.7em}dl.facts dd{margin:0 0 0 1.2em}
code{font-family:ui-monospace,monospace;font-size:.92em}.gone{color:#c62828}
"""


def html(report: Report) -> str:
    """The report as one HTML document."""
    verdict = report.verdict
    axis = _Axis.spanning(report)
    kind = _kind_now(verdict)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" "
        "content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(verdict.market)}: {escape(verdict.status)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>{escape(verdict.question)}</h1>",
        f'<p class="meta">Market <code>{escape(verdict.market)}</code></p>',
        f'<p class="meta">As of {_when(verdict.as_of)}</p>',
        f'<p class="meta">Known at {_when(verdict.known_at)}, ledger position '
        f"{verdict.ledger_position} (head <code>{escape(verdict.ledger_head[:12])}</code>)</p>",
        f'<p id="status" class="status" style="background:{COLOURS[kind]}">Status '
        f"{escape(status_text(verdict))}</p>",
        f'<p>Qualifying: {_fact_list(verdict.qualifying, link=False) or "none"}'
        + ("" if verdict.criteria_met_since is None else
           f"; criteria met since {_when(verdict.criteria_met_since)}") + "</p>",
        "<h2>The market's status over valid time</h2>",
        _legend(),
        _status_chart(report, axis),
        "<p class=\"meta\">Each band is the status from one change point of the timeline to "
        "the next. The marks below the bands are the facts the verdict names; hover one to "
        "see it.</p>",
        *_checklist(verdict),
        *_business(report.business),
        "<h2>Monthly run-rate over valid time</h2>",
        _step_chart(_Steps("chart-run-rate", "the monthly run-rate of the active deals",
                           [(p.at, p.monthly_run_rate_usd) for p in report.timeline.points],
                           usd_compact), axis),
        "<h2>Each deal over valid time</h2>",
        *(part for series in report.deals for part in _deal(series, axis, report)),
        "<h2>Facts shown</h2>",
        *_sources(report.sources),
        f'<p class="meta">Written by compute-ledger ({escape(report.schema)}) from the ledger '
        f"at position {verdict.ledger_position}, head <code>{escape(verdict.ledger_head)}"
        "</code>.</p>",
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------
# Charts
# ---------------------------------------------------------------------------------------------


class _Axis:
    """Valid time from ``start`` to ``end`` across the chart's width."""

    def __init__(self, start: datetime, end: datetime) -> None:
        self.start, self.end = start, end
        self.span = max((end - start).total_seconds(), 1.0)

    @classmethod
    def spanning(cls, report: Report) -> _Axis:
        times = [p.at for p in report.timeline.points] + [report.deadline, report.verdict.as_of]
        times += [m.at for m in report.deciding]
        times += [s.at for d in report.deals for s in (*d.capacity_mw, *d.run_rate_usd)]
        times += [m.at for d in report.deals for m in d.marks]
        start, end = min(times), max(times)
        margin = max((end - start) / 40, timedelta(days=7))
        # a margin either side, as far as datetime reaches (facts may be dated year 2 to 9998)
        return cls(start - min(margin, start - EARLIEST_INSTANT),
                   end + min(margin, LATEST_INSTANT - end))

    def x(self, moment: datetime) -> float:
        return LEFT + (moment - self.start).total_seconds() / self.span * (WIDTH - LEFT - RIGHT)

    def ticks(self) -> Iterator[tuple[float, str]]:
        """A tick at the start of each year (market time), at most a dozen."""
        first = self.start.astimezone(MARKET_TZ).year + 1
        last = self.end.astimezone(MARKET_TZ).year
        step = max(1, math.ceil((last - first + 1) / 12))
        for year in range(first, last + 1, step):
            at = datetime(year, 1, 1, tzinfo=MARKET_TZ)
            yield self.x(at), str(year)


def _n(value: float) -> str:
    return f"{value:.1f}"


def _svg(name: str, height: int, label: str, body: Sequence[str]) -> str:
    return (f'<svg id="{escape(name)}" viewBox="0 0 {WIDTH} {height}" role="img" '
            f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
            f"<title>{escape(label)}</title>" + "".join(body) + "</svg>")


def _grid(axis: _Axis, top: int, bottom: int) -> list[str]:
    out = []
    for x, year in axis.ticks():
        out.append(f'<line x1="{_n(x)}" y1="{top}" x2="{_n(x)}" y2="{bottom}" '
                   'stroke="#e6e9ec"/>')
        out.append(f'<text x="{_n(x)}" y="{bottom + 13}" text-anchor="middle">{year}</text>')
    return out


LINES = {"deadline": ("#c62828", 0), "as-of": ("#1d232a", 1)}
"""Each dashed line's colour and the row of its label above the chart (two rows, so the
labels of a deadline and an as-of close together do not overlap)."""


def _vertical(axis: _Axis, at: datetime, span: tuple[int, int], css: str, label: str
              ) -> list[str]:
    """A dashed line at ``at`` from ``span[0]`` down to ``span[1]``, labelled above."""
    x, (top, bottom), (colour, row) = _n(axis.x(at)), span, LINES[css]
    return [f'<g class="{css}"><title>{escape(label)}</title>'
            f'<line x1="{x}" y1="{top}" x2="{x}" y2="{bottom}" stroke="{colour}" '
            f'stroke-width="2" stroke-dasharray="5 3"/>'
            f'<text x="{x}" y="{top - 3 - 12 * row}" text-anchor="middle" fill="{colour}">'
            f"{escape(label.split(':', maxsplit=1)[0])}</text></g>"]


RADIUS = 4.5
STACK = 6
"""At most this many marks one above the other; the rest of a column is one ``+N`` mark."""


def _marks(axis: _Axis, marks: Sequence[Mark], y: int, report: Report) -> tuple[list[str], int]:
    """A circle per fact at ``y``, the facts whose circles would overlap (closer than a
    circle's width) stacked downwards, at most :data:`STACK` high: beyond that one ``+N``
    mark stands for the rest of the column, its title naming them.  Returns the SVG and
    the lowest y used."""
    titles = {s.id: s for s in report.sources}
    columns: list[tuple[float, list[Mark]]] = []
    for mark in sorted(marks, key=lambda m: (m.at, m.fact)):
        x = axis.x(mark.at)
        if columns and x - columns[-1][0] < 2 * RADIUS + 1:
            columns[-1][1].append(mark)
        else:
            columns.append((x, [mark]))
    out, lowest = [], y
    for x, column in columns:
        shown = column if len(column) <= STACK else column[:STACK - 1]
        for level, mark in enumerate(shown):
            source = titles.get(mark.fact)
            about = "" if source is None or source.title is None else f": {source.title}"
            tip = (f"{mark.fact} ({source.type if source else 'fact'}, "
                   f"{market_text(mark.at)}){about}")
            out.append(f'<a href="#fact-{escape(mark.fact)}"><circle class="fact-mark" '
                       f'data-fact="{escape(mark.fact)}" cx="{_n(x)}" cy="{y + 11 * level}" '
                       f'r="{RADIUS}" fill="#1d232a" stroke="#fff"><title>{escape(tip)}</title>'
                       "</circle></a>")
        rest = column[len(shown):]
        if rest:
            names = ", ".join(m.fact for m in rest[:20]) + (
                f" and {len(rest) - 20} more" if len(rest) > 20 else "")
            cy = y + 11 * len(shown)
            out.append(f'<g class="fact-more" data-count="{len(rest)}"><title>'
                       f"{len(rest)} more facts from {escape(market_text(rest[0].at))} to "
                       f"{escape(market_text(rest[-1].at))}: {escape(names)}</title>"
                       f'<circle cx="{_n(x)}" cy="{cy}" r="{RADIUS + 1}" fill="#fff" '
                       f'stroke="#1d232a"/><text x="{_n(x + 8)}" y="{cy + 4}">+{len(rest)}'
                       "</text></g>")
            shown = [*shown, rest[0]]
        lowest = max(lowest, y + 11 * (len(shown) - 1))
    return out, lowest


def _status_chart(report: Report, axis: _Axis) -> str:
    top, bottom = 40, 90
    body = _grid(axis, top, bottom)
    for band in report.bands:
        x0 = LEFT if band.start is None else axis.x(band.start)
        x1 = axis.x(band.end) if band.end is not None else WIDTH - RIGHT
        since = "before anything is known to have happened" if band.start is None else \
            f"from {market_text(band.start)}"
        until = "" if band.end is None else f" until {market_text(band.end)}"
        label = band.status if band.kind == "RESOLVED" else LABELS[band.kind]
        tip = f"{label}: {since}{until}"
        body.append(f'<rect class="band band-{band.kind}" data-status="{band.status}" '
                    f'x="{_n(x0)}" y="{top}" width="{_n(max(x1 - x0, 0.5))}" '
                    f'height="{bottom - top}" fill="{COLOURS[band.kind]}">'
                    f"<title>{escape(tip)}</title></rect>")
    body += _vertical(axis, report.deadline, (top - 10, bottom + 4), "deadline",
                      f"deadline: {market_text(report.deadline)}")
    body += _vertical(axis, report.verdict.as_of, (top - 10, bottom + 4), "as-of",
                      f"as of: {market_text(report.verdict.as_of)}")
    marks, lowest = _marks(axis, report.deciding, bottom + 24, report)
    body += marks
    body.append(f'<text x="4" y="{top + 30}">status</text>')
    body.append(f'<text x="4" y="{bottom + 28}">facts</text>')
    return _svg("status-chart", lowest + 12,
                "the market's status over valid time, the deadline and the deciding facts",
                body)


@dataclass(frozen=True)
class _Steps:
    """What a step chart draws: a value from each time until the next (None: unknown, not
    drawn), each shown as ``shown`` prints it."""

    name: str
    label: str
    steps: Sequence[tuple[datetime, Decimal | None]]
    shown: Callable[[Decimal], str]


def _step_chart(chart: _Steps, axis: _Axis,
                facts: tuple[Sequence[Mark], Report] | None = None) -> str:
    """The step line of ``chart``, its largest value labelled, and the ``facts`` as marks
    below it."""
    name, label, steps, shown = chart.name, chart.label, chart.steps, chart.shown
    top, bottom = 12, 82
    peak = max((v for _, v in steps if v is not None), default=Decimal(0))
    scale = float(peak) if peak > 0 else 1.0

    def y(amount: Decimal | None) -> str:
        return _n(bottom - float(amount or 0) / scale * (bottom - top))

    if all(v is None for _, v in steps):  # nothing to draw but the facts
        top = bottom = 12
    body = _grid(axis, top, bottom)
    if bottom > top:
        body.append(f'<line x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}" '
                    'stroke="#8a96a3"/>')
        body.append(f'<text x="{LEFT - 6}" y="{top + 4}" text-anchor="end">'
                    f"{escape(shown(peak))}</text>")
        body.append(f'<text x="{LEFT - 6}" y="{bottom}" text-anchor="end">0</text>')
    for i, (at, amount) in enumerate(steps):
        if amount is None:
            continue
        following = steps[i + 1] if i + 1 < len(steps) else None
        x0 = _n(axis.x(at))
        x1 = _n(WIDTH - RIGHT if following is None else axis.x(following[0]))
        tip = f"{shown(amount)} from {market_text(at)}"
        body.append(f'<line class="step" x1="{x0}" y1="{y(amount)}" x2="{x1}" '
                    f'y2="{y(amount)}" stroke="#1565c0" stroke-width="3">'
                    f"<title>{escape(tip)}</title></line>")
        if following is not None:
            body.append(f'<line x1="{x1}" y1="{y(amount)}" x2="{x1}" y2="{y(following[1])}" '
                        'stroke="#1565c0" stroke-width="1"/>')
    height = bottom + 18
    if facts is not None:
        marks, lowest = _marks(axis, facts[0], bottom + 22, facts[1])
        body += marks
        body.append(f'<text x="4" y="{bottom + 26}">facts</text>')
        height = lowest + 12
    return _svg(name, height, label, body)


def _deal(series: DealSeries, axis: _Axis, report: Report) -> Iterator[str]:
    yield f'<h3 id="deal-{escape(series.id)}">{escape(series.id)}</h3>'
    capacity = [(s.at, s.value) for s in series.capacity_mw]
    run_rate = [(s.at, s.value) for s in series.run_rate_usd]
    unknown = [what for what, levels in (("capacity", capacity), ("run-rate", run_rate))
               if all(v is None for _, v in levels)]
    if unknown:
        yield (f'<p class="meta">No {" or ".join(unknown)} is known for this deal'
               + (" (a deal adds to the run-rate while it is active)." if "run-rate" in unknown
                  else ".") + "</p>")
    if "capacity" not in unknown:
        yield _step_chart(_Steps(f"chart-capacity-{series.id}",
                                 f"the capacity of {series.id}, in megawatts", capacity, mw),
                          axis)
    yield _step_chart(_Steps(f"chart-run-rate-{series.id}",
                             f"what {series.id} adds to the monthly run-rate, and the facts "
                             "about it", run_rate, usd_compact), axis, (series.marks, report))


def _legend() -> str:
    return '<p class="legend">' + "".join(
        f'<span><i style="background:{COLOURS[k]}"></i>{escape(LABELS[k])}</span>'
        for k in COLOURS) + (
        '<span><i style="background:#c62828;width:.25em"></i>the deadline</span>'
        '<span><i style="background:#1d232a;width:.25em"></i>as of</span></p>')


def _kind_now(verdict: Verdict) -> str:
    if verdict.status.startswith("RESOLVED"):
        return "RESOLVED"
    if verdict.under_review:
        return "UNDER_REVIEW"
    return verdict.status


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------


def _when(moment: datetime) -> str:
    return f'<time datetime="{rfc3339(moment)}">{escape(market_text(moment))}</time>'


def _fact_list(ids: Sequence[str], link: bool = True) -> str:
    if not link:
        return ", ".join(f"<code>{escape(i)}</code>" for i in ids)
    return ", ".join(f'<a href="#fact-{escape(i)}"><code>{escape(i)}</code></a>' for i in ids)


def _checklist(verdict: Verdict) -> Iterator[str]:
    yield "<h2>Clause checklist</h2>"
    if not verdict.candidates:
        yield "<p>No deal or offering is known at this time.</p>"
    for candidate in verdict.candidates:
        yield from _candidate(candidate)
    if verdict.rulings:
        yield "<h3>Creator rulings in force</h3>"
        yield "<table><tr><th>when</th><th>ruling</th><th>on</th><th>summary</th>" \
              "<th>fact</th></tr>"
        for ruling in verdict.rulings:
            yield (f"<tr><td>{_when(ruling.at)}</td><td>{escape(ruling.ruling)}</td>"
                   f"<td>{escape(ruling.subject or '-')}</td><td>{escape(ruling.summary)}</td>"
                   f"<td>{_fact_list([ruling.fact])}</td></tr>")
        yield "</table>"


def _candidate(candidate: CandidateOut) -> Iterator[str]:
    review = ", under review by the creator" if candidate.under_review else ""
    since = "" if candidate.qualified_at is None else \
        f", since {_when(candidate.qualified_at)}"
    yield (f'<h3 id="checks-{escape(candidate.kind)}-{escape(candidate.id)}">'
           f"{escape(candidate.kind)} <code>{escape(candidate.id)}</code>: "
           f"{escape(candidate.standing)}{review}{since}</h3>")
    yield "<table><tr><th></th><th>clause</th><th>state</th><th>why</th><th>facts</th></tr>"
    for check in candidate.checks:
        css = "na" if check.state == "not_applicable" else check.state
        yield (f'<tr class="check"><td class="{css}">{MARK[check.state]}</td>'
               f"<td><code>{escape(check.clause)}</code></td>"
               f'<td class="{css}">{STATE[check.state]}</td><td>{escape(check.note)}</td>'
               f"<td>{_fact_list(check.facts)}</td></tr>")
    yield "</table>"


def _business(business: Business) -> Iterator[str]:
    yield "<h2>The business</h2>"
    if not business.deals:
        yield "<p>No deals known at this time.</p>"
    else:
        yield ("<table><tr><th>deal</th><th>status</th><th>provider</th><th>customer</th>"
               "<th>facilities</th><th>capacity</th><th>USD/month</th><th>ends</th>"
               "<th>qualifies</th></tr>")
        for deal in business.deals:
            yield _deal_row(deal)
        yield "</table>"
    if business.offerings:
        yield ("<table><tr><th>offering</th><th>status</th><th>provider</th><th>service</th>"
               "<th>sign-up</th><th>pricing</th><th>from</th><th>qualifies</th></tr>")
        for offering in business.offerings:
            yield (f"<tr><td><code>{escape(offering.id)}</code></td>"
                   f"<td>{escape(offering.status)}</td><td>{escape(offering.provider or '?')}"
                   f"</td><td>{escape(offering.service or '?')}</td>"
                   f"<td>{flag_text(offering.signup_open)}</td>"
                   f"<td>{flag_text(offering.pricing_published)}</td>"
                   f"<td>{escape(str(offering.available_from or '-'))}</td>"
                   f"<td>{'yes' if offering.qualifies else 'no'}</td></tr>")
        yield "</table>"
    yield "<table>"
    for label, text in business_totals(business):
        yield f"<tr><th>{escape(label)}</th><td>{escape(text)}</td></tr>"
    yield "</table>"


def _deal_row(deal: DealOut) -> str:
    cells = [
        f'<a href="#deal-{escape(deal.id)}"><code>{escape(deal.id)}</code></a>',
        escape(deal.status), escape(deal.provider or "?"),
        escape(customer_text(deal.customer, deal.external)),
        escape(", ".join(deal.facilities or []) or "?"),
    ]
    numbers = [escape(mw(deal.capacity_mw)), escape(money(deal.usd_per_month))]
    tail = [escape(str(deal.ends_on or "-")), "yes" if deal.qualifies else "no"]
    return ("<tr>" + "".join(f"<td>{c}</td>" for c in cells)
            + "".join(f'<td class="num">{c}</td>' for c in numbers)
            + "".join(f"<td>{c}</td>" for c in tail) + "</tr>")


def _sources(sources: Sequence[SourceOut]) -> Iterator[str]:
    yield '<dl class="facts">'
    for source in sources:
        gone = "" if source.live else ' <span class="gone">(retracted)</span>'
        verb = {"correction": "corrects", "retraction": "retracts"}.get(source.type, "names")
        names = "" if source.target is None else \
            f", {verb} <a href=\"#fact-{escape(source.target)}\"><code>" \
            f"{escape(source.target)}</code></a>"
        yield (f'<dt id="fact-{escape(source.id)}">{escape(source.id)}{gone}</dt>'
               f"<dd>{escape(source.type)}{names}, occurred {_when(source.occurred_at)}, "
               f"recorded at position {source.position}</dd>")
        if source.reason:
            yield f"<dd>Reason: {escape(source.reason)}</dd>"
        where = []
        if source.title:
            where.append(f"<cite>{escape(source.title)}</cite>")
        if source.publisher:
            where.append(escape(source.publisher))
        if source.document:
            where.append(f"document <code>{escape(source.document)}</code>")
        if source.url:
            where.append(f'<a href="{escape(source.url)}" rel="noreferrer">'
                         f"{escape(source.url)}</a>")
        if where:
            yield f"<dd>Source: {', '.join(where)}</dd>"
        if source.note:
            yield f"<dd>{escape(source.note)}</dd>"
    yield "</dl>"


