"""The ledger on SQLite: eventsourcing's SQLite application recorder, plus the fact index.

``PERSISTENCE_MODULE=compute_ledger.ledger.sqlite`` names this module; eventsourcing finds
its one infrastructure factory, :class:`Factory`, which builds :class:`LedgerSQLiteRecorder`.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from eventsourcing import persistence as es
from eventsourcing import sqlite as es_sqlite

from compute_ledger.ledger.errors import NO_LEDGER_HINT, NotFoundError, StorageError
from compute_ledger.ledger.persistence import (
    LEDGER_ID,
    RECORD_TOPIC,
    IndexRow,
    LedgerRecorder,
    NodeRow,
    SideCursor,
    TreeConflict,
)

TREE_TABLE = "ledger_tree"


TREE_STATE = "ledger_tree_state"

RECORD_BYTES = "CAST(state AS BLOB)"
"""A record's bytes as stored, whatever SQLite storage class a hand edit left them in (a
``replace()`` on the blob makes it TEXT): read as bytes, a rewritten record is a failed
check, never a crash."""


def _has_tree(c: sqlite3.Cursor) -> bool:
    """Whether the file has the tree's tables (a ledger written before the tree existed and
    opened read-only has none: its tree is empty)."""
    c.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN (?, ?)",
              (TREE_TABLE, TREE_STATE))
    return int(c.fetchone()[0]) == 2


def _tree_size(c: sqlite3.Cursor) -> int | None:
    """How many records the tree covers (None: never built, or no tree tables at all)."""
    if not _has_tree(c):
        return None
    c.execute(f"SELECT size FROM {TREE_STATE}")
    row = c.fetchone()
    return None if row is None else int(row[0])


def _tree_nodes(c: sqlite3.Cursor, nodes: Collection[tuple[int, int]]
                ) -> dict[tuple[int, int], bytes]:
    found: dict[tuple[int, int], bytes] = {}
    if not nodes or not _has_tree(c):
        return found
    keys = list(nodes)
    for start in range(0, len(keys), 400):
        chunk = keys[start : start + 400]
        c.execute(  # a join, so each key is a primary-key search (IN (VALUES) scans)
            f"SELECT t.level, t.idx, t.hash FROM (VALUES {','.join(['(?,?)'] * len(chunk))}) "
            f"AS k JOIN {TREE_TABLE} t ON t.level = k.column1 AND t.idx = k.column2",
            [value for key in chunk for value in key],
        )
        for level, index, digest in c.fetchall():
            found[(int(level), int(index))] = bytes(digest)
    return found


class LedgerSQLiteRecorder(es_sqlite.SQLiteApplicationRecorder, LedgerRecorder):
    """eventsourcing's SQLite application recorder, plus the fact index."""

    backend = "sqlite"
    index_table = "ledger_index"
    insert_index = f"INSERT OR IGNORE INTO {index_table} VALUES (?,?,?)"
    """Index rows, by :meth:`index_extend` and by an append's own transaction."""
    index_state = "ledger_index_state"

    def __init__(self, datastore: es_sqlite.SQLiteDatastore,
                 events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name)
        # The stream's id and topic are constants of the ledger (hex digits and a fixed
        # string), so they are written into the statement: each row binds (position, state).
        self._insert_states = (
            f"INSERT INTO {self.events_table_name} (originator_id, originator_version, topic, "
            f"state) VALUES ('{LEDGER_ID.hex}', ?, '{RECORD_TOPIC}', ?)"
        )

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {self.index_table} ("
            "fact_id TEXT PRIMARY KEY, position INTEGER NOT NULL, digest BLOB NOT NULL"
            ") WITHOUT ROWID",
            f"CREATE TABLE IF NOT EXISTS {self.index_state} ("
            "singleton INTEGER PRIMARY KEY CHECK (singleton = 1), position INTEGER NOT NULL)",
            f"INSERT OR IGNORE INTO {self.index_state} VALUES (1, 0)",
            f"CREATE TABLE IF NOT EXISTS {TREE_TABLE} (level INTEGER NOT NULL, "
            "idx INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (level, idx)) WITHOUT ROWID",
            f"CREATE TABLE IF NOT EXISTS {TREE_STATE} ("
            "singleton INTEGER PRIMARY KEY CHECK (singleton = 1), size INTEGER NOT NULL)",
        ]

    @contextmanager
    def change_waiter(self) -> Iterator[Callable[[float], None]]:
        """SQLite has no notifications, so the waiter just sleeps: a follower polls."""
        yield time.sleep

    # -- writing ---------------------------------------------------------------------------

    @contextmanager
    def writing(self) -> Iterator[_SQLiteWriting]:
        """``BEGIN IMMEDIATE``: SQLite's write lock, taken before the head is read (waiting
        up to the lock timeout for another writer), held until the commit."""
        with self.datastore.get_connection(commit=True) as conn, _sqlite_errors():
            cursor = conn.cursor().sqlite_cursor
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield _SQLiteWriting(self, cursor)
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def wait_for_writers(self) -> None:
        with self.datastore.get_connection(commit=True) as conn, _sqlite_errors():
            cursor = conn.cursor().sqlite_cursor
            try:
                cursor.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if "readonly" in str(exc) or "read-only" in str(exc):
                    return  # this process may not write the file: no lock to take
                raise
            conn.rollback()

    # -- reading -----------------------------------------------------------------------------

    @contextmanager
    def _read_transaction(self, *, snapshot: bool) -> Iterator[sqlite3.Cursor]:
        """A deferred read transaction (in WAL mode its first read fixes the snapshot every
        later read in it sees, so ``snapshot`` needs nothing more)."""
        with self.datastore.transaction(commit=False) as wrapped:
            yield wrapped.sqlite_cursor

    def _page(self, columns: str, after: int, limit: int) -> list[tuple[Any, ...]]:
        """``originator_version`` and ``columns`` of the records after ``after``, in order,
        as plain tuples (no sqlite3.Row per record on the hot path)."""
        with self._reading() as c:
            c.row_factory = None
            c.execute(
                f"SELECT originator_version, {columns} FROM {self.events_table_name} "
                "WHERE originator_id = ? AND originator_version > ? "
                "ORDER BY originator_version LIMIT ?",
                (LEDGER_ID.hex, after, limit),
            )
            rows: list[tuple[Any, ...]] = c.fetchall()
            return rows

    def select_states(self, after: int, limit: int) -> list[tuple[int, bytes]]:
        return self._page(RECORD_BYTES, after, limit)

    def select_records(self, after: int, limit: int) -> list[tuple[int, str, bytes]]:
        return self._page(f"topic, {RECORD_BYTES}", after, limit)

    def select_states_at(self, positions: Sequence[int]) -> list[tuple[int, bytes]]:
        with self._reading() as c:
            c.row_factory = None
            c.execute(
                f"SELECT originator_version, {RECORD_BYTES} FROM {self.events_table_name} "
                f"WHERE originator_id = ? AND originator_version IN "
                f"({', '.join('?' * len(positions))})",
                (LEDGER_ID.hex, *positions),
            )
            rows: list[tuple[int, bytes]] = c.fetchall()
            return rows

    def index_position(self) -> int:
        with self._reading() as c:
            c.execute(f"SELECT position FROM {self.index_state}")
            return int(c.fetchone()[0])

    def index_extend(self, rows: list[IndexRow], upto: int) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.executemany(self.insert_index, rows)
            c.execute(f"UPDATE {self.index_state} SET position = MAX(position, ?)", (upto,))

    def index_lookup(
        self, fact_ids: Collection[str], size_hint: int
    ) -> dict[str, tuple[int, bytes]]:
        found: dict[str, tuple[int, bytes]] = {}
        if not fact_ids:
            return found
        with self._reading() as c:
            if len(fact_ids) * 4 > size_hint:
                c.execute(f"SELECT fact_id, position, digest FROM {self.index_table}")
                wanted = set(fact_ids)
                for fact_id, position, digest in c.fetchall():
                    if fact_id in wanted:
                        found[fact_id] = (position, digest)
                return found
            ids = list(fact_ids)
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                c.execute(
                    f"SELECT fact_id, position, digest FROM {self.index_table} "
                    f"WHERE fact_id IN ({','.join('?' * len(chunk))})",
                    chunk,
                )
                for fact_id, position, digest in c.fetchall():
                    found[fact_id] = (position, digest)
        return found

    def index_size(self) -> int:
        with self._reading() as c:
            c.execute(f"SELECT COUNT(*) FROM {self.index_table}")
            return int(c.fetchone()[0])

    def index_first_after(self, position: int) -> int | None:
        with self._reading() as c:
            c.execute(f"SELECT MIN(position) FROM {self.index_table} WHERE position > ?",
                      (position,))
            row = c.fetchone()
            return None if row is None or row[0] is None else int(row[0])

    def tree_size(self) -> int | None:
        with self._reading() as c:
            c.row_factory = None
            return _tree_size(c)

    def tree_nodes(self, nodes: Collection[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        with self._reading() as c:
            c.row_factory = None
            return _tree_nodes(c, nodes)

    def tree_count(self) -> int:
        with self._reading() as c:
            c.row_factory = None
            if not _has_tree(c):
                return 0
            c.execute(f"SELECT COUNT(*) FROM {TREE_TABLE}")
            return int(c.fetchone()[0])


    @contextmanager
    def side_transaction(self, *, write: bool, snapshot: bool = False) -> Iterator[SideCursor]:
        # A deferred transaction: in WAL mode its first read fixes what every later read in
        # it sees, so a snapshot needs nothing more.
        with self.datastore.transaction(commit=write) as cursor:
            yield SideCursor(cursor.sqlite_cursor, self.backend)  # not eventsourcing's wrapper


class _SQLiteWriting:
    """:class:`~compute_ledger.ledger.persistence.Writing` on SQLite."""

    def __init__(self, recorder: LedgerSQLiteRecorder, cursor: sqlite3.Cursor) -> None:
        self._recorder = recorder
        self._cursor = cursor

    def last(self) -> tuple[int, bytes] | None:
        self._cursor.execute(
            f"SELECT originator_version, {RECORD_BYTES} FROM {self._recorder.events_table_name} "
            "WHERE originator_id = ? ORDER BY originator_version DESC LIMIT 1",
            (LEDGER_ID.hex,),
        )
        row = self._cursor.fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]))

    def server_time(self) -> datetime | None:
        return None  # SQLite has no clock but this machine's

    def insert(self, states: Iterable[tuple[int, bytes]]) -> None:
        self._cursor.executemany(self._recorder._insert_states, states)

    def states(self, after: int, limit: int) -> list[tuple[int, bytes]]:
        self._cursor.execute(
            f"SELECT originator_version, {RECORD_BYTES} FROM {self._recorder.events_table_name} "
            "WHERE originator_id = ? AND originator_version > ? "
            "ORDER BY originator_version LIMIT ?",
            (LEDGER_ID.hex, after, limit),
        )
        return [(int(p), bytes(state)) for p, state in self._cursor.fetchall()]

    def tree_size(self) -> int | None:
        return _tree_size(self._cursor)

    def tree_nodes(self, nodes: Collection[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        return _tree_nodes(self._cursor, nodes)

    def insert_nodes(self, rows: Iterable[NodeRow], size: int) -> None:
        try:
            self._cursor.executemany(f"INSERT INTO {TREE_TABLE} VALUES (?,?,?)", rows)
        except sqlite3.IntegrityError:
            raise TreeConflict from None
        self._cursor.execute(f"INSERT INTO {TREE_STATE} VALUES (1, ?) ON CONFLICT (singleton) "
                             "DO UPDATE SET size = excluded.size", (size,))

    def index(self, rows: Iterable[IndexRow], after: int, upto: int) -> bool:
        state = self._recorder.index_state
        self._cursor.execute(f"UPDATE {state} SET position = ? WHERE position = ?", (upto, after))
        if self._cursor.rowcount != 1:
            return False
        self._cursor.executemany(self._recorder.insert_index, rows)
        return True


@contextmanager
def _sqlite_errors() -> Iterator[None]:
    """sqlite3's exceptions as eventsourcing's, as its own transactions raise them."""
    try:
        yield
    except sqlite3.IntegrityError as exc:
        raise es.IntegrityError(exc) from exc
    except sqlite3.OperationalError as exc:
        raise es.OperationalError(exc) from exc
    except sqlite3.DatabaseError as exc:
        raise es.DatabaseError(exc) from exc
    except sqlite3.Error as exc:
        raise es.PersistenceError(exc) from exc


class Factory(es_sqlite.SQLiteFactory):
    """eventsourcing's SQLite factory, building the ledger's recorder."""

    application_recorder_class = LedgerSQLiteRecorder

    def application_recorder(self) -> LedgerSQLiteRecorder:
        recorder = LedgerSQLiteRecorder(datastore=self.datastore)
        if self.env_create_table():
            recorder.create_table()
        return recorder


_OURS = ("stored_events", "ledger_", "cl_")
"""The prefixes of the tables a ledger's database holds (eventsourcing's, the store's, the
projections')."""


def require_ledger(path: Path, display: str, table: str, *, create: bool = False) -> None:
    """Refuse, changing nothing, a path that holds no ledger: a file that does not exist, is
    not a SQLite database, or is one without the ledger's table (an export, another tool's
    database).  With ``create`` (``append``), a path that does not exist, an empty file and
    a SQLite database without any table are fine: the ledger is made there; a database of
    something else is still refused.  Read with ``mode=ro``, so not a byte of the file is
    written."""
    if not path.exists():
        if create:
            return
        raise NotFoundError(f"no ledger at {display}: the file does not exist "
                            f"({NO_LEDGER_HINT})")
    if create and path.is_file() and path.stat().st_size == 0:
        return
    tables: set[str] | None = None
    problem = ""
    for mode in ("mode=ro", "immutable=1"):  # immutable: a read-only directory or mount
        try:
            with contextlib.closing(sqlite3.connect(f"file:{quote(str(path))}?{mode}",
                                                    uri=True)) as connection:
                tables = {name for (name,) in connection.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'")}
            break
        except sqlite3.Error as exc:
            problem = problem or str(exc)
    if tables is None:
        raise NotFoundError(f"{display} is not a ledger: {problem} (nothing was changed in it)")
    if table in tables or (create and all(t.startswith(_OURS) for t in tables)):
        return  # a ledger; or, for append, an empty database or one another append is making
    others = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
    made = "append makes a ledger only at a new path, in an empty file or in an empty " \
        "database" if create else NO_LEDGER_HINT
    raise NotFoundError(f"{display} is not a ledger: it is a SQLite database without the "
                        f"ledger's {table} table (it has {others or 'no table'}; nothing was "
                        f"changed in it; {made})")


class ScratchTables:
    """Tables beside a ledger kept in a SQLite file of their own (a throwaway one: it is
    neither journalled nor synced), opened with the ledger's side-table interface: where
    ``replay`` rebuilds the projections from the records, whatever backend holds those,
    without writing anything in the ledger's database."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with self._errors():
            self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA journal_mode = MEMORY")
            self._conn.execute("PRAGMA synchronous = OFF")

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StorageError(
                f"cannot write the scratch file {self.path} ({exc}): it takes about as much "
                "room as the projections' tables in the ledger; set TMPDIR to a directory "
                "with room for it") from None

    @contextmanager
    def transaction(self, *, write: bool) -> Iterator[SideCursor]:
        """One transaction (committed if ``write``, else rolled back); a failure of the
        file is a :class:`~compute_ledger.ledger.errors.StorageError` naming it."""
        cursor = self._conn.cursor()
        with self._errors():
            cursor.execute("BEGIN")
        try:
            yield _ScratchCursor(cursor, self._errors)
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        else:
            with self._errors():
                cursor.execute("COMMIT" if write else "ROLLBACK")
        finally:
            cursor.close()

    def close(self) -> None:
        self._conn.close()


class _ScratchCursor(SideCursor):
    """A :class:`SideCursor` on a scratch file, whose failures name the file."""

    def __init__(self, raw: sqlite3.Cursor,
                 errors: Callable[[], contextlib.AbstractContextManager[None]]) -> None:
        super().__init__(raw, "sqlite")
        self._errors = errors

    def execute(self, statement: str, params: Sequence[Any] = ()) -> None:
        with self._errors():
            super().execute(statement, params)

    def executemany(self, statement: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._errors():
            super().executemany(statement, rows)
