"""``compute-ledger export``: the projections written for other tools."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from compute_ledger.cli.options import (
    LedgerGroup,
    Progress,
    as_of_option,
    db_option,
    emit_json,
    json_option,
    opened,
)
from compute_ledger.ledger.instants import rfc3339

if TYPE_CHECKING:  # sqlite_utils is imported by the export command alone
    from compute_ledger.projections.export import ExportReport


@click.group(cls=LedgerGroup)
def export() -> None:
    """Write the projections for other tools.

    \b
    Example:
      compute-ledger export sqlite ledger-export.db --as-of 2026-05-23
    """


@export.command("sqlite")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@as_of_option
@db_option
@json_option
def sqlite(path: Path, as_of: datetime | None, db: str | None, as_json: bool) -> None:
    """Write the facts and the projections to the SQLite file PATH.

    For Datasette or any SQL client.  Tables: facts (with position, recorded_at and hash),
    deals, deal_terms, offerings, offering_terms, facilities, customers, business, verdict,
    candidates, clause_checks, clause_check_facts, rulings, timeline, plus _metadata and
    _export.  The verdict and the business are as of T; everything is as known at the
    ledger's head.

    Running it again on the same file adds only the facts recorded since the last export and
    replaces the other tables, in one transaction.  If the ledger no longer holds the record
    the file was exported up to (it was replaced or rewritten), the file's tables are rebuilt
    from scratch.  Datasette metadata (table and column descriptions) is written beside it as
    PATH.metadata.json.

    \b
    Example:
      compute-ledger export sqlite ledger-export.db --as-of 2026-05-23
      datasette ledger-export.db --metadata ledger-export.db.metadata.json
    """
    from compute_ledger.projections.export import export_sqlite

    with opened(db) as ledger:
        size = ledger.head().position
        with Progress(size + 1, enabled=size >= 5000 and not as_json) as progress:
            report = export_sqlite(ledger, path, as_of=as_of,
                                   progress=progress if progress.shown else None)
            progress.update(size + 1)
    if as_json:
        emit_json(report_json(report))
    else:
        click.echo(summary(report))


def report_json(report: ExportReport) -> dict[str, object]:
    return {
        "schema": "compute-ledger/export-report/1",
        "path": str(report.path),
        "metadata": str(report.metadata),
        "position": report.position,
        "head": report.head,
        "since": report.since,
        "facts_added": report.facts_added,
        "rebuilt": report.rebuilt,
        "reason": report.reason,
        "as_of": rfc3339(report.as_of),
        "known_at": rfc3339(report.known_at),
        "status": report.status,
        "tables": report.tables,
    }


def summary(report: ExportReport) -> str:
    """One line: what the file now holds, and what this run did."""
    added = f"{report.facts_added} fact{'s' * (report.facts_added != 1)} added"
    what = f"rebuilt from scratch ({report.reason})" if report.rebuilt else (
        f"refreshed from position {report.since}" if report.since else "written")
    return (f"{report.path}: {what}; position {report.position} (head {report.head[:12]}), "
            f"{added}, verdict {report.status}")
