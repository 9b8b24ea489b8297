"""The ledger's store: eventsourcing's event store, one stream, hash-chained records.

Design
======

* The ledger is one eventsourcing *aggregate sequence*: every fact is a :class:`Record`
  event with ``originator_id = LEDGER_ID`` and ``originator_version = position``.  The
  database's unique key on ``(originator_id, originator_version)`` is what stops two writers
  from both appending position N+1: the one that loses the race gets eventsourcing's
  ``IntegrityError``, re-reads the head and tries again.  The chain therefore cannot fork.
* Records are encoded by a msgspec mapper (set through ``MAPPER_TOPIC``) under an explicit,
  versioned topic, never a class path.
* Beside the events the recorder keeps a **fact index** (fact id -> position and content
  digest) with a unique key on the fact id, and the position it is complete up to.  The
  index is derived from the records: an append brings it up to the head *before* checking
  its batch for duplicates (in a transaction of its own), so an append's own transaction
  holds just its records, and a write path as lean as eventsourcing's.  Because every
  append must extend the head it read, checking against an index complete to that head is
  exact even with concurrent writers.  ``verify`` checks the index against the records.
* SQLite and PostgreSQL run the same code; only the recorder subclass differs.  Nothing is
  opened at import time.

No code path here updates or deletes a stored record.
"""

from __future__ import annotations

import binascii
import hashlib
import itertools
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, cast
from uuid import UUID

import msgspec
from eventsourcing.application import Application
from eventsourcing.persistence import (
    IntegrityError as ESIntegrityError,
)
from eventsourcing.persistence import (
    Mapper,
    MapperDeserialisationError,
    PersistenceError,
    StoredEvent,
    Transcoder,
)
from eventsourcing.persistence import (
    OperationalError as ESOperationalError,
)
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor
from eventsourcing.utils import Environment, EnvType, get_topic

from ledger.bulk import paused_gc
from ledger.chain import GENESIS, content_digest, link_hash
from ledger.clock import Clock, SystemClock
from ledger.config import StoreConfig
from ledger.errors import (
    Breach,
    InputError,
    NotFoundError,
    Problem,
    StorageError,
    VerificationError,
)
from ledger.facts import (
    Correction,
    Fact,
    Retraction,
    canonical_encoder,
    decode_fact,
    decoder,
    through_door,
    with_id,
)
from ledger.instants import from_utc_text, utc_text

LEDGER_ID = UUID("5e1f0c2a-7d3b-4c8e-9a6f-2b7d41c0e9a3")
"""The one aggregate sequence that holds the ledger."""

RECORD_TOPIC = "compute-ledger/record@1"
"""The stored topic of a record: explicit and versioned, so no rename can orphan history."""

PAGE = 2000
SCHEMA_LOCK = 0x636C6564676572  # "cledger": serialises table creation on PostgreSQL


class Record(msgspec.Struct, frozen=True, gc=False):
    """One stored record: a fact with its position, its ``recorded_at`` and its chain links.

    ``fact`` holds the canonical bytes verbatim, so the hash can be recomputed from exactly
    what is stored.
    """

    position: int
    recorded_at: str
    prev: str
    hash: str
    fact: msgspec.Raw

    @property
    def originator_id(self) -> UUID:
        return LEDGER_ID

    @property
    def originator_version(self) -> int:
        return self.position


class _FactRecord(msgspec.Struct, frozen=True, gc=False):
    """A stored record read for its fact alone: one parse, no raw bytes kept."""

    fact: Fact
    hash: str
    position: int
    recorded_at: str


class _IdOnly(msgspec.Struct, frozen=True, gc=False):
    id: str


_RECORD_ENCODER = msgspec.json.Encoder(order="sorted")
_RECORD_DECODER = msgspec.json.Decoder(Record)
_ID_DECODER = msgspec.json.Decoder(_IdOnly)
_FACT_RECORD_DECODER = decoder(_FactRecord)


def record_json(record: Record) -> bytes:
    """A stored record as JSON: exactly the bytes the store holds for it."""
    return _RECORD_ENCODER.encode(record)


_STORED_EVENT_HAS_DICT = not hasattr(StoredEvent, "__slots__")


def _stored_event(position: int, state: bytes) -> StoredEvent:
    """A StoredEvent of the ledger's stream, built without the dataclass's __init__ (a bulk
    append makes 100,000 of them; this is a third of the cost)."""
    if _STORED_EVENT_HAS_DICT:
        event = object.__new__(StoredEvent)
        object.__setattr__(event, "__dict__", {
            "originator_id": LEDGER_ID, "originator_version": position,
            "topic": RECORD_TOPIC, "state": state,
        })
        return event
    return StoredEvent(LEDGER_ID, position, RECORD_TOPIC, state)  # pragma: no cover


class RecordMapper(Mapper[UUID]):
    """eventsourcing mapper that stores :class:`Record` structs as msgspec JSON.

    The stored state is the sorted-key msgspec encoding of the :class:`Record`:
    ``{"fact":...,"hash":"...","position":N,"prev":"...","recorded_at":"..."}``.
    :meth:`state` writes exactly those bytes without building the Record first.
    """

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        record = cast(Record, domain_event)
        return _stored_event(record.position, _RECORD_ENCODER.encode(record))

    @staticmethod
    def state(position: int, recorded_at: bytes, prev: bytes, digest: bytes,
              fact: bytes) -> bytes:
        """The stored state of a record given its parts (ASCII bytes; the fact canonical)."""
        return (b'{"fact":%b,"hash":"%b","position":%d,"prev":"%b","recorded_at":"%b"}'
                % (fact, digest, position, prev, recorded_at))

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        if stored_event.topic != RECORD_TOPIC:
            raise MapperDeserialisationError(
                f"unknown topic {stored_event.topic!r} at position "
                f"{stored_event.originator_version}"
            )
        try:
            return _RECORD_DECODER.decode(stored_event.state)
        except (msgspec.MsgspecError, ValueError) as exc:
            raise MapperDeserialisationError(str(exc)) from exc


class NullTranscoder(Transcoder):
    """The mapper encodes whole Structs with msgspec; no transcoder is involved."""

    def encode(self, obj: Any) -> bytes:
        raise NotImplementedError("records are encoded by RecordMapper")

    def decode(self, data: bytes) -> Any:
        raise NotImplementedError("records are decoded by RecordMapper")


IndexRow = tuple[str, int, bytes]
"""(fact id, position, content digest)"""


class LedgerSQLiteRecorder(SQLiteApplicationRecorder):
    """eventsourcing's SQLite application recorder, plus the fact index in the same transaction.

    Inserts stream through ``executemany`` (the base class inserts row by row to collect
    notification ids, which the ledger does not use: positions order it).
    """

    index_table = "ledger_index"
    index_state = "ledger_index_state"

    def __init__(self, datastore: Any, events_table_name: str = "stored_events") -> None:
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
        ]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Iterable[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ledger_hex = LEDGER_ID.hex
        c.executemany(
            self.insert_events_statement,
            (
                (ledger_hex if s.originator_id is LEDGER_ID or s.originator_id == LEDGER_ID else
                 s.originator_id.hex if isinstance(s.originator_id, UUID) else s.originator_id,
                 s.originator_version, s.topic, s.state)
                for s in stored_events
            ),
        )
        return None  # positions, not notification ids, order the ledger

    @contextmanager
    def change_waiter(self) -> Iterator[Callable[[float], None]]:
        """A function that waits (up to a timeout) for records to be appended.  SQLite has no
        notifications, so it just sleeps: a follower polls."""
        yield time.sleep

    def insert_states(self, states: Iterable[tuple[int, bytes]]) -> None:
        """Insert the ledger's records, ``(position, state)``, in one transaction: what
        ``insert_events`` does for StoredEvents of the ledger's stream, without building
        them (a bulk append streams 100,000 of these straight into executemany)."""
        with self.datastore.transaction(commit=True) as c:
            c.executemany(self._insert_states, states)

    def index_position(self) -> int:
        """The position up to which the fact index is complete."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT position FROM {self.index_state}")
            return int(c.fetchone()[0])

    def index_extend(self, rows: list[IndexRow], upto: int) -> None:
        """Add index rows for the records up to ``upto``, in one transaction."""
        with self.datastore.transaction(commit=True) as c:
            c.executemany(f"INSERT OR IGNORE INTO {self.index_table} VALUES (?,?,?)", rows)
            c.execute(f"UPDATE {self.index_state} SET position = MAX(position, ?)", (upto,))

    def index_lookup(
        self, fact_ids: Collection[str], size_hint: int
    ) -> dict[str, tuple[int, bytes]]:
        found: dict[str, tuple[int, bytes]] = {}
        if not fact_ids:
            return found
        with self.datastore.transaction(commit=False) as c:
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
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT COUNT(*) FROM {self.index_table}")
            return int(c.fetchone()[0])

    def index_first_after(self, position: int) -> int | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT MIN(position) FROM {self.index_table} WHERE position > ?",
                      (position,))
            row = c.fetchone()
            return None if row is None or row[0] is None else int(row[0])

    def select_states(self, after: int, limit: int) -> list[tuple[int, bytes]]:
        """(position, stored state) after a position, in order: the fast path for replays."""
        with self.datastore.transaction(commit=False) as wrapped:
            c = wrapped.sqlite_cursor
            c.row_factory = None  # plain tuples: no sqlite3.Row per record on the hot path
            c.execute(
                f"SELECT originator_version, state FROM {self.events_table_name} "
                "WHERE originator_id = ? AND originator_version > ? "
                "ORDER BY originator_version LIMIT ?",
                (LEDGER_ID.hex, after, limit),
            )
            rows: list[tuple[int, bytes]] = c.fetchall()
            return rows


class LedgerPostgresRecorder(PostgresApplicationRecorder):
    """eventsourcing's PostgreSQL application recorder, plus the fact index."""

    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        from psycopg.sql import SQL, Identifier

        self.index_table = events_table_name.removesuffix("_events") + "_index"
        self.check_identifier_length(self.index_table)
        table = SQL("{0}.{1}").format(
            Identifier(self.datastore.schema), Identifier(self.index_table)
        )
        self._index = table
        state = SQL("{0}.{1}").format(
            Identifier(self.datastore.schema), Identifier(self.index_table + "_state")
        )
        self._index_state = state
        self.sql_create_statements += [
            SQL(
                "CREATE TABLE IF NOT EXISTS {0} (fact_id text PRIMARY KEY, "
                "position bigint NOT NULL, digest bytea NOT NULL)"
            ).format(table),
            SQL(
                "CREATE TABLE IF NOT EXISTS {0} (singleton integer PRIMARY KEY "
                "CHECK (singleton = 1), position bigint NOT NULL)"
            ).format(state),
            SQL("INSERT INTO {0} VALUES (1, 0) ON CONFLICT DO NOTHING").format(state),
        ]
        self._insert_index = SQL(
            "INSERT INTO {0} (fact_id, position, digest) VALUES (%s, %s, %s) "
            "ON CONFLICT DO NOTHING"
        ).format(table)

    def insert_events(
        self, stored_events: Iterable[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Insert a batch with COPY, in one transaction, under eventsourcing's table lock.

        The base class sends the batch as one array parameter in pipeline mode, which stalls
        (client and server each waiting on the other) once a batch is some megabytes; COPY
        streams it instead.  The unique key on (originator_id, originator_version) still
        turns a lost race into eventsourcing's ``IntegrityError``.
        """
        self._copy((s.originator_id, s.originator_version, s.topic, s.state)
                   for s in stored_events)
        return None  # positions, not notification ids, order the ledger

    @contextmanager
    def change_waiter(self) -> Iterator[Callable[[float], None]]:
        """A function that waits (up to a timeout) for records to be appended: LISTEN on the
        channel every insert NOTIFYs (eventsourcing's, committed with the records)."""
        from psycopg.sql import SQL, Identifier

        with self.datastore.get_connection() as conn:
            conn.execute(SQL("LISTEN {0}").format(Identifier(self.channel_name)))

            def wait(timeout: float) -> None:
                for _ in conn.notifies(timeout=timeout, stop_after=1):
                    pass

            try:
                yield wait
            finally:
                conn.execute(SQL("UNLISTEN {0}").format(Identifier(self.channel_name)))

    def insert_states(self, states: Iterable[tuple[int, bytes]]) -> None:
        """Insert the ledger's records, ``(position, state)``, in one transaction."""
        self._copy((LEDGER_ID, position, RECORD_TOPIC, state) for position, state in states)

    def _copy(self, rows: Iterable[tuple[Any, int, str, bytes]]) -> None:
        from psycopg.sql import SQL, Identifier

        copy = SQL(
            "COPY {0}.{1} (originator_id, originator_version, topic, state) "
            "FROM STDIN (FORMAT BINARY)"
        ).format(Identifier(self.datastore.schema), Identifier(self.events_table_name))
        with self.datastore.get_connection() as conn, conn.transaction(), \
                conn.cursor() as curs:
            self._lock_table(curs)
            self._notify_channel(curs)
            with curs.copy(copy) as out:
                out.set_types([self.datastore.originator_id_type, "int8", "text", "bytea"])
                for row in rows:
                    out.write_row(row)

    def index_position(self) -> int:
        """The position up to which the fact index is complete."""
        from psycopg.sql import SQL

        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT position FROM {0}").format(self._index_state))
            row = curs.fetchone()
            assert row is not None, "the index state row is created with the tables"
            return int(row["position"])

    def index_extend(self, rows: list[IndexRow], upto: int) -> None:
        """Add index rows for the records up to ``upto``, in one transaction."""
        from psycopg.sql import SQL

        with self.datastore.transaction(commit=True) as curs:
            if rows:
                curs.executemany(self._insert_index, rows)
            curs.execute(
                SQL("UPDATE {0} SET position = GREATEST(position, %s)").format(self._index_state),
                (upto,),
            )

    def index_lookup(
        self, fact_ids: Collection[str], size_hint: int
    ) -> dict[str, tuple[int, bytes]]:
        from psycopg.sql import SQL

        if not fact_ids:
            return {}
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                SQL("SELECT fact_id, position, digest FROM {0} WHERE fact_id = ANY(%s)").format(
                    self._index
                ),
                (list(fact_ids),),
            )
            return {
                r["fact_id"]: (int(r["position"]), bytes(r["digest"])) for r in curs.fetchall()
            }

    def index_size(self) -> int:
        from psycopg.sql import SQL

        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT COUNT(*) AS n FROM {0}").format(self._index))
            row = curs.fetchone()
            return int(row["n"]) if row else 0

    def index_first_after(self, position: int) -> int | None:
        from psycopg.sql import SQL

        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                SQL("SELECT MIN(position) AS p FROM {0} WHERE position > %s").format(self._index),
                (position,),
            )
            row = curs.fetchone()
            return None if row is None or row["p"] is None else int(row["p"])

    def create_table(self) -> None:
        """Create the tables under an advisory lock: PostgreSQL's CREATE ... IF NOT EXISTS
        is not safe when several processes open a new ledger at once."""
        with self.datastore.get_connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
            try:
                super().create_table()
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))

    def select_states(self, after: int, limit: int) -> list[tuple[int, bytes]]:
        """(position, stored state) after a position, in order: the fast path for replays."""
        from psycopg.sql import SQL, Identifier

        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                SQL(
                    "SELECT originator_version, state FROM {0}.{1} WHERE originator_id = %s "
                    "AND originator_version > %s ORDER BY originator_version LIMIT %s"
                ).format(Identifier(self.datastore.schema), Identifier(self.events_table_name)),
                (LEDGER_ID, after, limit),
            )
            return [(int(r["originator_version"]), bytes(r["state"])) for r in curs.fetchall()]


LedgerRecorder = LedgerSQLiteRecorder | LedgerPostgresRecorder


class LedgerApplication(Application[UUID]):
    """The eventsourcing application that owns the ledger's event store.

    Its environment comes only from :mod:`ledger.config` (``os.environ`` is not consulted,
    so a stray ``POSTGRES_*`` variable can never redirect the ledger).
    """

    name = "ComputeLedger"
    env: ClassVar[dict[str, str]] = {
        "MAPPER_TOPIC": get_topic(RecordMapper),
        "TRANSCODER_TOPIC": get_topic(NullTranscoder),
    }

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        settings = dict(type(self).env)
        settings.update(env or {})
        return Environment(name, settings)

    def construct_transcoder(self) -> Transcoder:
        return NullTranscoder()


def _application_settings(config: StoreConfig) -> dict[str, str]:
    recorder = LedgerSQLiteRecorder if config.backend == "sqlite" else LedgerPostgresRecorder
    return {**config.settings, "APPLICATION_RECORDER_TOPIC": get_topic(recorder)}


# ---------------------------------------------------------------------------------------------
# Values handed out by the store
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Head:
    """The last record of the ledger (position 0 and 64 zeros when it is empty)."""

    position: int
    hash: str
    recorded_at: str | None = None

    @property
    def pin(self) -> str:
        return f"{self.position}:{self.hash}"


@dataclass(frozen=True, slots=True)
class Entry:
    """A stored fact with its place in the ledger."""

    position: int
    recorded_at: str
    hash: str
    prev: str
    fact: Fact
    raw: bytes

    @property
    def recorded_instant(self) -> datetime:
        return from_utc_text(self.recorded_at)

    @property
    def fact_id(self) -> str:
        assert self.fact.id is not None  # every stored fact has an id
        return self.fact.id


@dataclass(frozen=True, slots=True)
class AppendResult:
    appended: int
    duplicates: int
    head: Head
    first_position: int | None
    recorded_at: str | None
    attempts: int


@dataclass(frozen=True, slots=True)
class VerifyReport:
    head: Head
    checked: int
    against: Head | None = None


@dataclass(slots=True)
class _Prepared:
    line: int
    fact: Fact
    fact_id: str
    raw: bytes

    @property
    def digest(self) -> bytes:
        """Computed only when the id is found already stored (most facts never need it)."""
        return content_digest(self.raw)


RETRY_FOR = 120.0
"""Seconds a writer that keeps losing races (or finding the database locked) keeps trying."""


def _open(config: StoreConfig) -> LedgerApplication:
    """Open the application, creating its tables if needed.

    Several processes may open a new ledger at once: SQLite may answer "database is locked"
    while another connection switches it to WAL, so opening is retried for a while (on
    PostgreSQL, table creation is serialised by an advisory lock, see
    :class:`LedgerPostgresRecorder`).
    """
    deadline = time.monotonic() + RETRY_FOR
    while True:
        try:
            return LedgerApplication(env=_application_settings(config))
        except (PersistenceError, OSError, sqlite3.Error) as exc:
            locked = "database is locked" in str(exc) or "database table is locked" in str(exc)
            if not locked or time.monotonic() > deadline:
                raise StorageError(
                    f"cannot open ledger {config.display}: {config.scrub(str(exc))}"
                ) from None
            time.sleep(0.02 + 0.08 * random.random())


class Ledger:
    """The ledger: append, read, verify.  Open with :meth:`open`; close when done."""

    def __init__(self, config: StoreConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self._app = _open(config)
        self.recorder = cast(LedgerRecorder, self._app.recorder)
        self.mapper = self._app.mapper

    # -- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        self._app.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ----------------------------------------------------------------------------

    @contextmanager
    def _storage(self, what: str) -> Iterator[None]:
        """Turn a database failure into a StorageError that names the ledger, never a secret."""
        try:
            yield
        except PersistenceError as exc:
            raise StorageError(
                f"cannot {what} ledger {self.config.display}: {self.config.scrub(str(exc))}"
            ) from None

    def _record(self, stored: StoredEvent) -> Record:
        try:
            return cast(Record, self.mapper.to_domain_event(stored))
        except MapperDeserialisationError:
            raise StorageError(
                f"the record at position {stored.originator_version} cannot be decoded; "
                "run `compute-ledger verify`"
            ) from None

    def head(self) -> Head:
        """The last record (position 0 when the ledger is empty)."""
        with self._storage("read"):
            events = self.recorder.select_events(LEDGER_ID, desc=True, limit=1)
        if not events:
            return Head(0, GENESIS, None)
        record = self._record(events[0])
        return Head(record.position, record.hash, record.recorded_at)

    def _stored(self, after: int, until: int | None, page: int) -> Iterator[StoredEvent]:
        cursor = after
        while True:
            limit = page if until is None else min(page, until - cursor)
            if limit <= 0:
                return
            with self._storage("read"):
                batch = self.recorder.select_events(LEDGER_ID, gt=cursor, limit=limit)
            if not batch:
                return
            yield from batch
            cursor = batch[-1].originator_version
            if len(batch) < limit:
                return

    def records(
        self, after: int = 0, until: int | None = None, page: int = PAGE
    ) -> Iterator[Record]:
        """Stored records in ledger order, positions in ``(after, until]``, page by page."""
        for stored in self._stored(after, until, page):
            yield self._record(stored)

    def entries(
        self, after: int = 0, until: int | None = None, page: int = PAGE
    ) -> Iterator[Entry]:
        """Stored facts in ledger order, positions in ``(after, until]``, read page by page."""
        for record in self.records(after, until, page):
            raw = bytes(record.fact)
            try:
                fact = decode_fact(raw)
            except (msgspec.MsgspecError, ValueError):
                raise StorageError(
                    f"the fact at position {record.position} cannot be decoded; "
                    "run `compute-ledger verify`"
                ) from None
            yield Entry(record.position, record.recorded_at, record.hash, record.prev, fact, raw)

    def follow(
        self, after: int = 0, *, poll: float = 1.0, stop: threading.Event | None = None
    ) -> Iterator[Record]:
        """The records after ``after``, then every record appended from then on, as it comes:
        on PostgreSQL woken by a notification, on SQLite by polling every ``poll`` seconds.
        Runs until ``stop`` is set (or forever).  Each record is yielded once, in order, so a
        consumer that remembers the last position it handled can resume from it."""
        with self._storage("read"), self.recorder.change_waiter() as wait:
            while stop is None or not stop.is_set():
                seen = False
                for record in self.records(after=after):
                    yield record
                    after, seen = record.position, True
                if not seen:
                    wait(poll if stop is None else min(poll, 0.1))  # notice a stop promptly

    def stream(
        self, after: int = 0, until: int | None = None, page: int = PAGE
    ) -> Iterator[tuple[int, str, str, Fact]]:
        """``(position, recorded_at, hash, fact)`` in ledger order, one parse per record: what
        a replay folds.  (It trusts the records; :meth:`verify` is what checks them.)"""
        cursor = after
        while True:
            limit = page if until is None else min(page, until - cursor)
            if limit <= 0:
                return
            with self._storage("read"):
                rows = self.recorder.select_states(cursor, limit)
            for position, state in rows:
                try:
                    record = _FACT_RECORD_DECODER.decode(state)
                except (msgspec.MsgspecError, ValueError):
                    raise StorageError(
                        f"the record at position {position} cannot be decoded; "
                        "run `compute-ledger verify`"
                    ) from None
                yield record.position, record.recorded_at, record.hash, record.fact
            if len(rows) < limit:
                return
            cursor = rows[-1][0]

    def entry_at(self, position: int) -> Entry:
        """The stored fact at ``position``."""
        for entry in self.entries(after=position - 1, until=position):
            return entry
        raise NotFoundError(f"no fact at position {position} (the head is {self.head().position})")

    def find(self, fact_id: str) -> Entry | None:
        """The stored fact with this id, or ``None``."""
        hit = self.lookup([fact_id], self.head().position).get(fact_id)
        return None if hit is None else self.entry_at(hit[0])

    # -- the fact index ---------------------------------------------------------------------

    def _indexed_after(self, after: int, until: int) -> Iterator[IndexRow]:
        """Index rows read from the records themselves, for positions ``(after, until]``."""
        cursor = after
        while cursor < until:
            with self._storage("read"):
                rows = self.recorder.select_states(cursor, min(PAGE * 5, until - cursor))
            if not rows:
                return
            for position, state in rows:
                try:
                    raw = bytes(_RECORD_DECODER.decode(state).fact)
                    fact_id = _ID_DECODER.decode(raw).id
                except (msgspec.MsgspecError, ValueError):
                    raise StorageError(
                        f"the record at position {position} cannot be decoded; "
                        "run `compute-ledger verify`"
                    ) from None
                yield fact_id, position, content_digest(raw)
            cursor = rows[-1][0]

    def sync_index(self, until: int | None = None) -> int:
        """Bring the fact index up to ``until`` (default: the head); return its position.

        Each page of records is indexed in a transaction that also records how far the index
        goes, so an interrupted sync loses nothing and a concurrent one repeats nothing.
        """
        target = self.head().position if until is None else until
        with self._storage("read"):
            done = self.recorder.index_position()
        while done < target:
            rows = list(itertools.islice(self._indexed_after(done, target), PAGE * 5))
            if not rows:
                break
            upto = rows[-1][1]
            with self._storage("write"):
                self.recorder.index_extend(rows, upto)
            done = upto
        return done

    def lookup(self, fact_ids: Collection[str], until: int) -> dict[str, tuple[int, bytes]]:
        """Where each of these ids is stored (position, content digest), among the records up
        to ``until``: from the index, and from the records it does not cover yet."""
        with self._storage("read"):
            indexed = self.recorder.index_position()
            found = self.recorder.index_lookup(fact_ids, size_hint=max(indexed, 1))
        if indexed < until:
            wanted = set(fact_ids)
            for fact_id, position, digest in self._indexed_after(indexed, until):
                if fact_id in wanted:
                    found[fact_id] = (position, digest)
        return {k: v for k, v in found.items() if v[0] <= until}

    def position_known_at(self, moment: datetime) -> int:
        """The last position whose ``recorded_at`` is at or before ``moment`` (0 if none).

        ``recorded_at`` never decreases along the positions, so this is a binary search.
        """
        limit = utc_text(moment)
        head = self.head()
        if head.recorded_at is None or head.recorded_at <= limit:
            return head.position
        low, high = 0, head.position  # recorded_at(low) <= limit < recorded_at(high)
        while high - low > 1:
            middle = (low + high) // 2
            record = next(self.records(after=middle - 1, until=middle))
            if record.recorded_at <= limit:
                low = middle
            else:
                high = middle
        return low

    # -- appending --------------------------------------------------------------------------

    def append(
        self,
        facts: Iterable[Fact] | Iterable[tuple[int, Fact]],
        *,
        progress: Callable[[int], None] | None = None,
    ) -> AppendResult:
        """Append facts atomically: all of them, or none (and :class:`InputError`).

        Facts may be given with their input line numbers, which errors then name.  A fact
        whose id is already stored with the same content is a duplicate (counted, not
        written); the same id with other content is refused.  A writer that loses a race
        with another re-reads the head and tries again.
        """
        with paused_gc():
            return self._append(facts, progress)

    def _append(
        self,
        facts: Iterable[Fact] | Iterable[tuple[int, Fact]],
        progress: Callable[[int], None] | None,
    ) -> AppendResult:
        prepared, in_batch, problems = _prepare(facts, progress)
        deadline = time.monotonic() + RETRY_FOR
        attempt = 0
        while True:
            attempt += 1
            head = self.head()
            if head.position:
                self.sync_index(head.position)
            new, duplicates = self._classify(prepared, head, problems)
            if not new:
                return AppendResult(0, duplicates + in_batch, head, None, None, attempt)
            recorded_at = utc_text(self.clock.now())
            if head.recorded_at is not None and recorded_at < head.recorded_at:
                recorded_at = head.recorded_at  # never decreases along the ledger
            chain = _Chain(head, recorded_at, new)
            try:
                # Streamed: executemany on SQLite, COPY on PostgreSQL.
                self.recorder.insert_states(chain.states())
            except (ESIntegrityError, ESOperationalError) as exc:
                # Another writer took these positions (or holds the lock): read the new
                # head and try again.
                if time.monotonic() > deadline:
                    raise StorageError(
                        f"could not append after {attempt} attempts in {RETRY_FOR:.0f} s: "
                        f"{self.config.scrub(str(exc))}"
                    ) from None
                time.sleep(min(0.2, 0.002 * 2 ** min(attempt, 7)) * (0.5 + random.random()))
                continue
            except PersistenceError as exc:
                raise StorageError(
                    f"cannot write to ledger {self.config.display}: "
                    f"{self.config.scrub(str(exc))}"
                ) from None
            return AppendResult(
                appended=len(new),
                duplicates=duplicates + in_batch,
                head=Head(head.position + len(new), chain.last_hash, recorded_at),
                first_position=head.position + 1,
                recorded_at=recorded_at,
                attempts=attempt,
            )

    def _classify(
        self, prepared: list[_Prepared], head: Head, problems: list[Problem]
    ) -> tuple[list[_Prepared], int]:
        problems = list(problems)
        targets = {t for p in prepared if (t := _target(p.fact)) is not None}
        found: dict[str, tuple[int, bytes]] = {}
        if head.position:
            found = self.lookup({p.fact_id for p in prepared} | targets, head.position)
        new: list[_Prepared] = [] if found else prepared
        duplicates = 0
        for p in prepared if found else ():
            stored = found.get(p.fact_id)
            if stored is None:
                new.append(p)
            elif stored[1] == p.digest:
                duplicates += 1
            else:
                problems.append(Problem(
                    p.line, "$.id",
                    f"fact {p.fact_id!r} is already in the ledger at position {stored[0]} with "
                    "other content; the ledger is append-only: to change it, append a "
                    f'correction ({{"type": "correction", "corrects": "{p.fact_id}", ...}})',
                ))
        if targets:
            problems += self._target_problems(new, found)
        if problems:
            raise InputError(sorted(problems, key=lambda q: (q.line or 0, q.path)))
        return new, duplicates

    def _target_problems(
        self, new: list[_Prepared], found: dict[str, tuple[int, bytes]]
    ) -> list[Problem]:
        problems: list[Problem] = []
        in_batch = {p.fact_id: p for p in new}
        for p in new:
            if not isinstance(p.fact, (Correction, Retraction)):
                continue
            target = _target(p.fact)
            assert target is not None
            earlier = in_batch.get(target)
            original = earlier.fact if earlier is not None and earlier.line < p.line else None
            if original is None and target in found:
                original = self.entry_at(found[target][0]).fact
            problems += _target_problem(p, target, original)
        return problems

    # -- tables beside the ledger ------------------------------------------------------------

    @contextmanager
    def side_tables(self, *, write: bool) -> Iterator[SideCursor]:
        """One transaction on the ledger's database for the projections' own tables.

        Nothing here can touch the ledger's records: the projections only read those
        through :meth:`entries`.
        """
        with self._storage("write" if write else "read"):
            datastore = self.recorder.datastore
            with datastore.transaction(commit=write) as cursor:
                yield SideCursor(cursor, self.config.backend)

    # -- verifying --------------------------------------------------------------------------

    def verify(self, against: Head | None = None) -> VerifyReport:
        """Recompute the chain, check positions, times and the fact index.

        Raises :class:`VerificationError` naming the first bad position.  With ``against``,
        also checks that the record at the pinned position still has the pinned hash, so the
        ledger still extends what was pinned.
        """
        expected, prev, last_recorded = 1, GENESIS, ""
        page: list[tuple[int, str, bytes]] = []
        with self._storage("read"):
            indexed = self.recorder.index_position()

        def breach(position: int, reason: str) -> Any:
            # A record rewritten with its hash recomputed breaks the link of the next one;
            # the fact index still holds the old content's digest and names it first.
            self._check_index(page, upto=min(position - 1, indexed))
            _breach(position, reason)

        for stored in self._stored(0, None, PAGE):
            at = stored.originator_version
            if at != expected:
                breach(expected, f"record missing (the next stored record is at position {at})")
            try:
                record = cast(Record, self.mapper.to_domain_event(stored))
            except MapperDeserialisationError:
                breach(at, "the stored record cannot be decoded")
            raw = bytes(record.fact)
            try:
                fact = decode_fact(raw)
            except (msgspec.MsgspecError, ValueError):
                breach(at, "the fact cannot be decoded")
            assert fact.id is not None
            page.append((at, fact.id, content_digest(raw)))
            if record.position != at:
                breach(at, f"the record stored here claims position {record.position}")
            if record.prev != prev:
                breach(at, "the record does not link to the one before it (prev hash differs)")
            if link_hash(prev, at, record.recorded_at, raw) != record.hash:
                breach(at, "the stored hash does not match the record's content")
            if record.recorded_at < last_recorded:
                breach(at, "recorded_at goes backwards")
            if against is not None and at == against.position and record.hash != against.hash:
                breach(at, "the hash differs from the pinned one: history was rewritten")
            if len(page) == PAGE:
                self._check_index(page, upto=indexed)
                page = []
            prev, last_recorded, expected = record.hash, record.recorded_at, expected + 1
        self._check_index(page, upto=indexed)
        head = Head(expected - 1, prev, last_recorded or None)
        with self._storage("read"):
            orphan = self.recorder.index_first_after(min(head.position, indexed))
            entries = self.recorder.index_size()
        if orphan is not None:
            _breach(orphan, "record missing (the fact index still lists it)")
        if indexed > head.position:
            _breach(head.position + 1, f"record missing (the fact index covers positions up "
                                       f"to {indexed})")
        if entries != indexed:
            _breach(min(head.position, indexed) or 1,
                    f"the fact index holds {entries} entries for {indexed} records")
        if against is not None and against.position > head.position:
            _breach(
                head.position + 1,
                f"the pinned position {against.position} is beyond the head "
                f"({head.position}): records were removed",
            )
        return VerifyReport(head=head, checked=head.position, against=against)

    def _check_index(self, page: list[tuple[int, str, bytes]], upto: int | None = None) -> None:
        """Raise at the first record (up to position ``upto``) the fact index disagrees with."""
        rows = [row for row in page if upto is None or row[0] <= upto]
        if not rows:
            return
        with self._storage("read"):
            found = self.recorder.index_lookup([i for _, i, _ in rows], size_hint=1 << 62)
        for position, fact_id, digest in rows:
            if found.get(fact_id) != (position, digest):
                _breach(position, "the fact index does not match the record")


class SideCursor:
    """A cursor on tables kept beside the ledger (the projections), inside one transaction.

    SQL is written once with ``?`` placeholders and portable types; rows come back as
    mappings on both backends.  ``BLOB`` is the binary type's name here.
    """

    def __init__(self, raw: Any, backend: str) -> None:
        self._raw = raw
        self.backend = backend
        self.blob = "BLOB" if backend == "sqlite" else "BYTEA"

    def _sql(self, statement: str) -> str:
        if self.backend == "sqlite":
            return statement
        return statement.replace("?", "%s").replace(" BLOB", " BYTEA")

    def execute(self, statement: str, params: Sequence[Any] = ()) -> None:
        self._raw.execute(self._sql(statement), params)

    def executemany(self, statement: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if rows:
            self._raw.executemany(self._sql(statement), rows)

    def fetchall(self) -> list[Any]:
        return list(self._raw.fetchall())

    def fetchone(self) -> Any:
        return self._raw.fetchone()


class _Chain:
    """Links new facts onto the head, lazily, so a large batch streams into the database."""

    def __init__(self, head: Head, recorded_at: str, new: list[_Prepared]) -> None:
        self._head = head
        self._recorded_at = recorded_at
        self._new = new
        self.last_hash = head.hash

    def states(self) -> Iterator[tuple[int, bytes]]:
        """``(position, stored state)`` of the new records: byte for byte what
        :class:`RecordMapper` writes for each :class:`Record`, linked by
        :func:`ledger.chain.link_hash`."""
        sha256, hexlify, state = hashlib.sha256, binascii.hexlify, RecordMapper.state
        recorded = self._recorded_at.encode()
        prev, position = self._head.hash.encode(), self._head.position
        for p in self._new:
            position += 1
            link = sha256(b"%b\n%d\n%b\n" % (prev, position, recorded))
            link.update(p.raw)
            digest = hexlify(link.digest())
            yield position, state(position, recorded, prev, digest, p.raw)
            prev = digest
        self.last_hash = prev.decode()



def _prepare(
    facts: Iterable[Fact] | Iterable[tuple[int, Fact]],
    progress: Callable[[int], None] | None,
) -> tuple[list[_Prepared], int, list[Problem]]:
    """Ids, canonical bytes and digests; duplicates and id clashes inside the batch."""
    prepared: list[_Prepared] = []
    seen: dict[str, _Prepared] = {}
    duplicates = 0
    problems: list[Problem] = []
    encode = canonical_encoder().encode
    for number, item in enumerate(facts, start=1):
        passed, found = through_door(number, item)  # a no-op for Checked facts
        if passed is None:
            problems += found
            continue
        line, fact = passed
        if fact.id is None:
            fact = with_id(fact)
        raw = encode(fact)
        fact_id: str = fact.id  # type: ignore[assignment]  # with_id gave it one
        here = _Prepared(line, fact, fact_id, raw)
        earlier = seen.get(fact_id)
        if earlier is None:
            seen[fact_id] = here
            prepared.append(here)
        elif earlier.raw == raw:
            duplicates += 1
        else:
            problems.append(Problem(
                line, "$.id",
                f"id {fact_id!r} is already used at line {earlier.line} with other content; "
                "give this fact its own id, or record a correction",
            ))
        if progress is not None and number % 1000 == 0:
            progress(1000)
    if not prepared and not problems:
        raise InputError([Problem(None, "$", "no facts given")])
    return prepared, duplicates, problems



def _target_problem(p: _Prepared, target: str, original: Fact | None) -> list[Problem]:
    field = "$.corrects" if isinstance(p.fact, Correction) else "$.retracts"
    if original is None:
        return [
            Problem(p.line, field, f"no fact {target!r} in the ledger or earlier in this batch")
        ]
    if isinstance(p.fact, Correction):
        if isinstance(original, (Correction, Retraction)):
            return [Problem(
                p.line, field,
                f"{target!r} is a {_tag(original)}; only facts (not corrections or retractions) "
                "can be corrected",
            )]
        if type(original) is not type(p.fact.fact):
            return [Problem(
                p.line, "$.fact.type",
                f"a correction keeps the type of the fact it corrects ({_tag(original)}), "
                f"got {_tag(p.fact.fact)}",
            )]
    elif isinstance(original, Retraction):
        return [Problem(p.line, field, f"{target!r} is itself a retraction")]
    return []


def _tag(fact: Fact) -> str:
    return str(fact.__struct_config__.tag)


def _breach(position: int, reason: str) -> Any:
    raise VerificationError(Breach(position, reason))


def _target(fact: Fact) -> str | None:
    """The fact a correction or retraction names (None for any other fact)."""
    if isinstance(fact, (Correction, Retraction)):
        return fact.corrects if isinstance(fact, Correction) else fact.retracts
    return None


def parse_pin(text: str) -> Head:
    """Parse a pinned head ``POSITION:HASH`` (as printed by ``digest``)."""
    position, sep, digest = text.strip().partition(":")
    if not sep or not position.isdigit() or len(digest) != 64 or not all(
        c in "0123456789abcdef" for c in digest
    ):
        raise ValueError(
            f"{text!r} is not a pinned head; expected POSITION:HASH as printed by "
            "`compute-ledger digest` (e.g. 12:3f5a...; the hash has 64 hex digits)"
        )
    return Head(int(position), digest)
