"""`compute-ledger report`: one self-contained HTML page with the verdict and its charts,
rendered in a real browser (headless Chromium) with no console message and no network
request, the same bytes for the same question, and every fact's text escaped."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import msgspec
from browser import render
from builders import announce, confirm, correct, filing, retract, rule, timeline_of
from cli_runner import run

from compute_ledger.cli.report import html
from compute_ledger.ledger import facts as F
from compute_ledger.ledger.clock import ManualClock
from compute_ledger.ledger.instants import parse_instant
from compute_ledger.projections.api import ComputeLedger, Verdict, bundled_record, replace_file
from compute_ledger.projections.proofs import cited
from compute_ledger.projections.report import bands

GOLDEN = Path(__file__).parent / "golden" / "report.html"
AS_OF, KNOWN_AT = "2026-05-23", "2026-07-01"


def public_ledger(path: Path) -> str:
    """The bundled public record in a ledger of its own, recorded by a clock that starts at
    2026-06-01 12:00Z, so its head (and so the report) is the same on every machine."""
    clock = ManualClock(datetime(2026, 6, 1, 12, 0, tzinfo=UTC), step=timedelta(seconds=1))
    with ComputeLedger.open(str(path), clock=clock, environ={}, create=True) as ledger:
        ledger.append(F.parse_facts(bundled_record()))
    return str(path)


def public_report() -> str:
    """The report of the bundled record as golden-tested (see tests/golden/README.md)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        db = public_ledger(Path(tmp) / "ledger.sqlite3")
        with ComputeLedger.open(db, environ={}) as ledger:
            return html(ledger.report(parse_instant(AS_OF), parse_instant(KNOWN_AT)))


class Page(HTMLParser):
    """What the tests look for: elements by id and class, and their text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str], list[str]]] = []
        self._open: list[int] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}, []))
        if tag not in ("meta", "link", "br", "img", "input", "line", "rect", "circle"):
            self._open.append(len(self.elements) - 1)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}, []))

    def handle_endtag(self, tag: str) -> None:
        if self._open and self.elements[self._open[-1]][0] == tag:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for index in self._open:
            self.elements[index][2].append(data)

    def by_id(self, name: str) -> tuple[str, dict[str, str], str]:
        [found] = [(t, a, "".join(x)) for t, a, x in self.elements if a.get("id") == name]
        return found

    def with_class(self, css: str) -> list[dict[str, str]]:
        return [a for _, a, _ in self.elements if css in a.get("class", "").split()]


def test_the_report_renders_in_a_real_browser_with_nothing_fetched(tmp_path: Path) -> None:
    db = public_ledger(tmp_path / "ledger.sqlite3")
    page = tmp_path / "market.html"
    done = run("report", str(page), "--as-of", AS_OF, "--known-at", KNOWN_AT, "--db", db)
    assert done.exit_code == 0, done.stderr
    assert done.stdout.startswith(f"wrote {page}: status CRITERIA_MET (under review")
    answer = msgspec.json.decode(run("verdict", "--as-of", AS_OF, "--known-at", KNOWN_AT,
                                     "--json", "--db", db).stdout, type=Verdict)
    deciding = cited(answer)
    assert len(deciding) >= 5

    shown = render(page, tmp_path / "browser")

    assert shown.console == []  # no error, no CSP violation, nothing at all
    assert shown.requests == []
    dom = Page(shown.dom)  # as the browser built it
    _, _, status = dom.by_id("status")
    assert status == "Status CRITERIA_MET (under review by the market's creator)"
    assert len(dom.with_class("deadline")) == 1
    chart = [a for t, a, _ in dom.elements if t == "circle" and "fact-mark" in a.get("class", "")]
    in_status_chart = _inside(shown.dom, "status-chart", "fact-mark")
    assert sorted(in_status_chart) == sorted(deciding)  # one mark per deciding fact
    assert {a["data-fact"] for a in chart} >= set(deciding)
    assert [a["data-status"] for a in dom.with_class("band")] == ["OPEN", "CRITERIA_MET"]
    assert dom.with_class("band-UNDER_REVIEW")
    for fact in deciding:  # each deciding fact's source is on the page, and linked
        dom.by_id(f"fact-{fact}")
        assert f'href="#fact-{fact}"' in shown.dom


def _inside(text: str, svg_id: str, css: str) -> list[str]:
    """The ``data-fact`` of every element of class ``css`` inside the SVG ``svg_id``."""
    start = text.index(f'id="{svg_id}"')
    end = text.index("</svg>", start)
    dom = Page(text[text.rindex("<svg", 0, start):end])
    return [a["data-fact"] for a in dom.with_class(css)]


def test_the_browser_check_sees_console_errors_and_requests(tmp_path: Path) -> None:
    """The check above could fail: a page that logs and fetches is caught doing both."""
    page = tmp_path / "noisy.html"
    page.write_text('<!DOCTYPE html><p>x</p><script>console.error("boom")</script>'
                    '<img src="http://127.0.0.1:9/pixel.png">')
    shown = render(page, tmp_path / "browser")
    assert any("boom" in line for line in shown.console)
    assert shown.requests == ["http://127.0.0.1:9/pixel.png"]


def test_the_report_is_the_same_bytes_for_the_same_question(tmp_path: Path) -> None:
    db = public_ledger(tmp_path / "ledger.sqlite3")
    pages = []
    for name in ("one.html", "two.html"):
        page = tmp_path / name
        assert run("report", str(page), "--as-of", AS_OF, "--known-at", KNOWN_AT,
                   "--db", db).exit_code == 0
        pages.append(page.read_bytes())
    assert pages[0] == pages[1]
    earlier = tmp_path / "earlier.html"
    assert run("report", str(earlier), "--as-of", "2026-05-01", "--known-at", KNOWN_AT,
               "--db", db).exit_code == 0
    assert b"Status OPEN" in earlier.read_bytes()
    assert not list(tmp_path.glob(".*.partial"))


def test_the_report_of_the_public_record_is_golden() -> None:
    """The page's bytes are pinned; after a deliberate change, regenerate the file with
    ``python -m tests.golden.save_report`` and read the diff."""
    assert public_report() == GOLDEN.read_text(encoding="utf-8")


def test_every_text_from_a_fact_is_escaped(tmp_path: Path) -> None:
    hostile = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    db = str(tmp_path / "ledger.sqlite3")
    ann = announce("2026-06-01T12:00:00Z", id="evil-deal")
    ann = msgspec.structs.replace(ann, source=F.Source(title=hostile, note=hostile,
                                                       url="https://example.com/?a=<b>&c=\"d\""))
    facts: list[F.Fact] = [ann, confirm("2026-06-02T12:00:00Z"),
             msgspec.structs.replace(rule("2026-06-03T12:00:00Z", "under_review", "d1"),
                                     summary=hostile)]
    with ComputeLedger.open(db, environ={}, create=True) as ledger:
        ledger.append(facts)
    page = tmp_path / "page.html"
    assert run("report", str(page), "--as-of", "2026-07-01", "--db", db).exit_code == 0
    text = page.read_text()
    assert "<script" not in text and "<img" not in text and hostile not in text
    assert text.count("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x "
                      "onerror=alert(2)&gt;") >= 3  # the title, the note, the summary
    assert 'href="https://example.com/?a=&lt;b&gt;&amp;c=&quot;d&quot;"' in text


def test_a_report_path_that_cannot_be_written_is_an_error_and_leaves_nothing(
        tmp_path: Path) -> None:
    db = public_ledger(tmp_path / "ledger.sqlite3")
    missing = tmp_path / "no-such-dir" / "page.html"
    done = run("report", str(missing), "--db", db)
    assert done.exit_code == 1
    assert f"cannot write {missing}" in done.stderr
    assert not missing.parent.exists()
    done = run("report", str(tmp_path), "--db", db)  # a directory
    assert done.exit_code == 2


def test_a_report_is_refused_on_a_path_that_is_no_ledger(tmp_path: Path) -> None:
    done = run("report", str(tmp_path / "page.html"), "--db", str(tmp_path / "nope.sqlite3"))
    assert done.exit_code == 1
    assert not (tmp_path / "page.html").exists()
    assert not (tmp_path / "nope.sqlite3").exists()


def test_bands_follow_the_timeline_with_review_and_resolution_apart() -> None:
    sale = announce("2026-06-01T12:00:00Z")
    review = rule("2026-06-05T12:00:00Z", "under_review", "d1")
    counts = rule("2026-06-10T12:00:00Z", "counts", "d1")
    resolved = rule("2026-06-20T12:00:00Z", "resolve_yes")
    found = bands(timeline_of(sale, confirm("2026-06-01T12:00:00Z"), review, counts, resolved))
    assert [(b.kind, b.status) for b in found] == [
        ("OPEN", "OPEN"),  # before anything happened
        ("CRITERIA_MET", "CRITERIA_MET"),
        ("UNDER_REVIEW", "CRITERIA_MET"),
        ("CRITERIA_MET", "CRITERIA_MET"),
        ("RESOLVED", "RESOLVED_YES"),
    ]
    assert [b.start and b.start.date().isoformat() for b in found] == [
        None, "2026-06-01", "2026-06-05", "2026-06-10", "2026-06-20"]
    assert [b.end for b in found][:-1] == [b.start for b in found][1:]
    assert found[-1].end is None


def test_deal_series_are_the_terms_and_the_run_rate_along_valid_time(tmp_path: Path) -> None:
    db = public_ledger(tmp_path / "ledger.sqlite3")
    with ComputeLedger.open(db, environ={}) as ledger:
        made = ledger.report(parse_instant(AS_OF), parse_instant(KNOWN_AT))
    [anthropic] = [d for d in made.deals if d.id == "xai-anthropic-colossus"]
    assert [str(level.value) for level in anthropic.capacity_mw] == ["300"]
    assert [(level.at.date().isoformat(), level.value) for level in anthropic.run_rate_usd] == [
        ("2026-05-22", 1_250_000_000), ("2029-05-01", None)]
    assert {m.fact for m in anthropic.marks} >= {"xai-anthropic-announced-2026-05-06"}


def _page_of(tmp_path: Path, facts: list[F.Fact], *args: str) -> str:
    tmp_path.mkdir(parents=True, exist_ok=True)
    db = str(tmp_path / "ledger.sqlite3")
    with ComputeLedger.open(db, environ={}, create=True) as ledger:
        ledger.append(facts)
    page = tmp_path / "page.html"
    done = run("report", str(page), "--db", db, *args)
    assert done.exit_code == 0, done.stderr
    return page.read_text()


def test_facts_at_the_ends_of_time_are_drawn(tmp_path: Path) -> None:
    """Facts may be dated from year 2 to 9998: the axis keeps to what datetime can hold."""
    facts: list[F.Fact] = [announce("0002-06-01T00:00:00Z", id="early"),
                           confirm("0002-06-02T00:00:00Z"),
                           announce("9998-06-01T00:00:00Z", "d2", id="late", ends_on="9998-12-31")]
    for as_of in ("9998-12-01", "0010-01-01"):
        text = _page_of(tmp_path / as_of, facts, "--as-of", as_of)
        assert 'data-fact="early"' in text


def _numbers(text: str, tag: str, css: str, attribute: str) -> list[float]:
    return [float(a[attribute]) for t, a, _ in Page(text).elements
            if t == tag and css in a.get("class", "").split()]


def test_the_charts_put_things_where_their_times_are() -> None:
    text = GOLDEN.read_text(encoding="utf-8")
    start = text.index('id="status-chart"')
    chart = text[start:text.index("</svg>", start)]
    ticks = {label: float(x) for x, label in
             re.findall(r'<text x="([\d.]+)" y="\d+" text-anchor="middle">(\d{4})</text>', chart)}
    [deadline] = [float(a["x1"]) for t, a, _ in Page(chart).elements
                  if t == "line" and a.get("stroke") == "#c62828"]
    assert ticks["2026"] < deadline <= ticks["2027"]
    assert ticks["2027"] - deadline < (ticks["2027"] - ticks["2026"]) / 100  # 31 Dec, late
    bands = _numbers(chart, "rect", "band", "x")
    assert bands == sorted(bands) and len(set(bands)) == len(bands)
    # the under-review band starts on 6 May 2026: 126 days into the year
    under_review = _numbers(chart, "rect", "band-UNDER_REVIEW", "x")[0]
    fraction = (under_review - ticks["2026"]) / (ticks["2027"] - ticks["2026"])
    assert abs(fraction - 125 / 365) < 0.01
    # in the order of their times (24 April, then 6 May): left to right, and where marks
    # close together share a column, top to bottom
    marks = [(float(a["cx"]), float(a["cy"]), a["data-fact"]) for t, a, _ in Page(chart).elements
             if t == "circle" and "fact-mark" in a.get("class", "")]
    assert marks == sorted(marks)
    assert [fact for _, _, fact in marks][:2] == ["creator-ruling-cursor-2026-04-24",
                                                  "spacexai-cursor-reported-2026-04-24"]


def test_every_live_fact_about_a_deal_is_a_mark_and_crowds_are_summed_up(
        tmp_path: Path) -> None:
    sale = announce("2026-06-01T12:00:00Z", id="sale")
    again = [confirm("2026-06-02T12:00:00Z", id=f"c{i}") for i in range(40)]  # change nothing
    text = _page_of(tmp_path, [sale, *again], "--as-of", "2026-07-01")
    start = text.index('id="chart-run-rate-d1"')
    chart = text[start:text.index("</svg>", start)]
    drawn = {a["data-fact"] for a in Page(chart).with_class("fact-mark")}
    [more] = Page(chart).with_class("fact-more")
    assert len(drawn) + int(more["data-count"]) == 41  # every fact, drawn or counted
    assert "sale" in drawn
    assert max(Counter(_numbers(chart, "circle", "fact-mark", "cx")).values()) <= 6


def test_amendments_show_their_reason_and_what_they_name(tmp_path: Path) -> None:
    sale = announce("2026-06-01T12:00:00Z", id="sale")
    fix = correct("2026-06-03T12:00:00Z", sale, announce("2026-06-01T12:00:00Z",
                                                         capacity_mw="250"), id="fix")
    dropped = filing("2026-06-04T12:00:00Z", id="gone")
    text = _page_of(tmp_path, [sale, fix, dropped, retract("2026-06-05T12:00:00Z", dropped,
                                                           id="drop")], "--as-of", "2026-07-01")
    dom = Page(text)
    _, _, about_fix = dom.by_id("fact-fix")
    assert 'corrects <a href="#fact-sale">' in text
    assert "Reason: corrected" in text and "Reason: withdrawn" in text
    _, _, gone = dom.by_id("fact-gone")
    assert "(retracted)" in gone
    ids = [a["id"] for _, a, _ in dom.elements if "id" in a]
    assert len(ids) == len(set(ids))  # every anchor unique
    assert "250 MW" in text and "Capacity by facility" in text
    assert about_fix.startswith("fix")


def test_a_replaced_file_keeps_its_mode_and_leaves_nothing_beside_it(tmp_path: Path) -> None:
    target = tmp_path / "page.html"
    target.write_text("old")
    target.chmod(0o600)
    replace_file(target, "new")
    assert target.read_text() == "new"
    assert target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["page.html"]
