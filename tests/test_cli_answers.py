"""verdict, business and timeline as a person and as a tool see them."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
from cli_runner import run

from compute_ledger.projections.api import ComputeLedger, bundled_record


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = tmp_path / "ledger.sqlite3"
    record = tmp_path / "record.jsonl"
    record.write_bytes(bundled_record())
    assert run("append", str(record), "--db", str(path)).exit_code == 0
    return str(path)


def test_verdict_json_on_may_23(db: str) -> None:
    result = run("verdict", "--as-of", "2026-05-23", "--db", db, "--json")
    assert result.exit_code == 0
    answer = json.loads(result.stdout)
    assert answer["schema"] == "compute-ledger/verdict/3"
    assert (answer["status"], answer["under_review"]) == ("CRITERIA_MET", True)
    assert answer["qualifying"] == ["xai-anthropic-colossus"]
    assert answer["as_of"] == "2026-05-24T06:59:59.999999Z"
    assert answer["criteria_met_since"] == "2026-05-06T07:00:00Z"
    assert answer["ledger_position"] == 8 and len(answer["ledger_head"]) == 64
    assert answer["deadline"] == "2027-01-01T07:59:59.999999Z"


def test_verdict_for_people_names_the_instants_and_the_reasons(db: str) -> None:
    lines = run("verdict", "--as-of", "2026-04-30", "--db", db).stdout.splitlines()
    assert lines[1] == "As of      2026-04-30 23:59:59.999999 PDT (2026-05-01T06:59:59.999999Z)"
    assert lines[3] == "Status     OPEN"
    assert "  deal     spacexai-cursor   excluded  exc-collaboration: both parties contribute " \
           "resources: a collaboration; the market's creator ruled so too" in lines


def test_explain_prints_the_checklist_clause_by_clause(db: str) -> None:
    out = run("verdict", "--as-of", "2026-05-23", "--explain", "--db", db).stdout
    header = ("deal xai-anthropic-colossus: qualifying since 2026-05-06 00:00:00 PDT "
              "(the checks as of then)\n")
    block = out.split(header, 1)[1].split("\n\n", 1)[0]
    rows = block.splitlines()
    assert len(rows) == 19
    assert rows[1].split()[:3] == ["✓", "inc-enterprise-deal", "met"]
    assert "[xai-anthropic-announced-2026-05-06" in rows[1]
    assert rows[3].split()[:3] == ["✗", "inc-earnings", "failed"]
    assert rows[12].split()[:3] == ["·", "spc-tesla-merger", "n/a"]


def test_known_at_reproduces_what_the_ledger_said_then(tmp_path: Path) -> None:
    db = str(tmp_path / "l.sqlite3")
    refused = run("append", "--db", db, "-")  # nothing to append: refused, nothing written
    assert refused.exit_code == 2, refused.output
    assert not Path(db).exists()  # not even an empty ledger
    record = tmp_path / "r.jsonl"
    record.write_bytes(bundled_record())
    assert run("append", str(record), "--db", db).exit_code == 0
    past = json.loads(run("verdict", "--db", db, "--json", "--as-of", "2026-05-23",
                          "--known-at", "2020-01-01").stdout)
    assert (past["status"], past["ledger_position"], past["candidates"]) == ("OPEN", 0, [])
    assert past["known_at"] == "2020-01-02T07:59:59.999999Z"  # end of Jan 1, PST


def test_business_for_people(db: str) -> None:
    out = run("business", "--as-of", "2026-05-23", "--db", db).stdout
    assert "xai-anthropic-colossus        active    xai       anthropic" in out
    assert "External customers   anthropic (300 MW, $1.25B/month)" in out
    assert "Monthly run-rate     $1.25B (active deals)" in out
    # the 300 MW were announced for Colossus 1; the filing that later named Colossus 2 as
    # well did not move them
    assert "Capacity by facility colossus-1 300 MW" in out
    assert "Contracted backlog   about $44.1B" in out  # as precise as $1.25B/month allows


def test_business_json(db: str) -> None:
    answer = json.loads(run("business", "--as-of", "2026-05-23", "--db", db, "--json").stdout)
    deal = next(d for d in answer["deals"] if d["id"] == "xai-anthropic-colossus")
    assert deal["usd_per_month"] == "1250000000"  # decimals are strings, never floats
    assert deal["terms"]["usd_per_month"]["fact"] == \
        "spacex-filings-anthropic-commitment-reported-2026-05-22"


def test_timeline(db: str) -> None:
    answer = json.loads(run("timeline", "--db", db, "--json").stdout)
    statuses = [p["status"] for p in answer["points"]]
    assert statuses[0] == "OPEN" and "CRITERIA_MET" in statuses
    text = run("timeline", "--db", db).stdout
    assert "2026-05-06 00:00:00 PDT  CRITERIA_MET\n    market status: OPEN -> CRITERIA_MET" \
        in text
    assert "    deal:xai-anthropic-colossus qualifies: false -> true" in text


@pytest.mark.parametrize("bad", ["2026-05-06T10:00:00", "yesterday", "2026-13-01",
                                 "9999-12-31", "0001-01-01", "0001-01-01T00:00:00+01:00"])
def test_a_time_without_offset_or_nonsense_is_a_usage_error(db: str, bad: str) -> None:
    result = run("verdict", "--as-of", bad, "--db", db)
    assert result.exit_code == 2
    assert "Invalid value for '--as-of'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_naive_time_is_refused_with_the_reason(db: str) -> None:
    result = run("verdict", "--known-at", "2026-05-06T10:00:00", "--db", db)
    assert result.stderr.splitlines()[-1] == (
        "Error: Invalid value for '--known-at': '2026-05-06T10:00:00' has no UTC offset; add Z "
        "or an offset such as -07:00 (a time zone is never guessed)"
    )


def test_a_fresh_install_answers_with_the_bundled_record() -> None:
    answer = json.loads(run("verdict", "--as-of", "2026-05-23", "--json").stdout)
    assert answer["status"] == "CRITERIA_MET"


def _pretty(value: object) -> str:
    return msgspec.json.format(msgspec.json.encode(value, enc_hook=str), indent=2).decode()


def test_the_streamed_timeline_is_the_answer_byte_for_byte(db: str) -> None:
    """`timeline --json` writes its points as the walk reaches them; what it prints is
    exactly the whole answer's JSON (the known-at pinned, so both are one answer)."""
    printed = run("timeline", "--known-at", "@8", "--db", db, "--json").stdout
    with ComputeLedger.open(db, environ={}) as ledger:
        assert printed == _pretty(ledger.timeline(8)) + "\n"
        head, points = ledger.timeline_points(8)
        assert head.points == [] and iter(points) is points  # walked on demand
    empty = run("timeline", "--known-at", "@8", "--since", "2030-01-01", "--db", db, "--json")
    assert json.loads(empty.stdout)["points"] == [] and '"points": []' in empty.stdout


def test_each_point_names_only_what_changed(db: str) -> None:
    answer = json.loads(run("timeline", "--db", db, "--json").stdout)
    assert answer["schema"] == "compute-ledger/timeline/4"
    assert all("qualifying" not in point for point in answer["points"])
    turned = [(p["at"], c["before"], c["after"]) for p in answer["points"] for c in p["changes"]
              if c["what"] == "qualifies"]
    assert turned == [("2026-05-06T07:00:00Z", "false", "true")]  # said once, where it turns


def test_since_and_until_keep_the_points_of_a_stretch(db: str) -> None:
    whole = json.loads(run("timeline", "--known-at", "@8", "--db", db, "--json").stdout)
    part = json.loads(run("timeline", "--known-at", "@8", "--since", "2026-05-06",
                          "--until", "2026-12-31", "--db", db, "--json").stdout)
    # A date opens the range at the start of its day (PT) and closes it at the end of its day.
    assert [p["at"] for p in part["points"]] == ["2026-05-06T07:00:00Z", "2026-05-22T07:00:00Z"]
    assert part["points"] == [p for p in whole["points"] if p["at"] in
                              ("2026-05-06T07:00:00Z", "2026-05-22T07:00:00Z")]
    instant = json.loads(run("timeline", "--known-at", "@8", "--since", "2026-05-06T07:00:01Z",
                             "--db", db, "--json").stdout)
    assert instant["points"][0]["at"] == "2026-05-22T07:00:00Z"
    text = run("timeline", "--until", "2026-04-30", "--db", db).stdout
    assert "2026-04-24 00:00:00 PDT  OPEN" in text and "2026-05-06" not in text


def test_since_after_until_is_refused(db: str) -> None:
    result = run("timeline", "--since", "2026-06-01", "--until", "2026-05-01", "--db", db)
    assert result.exit_code == 2
    assert "since (2026-06-01T07:00:00+00:00) is after until" in result.stderr
    bad = run("timeline", "--since", "soon", "--db", db)
    assert bad.exit_code == 2 and "Invalid value for '--since'" in bad.stderr
