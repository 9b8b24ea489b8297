"""The ledger on PostgreSQL: eventsourcing's PostgreSQL application recorder, plus the fact
index.  Only a ledger given as a ``postgresql://`` URL imports this module (and psycopg).

``PERSISTENCE_MODULE=compute_ledger.ledger.postgres`` names this module; eventsourcing finds
its one infrastructure factory, :class:`Factory`, which builds :class:`LedgerPostgresRecorder`.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

import psycopg
from eventsourcing import postgres as es_postgres
from psycopg import Cursor
from psycopg.errors import DuplicateObject, UniqueViolation
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from compute_ledger.ledger.config import StoreConfig
from compute_ledger.ledger.errors import (
    NO_LEDGER_HINT,
    ConfigurationError,
    NotFoundError,
    StorageError,
)
from compute_ledger.ledger.persistence import (
    LEDGER_ID,
    RECORD_TOPIC,
    SCHEMA_LOCK,
    IndexRow,
    LedgerRecorder,
    NodeRow,
    SideCursor,
    TreeConflict,
)


class LedgerPostgresRecorder(es_postgres.PostgresApplicationRecorder, LedgerRecorder):
    """eventsourcing's PostgreSQL application recorder, plus the fact index."""

    backend = "postgresql"

    def __init__(self, datastore: es_postgres.PostgresDatastore, *,
                 events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.index_table = events_table_name.removesuffix("_events") + "_index"
        self.check_identifier_length(self.index_table)
        schema = Identifier(self.datastore.schema)
        self._index = SQL("{0}.{1}").format(schema, Identifier(self.index_table))
        self._index_state = SQL("{0}.{1}").format(
            schema, Identifier(self.index_table + "_state"))
        self._events = SQL("{0}.{1}").format(schema, Identifier(self.events_table_name))
        tree_table = events_table_name.removesuffix("_events") + "_tree"
        self.check_identifier_length(tree_table)
        self._tree = SQL("{0}.{1}").format(schema, Identifier(tree_table))
        self._tree_state = SQL("{0}.{1}").format(schema, Identifier(tree_table + "_state"))
        self.sql_create_statements += [
            SQL(
                "CREATE TABLE IF NOT EXISTS {0} (fact_id text PRIMARY KEY, "
                "position bigint NOT NULL, digest bytea NOT NULL)"
            ).format(self._index),
            SQL(
                "CREATE TABLE IF NOT EXISTS {0} (singleton integer PRIMARY KEY "
                "CHECK (singleton = 1), position bigint NOT NULL)"
            ).format(self._index_state),
            SQL("INSERT INTO {0} VALUES (1, 0) ON CONFLICT DO NOTHING").format(
                self._index_state),
            SQL(
                "CREATE TABLE IF NOT EXISTS {0} (level smallint NOT NULL, idx bigint NOT NULL, "
                "hash bytea NOT NULL, PRIMARY KEY (level, idx))"
            ).format(self._tree),
            SQL(
                "CREATE TABLE IF NOT EXISTS {0} (singleton integer PRIMARY KEY "
                "CHECK (singleton = 1), size bigint NOT NULL)"
            ).format(self._tree_state),
        ]
        # The write lock: an advisory lock named after this ledger's table, taken exclusively
        # by writers and shared by readers that must not race one (advisory locks need no
        # privilege, so a read-only role can wait on it too).
        qualified = f"{self.datastore.schema}.{self.events_table_name}".encode()
        self.writer_lock = int.from_bytes(hashlib.sha256(qualified).digest()[:8], "big",
                                          signed=True)
        self._insert_index = SQL(
            "INSERT INTO {0} (fact_id, position, digest) VALUES (%s, %s, %s) "
            "ON CONFLICT DO NOTHING"
        ).format(self._index)

    def create_table(self) -> None:
        """Create the types and tables as eventsourcing does, but on one connection that
        holds an advisory lock: PostgreSQL's CREATE ... IF NOT EXISTS is not safe when
        several processes open a new ledger at once.  One connection, so that a pool of one
        (eventsourcing's default) cannot deadlock on itself."""
        with self.datastore.get_connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
            try:
                for statement in self.sql_create_statements:
                    if "CREATE TYPE" in statement.as_string():
                        with contextlib.suppress(DuplicateObject), conn.transaction():
                            conn.execute(statement, prepare=False)
                with conn.transaction(), conn.cursor() as curs:
                    self._create_table(curs)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))
        self.datastore.register_type_adapters()

    @contextmanager
    def change_waiter(self) -> Iterator[Callable[[float], None]]:
        """LISTEN on the channel every insert NOTIFYs (eventsourcing's, committed with the
        records)."""
        with self.datastore.get_connection() as conn:
            conn.execute(SQL("LISTEN {0}").format(Identifier(self.channel_name)))

            def wait(timeout: float) -> None:
                for _ in conn.notifies(timeout=timeout, stop_after=1):
                    pass

            try:
                yield wait
            finally:
                conn.execute(SQL("UNLISTEN {0}").format(Identifier(self.channel_name)))

    @contextmanager
    def writing(self) -> Iterator[_PostgresWriting]:
        """One transaction holding the ledger's advisory write lock and eventsourcing's
        table lock (so eventsourcing's own writers are held off too), notifying listeners
        when it commits."""
        with self.datastore.get_connection() as conn, conn.transaction(), \
                conn.cursor() as curs:
            curs.execute("SELECT pg_advisory_xact_lock(%s)", (self.writer_lock,))
            self._lock_table(curs)
            self._notify_channel(curs)
            yield _PostgresWriting(self, curs)

    def wait_for_writers(self) -> None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute("SELECT pg_advisory_xact_lock_shared(%s)", (self.writer_lock,))

    @contextmanager
    def _read_transaction(self, *, snapshot: bool) -> Iterator[Cursor[DictRow]]:
        """A read transaction; with ``snapshot``, REPEATABLE READ, READ ONLY: every read in
        it sees the database as of its first statement."""
        with self.datastore.transaction(commit=False) as curs:
            if snapshot:
                curs.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield curs

    def _page(self, columns: str, after: int, limit: int) -> list[DictRow]:
        """``originator_version`` and ``columns`` of the records after ``after``, in order."""
        with self._reading() as curs:
            curs.execute(
                SQL("SELECT originator_version, " + columns + " FROM {0} WHERE "
                    "originator_id = %s AND originator_version > %s "
                    "ORDER BY originator_version LIMIT %s").format(self._events),
                (LEDGER_ID, after, limit),
            )
            rows: list[DictRow] = curs.fetchall()
            return rows

    def select_records(self, after: int, limit: int) -> list[tuple[int, str, bytes]]:
        return [(int(r["originator_version"]), str(r["topic"]), bytes(r["state"]))
                for r in self._page("topic, state", after, limit)]

    def select_states(self, after: int, limit: int) -> list[tuple[int, bytes]]:
        return [(int(r["originator_version"]), bytes(r["state"]))
                for r in self._page("state", after, limit)]

    def select_states_at(self, positions: Sequence[int]) -> list[tuple[int, bytes]]:
        with self._reading() as curs:
            curs.execute(
                SQL("SELECT originator_version, state FROM {0} WHERE originator_id = %s "
                    "AND originator_version = ANY(%s)").format(self._events),
                (LEDGER_ID, list(positions)),
            )
            return [(int(r["originator_version"]), bytes(r["state"])) for r in curs.fetchall()]

    def index_position(self) -> int:
        with self._reading() as curs:
            curs.execute(SQL("SELECT position FROM {0}").format(self._index_state))
            row = curs.fetchone()
            assert row is not None, "the index state row is created with the tables"
            return int(row["position"])

    def index_extend(self, rows: list[IndexRow], upto: int) -> None:
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
        if not fact_ids:
            return {}
        with self._reading() as curs:
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
        with self._reading() as curs:
            curs.execute(SQL("SELECT COUNT(*) AS n FROM {0}").format(self._index))
            row = curs.fetchone()
            return int(row["n"]) if row else 0

    def index_first_after(self, position: int) -> int | None:
        with self._reading() as curs:
            curs.execute(
                SQL("SELECT MIN(position) AS p FROM {0} WHERE position > %s").format(self._index),
                (position,),
            )
            row = curs.fetchone()
            return None if row is None or row["p"] is None else int(row["p"])

    def _tree_size(self, curs: Cursor[DictRow]) -> int | None:
        curs.execute(SQL("SELECT size FROM {0}").format(self._tree_state))
        row = curs.fetchone()
        return None if row is None else int(row["size"])

    def _tree_nodes(self, curs: Cursor[DictRow], nodes: Collection[tuple[int, int]]
                    ) -> dict[tuple[int, int], bytes]:
        if not nodes:
            return {}
        levels, indexes = zip(*nodes, strict=True)
        curs.execute(
            SQL("SELECT t.level, t.idx, t.hash FROM {0} t JOIN "
                "unnest(%s::smallint[], %s::bigint[]) AS k(level, idx) "
                "ON t.level = k.level AND t.idx = k.idx").format(self._tree),
            (list(levels), list(indexes)),
        )
        return {(int(r["level"]), int(r["idx"])): bytes(r["hash"]) for r in curs.fetchall()}

    def tree_size(self) -> int | None:
        with self._reading() as curs:
            return self._tree_size(curs)

    def tree_nodes(self, nodes: Collection[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        with self._reading() as curs:
            return self._tree_nodes(curs, nodes)

    def tree_count(self) -> int:
        with self._reading() as curs:
            curs.execute(SQL("SELECT COUNT(*) AS n FROM {0}").format(self._tree))
            row = curs.fetchone()
            return int(row["n"]) if row else 0

    @contextmanager
    def side_transaction(self, *, write: bool, snapshot: bool = False) -> Iterator[SideCursor]:
        with self.datastore.transaction(commit=write) as cursor:
            if snapshot and not write:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield SideCursor(cursor, self.backend)


class _PostgresWriting:
    """:class:`~compute_ledger.ledger.persistence.Writing` on PostgreSQL.

    Records are sent with COPY: eventsourcing's own insert sends a batch as one array
    parameter in pipeline mode, which stalls (client and server each waiting on the other)
    once a batch is some megabytes; COPY streams it.  The unique key on (originator_id,
    originator_version) still turns a position taken behind the lock's back into
    eventsourcing's ``IntegrityError``."""

    def __init__(self, recorder: LedgerPostgresRecorder, curs: Cursor[DictRow]) -> None:
        self._recorder = recorder
        self._curs = curs

    def last(self) -> tuple[int, bytes] | None:
        self._curs.execute(
            SQL("SELECT originator_version, state FROM {0} WHERE originator_id = %s "
                "ORDER BY originator_version DESC LIMIT 1").format(self._recorder._events),
            (LEDGER_ID,),
        )
        row = self._curs.fetchone()
        return None if row is None else (int(row["originator_version"]), bytes(row["state"]))

    def server_time(self) -> datetime | None:
        self._curs.execute("SELECT clock_timestamp() AS now")
        row = self._curs.fetchone()
        assert row is not None
        moment: datetime = row["now"]
        return moment

    def insert(self, states: Iterable[tuple[int, bytes]]) -> None:
        copy = SQL(
            "COPY {0} (originator_id, originator_version, topic, state) "
            "FROM STDIN (FORMAT BINARY)"
        ).format(self._recorder._events)
        with self._curs.copy(copy) as out:
            out.set_types([self._recorder.datastore.originator_id_type, "int8", "text",
                           "bytea"])
            for position, state in states:
                out.write_row((LEDGER_ID, position, RECORD_TOPIC, state))

    def states(self, after: int, limit: int) -> list[tuple[int, bytes]]:
        self._curs.execute(
            SQL("SELECT originator_version, state FROM {0} WHERE originator_id = %s AND "
                "originator_version > %s ORDER BY originator_version LIMIT %s"
                ).format(self._recorder._events),
            (LEDGER_ID, after, limit),
        )
        return [(int(r["originator_version"]), bytes(r["state"])) for r in self._curs.fetchall()]

    def tree_size(self) -> int | None:
        return self._recorder._tree_size(self._curs)

    def tree_nodes(self, nodes: Collection[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        return self._recorder._tree_nodes(self._curs, nodes)

    def insert_nodes(self, rows: Iterable[NodeRow], size: int) -> None:
        copy = SQL("COPY {0} (level, idx, hash) FROM STDIN (FORMAT BINARY)").format(
            self._recorder._tree)
        try:
            with self._curs.copy(copy) as out:
                out.set_types(["int2", "int8", "bytea"])
                for row in rows:
                    out.write_row(row)
        except UniqueViolation:
            raise TreeConflict from None
        self._curs.execute(
            SQL("INSERT INTO {0} VALUES (1, %s) ON CONFLICT (singleton) DO UPDATE SET "
                "size = excluded.size").format(self._recorder._tree_state), (size,))

    def index(self, rows: Iterable[IndexRow], after: int, upto: int) -> bool:
        self._curs.execute(SQL("UPDATE {0} SET position = %s WHERE position = %s").format(
            self._recorder._index_state), (upto, after))
        if self._curs.rowcount != 1:
            return False
        self._curs.executemany(self._recorder._insert_index, rows)
        return True


class Factory(es_postgres.PostgresFactory):
    """eventsourcing's PostgreSQL factory, building the ledger's recorder."""

    application_recorder_class = LedgerPostgresRecorder

    def application_recorder(self) -> LedgerPostgresRecorder:
        prefix = self.env.name.lower() or "stored"
        recorder = LedgerPostgresRecorder(datastore=self.datastore,
                                          events_table_name=prefix + "_events")
        if self.env_create_table():
            recorder.create_table()
        return recorder



_REFUSED_LOGIN = ("password authentication failed", "no password supplied",
                  "authentication failed", "role \"")
_UNREACHABLE = ("connection refused", "could not translate host name", "timeout expired",
                "no route to host", "network is unreachable", "could not connect",
                "name or service not known", "temporary failure in name resolution")


def probe(config: StoreConfig, required: str | None = None) -> None:
    """Connect once, directly, before eventsourcing's pool does: the pool retries every
    failure until its timeout and then reports them all alike, so a wrong password would read
    like a server that is down, ten seconds later.  Raises :class:`ConfigurationError` for a
    login the server refuses or a database it does not have, :class:`StorageError` for a
    server that cannot be reached; the message never holds the password.  With ``required``
    (the ledger's events table), a database without that table is refused with
    :class:`NotFoundError`, on the same connection, creating nothing."""
    settings = config.settings
    schema = settings.get("POSTGRES_SCHEMA") or "public"
    try:
        with psycopg.connect(
            dbname=settings["POSTGRES_DBNAME"], host=settings["POSTGRES_HOST"],
            port=settings["POSTGRES_PORT"], user=settings["POSTGRES_USER"],
            password=settings["POSTGRES_PASSWORD"] or None,  # None: libpq reads ~/.pgpass
            connect_timeout=settings.get("POSTGRES_CONNECT_TIMEOUT", "10"),
        ) as connection:
            found = None if required is None else connection.execute(
                "SELECT to_regclass(%s)", (f"{schema}.{required}",)).fetchone()
    except psycopg.OperationalError as exc:
        text = config.scrub(str(exc)).strip()
        lowered = text.lower()
        # libpq says 'connection failed: connection to server at "h", port p failed: FATAL:
        # why' and may add hints on more lines: keep the why.
        first = text.splitlines()[0] if text else "no reason given"
        reason = first.rsplit("FATAL:", 1)[-1].rsplit(" failed: ", 1)[-1].strip()
        where = f"{settings['POSTGRES_HOST']}:{settings['POSTGRES_PORT']}"
        if any(marker in lowered for marker in _REFUSED_LOGIN):
            raise ConfigurationError(
                f"the PostgreSQL server at {where} refused the login for ledger "
                f"{config.display}: {reason} (give the password with PGPASSWORD, ~/.pgpass, "
                "or a password file: see docs/operating.md)"
            ) from None
        if "does not exist" in lowered:
            raise ConfigurationError(f"cannot open ledger {config.display}: {reason}") from None
        if any(marker in lowered for marker in _UNREACHABLE):
            raise StorageError(
                f"cannot reach the PostgreSQL server at {where} for ledger {config.display}: "
                f"{reason}"
            ) from None
        raise StorageError(f"cannot open ledger {config.display}: {reason}") from None
    if required is not None and (found is None or found[0] is None):
        raise NotFoundError(f"no ledger at {config.display}: the database has no "
                            f"{schema}.{required} table ({NO_LEDGER_HINT})")
