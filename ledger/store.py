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
* SQLite and PostgreSQL run the same code: the recorders (:mod:`compute_ledger.ledger.sqlite`,
  :mod:`compute_ledger.ledger.postgres`) implement one abstract recorder
  (:mod:`compute_ledger.ledger.persistence`), and eventsourcing builds the one that
  ``PERSISTENCE_MODULE`` names, so a SQLite ledger never imports psycopg.  What an append
  decides and what ``verify`` checks are pure (:mod:`compute_ledger.ledger.admission`,
  :mod:`compute_ledger.ledger.verification`); this module does the reading and writing
  around them.  Nothing is opened at import time.

No code path here updates or deletes a stored record.
"""

from __future__ import annotations

import copy
import itertools
import random
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, cast
from urllib.parse import quote
from uuid import UUID

import msgspec
from eventsourcing.application import Application
from eventsourcing.persistence import (
    IntegrityError as ESIntegrityError,
)
from eventsourcing.persistence import (
    MapperDeserialisationError,
    PersistenceError,
    StoredEvent,
    Transcoder,
)
from eventsourcing.utils import Environment, EnvType, get_topic

from compute_ledger.ledger.admission import Batch, Chain, Prepared, classify, prepare
from compute_ledger.ledger.bulk import paused_gc
from compute_ledger.ledger.chain import GENESIS, content_digest
from compute_ledger.ledger.clock import Clock, SystemClock, stamp
from compute_ledger.ledger.config import StoreConfig
from compute_ledger.ledger.errors import (
    Breach,
    ConfigurationError,
    NotFoundError,
    StorageError,
    VerificationError,
)
from compute_ledger.ledger.facts import Fact, Lean, decode_fact, decoder, stored_id
from compute_ledger.ledger.instants import from_utc_text, utc_text
from compute_ledger.ledger.merkle import (
    EMPTY_ROOT,
    Node,
    TreeView,
    cover,
    extend,
    leaf_hash,
    subtree,
    verify_consistency,
)
from compute_ledger.ledger.notes import Checkpoint
from compute_ledger.ledger.persistence import (
    LEDGER_ID,
    POSITIONS_AT_ONCE,
    RECORD_DECODER,
    RECORD_TOPIC,
    SCHEMA_LOCK,
    IndexRow,
    LedgerRecorder,
    NullTranscoder,
    Record,
    RecordMapper,
    SideCursor,
    TreeConflict,
    Writing,
    record_json,
)
from compute_ledger.ledger.verification import (
    ChainVerifier,
    Pin,
    TreeChecker,
    index_breach,
    tail_breach,
)

if TYPE_CHECKING:
    from compute_ledger.ledger.sqlite import ScratchTables

__all__ = [
    "LEDGER_ID", "RECORD_TOPIC", "SCHEMA_LOCK", "AppendResult", "Entry", "Head", "Ledger",
    "Record", "SideCursor", "VerifyReport", "parse_pin", "record_json",
]

PAGE = 2000


class _HeadMoved(Exception):
    """Another writer committed between an append's first read of the head and its lock."""


class _FactRecord(msgspec.Struct, frozen=True, gc=False):
    """A stored record read for its fact alone: one parse, no raw bytes kept."""

    fact: Fact
    hash: str
    position: int
    recorded_at: str


_FACT_RECORD_DECODER = decoder(_FactRecord)


def _fact_record(position: int, state: bytes) -> _FactRecord:
    """The record stored at ``position``, decoded with its fact typed."""
    try:
        record: _FactRecord = _FACT_RECORD_DECODER.decode(state)
    except (msgspec.MsgspecError, ValueError):
        raise StorageError(f"the record at position {position} cannot be decoded; "
                           "run `compute-ledger verify`") from None
    return record


class LedgerApplication(Application[UUID]):
    """The eventsourcing application that owns the ledger's event store.

    Its environment comes only from :mod:`compute_ledger.ledger.config` (``os.environ`` is
    not consulted, so a stray ``POSTGRES_*`` variable can never redirect the ledger);
    ``PERSISTENCE_MODULE`` names the project's own :mod:`~compute_ledger.ledger.sqlite` or
    :mod:`~compute_ledger.ledger.postgres`.
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


# ---------------------------------------------------------------------------------------------
# Values handed out by the store
# ---------------------------------------------------------------------------------------------


class Head(msgspec.Struct, frozen=True):
    """The last record of the ledger (position 0 and 64 zeros when it is empty)."""

    position: int
    hash: str
    recorded_at: str | None = None

    @property
    def pin(self) -> str:
        return f"{self.position}:{self.hash}"

    @property
    def recorded_instant(self) -> datetime | None:
        return None if self.recorded_at is None else from_utc_text(self.recorded_at)


class Entry(msgspec.Struct, frozen=True):
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


class AppendResult(msgspec.Struct, frozen=True):
    appended: int
    duplicates: int
    head: Head
    first_position: int | None
    recorded_at: str | None
    attempts: int


class Admission(msgspec.Struct, frozen=True):
    """What an append of a batch would do, decided against ``head`` (see :meth:`Ledger.admit`)."""

    head: Head
    new: list[Prepared]
    duplicates: int


class Extension(msgspec.Struct, frozen=True):
    """How the ledger extends a checkpoint: the consistency proof from its size to the
    ledger's, and the ledger's root."""

    checkpoint: Checkpoint
    size: int
    root: bytes
    proof: list[bytes]


class DerivedDigest(msgspec.Struct, frozen=True):
    """Derived data kept beside the records (a projection), found to hold what its digest
    records: the position and head it was folded to, the digest, and how many rows."""

    position: int
    head: str
    digest: str
    rows: int


class VerifyReport(msgspec.Struct, frozen=True):
    head: Head
    checked: int
    against: Head | None = None
    extends: Extension | None = None
    root: bytes = b""
    """The Merkle tree's root over the records checked."""
    tree_size: int = 0
    """How many records the stored Merkle tree covers (all of them, unless the ledger was
    last written before the tree existed)."""
    projection: DerivedDigest | None = None
    """The maintained projection, checked against its digest (None: none is kept yet)."""


RETRY_FOR = 120.0
"""Seconds a writer that keeps losing races (or finding the database locked) keeps trying."""


def _open(config: StoreConfig, create: bool = True) -> tuple[LedgerApplication, bool]:
    """Open the application, creating its tables if needed; also say whether it was opened
    read-only.  With ``create`` false, a path or database that holds no ledger is refused
    (:class:`NotFoundError`) and nothing is written to it (the default ledger is exempt: it
    is made with the bundled public record on first use).

    Several processes may open a new ledger at once: SQLite may answer "database is locked"
    while another connection switches it to WAL, so opening is retried for a while (on
    PostgreSQL, table creation is serialised by an advisory lock, see
    :class:`LedgerPostgresRecorder`).  A SQLite ledger that exists but cannot be written here
    (a read-only file, directory or mount) is opened read-only, so it can still be read and
    verified.
    """
    if config.backend == "postgresql":
        from compute_ledger.ledger.postgres import probe  # psycopg only for PostgreSQL

        required = None if create or config.is_default else \
            LedgerApplication.name.lower() + "_events"
        probe(config, required)
    elif not config.is_default and config.path is not None:
        from compute_ledger.ledger.sqlite import require_ledger

        require_ledger(config.path, config.display, "stored_events", create=create)
    deadline = time.monotonic() + RETRY_FOR
    while True:
        try:
            return LedgerApplication(env=config.settings), False
        except (PersistenceError, OSError, sqlite3.Error) as exc:
            locked = "database is locked" in str(exc) or "database table is locked" in str(exc)
            if locked and time.monotonic() <= deadline:
                time.sleep(0.02 + 0.08 * random.random())
                continue
            opened = _open_read_only(config)
            if opened is not None:
                return opened, True
            raise StorageError(
                f"cannot open ledger {config.display}: {config.scrub(str(exc))}"
            ) from None


def _open_read_only(config: StoreConfig) -> LedgerApplication | None:
    """A SQLite ledger that exists, opened read-only (``mode=ro``; on a read-only directory
    or mount, where SQLite cannot make its WAL index, ``immutable=1``), or None."""
    if config.backend != "sqlite" or config.path is None or not config.path.is_file():
        return None
    uri = "file:" + quote(str(config.path))
    for mode in ("mode=ro", "immutable=1"):
        settings = {**config.settings, "SQLITE_DBNAME": f"{uri}?{mode}", "CREATE_TABLE": "no"}
        try:
            app = LedgerApplication(env=settings)
            cast(LedgerRecorder, app.recorder).index_position()  # can it really read?
        except (PersistenceError, OSError, sqlite3.Error):
            continue
        return app
    return None


class Ledger:
    """The ledger: append, read, verify.  Open with :meth:`open`; close when done."""

    def __init__(self, config: StoreConfig, clock: Clock | None = None, *,
                 create: bool = True) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self._app, self.read_only = _open(config, create)
        self.recorder = cast(LedgerRecorder, self._app.recorder)
        self.mapper = self._app.mapper
        self._scratch: ScratchTables | None = None
        """Where :meth:`side_tables` go instead of the ledger's database (:meth:`scratch`)."""

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
        self, after: int = 0, until: int | None = None, page: int = PAGE,
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
                record = _fact_record(position, state)
                yield record.position, record.recorded_at, record.hash, record.fact
            if len(rows) < limit:
                return
            cursor = rows[-1][0]

    def facts_at(self, positions: Iterable[int]) -> dict[int, Fact]:
        """The stored facts at these positions (those the ledger holds), each looked up on
        its own: for facts scattered over the ledger, where :meth:`stream` would read every
        record between them."""
        wanted = sorted(set(positions))
        found: dict[int, Fact] = {}
        for start in range(0, len(wanted), POSITIONS_AT_ONCE):
            with self._storage("read"):
                rows = self.recorder.select_states_at(wanted[start:start + POSITIONS_AT_ONCE])
            for position, state in rows:
                found[position] = _fact_record(position, state).fact
        return found

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
        for position, state in self.states(after, until):
            try:
                raw = bytes(RECORD_DECODER.decode(state).fact)
                fact_id = stored_id(raw)
            except (msgspec.MsgspecError, ValueError):
                raise StorageError(
                    f"the record at position {position} cannot be decoded; "
                    "run `compute-ledger verify`"
                ) from None
            yield fact_id, position, content_digest(raw)

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

    def now(self, head: Head | None = None) -> datetime:
        """The clock's now, but never before the head's ``recorded_at`` (of ``head`` if
        given, else read): a clock a little behind the head, within the writers' tolerance,
        must still see every fact, and asking about the head's own time is not the future."""
        now = self.clock.now()
        recorded = (self.head() if head is None else head).recorded_instant
        return recorded if recorded is not None and recorded > now else now

    def position_known_at(self, moment: datetime) -> int:
        """The last position whose ``recorded_at`` is at or before ``moment`` (0 if none): an
        answer no later commit can change.

        ``moment`` may not be later than now (the ledger cannot say yet what it will have
        recorded by then).  ``recorded_at`` increases from batch to batch, so when the head
        was recorded after ``moment`` this is a binary search over what is stored.  When it
        was not, a writer may hold the lock with a batch stamped at or before ``moment`` and
        not yet committed: the reader waits for the write lock (and lets it go) and reads the
        head again.  Any batch that commits after that is stamped after this call began,
        hence after ``moment``.
        """
        head = self.head()
        now = self.now(head)
        if moment > now:
            raise ConfigurationError(
                f"known_at {utc_text(moment)} is later than now ({utc_text(now)}): the "
                "ledger cannot know yet what it will have recorded by then, and an answer "
                "about it would change with every append (leave known_at out to ask about "
                "now)"
            )
        limit = utc_text(moment)
        if head.recorded_at is None or head.recorded_at <= limit:
            if not self.read_only:  # opened read-only: no writer's lock to wait on
                with self._storage("read"):
                    self.recorder.wait_for_writers()
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
        facts: Iterable[Fact | tuple[int, Fact] | Lean],
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

    def admit(
        self,
        facts: Iterable[Fact | tuple[int, Fact] | Lean],
        *,
        progress: Callable[[int], None] | None = None,
    ) -> Admission:
        """What :meth:`append` would do with these facts against the ledger as it stands,
        without writing anything: the facts it would append (with their ids and canonical
        bytes) and how many are duplicates.  Raises :class:`InputError` listing every
        problem, the batch's own and those against the ledger, exactly as ``append`` would."""
        head, new, duplicates = self._decide(prepare(facts, progress), index=False)
        return Admission(head, new, duplicates)

    def _decide(self, batch: Batch, *, index: bool) -> tuple[Head, list[Prepared], int]:
        """The new facts of ``batch`` and its duplicates, against the head as read now (a
        writer brings the fact index up to it first, to look up faster; a reader reads the
        records the index does not cover yet)."""
        head = self.head()
        found: dict[str, tuple[int, bytes]] = {}
        if head.position:
            if index:
                self.sync_index(head.position)
            wanted = {p.fact_id for p in batch.prepared} | batch.targets
            found = self.lookup(wanted, head.position)
        new, duplicates = classify(batch, found, lambda at: self.entry_at(at).fact)
        return head, new, duplicates + batch.duplicates

    def _append(
        self,
        facts: Iterable[Fact | tuple[int, Fact] | Lean],
        progress: Callable[[int], None] | None,
    ) -> AppendResult:
        batch = prepare(facts, progress)
        if self.read_only:
            raise StorageError(
                f"cannot append to ledger {self.config.display}: it can only be read here "
                "(the file, its directory or its mount is read-only)"
            )
        deadline = time.monotonic() + RETRY_FOR
        attempt = 0
        while True:
            attempt += 1
            # What the batch holds that is new is decided against the head as read now,
            # without the lock (the costly part: the index, the lookups); under the lock the
            # head is read again, and if another writer moved it meanwhile, the batch is
            # decided again on the new head.
            head, new, duplicates = self._decide(batch, index=True)
            if not new:
                return AppendResult(0, duplicates, head, None, None, attempt)
            try:
                with self.recorder.writing() as writing:
                    locked = writing.last()
                    if (0 if locked is None else locked[0]) != head.position:
                        raise _HeadMoved
                    # recorded_at is stamped here, holding the write lock until the commit:
                    # no other batch can commit in between, and a reader that must not race
                    # this one waits for the lock (see position_known_at).
                    server = writing.server_time() if self.clock.wall else None
                    recorded_at = stamp(head.recorded_at, self.clock.now(), server)
                    chain = Chain(head.position, head.hash, recorded_at, new)
                    # Streamed: executemany on SQLite, COPY on PostgreSQL; the Merkle tree
                    # grows in the same transaction.
                    leaves: list[bytes] = []
                    writing.insert(_leaves_of(chain.states(), leaves))
                    with _storage_errors():
                        _grow_tree(writing, head.position, leaves)
                    # The fact index grows in the same transaction (the lookups above
                    # brought it up to the head), so no later sync re-reads these records.
                    writing.index(((p.fact_id, at, p.digest) for at, p in
                                   enumerate(new, start=head.position + 1)),
                                  head.position, head.position + len(new))
            except _HeadMoved:
                continue  # another writer committed between the two reads of the head
            except ESIntegrityError as exc:
                # A writer that bypassed the lock took these positions: try again.
                if time.monotonic() > deadline:
                    raise StorageError(
                        f"could not append after {attempt} attempts in {RETRY_FOR:.0f} s: "
                        f"{self.config.scrub(str(exc))}"
                    ) from None
                time.sleep(min(0.2, 0.002 * 2 ** min(attempt, 7)) * (0.5 + random.random()))
                continue
            except _Damaged as exc:
                raise StorageError(str(exc)) from None
            except PersistenceError as exc:
                # A full disk, a lock held past the timeout, a lost connection: at once,
                # never retried as if it were a race.  The transaction was rolled back.
                raise StorageError(
                    f"cannot write to ledger {self.config.display}: "
                    f"{self.config.scrub(str(exc))}; nothing was appended"
                ) from None
            return AppendResult(
                appended=len(new),
                duplicates=duplicates,
                head=Head(head.position + len(new), chain.last_hash, recorded_at),
                first_position=head.position + 1,
                recorded_at=recorded_at,
                attempts=attempt,
            )

    # -- the Merkle tree ---------------------------------------------------------------------

    def tree(self, size: int | None = None) -> TreeView:
        """The Merkle tree of the first ``size`` records (default: all of them), whose root
        and proofs read a handful of stored nodes and, below :data:`STORED_FROM`, of records
        (:mod:`compute_ledger.ledger.merkle`).

        A ledger last written before the tree existed has none until its next append; what
        it lacks is hashed here from the records, and not written: a read writes nothing."""
        target = self.head().position if size is None else size
        with self._storage("read"):
            stored = self.recorder.tree_size() or 0

        def fetch(wanted: set[Node]) -> dict[Node, bytes]:
            with self._storage("read"):
                return node_hashes(wanted, min(stored, target), self.recorder.tree_nodes,
                                   self.states)

        return TreeView(target, fetch)

    def checkpoint(self, origin: str) -> Checkpoint:
        """The tree head of the ledger as it stands: ``origin``, size and root."""
        size = self.head().position
        return Checkpoint(origin, size, self.tree(size).root())

    def extension(self, checkpoint: Checkpoint) -> Extension:
        """The consistency proof that the ledger extends ``checkpoint``, from the stored tree
        (a handful of nodes, the records not re-read); raises :class:`VerificationError`
        if it does not extend it."""
        size = self.head().position
        if checkpoint.size > size:
            raise VerificationError(Breach(
                size + 1, f"record missing: the checkpoint covers {checkpoint.size} records, "
                          f"the ledger holds {size} (records were removed)"))
        tree = self.tree(size)
        root = tree.root()
        proof = tree.consistency(checkpoint.size) if checkpoint.size else []
        if not checkpoint.size and checkpoint.root != EMPTY_ROOT:
            raise VerificationError(Breach(1, "the checkpoint of 0 records does not carry "
                                              "the empty tree's root"))
        if checkpoint.size and not verify_consistency(checkpoint.size, size, checkpoint.root,
                                                      root, proof):
            raise VerificationError(Breach(
                checkpoint.size, f"the ledger does not extend the checkpoint: its first "
                f"{checkpoint.size} records are not the ones checkpointed (a record at or "
                f"before position {checkpoint.size} was altered, removed or reordered, and "
                "the chain and the tree rewritten to match)"))
        return Extension(checkpoint, size, root, proof)

    def states(self, after: int, until: int) -> Iterator[tuple[int, bytes]]:
        """``(position, stored state)`` for positions ``(after, until]``: the bytes ``feed``
        prints for each record, as the Merkle tree's leaves hash them."""
        with self._storage("read"):
            yield from _pages(self.recorder.select_states, after, until)

    # -- tables beside the ledger ------------------------------------------------------------

    @contextmanager
    def side_tables(self, *, write: bool, snapshot: bool = False) -> Iterator[SideCursor]:
        """One transaction on the ledger's database for the projections' own tables; with
        ``snapshot`` (reading only), every read in it sees the database as of its first.

        Nothing here can touch the ledger's records: the projections only read those
        through :meth:`entries`.
        """
        if self._scratch is not None:
            with self._scratch.transaction(write=write) as cursor:
                yield cursor
            return
        with self._storage("write" if write else "read"), \
                self.recorder.side_transaction(write=write, snapshot=snapshot) as cursor:
            yield cursor

    @contextmanager
    def scratch(self) -> Iterator[Ledger]:
        """This ledger's records, with the tables beside them in a scratch SQLite file of
        their own (in the temporary directory, deleted on exit): where ``replay`` rebuilds
        the projections from the records to compare them with the maintained ones,
        writing nothing in the ledger's database, on either backend."""
        from compute_ledger.ledger.sqlite import ScratchTables

        with tempfile.TemporaryDirectory(prefix="compute-ledger-replay-") as folder:
            tables = ScratchTables(Path(folder) / "rebuilt.sqlite3")
            try:
                twin = copy.copy(self)
                twin._scratch = tables
                yield twin
            finally:
                tables.close()

    # -- verifying --------------------------------------------------------------------------

    def verify(self, against: Head | None = None, *,
               checkpoint: Checkpoint | None = None,
               copy: list[bytes] | None = None,
               progress: Callable[[int], None] | None = None) -> VerifyReport:
        """Recompute the chain, check positions, times and the fact index
        (:mod:`compute_ledger.ledger.verification` holds the checks).

        Everything is read in one snapshot of the database, so appends committing meanwhile
        can neither be half-seen nor make the records and the index disagree.  Raises
        :class:`VerificationError` naming the first bad position.  With ``against``, also
        checks that the record at the pinned position still has the pinned hash, so the
        ledger still extends what was pinned.  With ``checkpoint``, also checks with a
        consistency proof from the tree just checked against the records that the ledger
        extends that checkpoint.  With ``copy`` (the records as ``feed`` printed them
        earlier), also that the ledger still holds those records byte for byte, naming the
        first position that differs.  ``progress`` is told of the records checked, page by
        page.
        """
        with self._storage("read"), self.recorder.snapshot():
            report = self._verify(against, progress)
            if copy is not None:
                self._compare(copy, report.head.position)
            report = msgspec.structs.replace(report,
                                             root=self.tree(report.head.position).root())
            if checkpoint is not None:
                report = msgspec.structs.replace(report, extends=self.extension(checkpoint))
            return report

    def _verify(self, against: Head | None,
                progress: Callable[[int], None] | None = None) -> VerifyReport:
        pin = None if against is None else _pin(against)
        verifier = ChainVerifier(pin)
        tree = TreeChecker(self.recorder.tree_size(), STORED_FROM)
        page: list[tuple[int, str, bytes]] = []
        indexed = self.recorder.index_position()
        cursor = 0
        while True:
            rows = self.recorder.select_records(cursor, PAGE)
            for at, topic, state in rows:
                try:
                    page.append(verifier.check(at, topic, state))
                except VerificationError:
                    # A record rewritten with its hash recomputed breaks the link of the
                    # next one; the fact index and the Merkle tree still hold the old
                    # content's digests and name it first.
                    self._check_index(page, upto=min(at - 1, indexed))
                    self._check_tree(tree)
                    raise
                tree.add(state)
                if len(page) == PAGE:
                    self._check_index(page, upto=indexed)
                    self._check_tree(tree)
                    page = []
            if progress is not None:
                progress(len(rows))
            if len(rows) < PAGE:
                break
            cursor = rows[-1][0]
        self._check_index(page, upto=indexed)
        self._check_tree(tree)
        head = Head(verifier.position, verifier.prev, verifier.last_recorded or None)
        orphan = self.recorder.index_first_after(min(head.position, indexed))
        entries = self.recorder.index_size()
        tail_breach(head.position, indexed, orphan, entries, pin)
        tree.finish(head.position, self.recorder.tree_count())
        return VerifyReport(head=head, checked=head.position, against=against,
                            tree_size=tree.size)

    def _compare(self, copy: list[bytes], head: int) -> None:
        """Raise at the first position where the ledger's record is not the copy's."""
        for position, state in self.states(0, min(head, len(copy))):
            if state != copy[position - 1]:
                raise VerificationError(Breach(
                    position, "the record differs from the copy kept (it was altered, or "
                              "records before it were removed or reordered)"))
        if len(copy) > head:
            raise VerificationError(Breach(
                head + 1, f"record missing: the copy kept holds {len(copy)} records, the "
                          f"ledger {head}"))

    def _check_tree(self, tree: TreeChecker) -> None:
        """Raise at the first record the stored Merkle tree disagrees with (so far)."""
        expected = tree.pending()
        if expected:
            tree.compare(expected, self.recorder.tree_nodes(list(expected)))

    def _check_index(self, page: list[tuple[int, str, bytes]], upto: int) -> None:
        """Raise at the first record (up to position ``upto``) the fact index disagrees with."""
        rows = [row for row in page if row[0] <= upto]
        if not rows:
            return
        found = self.recorder.index_lookup([i for _, i, _ in rows], size_hint=1 << 62)
        index_breach(rows, found)


def _leaves_of(states: Iterable[tuple[int, bytes]], leaves: list[bytes]
               ) -> Iterator[tuple[int, bytes]]:
    """The records, passed on as they are written, each one's leaf hash kept in ``leaves``."""
    for position, state in states:
        leaves.append(leaf_hash(state))
        yield position, state


@contextmanager
def _storage_errors() -> Iterator[None]:
    """Let a StorageError out of the write block as it is (the append retries races only)."""
    try:
        yield
    except StorageError as exc:
        raise _Damaged(str(exc)) from None


class _Damaged(PersistenceError):
    """Derived data the append maintains is damaged: no retry, the message says why."""


def _grow_tree(writing: Writing, size: int, leaves: list[bytes]) -> None:
    """Add the leaves of the records just written after the first ``size`` ones to the
    Merkle tree: the nodes they complete from :data:`STORED_FROM` up, and the size the tree
    now covers, in the append's transaction.  A tree that covers fewer than ``size`` records
    (a ledger last written before the tree existed) is first brought up to ``size`` from
    the stored records."""
    recorded = writing.tree_size()
    stored = recorded or 0
    if stored > size:
        raise StorageError(
            f"the Merkle tree covers {stored} records but the ledger holds {size}: records "
            "were removed; run `compute-ledger verify`; nothing was appended")

    def read(after: int, until: int) -> Iterator[tuple[int, bytes]]:
        return _pages(writing.states, after, until)

    backlog = [leaf_hash(state) for _, state in read(stored, size)]
    keys = cover(0, stored)
    found = node_hashes(set(keys), stored, writing.tree_nodes, read)
    frontier = [(key, found[key]) for key in keys]
    try:
        writing.insert_nodes(extend(frontier, stored, [*backlog, *leaves], STORED_FROM),
                             size + len(leaves))
    except TreeConflict:
        # Under the write lock no one else grows the tree: a node already there is damage,
        # not a race to retry.
        raise StorageError("the Merkle tree holds nodes beyond the records it covers: it was "
                           "altered; run `compute-ledger verify`; nothing was appended") from None


STORED_FROM = 4
"""The lowest level of the Merkle tree that is stored: a node over 16 records and up, an
eighth of a row per record.  A proof's nodes below it lie within one block of 16 records
and are hashed from those records when asked for."""


def node_hashes(wanted: set[Node], stored: int,
                fetch: Callable[[Collection[Node]], dict[Node, bytes]],
                read: Callable[[int, int], Iterable[tuple[int, bytes]]]) -> dict[Node, bytes]:
    """The hashes of these nodes: those the tree stores (from :data:`STORED_FROM` up, over
    the first ``stored`` records) from ``fetch``; the others hashed from the records under
    them (``read(after, until)`` gives ``(position, stored state)``)."""
    kept = {(level, index) for level, index in wanted
            if level >= STORED_FROM and (index + 1) << level <= stored}
    found = fetch(kept) if kept else {}
    if len(found) != len(kept):
        level, index = min(kept - found.keys(), key=lambda n: n[1] << n[0])
        raise StorageError(f"the Merkle tree is missing its node over positions "
                           f"{(index << level) + 1}-{(index + 1) << level}; run "
                           "`compute-ledger verify`")
    rest = sorted(wanted - kept, key=lambda n: (n[1] << n[0], -n[0]))
    leaves: dict[int, bytes] = {}
    for start, end in _merged([(i << lv, (i + 1) << lv) for lv, i in rest]):
        for position, state in read(start, end):
            leaves[position - 1] = leaf_hash(state)
    for level, index in rest:
        span = range(index << level, (index + 1) << level)
        if all(leaf in leaves for leaf in span):
            found[(level, index)] = subtree([leaves[leaf] for leaf in span])
    return found


def _pages(select: Callable[[int, int], list[tuple[int, bytes]]], after: int, until: int
           ) -> Iterator[tuple[int, bytes]]:
    """``(position, stored state)`` for positions ``(after, until]``, read page by page with
    ``select(after, limit)``."""
    while after < until:
        rows = select(after, min(PAGE * 5, until - after))
        if not rows:
            return
        yield from rows
        after = rows[-1][0]


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _pin(head: Head) -> Pin:
    """A head to verify against, as :func:`parse_pin` would accept it (a ``Head`` built in
    Python may hold anything: an empty hash would be a prefix of every hash)."""
    try:
        checked = parse_pin(f"{head.position}:{head.hash}")
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    return Pin(checked.position, checked.hash)


PIN_DIGITS = 12
"""The fewest hex digits of a pinned hash accepted (as the 12 that human output shows)."""


def parse_pin(text: str) -> Head:
    """Parse a pinned head ``POSITION:HASH`` (as printed by ``digest``).  Like git, the hash
    may be any prefix of at least :data:`PIN_DIGITS` hex digits, in either case (the head
    that human output shows); a pin holds when the hash at ``POSITION`` starts with it."""
    position, sep, digest = text.strip().partition(":")
    digest = digest.lower()
    if not sep or not position.isdigit() or not PIN_DIGITS <= len(digest) <= 64 or not all(
        c in "0123456789abcdef" for c in digest
    ):
        raise ValueError(
            f"{text!r} is not a pinned head; expected POSITION:HASH as printed by "
            f"`compute-ledger digest` (e.g. 12:3f5a...; the hash, or its first {PIN_DIGITS} "
            "or more hex digits)"
        )
    return Head(int(position), digest)
