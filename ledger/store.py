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
* Beside the events the recorder keeps ``*_index`` (position, fact id, recorded_at, content
  digest), written in the same transaction, with a unique key on the fact id.  It makes
  duplicate detection and ``--known-at`` lookups cheap, and ``verify`` checks it against the
  records.
* SQLite and PostgreSQL run the same code; only the recorder subclass differs.  Nothing is
  opened at import time.

No code path here updates or deletes a stored record.
"""

from __future__ import annotations

import gc
import random
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
    canonical_bytes,
    decode_fact,
    decoder,
    with_id,
)
from ledger.instants import from_utc_text, utc_text

LEDGER_ID = UUID("5e1f0c2a-7d3b-4c8e-9a6f-2b7d41c0e9a3")
"""The one aggregate sequence that holds the ledger."""

RECORD_TOPIC = "compute-ledger/record@1"
"""The stored topic of a record: explicit and versioned, so no rename can orphan history."""

PAGE = 2000


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


_RECORD_ENCODER = msgspec.json.Encoder(order="sorted")
_RECORD_DECODER = msgspec.json.Decoder(Record)
_FACT_RECORD_DECODER = decoder(_FactRecord)


def record_json(record: Record) -> bytes:
    """A stored record as JSON: exactly the bytes the store holds for it."""
    return _RECORD_ENCODER.encode(record)


class RecordMapper(Mapper[UUID]):
    """eventsourcing mapper that stores :class:`Record` structs as msgspec JSON."""

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        record = cast(Record, domain_event)
        return StoredEvent(
            originator_id=LEDGER_ID,
            originator_version=record.position,
            topic=RECORD_TOPIC,
            state=_RECORD_ENCODER.encode(record),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        if stored_event.topic != RECORD_TOPIC:
            raise MapperDeserialisationError(
                f"unknown topic {stored_event.topic!r} at position "
                f"{stored_event.originator_version}"
            )
        try:
            return _RECORD_DECODER.decode(stored_event.state)
        except msgspec.MsgspecError as exc:
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

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {self.index_table} ("
            "fact_id TEXT PRIMARY KEY, position INTEGER NOT NULL, digest BLOB NOT NULL"
            ") WITHOUT ROWID",
        ]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Iterable[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        c.executemany(
            self.insert_events_statement,
            (
                (s.originator_id.hex if isinstance(s.originator_id, UUID) else s.originator_id,
                 s.originator_version, s.topic, s.state)
                for s in stored_events
            ),
        )
        rows: list[IndexRow] = kwargs.get("index_rows", [])
        if rows:
            c.executemany(f"INSERT INTO {self.index_table} VALUES (?,?,?)", rows)
        return None  # positions, not notification ids, order the ledger

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

    def select_states(self, after: int, limit: int) -> list[tuple[int, bytes]]:
        """(position, stored state) after a position, in order: the fast path for replays."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT originator_version, state FROM {self.events_table_name} "
                "WHERE originator_id = ? AND originator_version > ? "
                "ORDER BY originator_version LIMIT ?",
                (LEDGER_ID.hex, after, limit),
            )
            return [(row[0], row[1]) for row in c.fetchall()]


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
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {0} (fact_id text PRIMARY KEY, "
                "position bigint NOT NULL, digest bytea NOT NULL)"
            ).format(table)
        )
        self._insert_index = SQL(
            "INSERT INTO {0} (fact_id, position, digest) VALUES (%s, %s, %s)"
        ).format(table)

    def insert_events(
        self, stored_events: Iterable[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids: Sequence[int] | None = super().insert_events(list(stored_events), **kwargs)
        return ids

    def _insert_stored_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        super()._insert_stored_events(curs, stored_events, **kwargs)
        rows: list[IndexRow] = kwargs.get("index_rows", [])
        if rows:
            with curs.connection.cursor() as other:
                other.executemany(self._insert_index, rows)

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
    digest: bytes


MAX_ATTEMPTS = 40


class Ledger:
    """The ledger: append, read, verify.  Open with :meth:`open`; close when done."""

    def __init__(self, config: StoreConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        try:
            self._app = LedgerApplication(env=_application_settings(config))
        except (PersistenceError, OSError) as exc:
            raise StorageError(
                f"cannot open ledger {config.display}: {config.scrub(str(exc))}"
            ) from None
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
            except msgspec.MsgspecError:
                raise StorageError(
                    f"the fact at position {record.position} cannot be decoded; "
                    "run `compute-ledger verify`"
                ) from None
            yield Entry(record.position, record.recorded_at, record.hash, record.prev, fact, raw)

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
                except msgspec.MsgspecError:
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
        with self._storage("read"):
            hit = self.recorder.index_lookup([fact_id], size_hint=1 << 62)
        if fact_id not in hit:
            return None
        return self.entry_at(hit[fact_id][0])

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
        collecting = gc.isenabled()
        gc.disable()  # a bulk append creates many objects and no cycles
        try:
            prepared, in_batch, problems = _prepare(facts, progress)
            for attempt in range(1, MAX_ATTEMPTS + 1):
                head = self.head()
                new, duplicates = self._classify(prepared, head, problems)
                if not new:
                    return AppendResult(0, duplicates + in_batch, head, None, None, attempt)
                recorded_at = utc_text(self.clock.now())
                if head.recorded_at is not None and recorded_at < head.recorded_at:
                    recorded_at = head.recorded_at  # never decreases along the ledger
                chain = _Chain(head, recorded_at, new)
                try:
                    # A lazy sequence: the SQLite recorder streams it into executemany.
                    stored = cast(Sequence[StoredEvent],
                                  map(self.mapper.to_stored_event, chain.records()))
                    self.recorder.insert_events(stored, index_rows=chain.index_rows())
                except (ESIntegrityError, ESOperationalError) as exc:
                    if attempt == MAX_ATTEMPTS:
                        raise StorageError(
                            f"could not append after {attempt} attempts: "
                            f"{self.config.scrub(str(exc))}"
                        ) from None
                    time.sleep(min(0.5, 0.005 * 2 ** min(attempt, 7)) * (0.5 + random.random()))
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
            raise AssertionError("unreachable")
        finally:
            if collecting:
                gc.enable()

    def _classify(
        self, prepared: list[_Prepared], head: Head, problems: list[Problem]
    ) -> tuple[list[_Prepared], int]:
        problems = list(problems)
        targets = {t for p in prepared if (t := _target(p.fact)) is not None}
        found: dict[str, tuple[int, bytes]] = {}
        if head.position:
            wanted = {p.fact_id for p in prepared} | targets
            with self._storage("read"):
                found = self.recorder.index_lookup(wanted, size_hint=head.position)
        new: list[_Prepared] = []
        duplicates = 0
        for p in prepared:
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
        earlier: dict[str, Fact] = {}
        for p in new:
            target = _target(p.fact)
            if target is not None:
                original = earlier.get(target)
                if original is None and target in found:
                    original = self.entry_at(found[target][0]).fact
                problems += _target_problem(p, target, original)
            earlier[p.fact_id] = p.fact
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
        for stored in self._stored(0, None, PAGE):
            at = stored.originator_version
            if at != expected:
                _breach(expected, f"record missing (the next stored record is at position {at})")
            try:
                record = cast(Record, self.mapper.to_domain_event(stored))
            except MapperDeserialisationError:
                _breach(at, "the stored record cannot be decoded")
            if record.position != at:
                _breach(at, f"the record stored here claims position {record.position}")
            if record.prev != prev:
                _breach(at, "the record does not link to the one before it (prev hash differs)")
            raw = bytes(record.fact)
            if link_hash(prev, at, record.recorded_at, raw) != record.hash:
                _breach(at, "the stored hash does not match the record's content")
            if record.recorded_at < last_recorded:
                _breach(at, "recorded_at goes backwards")
            try:
                fact = decode_fact(raw)
            except msgspec.MsgspecError:
                _breach(at, "the fact cannot be decoded")
            if against is not None and at == against.position and record.hash != against.hash:
                _breach(at, "the hash differs from the pinned one: history was rewritten")
            assert fact.id is not None
            page.append((at, fact.id, content_digest(raw)))
            if len(page) == PAGE:
                self._check_index(page)
                page = []
            prev, last_recorded, expected = record.hash, record.recorded_at, expected + 1
        self._check_index(page)
        head = Head(expected - 1, prev, last_recorded or None)
        with self._storage("read"):
            indexed = self.recorder.index_size()
        if indexed != head.position:
            _breach(head.position, f"the fact index holds {indexed} entries for {head.position} "
                                   "records")
        if against is not None and against.position > head.position:
            _breach(
                head.position + 1,
                f"the pinned position {against.position} is beyond the head "
                f"({head.position}): records were removed",
            )
        return VerifyReport(head=head, checked=head.position, against=against)

    def _check_index(self, page: list[tuple[int, str, bytes]]) -> None:
        if not page:
            return
        with self._storage("read"):
            found = self.recorder.index_lookup([i for _, i, _ in page], size_hint=1 << 62)
        for position, fact_id, digest in page:
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

    def records(self) -> Iterator[Record]:
        prev, position, recorded_at = self._head.hash, self._head.position, self._recorded_at
        for p in self._new:
            position += 1
            digest = link_hash(prev, position, recorded_at, p.raw)
            yield Record(position, recorded_at, prev, digest, msgspec.Raw(p.raw))
            prev = digest
        self.last_hash = prev

    def index_rows(self) -> list[IndexRow]:
        start = self._head.position + 1
        return [(p.fact_id, position, p.digest) for position, p in enumerate(self._new, start)]


def _prepare(
    facts: Iterable[Fact] | Iterable[tuple[int, Fact]],
    progress: Callable[[int], None] | None,
) -> tuple[list[_Prepared], int, list[Problem]]:
    """Ids, canonical bytes and digests; duplicates and id clashes inside the batch."""
    prepared: list[_Prepared] = []
    seen: dict[str, _Prepared] = {}
    duplicates = 0
    problems: list[Problem] = []
    for number, item in enumerate(facts, start=1):
        line, fact = item if isinstance(item, tuple) else (number, item)
        fact = with_id(fact)
        raw = canonical_bytes(fact)
        fact_id = cast(str, fact.id)
        here = _Prepared(line, fact, fact_id, raw, content_digest(raw))
        earlier = seen.get(fact_id)
        if earlier is None:
            seen[fact_id] = here
            prepared.append(here)
        elif earlier.digest == here.digest:
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
    if isinstance(fact, Correction):
        return fact.corrects
    if isinstance(fact, Retraction):
        return fact.retracts
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
