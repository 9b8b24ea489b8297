"""A writer killed with SIGKILL in the middle of a 100,000-fact batch leaves all of the batch or
none of it, and the ledger still verifies and still takes appends.

The writer is a separate process (``python -c``) that appends the whole batch in one call.
It is killed at chosen points of its write phase, found by watching the database from the
outside: on SQLite, the size of the ``-wal`` file the open transaction grows; on PostgreSQL,
the statement its backend is running (``pg_stat_activity``: the records' COPY, the fact
index's INSERT, both in the append's transaction).  Also at a random moment, and
after the commit but before the ledger was closed.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pg
import pytest

from compute_ledger.projections.api import ComputeLedger, bundled_record

pytestmark = pytest.mark.slow

BATCH = 100_000
PRE = len(bundled_record().splitlines())
"""The ledger holds the bundled public record before the batch."""

WAIT = 120.0

# Opens the ledger, reads the batch, says "start", appends it in one call (the records, the
# Merkle tree and the fact index in one transaction), says "done", brings the fact index up to
# date (as `compute-ledger append` does; nothing is left to do), says "indexed", then waits
# (holding the ledger open) until stdin closes or it is killed.
WRITER = """
import sys
from compute_ledger.projections.api import ComputeLedger
with ComputeLedger.open(sys.argv[1], environ={}) as ledger:
    with open(sys.argv[2], "rb") as batch:
        data = batch.read()
    print("start", flush=True)
    result = ledger.append_text(data)
    print("done", result.appended, flush=True)
    ledger.sync_index()
    print("indexed", flush=True)
    sys.stdin.read()
"""


def crash_fact(i: int) -> str:
    customer = f"customer-{i % 97}"
    return json.dumps({
        "id": f"crash-{i:06d}",
        "type": "announcement",
        "occurred_at": f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:00:00-07:00",
        "source": {"url": f"https://example.org/crash/{i}", "publisher": "Crash Test Wire"},
        "speaker": "xai",
        "channel": "press_release",
        "availability": ("available", "planned", "considering")[i % 3],
        "deal": {"deal_id": f"xai-{customer}-{i % 300}", "provider": "xai", "customer": customer,
                 "service": "inference", "consideration": "cash", "capacity_mw": str(10 + i % 90),
                 "usd_per_month": str(1_000_000 + i)},
    }, separators=(",", ":"))


@pytest.fixture(scope="module")
def batch_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("crash") / "batch.jsonl"
    with path.open("w") as out:
        out.writelines(crash_fact(i) + "\n" for i in range(1, BATCH + 1))
    return path


# ---------------------------------------------------------------------------------------------
# The writer and the check
# ---------------------------------------------------------------------------------------------


class Writer:
    def __init__(self, db: str, batch: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", WRITER, db, str(batch)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        self.said: list[str] = []
        self.pump = threading.Thread(target=self._pump, daemon=True)
        self.pump.start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.said.append(line.split()[0])

    def wait_for(self, word: str) -> float:
        deadline = time.monotonic() + WAIT
        while word not in self.said:
            assert self.process.poll() is None, f"writer exited {self.process.returncode}"
            assert time.monotonic() < deadline, f"writer never said {word!r}"
            time.sleep(0.002)
        return time.monotonic()

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=WAIT)
        assert self.process.returncode == -signal.SIGKILL

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()
        self.pump.join(timeout=WAIT)


def when(condition: Callable[[], bool], writer: Writer, what: str) -> None:
    """Poll ``condition`` until it holds; the writer must still be writing."""
    deadline = time.monotonic() + WAIT
    while not condition():
        assert "done" not in writer.said, f"the batch was committed before {what}"
        assert writer.process.poll() is None, f"writer exited {writer.process.returncode}"
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.002)


def prepare(db: str) -> None:
    with ComputeLedger.open(db, environ={}) as ledger:
        assert ledger.append_text(bundled_record()).head.position == PRE


def outcome(db: str) -> str:
    """'none' or 'all', after checking that the ledger verifies and takes a new fact."""
    with ComputeLedger.open(db, environ={}) as ledger:
        head = ledger.head()
        assert head.position in (PRE, PRE + BATCH), f"a partial batch: head {head.position}"
        # The fact index is written in the append's transaction: whole with the batch, or
        # without it, never behind the records (nothing is left for a later sync to do).
        assert ledger.ledger.recorder.index_position() == head.position
        report = ledger.verify()
        assert report.checked == head.position
        if head.position == PRE + BATCH:
            first, last = ledger.facts(PRE, PRE + 1), ledger.facts(PRE + BATCH - 1)
            assert [e.fact_id for e in first] == ["crash-000001"]
            assert [e.fact_id for e in last] == [f"crash-{BATCH:06d}"]
        after = ledger.append_text(crash_fact(BATCH + 1))  # and it takes appends again
        assert after.duplicates == 0 and ledger.sync_index() == head.position + 1
        assert (after.appended, after.head.position) == (1, head.position + 1)
        [record] = ledger.records(head.position)
        assert (record.position, record.prev, record.hash) == (
            head.position + 1, head.hash, after.head.hash
        )
    return "all" if head.position == PRE + BATCH else "none"


@dataclass(frozen=True)
class Profile:
    """An uninterrupted run: seconds from "start" to "done", and the -wal size at "done"."""

    seconds: float
    wal_bytes: int


def wal_size(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    try:
        return wal.stat().st_size
    except FileNotFoundError:
        return 0


@pytest.fixture(scope="module")
def sqlite_profile(batch_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Profile:
    path = tmp_path_factory.mktemp("profile") / "ledger.sqlite3"
    prepare(str(path))
    writer = Writer(str(path), batch_file)
    try:
        started = writer.wait_for("start")
        done = writer.wait_for("done")
        profile = Profile(done - started, wal_size(path))
        writer.kill()
    finally:
        writer.close()
    assert profile.wal_bytes > 8 << 20, "the batch should pass through the WAL"
    return profile


# ---------------------------------------------------------------------------------------------
# SQLite
# ---------------------------------------------------------------------------------------------

SQLITE_KILLS = ["wal-grew-1MiB", "wal-half-written", "wal-90%-written", "random-moment"]


@pytest.mark.parametrize("kill_point", SQLITE_KILLS)
def test_sqlite_writer_killed_mid_batch(
    kill_point: str, tmp_path: Path, batch_file: Path, sqlite_profile: Profile
) -> None:
    path = tmp_path / "ledger.sqlite3"
    prepare(str(path))
    delay = random.uniform(0.0, sqlite_profile.seconds * 1.1)
    writer = Writer(str(path), batch_file)
    try:
        writer.wait_for("start")
        base = wal_size(path)
        if kill_point == "random-moment":
            time.sleep(delay)
        else:
            grown = {
                "wal-grew-1MiB": 1 << 20,
                "wal-half-written": sqlite_profile.wal_bytes // 2,
                "wal-90%-written": sqlite_profile.wal_bytes * 9 // 10,
            }[kill_point]
            when(lambda: wal_size(path) - base >= grown, writer, f"{grown} bytes in the WAL")
        committed = "done" in writer.said
        writer.kill()
    finally:
        writer.close()
    result = outcome(str(path))
    if kill_point == "random-moment":
        assert result in ("none", "all"), f"killed {delay:.3f}s after start"
        if committed:
            assert result == "all"
    else:
        assert result == "none"  # the transaction was still open: nothing of it is visible


def test_sqlite_writer_killed_after_the_commit(tmp_path: Path, batch_file: Path) -> None:
    """Killed after append returned, before the ledger was closed (no final checkpoint)."""
    path = tmp_path / "ledger.sqlite3"
    prepare(str(path))
    writer = Writer(str(path), batch_file)
    try:
        writer.wait_for("done")
        writer.kill()
    finally:
        writer.close()
    assert outcome(str(path)) == "all"


# ---------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def pg_ledger(pg_server: pg.Server) -> Iterator[tuple[str, Callable[[], list[str]]]]:
    """A fresh PostgreSQL ledger, and what the server is running for its other clients."""
    import psycopg

    name = pg_server.create_database()
    with psycopg.connect(pg_server.admin_url(), autocommit=True) as conn:

        def statements() -> list[str]:
            rows = conn.execute(
                "SELECT state, query FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            ).fetchall()
            return [f"{state} {query}" for state, query in rows]

        yield pg_server.url(name), statements
    pg_server.drop_database(name)


PG_KILLS = ["inserting-records", "indexing", "after-commit"]


@pytest.mark.postgres
@pytest.mark.parametrize("kill_point", PG_KILLS)
def test_postgres_writer_killed_mid_batch(
    kill_point: str, pg_ledger: tuple[str, Callable[[], list[str]]], batch_file: Path
) -> None:
    url, statements = pg_ledger
    prepare(url)

    def running(table: str) -> bool:
        return any(s.startswith("active ") and ("INSERT INTO" in s or "COPY" in s) and table in s
                   for s in statements())

    writer = Writer(url, batch_file)
    try:
        writer.wait_for("start")
        if kill_point == "inserting-records":
            when(lambda: running("computeledger_events"), writer, "the records' COPY")
            time.sleep(random.uniform(0.0, 0.5))
            assert "done" not in writer.said
        elif kill_point == "indexing":  # the index's INSERT, in the append's transaction
            when(lambda: running("computeledger_index"), writer, "the index's INSERT")
        else:
            writer.wait_for("done")
        writer.kill()
    finally:
        writer.close()
    deadline = time.monotonic() + WAIT
    while statements():  # the killed client's sessions end, its transaction with them
        assert time.monotonic() < deadline, statements()
        time.sleep(0.05)
    assert outcome(url) == ("all" if kill_point == "after-commit" else "none")
