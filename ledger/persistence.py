"""What the ledger stores and the recorder every backend implements.

This is the ledger's part of eventsourcing's persistence layer (as eventsourcing's own
``persistence.py`` is to its ``sqlite.py`` and ``postgres.py``):

* :class:`Record`, one stored record, and :class:`RecordMapper`, the msgspec mapper that
  eventsourcing's ``MAPPER_TOPIC`` names: records are stored under an explicit, versioned
  topic (:data:`RECORD_TOPIC`), never a class path, so no rename can orphan history;
* :class:`LedgerRecorder`, the abstract application recorder: eventsourcing's
  ``ApplicationRecorder`` contract, plus the fact index beside the records, a bulk insert
  that streams ``(position, state)`` pairs, and transactions on the projections' own tables.
  :mod:`compute_ledger.ledger.sqlite` and :mod:`compute_ledger.ledger.postgres` implement
  it, each with the ``InfrastructureFactory`` that ``PERSISTENCE_MODULE`` names.

Nothing here opens a database or imports a driver.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Any, Protocol, cast
from uuid import UUID

import msgspec
from eventsourcing.persistence import (
    ApplicationRecorder,
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
    Transcoder,
)

LEDGER_ID = UUID("5e1f0c2a-7d3b-4c8e-9a6f-2b7d41c0e9a3")
"""The one aggregate sequence that holds the ledger."""

RECORD_TOPIC = "compute-ledger/record@1"
"""The stored topic of a record: explicit and versioned, so no rename can orphan history."""

POSITIONS_AT_ONCE = 500
"""Positions (or other keys) asked for in one ``IN (...)``, as by
:meth:`LedgerRecorder.select_states_at` (a statement's parameters stay well under SQLite's
limit)."""

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


RECORD_ENCODER = msgspec.json.Encoder(order="sorted")
RECORD_DECODER = msgspec.json.Decoder(Record)


def record_json(record: Record) -> bytes:
    """A stored record as JSON: exactly the bytes the store holds for it."""
    return RECORD_ENCODER.encode(record)


def record_state(position: int, recorded_at: bytes, prev: bytes, digest: bytes,
                 fact: bytes) -> bytes:
    """The stored state of a record given its parts (ASCII bytes; the fact canonical): byte
    for byte ``record_json`` of the :class:`Record`, without building it first."""
    return (b'{"fact":%b,"hash":"%b","position":%d,"prev":"%b","recorded_at":"%b"}'
            % (fact, digest, position, prev, recorded_at))


class RecordMapper(Mapper[UUID]):
    """eventsourcing mapper that stores :class:`Record` structs as msgspec JSON.

    The stored state is the sorted-key msgspec encoding of the :class:`Record`:
    ``{"fact":...,"hash":"...","position":N,"prev":"...","recorded_at":"..."}``.
    """

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        record = cast(Record, domain_event)
        return StoredEvent(LEDGER_ID, record.position, RECORD_TOPIC,
                           RECORD_ENCODER.encode(record))

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        if stored_event.topic != RECORD_TOPIC:
            raise MapperDeserialisationError(
                f"unknown topic {stored_event.topic!r} at position "
                f"{stored_event.originator_version}"
            )
        try:
            return RECORD_DECODER.decode(stored_event.state)
        except (msgspec.MsgspecError, ValueError) as exc:
            raise MapperDeserialisationError(str(exc)) from exc


class NullTranscoder(Transcoder):
    """The mapper encodes whole Structs with msgspec; no transcoder is involved."""

    def encode(self, obj: Any) -> bytes:
        raise TypeError("records are encoded by RecordMapper, not by a transcoder")

    def decode(self, data: bytes) -> Any:
        raise TypeError("records are decoded by RecordMapper, not by a transcoder")


IndexRow = tuple[str, int, bytes]
"""(fact id, position, content digest)"""

class TreeConflict(Exception):
    """A Merkle tree node to insert is already stored: the tree was altered (under the
    write lock no one else grows it)."""


NodeRow = tuple[int, int, bytes]
"""A stored node of the Merkle tree: (level, index, hash); see
:mod:`~compute_ledger.ledger.merkle`."""


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

    @property
    def rowcount(self) -> int:
        """The rows the last statement changed (for ``executemany``, all its runs')."""
        return int(self._raw.rowcount)

    def fetchone(self) -> Any:
        return self._raw.fetchone()


class Writing(Protocol):
    """One writer's transaction, holding the ledger's write lock from :meth:`last` to the
    commit: what it reads is the head no other writer can move until it is done."""

    def last(self) -> tuple[int, bytes] | None:
        """(position, stored state) of the last record, or None for an empty ledger."""

    def server_time(self) -> datetime | None:
        """The database server's clock, where it has one of its own (None for SQLite)."""

    def insert(self, states: Iterable[tuple[int, bytes]]) -> None:
        """Insert ``(position, state)`` records, streamed, in this transaction."""

    def states(self, after: int, limit: int) -> list[tuple[int, bytes]]:
        """(position, stored state) after a position, in order, as this transaction sees them."""

    def tree_size(self) -> int | None:
        """How many records the stored Merkle tree covers, as this transaction sees it
        (None: never built)."""

    def tree_nodes(self, nodes: Collection[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """The stored nodes among these ``(level, index)`` keys."""

    def insert_nodes(self, rows: Iterable[NodeRow], size: int) -> None:
        """Insert Merkle tree nodes, streamed, in this transaction, and record that the tree
        now covers ``size`` records; a node already stored raises :class:`TreeConflict`."""

    def index(self, rows: Iterable[IndexRow], after: int, upto: int) -> bool:
        """Index the records just inserted, positions ``(after, upto]``, in this transaction,
        when the fact index covers exactly the first ``after`` records; True if it did.
        (An index behind, as on a ledger last written before this, is left to
        :meth:`LedgerRecorder.index_extend`, which reads the records.)"""


class LedgerRecorder(ApplicationRecorder, ABC):
    """eventsourcing's application recorder contract, plus what the ledger keeps beside it.

    The ledger is one stream (:data:`LEDGER_ID`) whose versions are positions; the database's
    unique key on (originator_id, originator_version) is what stops two writers from both
    appending position N+1.  The fact index (fact id -> position and content digest) is
    derived from the records and kept complete up to a stored position.
    """

    backend: str
    """``sqlite`` or ``postgresql``: the dialect of :class:`SideCursor`."""

    @abstractmethod
    def writing(self) -> AbstractContextManager[Writing]:
        """A write transaction holding the ledger's write lock (waiting for it first), that
        commits when the block ends and rolls back if it raises.  Its inserts stream (a
        bulk append sends 100,000 records without building a StoredEvent for each); a
        position already taken (by a writer that bypassed the lock) raises eventsourcing's
        ``IntegrityError``."""

    @abstractmethod
    def wait_for_writers(self) -> None:
        """Wait until no write transaction is in flight (take the write lock's shared side
        and let it go).  A SQLite file this process may not write has no lock to take: the
        call returns at once (the store does not call it on a ledger it opened read-only)."""

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Run every read this thread makes through this recorder inside the block in one
        read transaction: one consistent snapshot of the records and the index, however many
        writers commit meanwhile.  (A snapshot inside a snapshot is the outer one.)"""
        pins = self._pins()
        if getattr(pins, "cursor", None) is not None:
            yield
            return
        with self._read_transaction(snapshot=True) as cursor:
            pins.cursor = cursor
            try:
                yield
            finally:
                pins.cursor = None

    @contextmanager
    def _reading(self) -> Iterator[Any]:
        """The cursor of this thread's :meth:`snapshot`, else a read transaction of its own:
        what every read of the records and the index goes through."""
        cursor = getattr(self._pins(), "cursor", None)
        if cursor is not None:
            yield cursor
            return
        with self._read_transaction(snapshot=False) as cursor:
            yield cursor

    def _pins(self) -> threading.local:
        """This recorder's pinned snapshot cursor, per thread (made on first use: the
        constructors are eventsourcing's)."""
        pins: threading.local | None = self.__dict__.get("_pinned")
        if pins is None:
            pins = self.__dict__.setdefault("_pinned", threading.local())
        return pins

    @abstractmethod
    def _read_transaction(self, *, snapshot: bool) -> AbstractContextManager[Any]:
        """A read-only transaction of its own, yielding a cursor; with ``snapshot``, one
        whose reads all see the database as of its first."""

    @abstractmethod
    def select_states(self, after: int, limit: int) -> list[tuple[int, bytes]]:
        """(position, stored state) after a position, in order: the fast path for replays."""

    @abstractmethod
    def select_states_at(self, positions: Sequence[int]) -> list[tuple[int, bytes]]:
        """(position, stored state) of the records at these positions (at most
        :data:`POSITIONS_AT_ONCE`), in any order: one indexed lookup each, for facts
        scattered over the ledger."""

    @abstractmethod
    def select_records(self, after: int, limit: int) -> list[tuple[int, str, bytes]]:
        """(position, topic, stored state) after a position, in order: what ``verify``
        reads (the topic too, which it checks)."""

    @abstractmethod
    def index_position(self) -> int:
        """The position up to which the fact index is complete."""

    @abstractmethod
    def index_extend(self, rows: list[IndexRow], upto: int) -> None:
        """Add index rows for the records up to ``upto``, in one transaction."""

    @abstractmethod
    def index_lookup(
        self, fact_ids: Collection[str], size_hint: int
    ) -> dict[str, tuple[int, bytes]]:
        """Position and content digest of each of these ids that the index holds."""

    @abstractmethod
    def index_size(self) -> int:
        """How many ids the index holds."""

    @abstractmethod
    def index_first_after(self, position: int) -> int | None:
        """The first indexed position after ``position`` (None if none)."""

    @abstractmethod
    def tree_size(self) -> int | None:
        """How many records the stored Merkle tree covers, as recorded by the append that
        last grew it (None: never built, a ledger written before the tree existed)."""

    @abstractmethod
    def tree_nodes(self, nodes: Collection[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """The stored Merkle tree nodes among these ``(level, index)`` keys."""

    @abstractmethod
    def tree_count(self) -> int:
        """How many nodes the stored Merkle tree holds."""


    @abstractmethod
    def change_waiter(self) -> AbstractContextManager[Callable[[float], None]]:
        """A function that waits (up to a timeout) for records to be appended."""

    @abstractmethod
    def side_transaction(self, *, write: bool, snapshot: bool = False
                         ) -> AbstractContextManager[SideCursor]:
        """One transaction on the ledger's database for the projections' own tables; with
        ``snapshot`` (reading only), one whose reads all see the database as of its first."""

