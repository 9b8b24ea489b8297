"""The digest of what the maintained projection holds, table by table.

A table's digest is a *multiset hash* of its rows: the number of rows and the sum, modulo
2**256, of each row's SHA-256 (of the table's name, a zero byte and the row's values as
msgpack, in :data:`COLUMNS` order).  A sum does not depend on the order rows were written
or are read in, and it moves by exactly one row's hash when one row is added or removed, so
a catch-up keeps it up to date from the rows it writes and the rows it replaces, in the
same transaction as the tracked position, without reading the rest of the table (and never
recounting it from what it holds, which would take in whatever was altered).  Anyone can
recompute it from the table alone (:meth:`TableSum.of`); ``verify`` does, and names the
table whose rows no longer add up to what the projection recorded.

What it proves, and what not: the digest is kept by the same writer as the tables, so it
catches rows altered, deleted or inserted by anything but a catch-up (a hand edit, another
tool, a restore of one table, a disk that lost a page), not an attacker who also rewrites
the digest.  That attacker is caught by ``replay``, which refolds the facts and compares
every row, and the facts themselves by a signed checkpoint (docs/auditing.md).

This module is pure: the runner reads and writes the rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec

COLUMNS: dict[str, tuple[str, ...]] = {
    "cl_facts": ("fact_id", "position", "content_position", "live", "occurred_at", "buckets"),
    "cl_fixes": ("fix_id", "target", "occurred_at", "position", "live"),
    "cl_bucket_facts": ("bucket", "occurred_at", "fact_id", "content_position", "live"),
    "cl_subjects": ("subject", "kind"),
    "cl_steps": ("subject", "valid_from", "pos_from", "pos_to", "qualifies", "rules_qualify",
                 "earliest", "state"),
    "cl_retracted": ("subject", "pos_from", "pos_to", "first_at", "facts"),
    "cl_clarifications": ("subject", "occurred_at", "fact_id", "pos_from", "pos_to", "ref"),
    "cl_about": ("subject", "position"),
    "cl_gaps": ("after", "until"),
    "cl_amendments": ("position", "occurred_at"),
    "cl_points": ("at", "status", "criteria_met", "monthly_run_rate_usd", "changes", "facts"),
}
"""Every table the digest covers, with its columns in the order a row is hashed."""

MODULUS = 2**256
_ENCODE = msgspec.msgpack.Encoder().encode


def _plain(value: Any) -> Any:
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, bool):
        return int(value)
    return value


def row_hash(table: str, row: Sequence[Any]) -> int:
    """The hash of one row of ``table`` (its values in :data:`COLUMNS` order)."""
    data = _ENCODE([_plain(v) for v in row])
    return int.from_bytes(hashlib.sha256(table.encode() + b"\0" + data).digest(), "big")


class TableSum(msgspec.Struct):
    """The digest of one table: how many rows, and the sum of their hashes."""

    rows: int = 0
    total: int = 0

    @classmethod
    def of(cls, table: str, rows: Iterable[Sequence[Any]]) -> TableSum:
        """The digest of a table holding exactly ``rows``."""
        found = cls()
        found.add(table, rows)
        return found

    def add(self, table: str, rows: Iterable[Sequence[Any]]) -> None:
        for row in rows:
            self.rows += 1
            self.total += row_hash(table, row)
        self.total %= MODULUS

    def remove(self, table: str, rows: Iterable[Sequence[Any]]) -> None:
        for row in rows:
            self.rows -= 1
            self.total -= row_hash(table, row)
        self.total %= MODULUS

    def plus(self, change: TableSum) -> TableSum:
        return TableSum(self.rows + change.rows, (self.total + change.total) % MODULUS)

    @property
    def hex(self) -> str:
        return f"{self.total:064x}"


def digest(sums: Mapping[str, TableSum]) -> str:
    """One digest of the whole projection: SHA-256 of each table's name, rows and sum, one
    line each in :data:`COLUMNS` order (a table with no entry counts as empty)."""
    lines = "".join(f"{table} {sums.get(table, TableSum()).rows} "
                    f"{sums.get(table, TableSum()).hex}\n" for table in COLUMNS)
    return hashlib.sha256(lines.encode()).hexdigest()
