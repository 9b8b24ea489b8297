"""verdict, business and timeline as a person and as a tool see them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_runner import run

from compute_ledger.projections.api import bundled_record


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
    assert "2026-05-06 00:00:00 PDT  CRITERIA_MET qualifying: xai-anthropic-colossus" in text
    assert "    market status: OPEN -> CRITERIA_MET" in text


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
