"""Human-readable renderings of the JSON answers (tables for people; tools use --json)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from decimal import Decimal

from compute_ledger.cli.layout import Rows
from compute_ledger.ledger.instants import market_text, rfc3339
from compute_ledger.projections.answers import (
    Business,
    CandidateOut,
    CheckOut,
    CheckReport,
    DealReport,
    Diff,
    DifferenceOut,
    InfoOut,
    PointOut,
    ReplayReport,
    RulingOut,
    ShowOut,
    Timeline,
    Verdict,
    WhatIfOut,
)
from compute_ledger.projections.api import Entry

_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def printable(text: str) -> str:
    """Free text from a fact, safe to print on a terminal: control characters (a newline
    that would forge a line such as ``Status RESOLVED_NO``, an escape sequence that clears
    the screen) and bidirectional overrides are shown as escapes.  JSON output keeps the
    text as it is."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable() and ch not in _BIDI:
            out.append(ch)
        elif ch in "\n\t\r":
            out.append(repr(ch)[1:-1])
        else:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) > 0xFF else f"\\x{ord(ch):02x}")
    return "".join(out)


def printable_json(text: str) -> str:
    """JSON text (pretty-printed, so with newlines between its members) safe on a terminal:
    every character inside its strings that :func:`printable` would escape is written as a
    JSON ``\\u`` escape instead (UTF-16 pairs beyond the BMP), so it stays the same JSON."""
    out = []
    for ch in text:
        if ch == "\n" or (ch.isprintable() and ch not in _BIDI):
            out.append(ch)
        else:
            units = ch.encode("utf-16-be")
            out.extend(f"\\u{int.from_bytes(units[i:i + 2], 'big'):04x}"
                       for i in range(0, len(units), 2))
    return "".join(out)


MARK = {"met": "✓", "failed": "✗", "unknown": "?", "not_applicable": "·"}
STATE = {"met": "met", "failed": "failed", "unknown": "unknown", "not_applicable": "n/a"}


def instant(moment: datetime) -> str:
    """``2026-05-23 23:59:59.999999 PDT (2026-05-24T06:59:59.999999Z)``."""
    return f"{market_text(moment)} ({rfc3339(moment)})"


def usd(amount: Decimal | None) -> str:
    return "-" if amount is None else f"${amount:,.0f}"


def money(amount: Decimal | None, *, exponent: int | None = None,
          digits: int | None = None) -> str:
    """Dollars as precise as the source gave them, no more: ``$1.25B`` for a stated
    1250000000 (three significant digits), ``$12,500``.  A derived amount is first rounded:
    to ``10 ** exponent`` (a sum: the coarsest place its inputs give) or to ``digits``
    significant digits (a product: the fewest its inputs give)."""
    if amount is None:
        return "-"
    if exponent is not None and exponent > 0:
        amount = amount.quantize(Decimal(1).scaleb(exponent))
    elif digits is not None and amount:
        place = amount.adjusted() - digits + 1
        amount = amount.quantize(Decimal(1).scaleb(place)) if place > 0 else amount
    amount = amount.normalize()
    for size, unit in ((Decimal(10) ** 9, "B"), (Decimal(10) ** 6, "M")):
        if amount >= size:
            return f"${(amount / size).normalize():f}{unit}"
    return f"${amount:,f}" if amount == amount.to_integral_value() or amount < 1 \
        else f"${amount:,.2f}"


def precision(amounts: Iterable[Decimal | None]) -> tuple[int | None, int | None]:
    """The coarsest place (a power of ten) and the fewest significant digits among
    ``amounts`` as stated: how precisely a sum and a product of them can be shown."""
    stated = [a.normalize() for a in amounts if a is not None and a != 0]
    if not stated:
        return None, None
    return max(int(a.as_tuple().exponent) for a in stated), \
        min(len(a.as_tuple().digits) for a in stated)


def usd_compact(amount: Decimal | None) -> str:
    """``$1.25B``, ``$300M``, ``$12,500``: dollars short enough for a chart's axis."""
    if amount is None:
        return "-"
    cent = Decimal("0.01")
    millions = (amount / 10**6).quantize(cent)
    if millions >= 1000:  # $999.999M is $1B, not $1000M
        return f"${(amount / 10**9).quantize(cent).normalize():f}B"
    if millions >= 1:
        return f"${millions.normalize():f}M"
    return f"${amount.normalize():,f}" if amount < 1 else usd(amount)


def mw(amount: Decimal | None) -> str:
    return "-" if amount is None else f"{amount.normalize():f} MW"


def _reason(candidate: CandidateOut) -> str:
    if candidate.qualifies:
        return "by the creator's ruling" if candidate.by_ruling else ""
    failed = [c for c in candidate.checks if c.state == "failed" and c.kind == "exclusion"]
    failed = failed or [c for c in candidate.checks if c.state == "failed" and c.kind in (
        "proof", "deadline", "special")]
    if failed:
        return f"{failed[0].clause}: {failed[0].note}"
    if candidate.missing:
        return "missing: " + ", ".join(candidate.missing)
    return ""


def status_text(answer: Verdict) -> str:
    """``CRITERIA_MET (under review by the market's creator)``: the status and what
    qualifies it."""
    review = " (under review by the market's creator)" if answer.under_review else ""
    disagree = "  -- the creator's resolution disagrees with the clauses" if \
        answer.disagrees_with_rules else ""
    return f"{answer.status}{review}{disagree}"


def verdict_lines(answer: Verdict, explain: bool) -> Iterator[str]:
    yield f"Market     {answer.market}: {answer.question}"
    yield f"As of      {instant(answer.as_of)}"
    if answer.ledger_position == 0 and not answer.hypothetical:
        yield (f"Known at   {instant(answer.known_at)}: nothing had been recorded yet, so "
               "this is the verdict of an empty ledger")
    else:
        yield (f"Known at   {instant(answer.known_at)}, ledger position "
               f"{answer.ledger_position} (head {answer.ledger_head[:12]})")
    yield f"Status     {status_text(answer)}"
    if answer.criteria_met_since is not None:
        yield f"Met since  {instant(answer.criteria_met_since)}"
    yield f"Qualifying {', '.join(answer.qualifying) or 'none'}"
    yield ""
    if not answer.candidates:
        yield "No deal or offering is known at this time."
    else:
        yield "Deals and offerings"
        width = max(len(c.id) for c in answer.candidates) + 2
        for candidate in answer.candidates:
            review = ", under review" if candidate.under_review else ""
            yield (f"  {candidate.kind:<8} {candidate.id:<{width}} "
                   f"{candidate.standing}{review}  {_reason(candidate)}".rstrip())
    if answer.rulings:
        yield ""
        yield "Creator rulings in force"
        yield from ruling_lines(answer.rulings, subject=True)
    if explain:
        for candidate in answer.candidates:
            yield ""
            yield from explain_lines(candidate)
        yield ""
        yield ("A deal qualifies when its provider is in the xAI group, at least one inc- "
               "clause is met and every exc-, prf- and ddl- clause holds, unless a creator "
               "ruling in force says otherwise.  ✓ met  ✗ failed  ? unknown  · not applicable")


def ruling_lines(rulings: list[RulingOut], *, subject: bool) -> Iterator[str]:
    """Creator rulings, two lines each (``subject``: say which deal each is on)."""
    for ruling in rulings:
        about = f" on {ruling.subject}" if subject and ruling.subject else ""
        clauses = f" [{', '.join(ruling.clauses)}]" if ruling.clauses else ""
        yield f"  {market_text(ruling.at)}  {ruling.ruling}{about}{clauses}  ({ruling.fact})"
        yield f"      {printable(ruling.summary)}"


def explain_lines(candidate: CandidateOut) -> Iterator[str]:
    since = "" if candidate.qualified_at is None else \
        f" since {market_text(candidate.qualified_at)} (the checks as of then)"
    yield f"{candidate.kind} {candidate.id}: {candidate.standing}{since}"
    width = max(len(c.clause) for c in candidate.checks)
    for check in candidate.checks:
        yield "  " + check_line(check, width)


def check_line(check: CheckOut, width: int) -> str:
    facts = f"  [{', '.join(check.facts)}]" if check.facts else ""
    return (f"{MARK[check.state]} {check.clause:<{width}}  {STATE[check.state]:<7}  "
            f"{check.note}{facts}")


def business_lines(answer: Business) -> Iterator[str | Rows]:
    yield f"Business as of {instant(answer.as_of)}"
    yield (f"Known at {instant(answer.known_at)}, ledger position {answer.ledger_position} "
           f"(head {answer.ledger_head[:12]})")
    yield ""
    rows: list[tuple[str, ...]] = [
        ("DEAL", "STATUS", "PROVIDER", "CUSTOMER", "FACILITIES", "CAPACITY", "USD/MONTH",
         "ENDS", "QUALIFIES")
    ]
    for deal in answer.deals:
        rows.append((
            deal.id, deal.status, deal.provider or "?", customer_text(deal.customer, deal.external),
            ",".join(deal.facilities or []) or "?", mw(deal.capacity_mw),
            money(deal.usd_per_month), str(deal.ends_on or "-"),
            "yes" if deal.qualifies else "no",
        ))
    yield Rows(rows[0], rows[1:]) if answer.deals else "No deals known at this time."
    if answer.offerings:
        yield ""
        rows = [("OFFERING", "STATUS", "PROVIDER", "SERVICE", "SIGN-UP", "PRICING", "FROM",
                 "QUALIFIES")]
        for offering in answer.offerings:
            rows.append((offering.id, offering.status, offering.provider or "?",
                         offering.service or "?", flag_text(offering.signup_open),
                         flag_text(offering.pricing_published), str(offering.available_from or "-"),
                         "yes" if offering.qualifies else "no"))
        yield Rows(rows[0], rows[1:])
    yield ""
    for label, text in business_totals(answer):
        yield f"{label:<20} {text}"


def business_totals(answer: Business) -> list[tuple[str, str]]:
    """The business's totals as (label, text): the text and the HTML report show the same
    ones.  Amounts as precisely as the active deals' prices were stated (see
    :func:`money`)."""
    place, digits = precision(d.usd_per_month for d in answer.deals if d.status == "active")
    customers = ", ".join(
        f"{c.customer} ({mw(c.capacity_mw)}, {money(c.usd_per_month, exponent=place)}/month)"
        for c in answer.external_customers
    )
    capacity = ", ".join(f"{k} {mw(v)}" for k, v in answer.capacity_mw_by_facility.items())
    open_ended = f"; open-ended, not counted: {', '.join(answer.open_ended_deals)}" if \
        answer.open_ended_deals else ""
    about = "about " if answer.contracted_backlog_usd else ""
    return [
        ("External customers", customers or "none"),
        ("Capacity by facility", capacity or "none active"),
        ("Monthly run-rate", f"{money(answer.monthly_run_rate_usd, exponent=place)} "
                             "(active deals)"),
        ("Contracted backlog", f"{about}{money(answer.contracted_backlog_usd, digits=digits)} "
                               f"(active deals, to their end dates{open_ended})"),
    ]


def customer_text(customer: str | None, external: bool | None) -> str:
    if customer is None:
        return "?"
    return customer if external else f"{customer} (Musk co.)"


def flag_text(flag: bool | None) -> str:
    return "?" if flag is None else "yes" if flag else "no"


def timeline_lines(answer: Timeline, points: Iterable[PointOut]) -> Iterator[str]:
    """The timeline's heading from ``answer``, then ``points`` (its own, or the points as
    they are walked)."""
    yield (f"Timeline as known at {instant(answer.known_at)}, ledger position "
           f"{answer.ledger_position} (head {answer.ledger_head[:12]})")
    yield ""
    for point in points:
        yield f"{market_text(point.at)}  {point.status}"
        for change in point.changes:
            yield f"    {change.subject} {change.what}: {_value(change.what, change.before)} -> " \
                  f"{_value(change.what, change.after)}"
        if point.facts:
            yield f"    facts: {', '.join(point.facts)}"


def _value(what: str, value: str | None) -> str:
    if value is None:
        return "-"
    if what == "usd_per_month":
        return money(Decimal(value))
    return value


def replay_lines(report: ReplayReport) -> Iterator[str]:
    yield (f"Verified   {report.verified} records: chain, positions and fact index intact; "
           f"head {report.head.position}:{report.head.hash}")
    yield (f"Replayed   the {report.position} facts recorded by {instant(report.known_at)}: "
           f"{report.subjects} deals and offerings, {report.steps} steps")
    if not report.projection_compared:
        yield ("Projection not compared: the ledger can only be read here, so the maintained "
               "projection cannot be caught up to compare")
    elif report.projection_differs:
        yield f"Projection DIFFERS from the replay for {', '.join(report.projection_differs)}"
    elif report.projection_rebuilt:
        yield "Projection differed from the replay, and was rebuilt from the facts: it agrees"
    else:
        yield "Projection the maintained projection agrees with the replay"
    for check in report.exports:
        found = f"DIFFERS: {check.differs[0]}" if check.differs else \
            "agrees with a fresh export, every table row for row"
        yield f"Export     {check.path} (position {check.position}): {found}"
    yield ""
    yield "The answer the ledger gave then:"
    yield from verdict_lines(report.answer, explain=False)


def what_if_lines(what_if: WhatIfOut | None) -> Iterator[str]:
    """The banner of a hypothetical answer: what it stands on, and what its facts flip."""
    if what_if is None:
        return
    laid = ", ".join(f"{f.id} (@{f.position})" for f in what_if.facts) or "none new"
    duplicates = f"; {what_if.duplicates} already in the ledger" if what_if.duplicates else ""
    yield (f"HYPOTHETICAL: as if appended after the head {what_if.base_position} "
           f"({what_if.base_head[:12]}), nothing written")
    yield f"  with       {laid}{duplicates}"
    if not what_if.flips:
        yield "  flips      nothing: the answer is the same without them"
    else:
        yield "  flips"
        for difference in what_if.flips:
            yield "    " + difference_line(difference)
    yield ""


def difference_line(difference: DifferenceOut) -> str:
    facts = ", ".join(f"{f.id} @{f.position}" for f in difference.facts)
    return (f"{difference.subject} {difference.what}: {printable(difference.before or '-')} -> "
            f"{printable(difference.after or '-')}" + (f"  [{facts}]" if facts else ""))


def diff_lines(answer: Diff) -> Iterator[str]:
    for name, side in (("From", answer.from_), ("To", answer.to)):
        yield (f"{name:<4} as of {instant(side.as_of)}, known at {instant(side.known_at)}: "
               f"position {side.ledger_position} (head {side.ledger_head[:12]}), {side.status}")
    yield ""
    if answer.same:
        yield "No differences: the two answers agree."
        return
    subject = None
    for difference in answer.differences:
        if difference.subject != subject:
            subject = difference.subject
            yield subject
        facts = ", ".join(f"{f.id} @{f.position}" for f in difference.facts)
        yield (f"  {difference.what}: {printable(difference.before or '-')} -> "
               f"{printable(difference.after or '-')}")
        if facts:
            yield f"      because of {facts}"


def check_lines(report: CheckReport) -> Iterator[str]:
    for problem in report.problems:
        where = f"line {problem.line}, " if problem.line is not None else ""
        yield printable(f"{where}{problem.path}: {problem.reason}")
    for warning in report.warnings:
        yield printable(f"warning: line {warning.line}, {warning.path}: {warning.reason}")
    lines = len({p.line for p in report.problems})
    if report.problems:
        yield (f"Error: {len(report.problems)} problem{'s' * (len(report.problems) != 1)} on "
               f"{lines} line{'s' * (lines != 1)}; append would refuse the batch and write "
               "nothing")
    else:
        yield (f"ok: {report.facts} fact{'s' * (report.facts != 1)} pass; append would add "
               f"{report.new}, {report.duplicates} already in the ledger (head "
               f"{report.head.position})")


def deal_lines(report: DealReport) -> Iterator[str]:
    yield from what_if_lines(report.what_if)
    shown = report.deal or report.offering
    status = shown.status if shown is not None else "unknown"
    yield f"{report.kind} {report.id}: {status}"
    yield f"As of      {instant(report.as_of)}"
    yield (f"Known at   {instant(report.known_at)}, ledger position {report.ledger_position} "
           f"(head {report.ledger_head[:12]})")
    candidate = report.candidate
    if candidate is not None:
        review = ", under review" if candidate.under_review else ""
        yield f"Standing   {candidate.standing}{review}; qualifies: " \
              f"{'yes' if candidate.qualifies else 'no'}"
    if shown is not None and shown.terms:
        yield ""
        yield "Terms"
        width = max(len(name) for name in shown.terms)
        for name, term in shown.terms.items():
            value = ", ".join(term.value) if isinstance(term.value, list) else \
                ("yes" if term.value else "no") if isinstance(term.value, bool) else \
                _value(name, term.value)
            yield f"  {name:<{width}}  {printable(value)}  ({term.fact})"
    if report.history:
        yield ""
        yield "History along valid time"
        for step in report.history:
            ruling = f", ruling {step.ruling}" if step.ruling else ""
            price = f", {money(step.usd_per_month)}/month" if step.usd_per_month else ""
            yield (f"  {market_text(step.at)}  {step.status}, {step.standing}, "
                   f"{'counts' if step.qualifies else 'does not count'}{ruling}{price}")
            if step.facts:
                yield f"      facts: {', '.join(step.facts)}"
    if report.facts:
        yield ""
        yield "Facts"
        for ref in report.facts:
            fate = []
            if ref.target:
                fate.append(f"{'corrects' if ref.type == 'correction' else 'retracts'} "
                            f"{ref.target}")
            if ref.in_force:
                fate.append(f"corrected by {ref.in_force}")
            if ref.retracted_by:
                fate.append(f"retracted by {ref.retracted_by}")
            note = f"  ({'; '.join(fate)})" if fate else ""
            yield f"  @{ref.position:<5} {ref.type:<21} {ref.id}{note}"
    if report.rulings:
        yield ""
        yield "Creator rulings on it"
        yield from ruling_lines(report.rulings, subject=False)
    if candidate is not None:
        yield ""
        yield from explain_lines(candidate)


def show_lines(answer: ShowOut, fact_json: str, in_force_json: str | None) -> Iterator[str]:
    yield f"position:    {answer.position}"
    yield f"recorded_at: {answer.recorded_at}"
    yield f"hash:        {answer.hash}"
    yield f"prev:        {answer.prev}"
    yield f"about:       {', '.join(answer.subjects) or '-'}"
    if answer.target is not None:
        yield f"names:       {answer.target}"
    for correction in answer.corrections:
        winner = "  (in force)" if correction.id == answer.correction_in_force else ""
        yield f"corrected:   by {correction.id} at position {correction.position}{winner}"
    if answer.retracted_by is not None:
        yield (f"retracted:   by {answer.retracted_by.id} at position "
               f"{answer.retracted_by.position}")
    yield printable_json(fact_json)
    if in_force_json is None:
        yield "In force now: nothing (retracted)"
    elif answer.corrections or answer.target is not None:
        yield "In force now:"
        yield printable_json(in_force_json)


def info_lines(answer: InfoOut) -> Iterator[str]:
    kind = f"{answer.backend}{', the default ledger' if answer.default else ''}" \
        f"{', read-only' if answer.read_only else ''}"
    yield f"Ledger      {answer.ledger} ({kind})"
    when = f", recorded {answer.recorded_at}" if answer.recorded_at else ""
    yield f"Head        {answer.head.position}:{answer.head.hash[:12]}{when}"
    if answer.size_bytes is not None:
        yield f"Size        {answer.size_bytes:,} bytes"
    for state in answer.projections:
        behind = "caught up" if state.current else f"behind the head {answer.head.position}"
        yield f"{state.name.capitalize():<11} position {state.position}, {behind}"


LOG_WIDTH = 136
"""The width of a line of ``log`` in columns; narrower, each fact takes two lines.  Both
times are in UTC, as the column headers say (``recorded_at`` is stored so; a fact's
``occurred_at`` keeps the offset it was given, shown by ``show``)."""


def log_lines(entries: Iterable[Entry], *, narrow: bool) -> Iterator[str]:
    """The facts in ledger order, one line each (two when ``narrow``), streamed."""
    if narrow:
        yield f"{'POS':>6}  {'RECORDED_AT (UTC)':<27}  {'HASH':<12}  TYPE"
        yield f"{'':>6}  {'OCCURRED_AT (UTC)':<27}  ID"
    else:
        yield (f"{'POS':>6}  {'RECORDED_AT (UTC)':<27}  {'HASH':<12}  {'TYPE':<21}  "
               f"{'OCCURRED_AT (UTC)':<25}  ID")
    for entry in entries:
        kind = str(entry.fact.__struct_config__.tag)
        occurred = rfc3339(entry.fact.occurred_at)  # one zone a column: the facts' offsets vary
        if narrow:
            yield f"{entry.position:>6}  {entry.recorded_at:<27}  {entry.hash[:12]}  {kind}"
            yield f"{'':>6}  {occurred:<27}  {entry.fact_id}"
        else:
            yield (f"{entry.position:>6}  {entry.recorded_at:<27}  {entry.hash[:12]}  "
                   f"{kind:<21}  {occurred:<25}  {entry.fact_id}")
