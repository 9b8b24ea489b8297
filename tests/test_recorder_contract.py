"""The ledger's recorders keep eventsourcing's recorder contract: eventsourcing's own
``ApplicationRecorderTestCase`` runs against each of them, as eventsourcing's suite runs it
against its own SQLite and PostgreSQL recorders."""

from __future__ import annotations

import itertools
from pathlib import Path

import pg
import pytest
from eventsourcing.sqlite import SQLiteDatastore
from eventsourcing.tests.persistence import ApplicationRecorderTestCase

from compute_ledger.ledger.persistence import LedgerRecorder
from compute_ledger.ledger.sqlite import LedgerSQLiteRecorder

_numbers = itertools.count()


class TestLedgerSQLiteRecorder(ApplicationRecorderTestCase[LedgerSQLiteRecorder]):
    folder: Path

    @pytest.fixture(autouse=True)
    def _folder(self, tmp_path: Path) -> None:
        self.folder = tmp_path

    def create_recorder(self) -> LedgerSQLiteRecorder:
        datastore = SQLiteDatastore(db_name=str(self.folder / f"r{next(_numbers)}.sqlite3"))
        recorder = LedgerSQLiteRecorder(datastore)
        recorder.create_table()
        assert isinstance(recorder, LedgerRecorder)
        return recorder


@pytest.mark.postgres
class TestLedgerPostgresRecorder(ApplicationRecorderTestCase[LedgerRecorder]):
    server: pg.Server
    dbname: str

    @pytest.fixture(autouse=True)
    def _database(self, pg_server: pg.Server) -> object:
        self.server = pg_server
        self.dbname = pg_server.create_database()
        yield None
        pg_server.drop_database(self.dbname)

    def create_recorder(self) -> LedgerRecorder:
        from eventsourcing.postgres import PostgresDatastore

        from compute_ledger.ledger.postgres import LedgerPostgresRecorder

        datastore = PostgresDatastore(
            dbname=self.dbname, host=self.server.host, port=str(self.server.port),
            user=self.server.user, password=self.server.password,
        )
        self.addCleanup(datastore.close)
        recorder = LedgerPostgresRecorder(datastore)
        recorder.create_table()
        return recorder
