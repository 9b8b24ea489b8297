"""``export sqlite``: the projections as SQLite tables, refreshed incrementally in one
transaction, rebuilt when the ledger was replaced, and readable by Datasette."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from builders import announce, retract, rule
from cli_runner import run
from datasette.app import Datasette  # type: ignore[import-untyped]
from sqlite_utils import Database

import compute_ledger.projections.export as export_module
from compute_ledger.ledger.clock import ManualClock
from compute_ledger.ledger.errors import ConfigurationError
from compute_ledger.ledger.facts import parse_facts
from compute_ledger.ledger.instants import parse_instant, utc_text
from compute_ledger.projections.api import ComputeLedger, bundled_record
from compute_ledger.projections.export import TABLES, ExportReport, export_sqlite, metadata_path

ROOT = Path(__file__).resolve().parent.parent
MAY_23 = parse_instant("2026-05-23")
NOV_05 = parse_instant("2026-11-05")
OFFERING = b"\n".join([
    b'{"id": "test-offering-announced", "type": "announcement", "occurred_at": '
    b'"2026-09-15T09:00:00-07:00", "source": {"document": "test"}, "speaker": "xai", '
    b'"channel": "press_release", "availability": "planned", "offering": {"offering_id": '
    b'"test-gpu-cloud", "provider": "xai", "service": "inference", "signup_open": false, '
    b'"pricing_published": true, "available_from": "2027-02-01"}}',
    b'{"id": "test-offering-opens", "type": "offering", "occurred_at": '
    b'"2026-11-02T08:00:00-08:00", "source": {"document": "test"}, "offering": '
    b'{"offering_id": "test-gpu-cloud", "provider": "xai", "service": "inference", '
    b'"signup_open": true, "pricing_published": true, "available_from": "2026-11-02"}}',
])
TABLE_NAMES = {t.name for t in TABLES}


@pytest.fixture
def loaded(ledger: ComputeLedger) -> ComputeLedger:
    """The ledger fixture (SQLite and PostgreSQL) holding the bundled public record."""
    ledger.append(parse_facts(bundled_record()))
    return ledger


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "ledger-export.db"


@pytest.fixture
def file_ledger(tmp_path: Path, clock: ManualClock) -> Iterator[ComputeLedger]:
    """A SQLite ledger holding the public record (for tests that need one backend only)."""
    with ComputeLedger.open(str(tmp_path / "file-ledger.sqlite3"), clock=clock,
                            environ={}) as opened:
        opened.append(parse_facts(bundled_record()))
        yield opened


def rows(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


def snapshot(path: Path) -> dict[str, Any]:
    """Every table's schema and rows: what must survive a failed export unchanged."""
    conn = sqlite3.connect(path)
    try:
        schema = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
        content = {
            name: conn.execute(f'SELECT * FROM "{name}" ORDER BY 1, 2').fetchall()
            for (kind, name, _) in schema if kind == "table"
        }
    finally:
        conn.close()
    return {"schema": schema, "rows": content}


# ---------------------------------------------------------------------------------------------
# The tables
# ---------------------------------------------------------------------------------------------


def test_every_table_has_its_keys_foreign_keys_and_indexes(loaded: ComputeLedger,
                                                           out: Path) -> None:
    export_sqlite(loaded, out, as_of=MAY_23)
    with Database(out) as db:
        assert set(db.table_names()) == TABLE_NAMES
        pks = {name: db.table(name).pks for name in TABLE_NAMES}
        assert pks["facts"] == ["position"]
        assert pks["deals"] == ["id"]
        assert pks["deal_terms"] == ["deal_id", "term"]
        assert pks["clause_checks"] == ["subject", "clause"]
        assert pks["verdict"] == ["market"]
        assert pks["timeline"] == ["at"]
        assert pks["_export"] == ["id"]
        fks = {(name, fk.column, fk.other_table, fk.other_column)
               for name in TABLE_NAMES for fk in db.table(name).foreign_keys}
        assert {
            ("deals", "first_fact", "facts", "id"),
            ("deal_terms", "deal_id", "deals", "id"),
            ("deal_terms", "fact_id", "facts", "id"),
            ("offering_terms", "offering_id", "offerings", "id"),
            ("candidates", "deal_id", "deals", "id"),
            ("clause_checks", "subject", "candidates", "subject"),
            ("clause_check_facts", "fact_id", "facts", "id"),
            ("rulings", "fact", "facts", "id"),
        } <= fks
        facts_indexes = {tuple(i.columns): i.unique for i in db.table("facts").indexes}
        assert facts_indexes[("id",)] == 1  # the target of the foreign keys is unique
        assert ("occurred_at",) in facts_indexes and ("type",) in facts_indexes
        for name, column, _, _ in fks:  # every foreign key column leads some index
            assert any(i.columns[0] == column for i in db.table(name).indexes), (name, column)
        assert ["status"] in [i.columns for i in db.table("deals").indexes]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_money_and_megawatts_are_decimal_strings(loaded: ComputeLedger, out: Path) -> None:
    export_sqlite(loaded, out, as_of=MAY_23)
    schema = " ".join(r["sql"] for r in rows(out, "SELECT sql FROM sqlite_master "
                                                  "WHERE type = 'table'"))
    assert "REAL" not in schema and "FLOAT" not in schema
    deal = rows(out, "SELECT usd_per_month, typeof(usd_per_month) AS t, capacity_mw, "
                     "typeof(capacity_mw) AS c FROM deals WHERE id = 'xai-anthropic-colossus'")
    assert deal == [{"usd_per_month": "1250000000", "t": "text", "capacity_mw": "300",
                     "c": "text"}]
    business = rows(out, "SELECT monthly_run_rate_usd, typeof(contracted_backlog_usd) AS t "
                         "FROM business")
    assert business == [{"monthly_run_rate_usd": "1250000000", "t": "text"}]
    assert rows(out, "SELECT DISTINCT typeof(monthly_run_rate_usd) AS t FROM timeline") == \
        [{"t": "text"}]
    assert rows(out, "SELECT capacity_mw, usd_per_month FROM customers") == \
        [{"capacity_mw": "300", "usd_per_month": "1250000000"}]
    assert rows(out, "SELECT facility, capacity_mw, deals FROM facilities") == [
        {"facility": "colossus-1", "capacity_mw": "300",  # where the 300 MW were reported
         "deals": '["xai-anthropic-colossus"]'}]


def test_the_facts_table_is_the_ledger(loaded: ComputeLedger, out: Path) -> None:
    export_sqlite(loaded, out, as_of=MAY_23)
    exported = rows(out, "SELECT position, id, recorded_at, hash, prev, json FROM facts "
                         "ORDER BY position")
    expected = [
        {"position": e.position, "id": e.fact_id, "recorded_at": e.recorded_at,
         "hash": e.hash, "prev": e.prev, "json": e.raw.decode()}
        for e in loaded.facts()
    ]
    assert exported == expected and len(expected) == 8


def test_derived_tables_are_the_api_answers(loaded: ComputeLedger, out: Path) -> None:
    report = export_sqlite(loaded, out, as_of=MAY_23)
    verdict = loaded.verdict(MAY_23, report.known_at)
    row = rows(out, "SELECT * FROM verdict")[0]
    assert (row["status"], row["under_review"], json.loads(row["qualifying"])) == (
        verdict.status, int(verdict.under_review), verdict.qualifying)
    assert (row["ledger_position"], row["ledger_head"]) == (8, loaded.head().hash)
    assert row["as_of"] == "2026-05-24T06:59:59.999999Z"
    assert row["criteria_met_since"] == "2026-05-06T07:00:00.000000Z"
    assert report.status == "CRITERIA_MET" and report.position == 8
    checks = {(r["subject"], r["clause"]): r for r in rows(out, "SELECT * FROM clause_checks")}
    for candidate in verdict.candidates:
        for check in candidate.checks:
            got = checks[(f"{candidate.kind}:{candidate.id}", check.clause)]
            assert (got["state"], bool(got["held"]), json.loads(got["facts"])) == (
                check.state, check.held, check.facts)
    assert len(checks) == 19 * len(verdict.candidates)
    standings = {r["deal_id"]: r["standing"] for r in rows(out, "SELECT * FROM candidates")}
    assert standings == {c.id: c.standing for c in verdict.candidates}
    terms = rows(out, "SELECT value, fact_id FROM deal_terms WHERE deal_id = ? AND term = ?",
                 ("xai-anthropic-colossus", "usd_per_month"))
    assert terms == [{"value": "1250000000",
                      "fact_id": "spacex-filings-anthropic-commitment-reported-2026-05-22"}]
    timeline = loaded.timeline(report.known_at)
    points = rows(out, "SELECT at, status FROM timeline ORDER BY at")
    assert [p["status"] for p in points] == [p.status for p in timeline.points]
    rulings = {r["fact"] for r in rows(out, "SELECT fact FROM rulings")}
    assert rulings == {r.fact for r in verdict.rulings}


# ---------------------------------------------------------------------------------------------
# Refreshing
# ---------------------------------------------------------------------------------------------


def test_a_refresh_shows_the_earlier_retractions_about_a_deal_first_known_now(
        file_ledger: ComputeLedger, out: Path) -> None:
    """A ruling on d1, withdrawn: the timeline names no deal d1, so no point for the
    withdrawal.  Once d1 is announced, the withdrawal, months before the announcement, is
    a point about d1: the refresh must rewrite the timeline from there, not from the
    announcement (found by the property test of refreshes)."""
    from compute_ledger.projections.export import check_export

    ruling = rule("2025-12-01", "counts", "d1", id="h00")
    file_ledger.append([ruling])
    file_ledger.append([retract("2025-12-01", ruling, id="h02")])
    export_sqlite(file_ledger, out)
    withdrawn = {"at": utc_text(ruling.occurred_at)}
    assert withdrawn not in rows(out, "SELECT at FROM timeline")
    file_ledger.append([announce("2026-03-01T12:00:00Z", "d1", id="h01")])
    export_sqlite(file_ledger, out)
    assert withdrawn in rows(out, "SELECT at FROM timeline")
    assert check_export(file_ledger, out).differs == []


def test_a_refresh_adds_only_the_new_facts_and_replaces_the_rest(loaded: ComputeLedger,
                                                                 out: Path) -> None:
    first = export_sqlite(loaded, out, as_of=NOV_05)
    assert (first.since, first.facts_added, first.rebuilt) == (0, 8, False)
    assert rows(out, "SELECT count(*) AS n FROM offerings") == [{"n": 0}]
    with sqlite3.connect(out) as conn:  # note every fact row written from now on
        conn.execute("CREATE TABLE inserted (position INTEGER)")
        conn.execute("CREATE TRIGGER note AFTER INSERT ON facts BEGIN "
                     "INSERT INTO inserted VALUES (new.position); END")
    conn.close()
    loaded.append(parse_facts(OFFERING))
    second = export_sqlite(loaded, out, as_of=NOV_05)
    assert (second.since, second.position, second.facts_added, second.rebuilt) == (
        8, 10, 2, False)
    assert rows(out, "SELECT position FROM inserted ORDER BY position") == [
        {"position": 9}, {"position": 10}]
    assert rows(out, "SELECT count(*) AS n FROM facts") == [{"n": 10}]
    assert rows(out, "SELECT position, head, facts_added FROM _export ORDER BY id") == [
        {"position": 8, "head": first.head, "facts_added": 8},
        {"position": 10, "head": loaded.head().hash, "facts_added": 2},
    ]
    # the derived tables show the new facts
    assert rows(out, "SELECT id, status, qualifies FROM offerings") == [
        {"id": "test-gpu-cloud", "status": "available", "qualifies": 1}]
    qualifying = json.loads(rows(out, "SELECT qualifying FROM verdict")[0]["qualifying"])
    assert sorted(qualifying) == ["test-gpu-cloud", "xai-anthropic-colossus"]
    assert rows(out, "SELECT fact_id FROM offering_terms WHERE term = 'signup_open'") == [
        {"fact_id": "test-offering-opens"}]
    assert second.tables["facts"] == 10 and second.tables["_export"] == 2

    third = export_sqlite(loaded, out, as_of=MAY_23)  # nothing new: only the answers change
    assert (third.since, third.facts_added) == (10, 0)
    assert rows(out, "SELECT count(*) AS n FROM inserted") == [{"n": 2}]
    assert rows(out, "SELECT as_of FROM verdict") == [{"as_of": "2026-05-24T06:59:59.999999Z"}]
    assert rows(out, "SELECT count(*) AS n FROM offerings") == [{"n": 0}]


def test_an_empty_ledger_exports_and_then_fills_in(ledger: ComputeLedger, out: Path) -> None:
    empty = export_sqlite(ledger, out, as_of=MAY_23)
    assert (empty.position, empty.facts_added, empty.status) == (0, 0, "OPEN")
    assert rows(out, "SELECT position, head FROM _export") == [
        {"position": 0, "head": "0" * 64}]
    ledger.append(parse_facts(bundled_record()))
    filled = export_sqlite(ledger, out, as_of=MAY_23)
    assert (filled.since, filled.facts_added, filled.rebuilt) == (0, 8, False)
    assert rows(out, "SELECT status FROM verdict") == [{"status": "CRITERIA_MET"}]


@pytest.mark.parametrize("step", ["_write_facts", "_write_verdict", "_write_timeline",
                                  "_index"])
def test_a_failure_part_way_leaves_the_previous_export_intact(
    loaded: ComputeLedger, out: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    export_sqlite(loaded, out, as_of=MAY_23)
    before = snapshot(out)
    loaded.append(parse_facts(OFFERING))
    real = getattr(export_module, step)

    def broken(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)  # the step writes its rows, then the export dies
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(export_module, step, broken)
    with pytest.raises(RuntimeError, match="simulated crash"):
        export_sqlite(loaded, out, as_of=NOV_05)
    assert snapshot(out) == before
    monkeypatch.undo()
    again = export_sqlite(loaded, out, as_of=NOV_05)  # resumes from what was committed
    assert (again.since, again.facts_added, again.position) == (8, 2, 10)


def test_a_failed_first_export_leaves_no_tables(loaded: ComputeLedger, out: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(export_module, "_write_metadata", broken)
    with pytest.raises(RuntimeError):
        export_sqlite(loaded, out, as_of=MAY_23)
    assert rows(out, "SELECT name FROM sqlite_master") == []
    assert not metadata_path(out).exists()
    monkeypatch.undo()
    assert export_sqlite(loaded, out, as_of=MAY_23).facts_added == 8


def test_a_replaced_ledger_rebuilds_the_file(file_ledger: ComputeLedger, out: Path,
                                             tmp_path: Path) -> None:
    export_sqlite(file_ledger, out, as_of=MAY_23)
    # The same facts recorded another day: same ids, other recorded_at, so other hashes.
    later = ManualClock(datetime(2026, 7, 1, tzinfo=UTC), step=timedelta(seconds=1))
    with ComputeLedger.open(str(tmp_path / "other.sqlite3"), clock=later,
                            environ={}) as other:
        other.append(parse_facts(bundled_record()))
        report = export_sqlite(other, out, as_of=MAY_23)
        hashes = [e.hash for e in other.facts()]
    assert report.rebuilt and report.since == 0 and report.facts_added == 8
    assert report.reason is not None and "position 8" in report.reason
    assert "replaced or rewritten" in report.reason
    assert [r["hash"] for r in rows(out, "SELECT hash FROM facts ORDER BY position")] == hashes
    assert rows(out, "SELECT position, rebuilt, reason IS NOT NULL AS why FROM _export") == [
        {"position": 8, "rebuilt": 1, "why": 1}]
    assert rows(out, "SELECT ledger_head FROM verdict") == [{"ledger_head": hashes[-1]}]


def test_a_shorter_ledger_rebuilds_the_file(file_ledger: ComputeLedger, out: Path,
                                            tmp_path: Path, clock: ManualClock) -> None:
    export_sqlite(file_ledger, out, as_of=MAY_23)
    with ComputeLedger.open(str(tmp_path / "short.sqlite3"), clock=clock,
                            environ={}) as other:
        other.append(parse_facts(OFFERING))
        report = export_sqlite(other, out, as_of=NOV_05)
    assert report.rebuilt and report.reason is not None and "fewer" in report.reason
    assert rows(out, "SELECT id FROM facts ORDER BY position") == [
        {"id": "test-offering-announced"}, {"id": "test-offering-opens"}]
    assert rows(out, "SELECT count(*) AS n FROM deals") == [{"n": 0}]


def test_a_facts_table_that_lost_rows_is_rebuilt(file_ledger: ComputeLedger,
                                                 out: Path) -> None:
    export_sqlite(file_ledger, out, as_of=MAY_23)
    with sqlite3.connect(out) as conn:
        conn.execute("DELETE FROM facts WHERE position = 3")
    conn.close()
    report = export_sqlite(file_ledger, out, as_of=MAY_23)
    assert report.rebuilt and report.facts_added == 8
    assert rows(out, "SELECT count(*) AS n FROM facts") == [{"n": 8}]


def test_a_database_that_is_not_an_export_is_left_alone(file_ledger: ComputeLedger,
                                                        out: Path) -> None:
    with sqlite3.connect(out) as conn:
        conn.execute("CREATE TABLE facts (keep TEXT)")
        conn.execute("INSERT INTO facts VALUES ('mine')")
    conn.close()
    with pytest.raises(ConfigurationError, match="not a compute-ledger export"):
        export_sqlite(file_ledger, out)
    assert rows(out, "SELECT * FROM facts") == [{"keep": "mine"}]


# ---------------------------------------------------------------------------------------------
# Datasette
# ---------------------------------------------------------------------------------------------


def datasette_get(path: Path, url: str, metadata: dict[str, Any] | None) -> Any:
    async def get() -> Any:
        ds = Datasette([str(path)], metadata=metadata)
        return await ds.client.get(url)

    return asyncio.run(get())


def test_the_metadata_describes_every_table_and_column(loaded: ComputeLedger,
                                                       out: Path) -> None:
    report = export_sqlite(loaded, out, as_of=MAY_23)
    assert report.metadata == metadata_path(out) == out.parent / "ledger-export.db.metadata.json"
    metadata = json.loads(report.metadata.read_text())
    assert metadata["title"] and metadata["description"]
    tables = metadata["databases"]["ledger-export"]["tables"]
    with Database(out) as db:
        for name in db.table_names():
            assert tables[name]["description"], name
            assert set(tables[name]["columns"]) == set(db.table(name).columns_dict), name
            assert all(tables[name]["columns"].values()), name
    assert tables["facts"]["sort"] == "position" and tables["timeline"]["sort"] == "at"
    inside = {(r["table_name"], r["column_name"]): r["description"]
              for r in rows(out, "SELECT * FROM _metadata")}
    assert inside[("", "")] == metadata["databases"]["ledger-export"]["description"]
    for name, table in tables.items():
        assert inside[(name, "")] == table["description"]
        for column, text in table["columns"].items():
            assert inside[(name, column)] == text


def test_datasette_opens_the_file_and_shows_the_current_verdict(loaded: ComputeLedger,
                                                                out: Path) -> None:
    report = export_sqlite(loaded, out, as_of=MAY_23)
    metadata = json.loads(report.metadata.read_text())
    response = datasette_get(out, "/ledger-export/verdict.json?_shape=array", metadata)
    assert response.status_code == 200
    [row] = response.json()
    expected = loaded.verdict(MAY_23, report.known_at)
    assert row["status"] == expected.status == "CRITERIA_MET"
    assert row["under_review"] == 1 and expected.under_review
    page = datasette_get(out, "/ledger-export/deals", metadata)
    assert page.status_code == 200
    assert "Monthly amount in US dollars" in page.text  # a column description is shown
    facts = datasette_get(out, "/ledger-export/facts.json?_shape=objects", metadata).json()
    assert facts["human_description_en"] == "sorted by position"  # the metadata's sort
    assert [r["position"] for r in facts["rows"]] == list(range(1, 9))
    timeline = datasette_get(out, "/ledger-export/timeline.json?_shape=objects", metadata)
    assert timeline.json()["human_description_en"] == "sorted by at"


# ---------------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------------



@pytest.fixture
def db_path(tmp_path: Path) -> str:
    path = tmp_path / "ledger.sqlite3"
    record = tmp_path / "record.jsonl"
    record.write_bytes(bundled_record())
    assert run("append", str(record), "--db", str(path)).exit_code == 0
    return str(path)


def test_the_command_prints_one_line(db_path: str, out: Path) -> None:
    result = run("export", "sqlite", str(out), "--db", db_path, "--as-of", "2026-05-23")
    assert result.exit_code == 0, result.output
    assert re.fullmatch(
        rf"{re.escape(str(out))}: written; position 8 \(head [0-9a-f]{{12}}\), 8 facts added, "
        r"verdict CRITERIA_MET\n", result.stdout)
    again = run("export", "sqlite", str(out), "--db", db_path, "--as-of", "2026-05-23")
    assert ": refreshed from position 8; position 8 " in again.stdout
    assert "0 facts added" in again.stdout
    assert rows(out, "SELECT status FROM verdict") == [{"status": "CRITERIA_MET"}]


def test_the_command_prints_the_report_as_json(db_path: str, out: Path) -> None:
    result = run("export", "sqlite", str(out), "--db", db_path, "--as-of", "2026-05-23",
                 "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["schema"] == "compute-ledger/export-report/1"
    assert (report["position"], report["facts_added"], report["rebuilt"]) == (8, 8, False)
    assert report["as_of"] == "2026-05-24T06:59:59.999999Z"
    assert report["status"] == "CRITERIA_MET"
    assert report["metadata"] == str(out) + ".metadata.json"
    assert report["tables"]["facts"] == 8 and set(report["tables"]) == TABLE_NAMES


def test_the_command_refuses_a_file_that_is_not_an_export(db_path: str, tmp_path: Path) -> None:
    result = run("export", "sqlite", db_path, "--db", db_path)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1].startswith(f"Error: {db_path} is a SQLite database "
                                                     "but not a compute-ledger export")
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n")
    result = run("export", "sqlite", str(text), "--db", db_path)
    assert result.exit_code == 2
    assert "it is not a SQLite database" in result.stderr
    assert text.read_text() == "not a database\n"
    missing = tmp_path / "nowhere" / "x.db"
    result = run("export", "sqlite", str(missing), "--db", db_path)
    assert result.exit_code == 2 and "does not exist" in result.stderr


def test_a_file_that_cannot_be_opened_is_a_clear_error(db_path: str, out: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    connect = sqlite3.connect

    def refuse(database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        if str(database) == str(out):  # as the OS refuses a file without permission
            raise sqlite3.OperationalError("unable to open database file")
        opened: sqlite3.Connection = connect(database, *args, **kwargs)
        return opened

    monkeypatch.setattr(sqlite3, "connect", refuse)
    result = run("export", "sqlite", str(out), "--db", db_path)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        f"Error: cannot open the export {out}: unable to open database file")
    assert not out.exists()


def test_the_command_rejects_a_naive_as_of(db_path: str, out: Path) -> None:
    result = run("export", "sqlite", str(out), "--db", db_path, "--as-of",
                 "2026-05-23T10:00:00")
    assert result.exit_code == 2
    assert "no UTC offset" in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("command", [("export",), ("export", "sqlite")])
def test_the_command_has_help_with_an_example(command: tuple[str, ...]) -> None:
    result = run(*command, "--help")
    assert result.exit_code == 0
    assert "Example:" in result.stdout
    assert "compute-ledger export sqlite ledger-export.db" in result.stdout


def test_the_docs_describe_every_table_and_column() -> None:
    page = (ROOT / "docs" / "export.md").read_text()
    for table in TABLES:
        section = page.split(f"### `{table.name}`", 1)
        assert len(section) == 2, f"docs/export.md has no section for {table.name}"
        body = section[1].split("\n### ", 1)[0]
        for column in table.column_names:
            assert f"`{column}`" in body, f"docs/export.md: {table.name}.{column} missing"


def test_without_as_of_the_verdict_is_the_current_one(loaded: ComputeLedger, out: Path,
                                                      clock: ManualClock) -> None:
    clock.set(datetime(2026, 6, 1, 12, 0, tzinfo=UTC))  # the clock the ledger reads "now" from
    report = export_sqlite(loaded, out)
    assert report.as_of >= datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    metadata = json.loads(report.metadata.read_text())
    [row] = datasette_get(out, "/ledger-export/verdict.json?_shape=array", metadata).json()
    assert row["as_of"] == report.as_of.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert row["status"] == loaded.verdict(report.as_of, report.known_at).status
    assert row["status"] == "CRITERIA_MET"


def test_the_report_type_is_what_the_api_returns(file_ledger: ComputeLedger, out: Path) -> None:
    report = export_sqlite(file_ledger, out, as_of=MAY_23)
    assert isinstance(report, ExportReport)
    assert report.path == out and report.head == file_ledger.head().hash
    assert report.as_of == MAY_23.astimezone(UTC)


# ---------------------------------------------------------------------------------------------
# replay --export: the file's tables against a fresh export
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("tampering", "named"), [
    ("UPDATE deals SET status = 'ended' WHERE id = 'spacexai-cursor'",
     "table deals, row id='spacexai-cursor': status is 'ended' in the file, 'reported' in "
     "the replay"),
    ("DELETE FROM verdict", "table verdict, row market='xai-compute-2026': missing from the "
     "file"),
    ("INSERT INTO customers VALUES ('zz-made-up', '1', '1', '[]')",
     "table customers, row customer='zz-made-up': only in the file"),
    ("UPDATE facts SET json = replace(json, '300', '350') WHERE position = 4",
     "table facts, row position=4: json is"),
    ("UPDATE timeline SET status = 'OPEN' WHERE at = (SELECT max(at) FROM timeline)",
     "table timeline, row at='2029-05-01T07:00:00.000000Z': status is 'OPEN' in the file"),
    ("DROP TABLE rulings", "table rulings is missing from the file"),
])
def test_replay_names_the_first_row_an_export_holds_otherwise(
        db_path: str, out: Path, tampering: str, named: str) -> None:
    assert run("export", "sqlite", str(out), "--db", db_path, "--as-of", "2026-05-23"
               ).exit_code == 0
    agreed = run("replay", "--export", str(out), "--db", db_path)
    assert agreed.exit_code == 0, agreed.output
    assert f"Export     {out} (position 8): agrees with a fresh export" in agreed.stdout
    conn = sqlite3.connect(out)
    conn.execute(tampering)
    conn.commit()
    conn.close()
    before = out.read_bytes()
    result = run("replay", "--export", str(out), "--db", db_path, "--json")
    assert result.exit_code == 1
    [check] = json.loads(result.stdout)["exports"]
    assert check["position"] == 8 and check["differs"][0].startswith(named), check
    assert json.loads(result.stdout)["ok"] is False
    assert result.stderr == ""  # one JSON document, which says what differs
    shown = run("replay", "--export", str(out), "--db", db_path)
    assert shown.exit_code == 1
    assert f"the export {out} differs from the replay: {named}" in shown.stderr
    assert out.read_bytes() == before  # only read


def test_replay_compares_an_export_made_before_later_appends(db_path: str, out: Path,
                                                             tmp_path: Path) -> None:
    """The fresh export is of the position and as-of the file records, not of the head."""
    assert run("export", "sqlite", str(out), "--db", db_path).exit_code == 0
    more = tmp_path / "more.jsonl"
    more.write_bytes(OFFERING + b"\n")
    assert run("append", str(more), "--db", db_path).exit_code == 0
    result = run("replay", "--export", str(out), "--db", db_path)
    assert result.exit_code == 0, result.output
    assert "(position 8): agrees" in result.stdout


def test_replay_says_when_an_export_stands_on_another_history(
        db_path: str, out: Path, tmp_path: Path) -> None:
    other = str(tmp_path / "other.sqlite3")
    more = tmp_path / "more.jsonl"
    more.write_bytes(OFFERING + b"\n")
    assert run("append", str(more), "--db", other).exit_code == 0
    assert run("export", "sqlite", str(out), "--db", other).exit_code == 0
    result = run("replay", "--export", str(out), "--db", db_path)
    assert result.exit_code == 1
    assert "the file holds position 2 with head" in result.stderr
    assert "but the ledger's record there has hash" in result.stderr
    not_one = tmp_path / "plain.db"
    sqlite3.connect(not_one).execute("CREATE TABLE t (x)").connection.close()
    refused = run("replay", "--export", str(not_one), "--db", db_path)
    assert refused.exit_code == 2 and "is not a compute-ledger export" in refused.stderr
