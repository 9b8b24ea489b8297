"""The projections as SQLite tables, written with sqlite-utils, ready for Datasette.

:func:`export_sqlite` writes one file: the ledger's facts (with their place in the hash
chain), and the verdict, the business and the timeline as the API answers them, laid out
as tables with primary keys, foreign keys and indexes.  Nothing here applies a rule of the
market: every derived row is copied from a typed answer of
:class:`~projections.api.ComputeLedger`.

Refreshing is incremental and atomic:

* the file records, in its ``_export`` table, the ledger position and head hash it holds;
* a new export adds only the facts recorded after that position, rewrites the timeline's
  points only from the earliest valid time those facts can change (the index says which
  histories they changed, and from when; see ``ComputeLedger.changed_from``), and replaces
  the other derived tables, which are one row per deal, customer or clause;
* all of it, and the new ``_export`` row, is written in one SQLite transaction, so a failure
  part way leaves the previous export exactly as it was;
* when the ledger's record at the recorded position no longer carries the recorded hash (the
  ledger was replaced or rewritten), the file's tables are rebuilt from scratch, and the
  report says why.  The hash chain makes the one comparison enough: a record's hash covers
  every record before it.

The same descriptions that document the tables are written as Datasette metadata, both into
the file (table ``_metadata``) and beside it (``PATH.metadata.json``).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
from sqlite_utils import Database

from compute_ledger.ledger.bulk import counted
from compute_ledger.ledger.errors import ConfigurationError, StorageError
from compute_ledger.ledger.facts import encode_json
from compute_ledger.ledger.files import replace_file
from compute_ledger.ledger.instants import from_utc_text, utc_text
from compute_ledger.projections.answers import (
    Business,
    ExportCheckOut,
    TermOut,
    Verdict,
)
from compute_ledger.projections.api import ComputeLedger, Stages
from compute_ledger.projections.business import capacity_facility

EXPORT_FORMAT = "compute-ledger/export/2"
"""The layout of the exported tables.  A file written in another layout is rebuilt."""

TITLE = "compute-ledger export"
DESCRIPTION = (
    "Facts about xAI's compute business from an append-only, hash-chained ledger, and the "
    "projections built from them: the verdict of the market 'Will xAI offer AI compute "
    "services to external customers by the end of 2026?', its clause checks, the deals, "
    "customers and facilities, and the timeline of change points. Instants are UTC text "
    "(fixed width, so they sort as text); money and megawatts are decimal strings."
)
BATCH = 1000


# ---------------------------------------------------------------------------------------------
# The tables, described once: created from this, documented from this
# ---------------------------------------------------------------------------------------------


class Column(msgspec.Struct, frozen=True):
    name: str
    type: type
    description: str
    not_null: bool = False


class Table(msgspec.Struct, frozen=True):
    name: str
    description: str
    columns: tuple[Column, ...]
    pk: str | tuple[str, ...]
    foreign_keys: tuple[tuple[str, str, str], ...] = ()
    """(column, other table, other column)"""
    indexes: tuple[tuple[str, ...], ...] = ()
    unique: tuple[str, ...] = ()
    sort: str | None = None
    sort_desc: str | None = None
    kept: bool = False
    """Kept across refreshes (the facts, the export history, the timeline's points before
    what changed); the others are replaced."""

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def _c(name: str, kind: type, description: str, *, not_null: bool = False) -> Column:
    return Column(name, kind, description, not_null)


INSTANT = "UTC, sortable text"
DECIMAL = "a decimal string"
JSON_LIST = "a JSON array"

FACTS = Table(
    "facts",
    "Every fact in the ledger, in ledger order, with its place in the hash chain. A refresh "
    "only adds the facts recorded since the previous export.",
    (
        _c("position", int, "Ledger position: 1 for the first fact recorded, and so on.",
           not_null=True),
        _c("id", str, "The fact's id (unique).", not_null=True),
        _c("type", str, "Fact type: announcement, filing, customer_confirmation, offering, "
           "creator_ruling, corporate_event, correction or retraction.", not_null=True),
        _c("occurred_at", str, f"Valid time: when it happened in the world ({INSTANT}; the "
           "fact's own offset is kept in json).", not_null=True),
        _c("recorded_at", str, f"System time: when the ledger recorded it ({INSTANT}).",
           not_null=True),
        _c("hash", str, "Chain hash of this record (SHA-256 over prev, position, recorded_at "
           "and the canonical fact).", not_null=True),
        _c("prev", str, "Chain hash of the record before (64 zeros at position 1).",
           not_null=True),
        _c("json", str, "The fact in canonical form (sorted keys, no whitespace): the bytes "
           "the hash covers.", not_null=True),
    ),
    pk="position",
    indexes=(("type",), ("occurred_at",), ("recorded_at",)),
    unique=("id",),
    sort="position",
    kept=True,
)

DEALS = Table(
    "deals",
    "Each deal known as of the export's as_of, with its merged terms and its status (the "
    "business projection).",
    (
        _c("id", str, "The deal's id (deal_id in the facts).", not_null=True),
        _c("status", str, "reported, announced, filed, confirmed, active, ended or retracted.",
           not_null=True),
        _c("provider", str, "The party providing the compute."),
        _c("customer", str, "The party buying it."),
        _c("external", bool, "1 when the customer is not a Musk company, 0 when it is, null "
           "when the customer is unknown."),
        _c("service", str, "What is provided (training, inference, compute_capacity, ...)."),
        _c("consideration", str, "What is paid (cash, revenue_share, free, ...)."),
        _c("facilities", str, f"The facilities named, {JSON_LIST}."),
        _c("capacity_mw", str, f"Capacity in megawatts, {DECIMAL}."),
        _c("usd_per_month", str, f"Monthly amount in US dollars, {DECIMAL}."),
        _c("starts_on", str, "Start date (YYYY-MM-DD)."),
        _c("ends_on", str, "End date (YYYY-MM-DD)."),
        _c("qualifies", bool, "1 when the deal qualifies under the market's clauses as of "
           "as_of.", not_null=True),
        _c("first_fact", str, "The first fact about the deal."),
    ),
    pk="id",
    foreign_keys=(("first_fact", "facts", "id"),),
    indexes=(("status",), ("customer",), ("provider",)),
)

DEAL_TERMS = Table(
    "deal_terms",
    "Each known term of each deal, with the fact it comes from.",
    (
        _c("deal_id", str, "The deal.", not_null=True),
        _c("term", str, "The term's name (provider, customer, capacity_mw, ...).",
           not_null=True),
        _c("value", str, "Its value as text: strings, decimals and dates as written, lists as "
           "a JSON array."),
        _c("fact_id", str, "The fact that set it.", not_null=True),
    ),
    pk=("deal_id", "term"),
    foreign_keys=(("deal_id", "deals", "id"), ("fact_id", "facts", "id")),
)

OFFERINGS = Table(
    "offerings",
    "Each public offering (a platform anyone can sign up to) known as of as_of.",
    (
        _c("id", str, "The offering's id (offering_id in the facts).", not_null=True),
        _c("status", str, "available, announced or retracted.", not_null=True),
        _c("provider", str, "The party offering it."),
        _c("service", str, "What is offered."),
        _c("signup_open", bool, "1 when anyone can sign up."),
        _c("pricing_published", bool, "1 when prices are published."),
        _c("available_from", str, "When it opens (YYYY-MM-DD)."),
        _c("qualifies", bool, "1 when it qualifies under the market's clauses as of as_of.",
           not_null=True),
    ),
    pk="id",
    indexes=(("status",),),
)

OFFERING_TERMS = Table(
    "offering_terms",
    "Each known term of each offering, with the fact it comes from.",
    (
        _c("offering_id", str, "The offering.", not_null=True),
        _c("term", str, "The term's name.", not_null=True),
        _c("value", str, "Its value as text (booleans as true or false)."),
        _c("fact_id", str, "The fact that set it.", not_null=True),
    ),
    pk=("offering_id", "term"),
    foreign_keys=(("offering_id", "offerings", "id"), ("fact_id", "facts", "id")),
)

FACILITIES = Table(
    "facilities",
    "Capacity of the active deals per facility as of as_of, counted at the facilities it "
    "was reported for. Capacity reported for several facilities counts under their names "
    "joined with +.",
    (
        _c("facility", str, "The facility, or facilities joined with + (unknown when none "
           "is known).", not_null=True),
        _c("capacity_mw", str, f"Megawatts of active deals there, {DECIMAL}.", not_null=True),
        _c("deals", str, f"The active deals counted, {JSON_LIST}.", not_null=True),
    ),
    pk="facility",
)

CUSTOMERS = Table(
    "customers",
    "External customers (not Musk companies) of deals known from more than media reports, "
    "as of as_of.",
    (
        _c("customer", str, "The customer.", not_null=True),
        _c("capacity_mw", str, f"Megawatts of its active deals, {DECIMAL}.", not_null=True),
        _c("usd_per_month", str, f"Monthly US dollars of its active deals, {DECIMAL}.",
           not_null=True),
        _c("deals", str, f"Its deals, {JSON_LIST}.", not_null=True),
    ),
    pk="customer",
)

BUSINESS = Table(
    "business",
    "One row: the totals of xAI's compute business as of as_of.",
    (
        _c("as_of", str, f"Valid time of the answer ({INSTANT}).", not_null=True),
        _c("known_at", str, f"System time of the answer ({INSTANT}).", not_null=True),
        _c("monthly_run_rate_usd", str, f"Sum of usd_per_month of active deals, {DECIMAL}.",
           not_null=True),
        _c("contracted_backlog_usd", str, "Run-rate of active deals times the months left to "
           f"their end dates, {DECIMAL}.", not_null=True),
        _c("open_ended_deals", str, f"Active deals without an end date (left out of the "
           f"backlog), {JSON_LIST}.", not_null=True),
        _c("ledger_position", int, "Position of the last fact the answer includes.",
           not_null=True),
        _c("ledger_head", str, "Hash of that fact's record.", not_null=True),
    ),
    pk="as_of",
)

VERDICT = Table(
    "verdict",
    "One row: the market's verdict as of as_of, as known at known_at.",
    (
        _c("market", str, "The market's id.", not_null=True),
        _c("question", str, "The market's question.", not_null=True),
        _c("deadline", str, f"The market's deadline ({INSTANT}).", not_null=True),
        _c("as_of", str, f"Valid time: facts that occurred by then count ({INSTANT}).",
           not_null=True),
        _c("known_at", str, f"System time: facts recorded by then are known ({INSTANT}).",
           not_null=True),
        _c("status", str, "OPEN, CRITERIA_MET, CRITERIA_NOT_MET, RESOLVED_YES, RESOLVED_NO or "
           "RESOLVED_NA.", not_null=True),
        _c("under_review", bool, "1 when every qualifying deal is under the creator's review.",
           not_null=True),
        _c("disagrees_with_rules", bool, "1 when the creator's resolution in force contradicts "
           "the clauses.", not_null=True),
        _c("criteria_met", bool, "1 when at least one deal or offering qualified by as_of "
           "(once met, met for good).", not_null=True),
        _c("criteria_met_since", str, f"The earliest valid time, up to as_of, at which a deal "
           f"or offering qualified ({INSTANT}).",),
        _c("qualifying", str, f"Ids of the qualifying deals and offerings, {JSON_LIST}.",
           not_null=True),
        _c("clauses_used", str, f"Clauses that decided something, {JSON_LIST}.",
           not_null=True),
        _c("ledger_position", int, "Position of the last fact the verdict includes.",
           not_null=True),
        _c("ledger_head", str, "Hash of that fact's record: with the position, what makes "
           "the verdict reproducible.", not_null=True),
    ),
    pk="market",
)

CANDIDATES = Table(
    "candidates",
    "Each deal and offering the verdict weighed, with its standing.",
    (
        _c("subject", str, "deal:ID or offering:ID.", not_null=True),
        _c("kind", str, "deal or offering.", not_null=True),
        _c("deal_id", str, "The deal (null for an offering)."),
        _c("offering_id", str, "The offering (null for a deal)."),
        _c("standing", str, "qualifying, candidate (something is missing) or excluded.",
           not_null=True),
        _c("qualifies", bool, "1 when it qualifies.", not_null=True),
        _c("by_ruling", bool, "1 when it qualifies only by the creator's counts ruling.",
           not_null=True),
        _c("under_review", bool, "1 when the creator's under_review ruling is in force on it.",
           not_null=True),
        _c("available_since", str, f"When it became available ({INSTANT})."),
        _c("missing", str, f"For a candidate, the clauses a new fact would have to settle, "
           f"{JSON_LIST}.", not_null=True),
    ),
    pk="subject",
    foreign_keys=(("deal_id", "deals", "id"), ("offering_id", "offerings", "id")),
    indexes=(("standing",),),
)

CLAUSE_CHECKS = Table(
    "clause_checks",
    "Every clause of the market applied to every candidate: the verdict's explanation.",
    (
        _c("subject", str, "The candidate (deal:ID or offering:ID).", not_null=True),
        _c("clause", str, "The clause id (inc-..., exc-..., spc-..., prf-..., ddl-...).",
           not_null=True),
        _c("kind", str, "inclusion, exclusion, special, proof or deadline.", not_null=True),
        _c("state", str, "met, failed, unknown or not_applicable.", not_null=True),
        _c("held", bool, "1 when the clause does not stand in the way (met or not "
           "applicable).", not_null=True),
        _c("note", str, "Why, in words.", not_null=True),
        _c("facts", str, f"Ids of the facts that decide it, {JSON_LIST}.", not_null=True),
    ),
    pk=("subject", "clause"),
    foreign_keys=(("subject", "candidates", "subject"),),
    indexes=(("clause",), ("state",)),
)

CLAUSE_CHECK_FACTS = Table(
    "clause_check_facts",
    "The facts behind each clause check, one row per fact (clause_checks.facts as rows).",
    (
        _c("subject", str, "The candidate.", not_null=True),
        _c("clause", str, "The clause id.", not_null=True),
        _c("fact_id", str, "A fact that decides it.", not_null=True),
    ),
    pk=("subject", "clause", "fact_id"),
    foreign_keys=(("subject", "candidates", "subject"), ("fact_id", "facts", "id")),
)

RULINGS = Table(
    "rulings",
    "The market creator's rulings in force as of as_of.",
    (
        _c("fact", str, "The creator_ruling fact.", not_null=True),
        _c("ruling", str, "clarification, counts, does_not_count, under_review, resolve_yes, "
           "resolve_no, resolve_na or unresolve.", not_null=True),
        _c("subject", str, "The deal or offering id it is about (null for the market)."),
        _c("at", str, f"When it was made ({INSTANT}).", not_null=True),
        _c("clauses", str, f"The clauses it names, {JSON_LIST}.", not_null=True),
        _c("summary", str, "What it says.", not_null=True),
    ),
    pk="fact",
    foreign_keys=(("fact", "facts", "id"),),
    indexes=(("subject",),),
)

TIMELINE = Table(
    "timeline",
    "Every valid time at which the verdict or the business changes, as known at the export.",
    (
        _c("at", str, f"The instant ({INSTANT}).", not_null=True),
        _c("status", str, "The market's status from then on.", not_null=True),
        _c("criteria_met", bool, "1 when something qualifies from then on.", not_null=True),
        _c("monthly_run_rate_usd", str, f"Run-rate of active deals from then on, {DECIMAL}.",
           not_null=True),
        _c("changes", str, "What changed, a JSON array of {subject, what, before, after}.",
           not_null=True),
        _c("facts", str, f"Facts that occurred at this instant, {JSON_LIST}.", not_null=True),
    ),
    pk="at",
    indexes=(("status",),),
    sort="at",
    kept=True,
)

METADATA = Table(
    "_metadata",
    "The descriptions of this database, its tables and their columns (the same text as "
    "PATH.metadata.json, for any SQL client).",
    (
        _c("table_name", str, "The table ('' for the database itself).", not_null=True),
        _c("column_name", str, "The column ('' for the table itself).", not_null=True),
        _c("description", str, "What it holds.", not_null=True),
    ),
    pk=("table_name", "column_name"),
)

EXPORTS = Table(
    "_export",
    "One row per export into this file: what it holds and where a refresh resumes.",
    (
        _c("id", int, "Export number, counting from 1.", not_null=True),
        _c("format", str, f"The layout of the tables ({EXPORT_FORMAT}).", not_null=True),
        _c("position", int, "Ledger position of the last fact exported.", not_null=True),
        _c("head", str, "Hash of that record: a refresh checks the ledger still has it.",
           not_null=True),
        _c("exported_at", str, f"When the export was written ({INSTANT}).", not_null=True),
        _c("as_of", str, f"Valid time of the derived tables ({INSTANT}).", not_null=True),
        _c("known_at", str, f"System time of the derived tables ({INSTANT}).", not_null=True),
        _c("facts_added", int, "Facts this export added to the facts table.", not_null=True),
        _c("rebuilt", bool, "1 when this export discarded a previous one and started over.",
           not_null=True),
        _c("reason", str, "Why it started over."),
    ),
    pk="id",
    sort_desc="id",
    kept=True,
)

TABLES: tuple[Table, ...] = (
    FACTS, DEALS, DEAL_TERMS, OFFERINGS, OFFERING_TERMS, FACILITIES, CUSTOMERS, BUSINESS,
    VERDICT, CANDIDATES, CLAUSE_CHECKS, CLAUSE_CHECK_FACTS, RULINGS, TIMELINE, METADATA,
    EXPORTS,
)
"""Every table of the export, parents before the tables that refer to them."""


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------


class ExportReport(msgspec.Struct, frozen=True):
    """What an export wrote."""

    path: Path
    metadata: Path
    """The Datasette metadata file written beside the export."""
    position: int
    """Ledger position of the last fact the file now holds."""
    head: str
    """Hash of that record."""
    since: int
    """The position this export continued from (0: the file was written from scratch)."""
    facts_added: int
    rebuilt: bool
    """True when a previous export in the file was discarded (``reason`` says why)."""
    reason: str | None
    as_of: datetime
    known_at: datetime
    status: str
    """The verdict's status, as written to the verdict table."""
    tables: dict[str, int]
    """Rows per table after the export."""


def metadata_path(path: Path) -> Path:
    """Where the Datasette metadata of an export goes: ``PATH.metadata.json``."""
    return path.with_name(path.name + ".metadata.json")


# ---------------------------------------------------------------------------------------------
# Exporting
# ---------------------------------------------------------------------------------------------


class _Answers(msgspec.Struct, frozen=True):
    verdict: Verdict
    business: Business


class _Plan(msgspec.Struct, frozen=True):
    since: int
    rebuild: bool
    reason: str | None


def export_sqlite(
    ledger: ComputeLedger, path: Path, *, as_of: datetime | None = None,
    progress: Stages | None = None, position: int | None = None, walked: bool = False,
) -> ExportReport:
    """Write (or refresh) the export at ``path`` from ``ledger``: the facts up to the head (or
    the batch end ``position``), and the verdict and business as of ``as_of`` (default: now)
    and the timeline, as known there.  One transaction; see the module docstring.
    ``progress`` hears of each stage (answering, writing the facts, writing the tables) and
    of the facts written.  The timeline is read from the one the index stores, or with
    ``walked`` walked afresh (what :func:`check_export` compares a file with)."""
    path = Path(path)
    _check_target(path)
    if progress is not None:
        progress.stage("answering")
    known = ledger.known_instant(ledger.head().position if position is None else position)
    as_of = ledger.moments(as_of, known)[0]
    answers = _Answers(
        verdict=ledger.verdict(as_of, known),
        business=ledger.business(as_of, known),
    )
    position, head_hash = answers.verdict.ledger_position, answers.verdict.ledger_head
    stands_on = {(a.ledger_position, a.ledger_head)
                 for a in (answers.verdict, answers.business)}
    if len(stands_on) != 1:
        raise StorageError("the ledger changed while it was being exported; run the export "
                           "again")
    exported_at = utc_text(ledger.now())
    db = _open(path)
    try:
        plan, added, counts = _write(db, ledger, path, answers, as_of=as_of,
                                     exported_at=exported_at, progress=progress, walked=walked)
    finally:
        db.close()
    target = metadata_path(path)
    replace_file(target, json.dumps(datasette_metadata(path), indent=2) + "\n")
    return ExportReport(
        path=path, metadata=target, position=position, head=head_hash, since=plan.since,
        facts_added=added, rebuilt=plan.rebuild, reason=plan.reason, as_of=as_of,
        known_at=answers.verdict.known_at, status=answers.verdict.status, tables=counts,
    )


def _write(
    db: Database, ledger: ComputeLedger, path: Path, answers: _Answers, *, as_of: datetime,
    exported_at: str, progress: Stages | None = None, walked: bool = False,
) -> tuple[_Plan, int, dict[str, int]]:
    """Everything the export writes, in one transaction: committed whole, or rolled back."""
    verdict = answers.verdict
    try:
        db.conn.execute("BEGIN IMMEDIATE")  # one writer at a time, from the first read on
        try:
            plan = _plan(db, ledger, path, verdict.ledger_position)
            if plan.rebuild:
                for table in reversed(TABLES):
                    db.table(table.name).drop(ignore=True)
            _create_tables(db)
            if progress is not None:
                progress.stage("facts    ")
            added = _write_facts(db, ledger, plan.since, verdict.ledger_position,
                                 None if progress is None else progress.update)
            if progress is not None:
                progress.stage("tables   ")
            _write_business(db, answers.business)
            _write_verdict(db, verdict)
            _write_timeline(db, ledger, verdict, None if plan.rebuild else plan.since,
                            walked=walked)
            _write_metadata(db)
            _index(db)
            db.table(EXPORTS.name).insert({
                "format": EXPORT_FORMAT, "position": verdict.ledger_position,
                "head": verdict.ledger_head, "exported_at": exported_at,
                "as_of": utc_text(as_of), "known_at": utc_text(verdict.known_at),
                "facts_added": added, "rebuilt": plan.rebuild, "reason": plan.reason,
            })
            counts = {table.name: db.table(table.name).count for table in TABLES}
        except BaseException:
            db.rollback()
            raise
        db.conn.execute("COMMIT")
    except sqlite3.Error as exc:
        raise StorageError(f"cannot write the export {path}: {exc}") from None
    return plan, added, counts


def _check_target(path: Path) -> None:
    if path.is_dir():
        raise ConfigurationError(f"{path} is a directory; give the export a file name")
    if not path.parent.is_dir():
        raise ConfigurationError(
            f"cannot export to {path}: directory {path.parent} does not exist"
        )


def _open(path: Path) -> Database:
    try:
        conn = sqlite3.connect(path, timeout=60)  # another export may hold the file a while
    except sqlite3.Error as exc:  # no permission, a path the OS will not open
        raise StorageError(f"cannot open the export {path}: {exc}") from None
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return Database(conn, execute_plugins=False)
    except sqlite3.OperationalError as exc:  # could not read it (not: it is not SQLite)
        conn.close()
        raise StorageError(f"cannot open the export {path}: {exc}") from None
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise ConfigurationError(f"cannot export to {path}: it is not a SQLite database "
                                 f"({exc})") from None


def _plan(db: Database, ledger: ComputeLedger, path: Path, position: int) -> _Plan:
    """Where to resume: the recorded position, if the file still matches the ledger."""
    names = set(db.table_names())
    if not names:
        return _Plan(0, False, None)
    if EXPORTS.name not in names:
        raise ConfigurationError(
            f"{path} is a SQLite database but not a compute-ledger export (it has no "
            f"{EXPORTS.name} table); export to a new file, or delete it first"
        )
    rows = list(db.query(f"SELECT format, position, head FROM {EXPORTS.name} "
                         "ORDER BY id DESC LIMIT 1"))
    if not rows:
        return _Plan(0, True, "the file records no complete export")
    last = rows[0]
    recorded, recorded_head = int(last["position"]), str(last["head"])
    if last["format"] != EXPORT_FORMAT:
        return _Plan(0, True, f"the file was written in another layout ({last['format']})")
    if recorded > position:
        return _Plan(0, True, f"the ledger has {position} records, fewer than the {recorded} "
                              "the file holds: it was replaced or cut short")
    if recorded:
        record = next(ledger.records(after=recorded - 1, until=recorded), None)
        if record is None or record.hash != recorded_head:
            return _Plan(0, True, f"the ledger's record at position {recorded} is not the one "
                                  "the file holds: the ledger was replaced or rewritten")
    if not _facts_match(db, names, recorded, recorded_head):
        return _Plan(0, True, f"the file's {FACTS.name} table does not hold positions 1 to "
                              f"{recorded}")
    return _Plan(recorded, False, None)


def _facts_match(db: Database, names: set[str], position: int, head: str) -> bool:
    if FACTS.name not in names:
        return False
    count, top = db.conn.execute(
        f"SELECT count(*), max(position) FROM {FACTS.name}").fetchone()
    if count != position or (top or 0) != position:
        return False
    if not position:
        return True
    row = db.conn.execute(f"SELECT hash FROM {FACTS.name} WHERE position = ?",
                          (position,)).fetchone()
    return row is not None and row[0] == head


def _create_tables(db: Database) -> None:
    """Create the kept tables if missing, and every replaced table afresh."""
    for table in reversed(TABLES):  # the tables that refer to others first
        if not table.kept:
            db.table(table.name).drop(ignore=True)
    for table in TABLES:
        if db.table(table.name).exists():
            continue
        db.create_table(
            table.name,
            {c.name: c.type for c in table.columns},
            pk=table.pk,
            foreign_keys=list(table.foreign_keys),
            not_null=[c.name for c in table.columns if c.not_null],
        )
        created = db.table(table.name)
        for column in table.unique:
            created.create_index([column], unique=True)
        for columns in table.indexes:
            created.create_index(list(columns))


def _index(db: Database) -> None:
    """Every foreign key column indexed (sqlite-utils adds the ones not indexed yet)."""
    db.index_foreign_keys()


_STORED = frozenset({str, int, float, bool, bytes, type(None)})
"""The types of the values a row gives (each already in its column's text form)."""


def _insert(db: Database, table: Table, rows: Iterable[dict[str, Any]]) -> int:
    """Insert ``rows`` (by column name; a column left out is null) :data:`BATCH` at a time,
    in the transaction open: a plain ``executemany`` of each batch (the tables were made
    by sqlite-utils, whose ``insert_all`` costs more per row than the write itself)."""
    names = [column.name for column in table.columns]
    known = frozenset(names)
    statement = (f"INSERT INTO [{table.name}] ({', '.join(f'[{n}]' for n in names)}) "
                 f"VALUES ({', '.join('?' * len(names))})")
    count = 0
    for batch in _batches(rows):
        values = []
        for row in batch:
            if not row.keys() <= known:
                raise ValueError(f"{table.name}: no column {sorted(row.keys() - known)}")
            value = tuple(row.get(name) for name in names)
            if not all(type(v) in _STORED for v in value):
                raise TypeError(f"{table.name}: a value not in its text form in {row}")
            values.append(value)
        db.conn.executemany(statement, values)
        count += len(values)
    return count


def _batches(rows: Iterable[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], ...]]:
    """``rows`` :data:`BATCH` at a time (``itertools.batched`` from Python 3.12 on)."""
    iterator = iter(rows)
    while batch := tuple(itertools.islice(iterator, BATCH)):
        yield batch


# ---------------------------------------------------------------------------------------------
# Rows, copied from the typed answers
# ---------------------------------------------------------------------------------------------


def _decimal(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _instant(value: datetime | None) -> str | None:
    return None if value is None else utc_text(value)


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _json(value: object) -> str:
    return encode_json(value).decode()


def _term_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, str):
        return value
    if isinstance(value, date):
        return value.isoformat()
    return _json(value)  # booleans and lists


def _terms(key: str, owner: str, terms: Mapping[str, TermOut]) -> Iterator[dict[str, Any]]:
    for name, term in terms.items():
        yield {key: owner, "term": name, "value": _term_text(term.value), "fact_id": term.fact}


def _write_facts(db: Database, ledger: ComputeLedger, since: int, position: int,
                 progress: Callable[[int], None] | None = None) -> int:
    """Add the facts recorded after ``since``, up to ``position`` (``progress`` told of
    every thousand)."""
    if position <= since:
        return 0
    rows = (
        {
            "position": entry.position,
            "id": entry.fact_id,
            "type": str(entry.fact.__struct_config__.tag),
            "occurred_at": utc_text(entry.fact.occurred_at),
            "recorded_at": entry.recorded_at,
            "hash": entry.hash,
            "prev": entry.prev,
            "json": entry.raw.decode(),
        }
        for entry in ledger.facts(after=since, until=position)
    )
    return _insert(db, FACTS, rows if progress is None else counted(rows, progress))


def _write_business(db: Database, business: Business) -> None:
    _insert(db, DEALS, (
        {
            "id": d.id, "status": d.status, "provider": d.provider, "customer": d.customer,
            "external": d.external, "service": d.service, "consideration": d.consideration,
            "facilities": None if d.facilities is None else _json(d.facilities),
            "capacity_mw": _decimal(d.capacity_mw), "usd_per_month": _decimal(d.usd_per_month),
            "starts_on": _day(d.starts_on), "ends_on": _day(d.ends_on),
            "qualifies": d.qualifies, "first_fact": d.first_fact,
        }
        for d in business.deals
    ))
    _insert(db, DEAL_TERMS, (row for d in business.deals for row in _terms("deal_id", d.id,
                                                                            d.terms)))
    _insert(db, OFFERINGS, (
        {
            "id": o.id, "status": o.status, "provider": o.provider, "service": o.service,
            "signup_open": o.signup_open, "pricing_published": o.pricing_published,
            "available_from": _day(o.available_from), "qualifies": o.qualifies,
        }
        for o in business.offerings
    ))
    _insert(db, OFFERING_TERMS, (row for o in business.offerings
                                 for row in _terms("offering_id", o.id, o.terms)))
    _insert(db, FACILITIES, (
        {"facility": facility, "capacity_mw": _decimal(capacity),
         "deals": _json(_deals_at(business, facility))}
        for facility, capacity in business.capacity_mw_by_facility.items()
    ))
    _insert(db, CUSTOMERS, (
        {"customer": c.customer, "capacity_mw": _decimal(c.capacity_mw),
         "usd_per_month": _decimal(c.usd_per_month), "deals": _json(c.deals)}
        for c in business.external_customers
    ))
    _insert(db, BUSINESS, [{
        "as_of": utc_text(business.as_of), "known_at": utc_text(business.known_at),
        "monthly_run_rate_usd": _decimal(business.monthly_run_rate_usd),
        "contracted_backlog_usd": _decimal(business.contracted_backlog_usd),
        "open_ended_deals": _json(business.open_ended_deals),
        "ledger_position": business.ledger_position, "ledger_head": business.ledger_head,
    }])


def _deals_at(business: Business, facility: str) -> list[str]:
    """The active deals with a capacity that the business counts under ``facility`` (see
    :func:`projections.business.capacity_facility`)."""
    return [
        d.id for d in business.deals
        if d.status == "active" and d.capacity_mw is not None
        and capacity_facility(d) == facility
    ]


def _write_verdict(db: Database, verdict: Verdict) -> None:
    _insert(db, VERDICT, [{
        "market": verdict.market, "question": verdict.question,
        "deadline": utc_text(verdict.deadline), "as_of": utc_text(verdict.as_of),
        "known_at": utc_text(verdict.known_at), "status": verdict.status,
        "under_review": verdict.under_review,
        "disagrees_with_rules": verdict.disagrees_with_rules,
        "criteria_met": verdict.criteria_met,
        "criteria_met_since": _instant(verdict.criteria_met_since),
        "qualifying": _json(verdict.qualifying), "clauses_used": _json(verdict.clauses_used),
        "ledger_position": verdict.ledger_position, "ledger_head": verdict.ledger_head,
    }])
    _insert(db, CANDIDATES, (
        {
            "subject": f"{c.kind}:{c.id}", "kind": c.kind,
            "deal_id": c.id if c.kind == "deal" else None,
            "offering_id": c.id if c.kind == "offering" else None,
            "standing": c.standing, "qualifies": c.qualifies, "by_ruling": c.by_ruling,
            "under_review": c.under_review, "available_since": _instant(c.available_since),
            "missing": _json(c.missing),
        }
        for c in verdict.candidates
    ))
    _insert(db, CLAUSE_CHECKS, (
        {
            "subject": f"{c.kind}:{c.id}", "clause": check.clause, "kind": check.kind,
            "state": check.state, "held": check.held, "note": check.note,
            "facts": _json(check.facts),
        }
        for c in verdict.candidates for check in c.checks
    ))
    _insert(db, CLAUSE_CHECK_FACTS, (
        {"subject": f"{c.kind}:{c.id}", "clause": check.clause, "fact_id": fact}
        for c in verdict.candidates for check in c.checks for fact in dict.fromkeys(check.facts)
    ))
    _insert(db, RULINGS, (
        {
            "fact": r.fact, "ruling": r.ruling, "subject": r.subject, "at": utc_text(r.at),
            "clauses": _json(r.clauses), "summary": r.summary,
        }
        for r in verdict.rulings
    ))


def _write_timeline(db: Database, ledger: ComputeLedger, verdict: Verdict,
                    since: int | None, *, walked: bool = False) -> None:
    """The timeline as known at the verdict's position.  A refresh of a file holding
    ``since`` rewrites only its points from the earliest valid time the facts recorded
    after ``since`` can change (the walk stands there without walking the time before it),
    and keeps the ones before, which are the same."""
    position = verdict.ledger_position
    if since is not None and since >= position:
        return  # nothing recorded since: the timeline is the file's
    start = None if not since else ledger.changed_from(since, position)
    head, rows = ledger.timeline_rows(verdict.known_at, since=start, stored=not walked)
    if (head.ledger_position, head.ledger_head) != (position, verdict.ledger_head):
        raise StorageError("the ledger changed while it was being exported; run the export "
                           "again")
    if start is None:
        db.conn.execute(f"DELETE FROM {TIMELINE.name}")
    else:
        db.conn.execute(f"DELETE FROM {TIMELINE.name} WHERE at >= ?", (utc_text(start),))
    # The rows as the index stores them (timeline.ROW: the columns of TIMELINE), the
    # run-rate in plain notation as every decimal of the export.
    db.conn.executemany(
        f"INSERT INTO [{TIMELINE.name}] VALUES ({', '.join('?' * len(TIMELINE.columns))})",
        ((at, status, met, _decimal(Decimal(run_rate)), changes, facts)
         for at, status, met, run_rate, changes, facts in rows))


# ---------------------------------------------------------------------------------------------
# The auditor's comparison
# ---------------------------------------------------------------------------------------------


COMPARED = tuple(t for t in TABLES if t is not EXPORTS)
"""The tables an export is compared by (``_export`` records when and how it was written)."""


def check_export(ledger: ComputeLedger, path: Path) -> ExportCheckOut:
    """Compare the export at ``path`` with a fresh export, written to a scratch file, of
    the ledger position and as-of the file's last ``_export`` row records: every table, row
    by row in key order, naming the first row that differs (or is only on one side).  The
    file is only read.  Raises :class:`ConfigurationError` for a file that is not an export."""
    path = Path(path)
    if not path.is_file():
        raise ConfigurationError(f"no export at {path}")
    with _reading(path) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = "
                                            "'table'")}
        if EXPORTS.name not in names:
            raise ConfigurationError(f"{path} is not a compute-ledger export (it has no "
                                     f"{EXPORTS.name} table)")
        last = conn.execute(f"SELECT format, position, head, as_of FROM {EXPORTS.name} "
                            "ORDER BY id DESC LIMIT 1").fetchone()
    if last is None:
        return ExportCheckOut(path=str(path), position=0, head="",
                              differs=["the file records no complete export"])
    layout, position, head, as_of = str(last[0]), int(last[1]), str(last[2]), str(last[3])
    found = ExportCheckOut(path=str(path), position=position, head=head, differs=[])
    if layout != EXPORT_FORMAT:
        return msgspec.structs.replace(found, differs=[
            f"the file was written in another layout ({layout}); export it again"])
    held = ledger.head().position
    record = next(ledger.records(after=position - 1, until=position), None) \
        if 0 < position <= held else None
    if position and (record is None or record.hash != head):
        where = f"the ledger's record there has hash {record.hash[:16]}..." if record \
            else f"the ledger holds {held} records"
        return msgspec.structs.replace(found, differs=[
            f"the file holds position {position} with head {head[:16]}..., but {where}"])
    with tempfile.TemporaryDirectory(prefix="compute-ledger-check-") as scratch:
        fresh = Path(scratch) / "fresh.sqlite3"
        # Walked afresh: the file is compared with the histories, not with the stored
        # timeline it may have been read from (replay compares that with a rebuild).
        export_sqlite(ledger, fresh, as_of=from_utc_text(as_of), position=position,
                      walked=True)
        with _reading(path) as conn:
            conn.execute("ATTACH DATABASE ? AS fresh", (f"file:{fresh}?mode=ro",))
            for table in COMPARED:
                difference = _first_difference(conn, table, names)
                if difference is not None:
                    return msgspec.structs.replace(found, differs=[difference])
    return found


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[sqlite3.Connection]:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open the export {path}: {exc}") from None
    try:
        yield conn
    except sqlite3.DatabaseError as exc:
        raise ConfigurationError(f"cannot read the export {path}: {exc}") from None
    finally:
        conn.close()


def _first_difference(conn: sqlite3.Connection, table: Table, names: set[str]) -> str | None:
    """The first row of ``table`` (in key order) that the file and the fresh export do not
    hold alike, named by its key and the first column that differs."""
    if table.name not in names:
        return f"table {table.name} is missing from the file"
    key = (table.pk,) if isinstance(table.pk, str) else table.pk
    columns = ", ".join(f'"{c}"' for c in table.column_names)
    order = ", ".join(f'"{c}"' for c in key)
    try:
        mine = conn.execute(f'SELECT {columns} FROM main."{table.name}" ORDER BY {order}')
    except sqlite3.OperationalError as exc:  # a column dropped or renamed
        return f"table {table.name} does not have the export's columns ({exc})"
    theirs = conn.cursor().execute(f'SELECT {columns} FROM fresh."{table.name}" ORDER BY {order}')
    at = [table.column_names.index(c) for c in key]
    for a, b in itertools.zip_longest(mine, theirs):
        if a == b:
            continue
        if a is None or b is None or [a[i] for i in at] != [b[i] for i in at]:
            row = b if a is None or (b is not None and
                                     [b[i] for i in at] < [a[i] for i in at]) else a
            side = "missing from the file" if row is b else "only in the file"
            return f"table {table.name}, row {_key_text(key, row, at)}: {side}"
        name, was, now = next((c, x, y) for c, x, y in zip(table.column_names, a, b, strict=True)
                              if x != y)
        return (f"table {table.name}, row {_key_text(key, a, at)}: {name} is {was!r} in the "
                f"file, {now!r} in the replay")
    return None


def _key_text(key: tuple[str, ...], row: tuple[Any, ...], at: list[int]) -> str:
    return ", ".join(f"{name}={row[i]!r}" for name, i in zip(key, at, strict=True))


# ---------------------------------------------------------------------------------------------
# Datasette metadata
# ---------------------------------------------------------------------------------------------


def database_name(path: Path) -> str:
    """The name Datasette gives the database in ``path``: its file name without the suffix."""
    return path.stem


def datasette_metadata(path: Path) -> dict[str, Any]:
    """Datasette metadata for the export at ``path``: a title and description, every table's
    and column's description, and the default sort of the facts and the timeline."""
    tables: dict[str, Any] = {}
    for table in TABLES:
        entry: dict[str, Any] = {
            "description": table.description,
            "columns": {c.name: c.description for c in table.columns},
        }
        if table.sort is not None:
            entry["sort"] = table.sort
        if table.sort_desc is not None:
            entry["sort_desc"] = table.sort_desc
        tables[table.name] = entry
    return {
        "title": TITLE,
        "description": DESCRIPTION,
        "databases": {
            database_name(path): {"title": TITLE, "description": DESCRIPTION, "tables": tables},
        },
    }


def _write_metadata(db: Database) -> None:
    rows: list[dict[str, Any]] = [
        {"table_name": "", "column_name": "", "description": DESCRIPTION},
    ]
    for table in TABLES:
        rows.append({"table_name": table.name, "column_name": "",
                     "description": table.description})
        rows.extend({"table_name": table.name, "column_name": c.name,
                     "description": c.description} for c in table.columns)
    _insert(db, METADATA, rows)

