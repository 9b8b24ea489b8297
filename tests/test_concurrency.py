"""Several processes appending to one ledger at once, on every backend.

Each writer is a separate Python process (``python -c``), so nothing is shared but the
database.  The writers open the ledger, report that they are ready, and start appending only
when told to, all at the same moment.  Afterwards every fact is stored exactly once, the
positions run 1..N without a gap, each batch sits in consecutive positions, and the chain
verifies.
"""

from __future__ import annotations

import itertools
import json
import queue
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from compute_ledger.projections.api import ComputeLedger

WRITERS = 4
BATCHES = 50
BATCH_SIZE = 5
TIMEOUT = 120.0

CUSTOMERS = ("anthropic", "mistral", "perplexity", "midjourney", "character-ai", "runway")

# Opens the ledger (with argv[3] == "wait", only once a line arrives on stdin) and says
# "ready" (or {"open_failed": "module.Error: message"}, and exits); then for each line of
# stdin (a JSON list of batch files) appends each file as one batch, after a random pause of
# up to argv[2] seconds, and answers with one JSON line of results.
WRITER = """
import json, random, sys, time
from compute_ledger.projections.api import ComputeLedger
pause = float(sys.argv[2])
if sys.argv[3] == "wait":
    print(json.dumps("started"), flush=True)
    sys.stdin.readline()
try:
    opened = ComputeLedger.open(sys.argv[1], environ={})
except Exception as exc:
    print(json.dumps({"open_failed": f"{type(exc).__module__}.{type(exc).__name__}: {exc}"}))
    sys.exit(0)
with opened as ledger:
    ledger.head()
    print(json.dumps("ready"), flush=True)
    for line in sys.stdin:
        results = []
        for path in json.loads(line):
            time.sleep(random.uniform(0, pause))
            with open(path, "rb") as batch:
                r = ledger.append_text(batch.read())
            results.append({"file": path, "appended": r.appended, "duplicates": r.duplicates,
                            "first": r.first_position, "attempts": r.attempts})
        print(json.dumps(results), flush=True)
"""


def realistic_fact(writer: int, i: int) -> dict[str, Any]:
    """A valid fact; ``writer`` and ``i`` make its id and content distinct."""
    customer = CUSTOMERS[i % len(CUSTOMERS)]
    deal_id = f"xai-{customer}-{writer}"
    day = f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}"
    base = {
        "id": f"w{writer}-{i:04d}",
        "occurred_at": f"{day}T{i % 24:02d}:15:00-07:00",
        "source": {"url": f"https://example.org/w{writer}/{i}", "publisher": "Compute Wire"},
    }
    match i % 3:
        case 0:
            return {
                **base, "type": "announcement", "speaker": "xai", "channel": "press_release",
                "availability": "available",
                "deal": {"deal_id": deal_id, "provider": "xai", "customer": customer,
                         "service": "training_and_inference", "consideration": "cash",
                         "capacity_mw": str(10 + i), "starts_on": day},
            }
        case 1:
            return {
                **base, "type": "customer_confirmation", "customer": customer,
                "deal_id": deal_id, "in_use": i % 2 == 0,
                "statement": f"{customer} confirms it trains on the capacity",
            }
        case _:
            return {
                **base, "type": "filing", "filer": "spacex", "form": "8-K",
                "discloses_compute_revenue": True,
                "deal": {"deal_id": deal_id, "usd_per_month": str(1_000_000 * i)},
            }


def write_batch(path: Path, facts: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(f) + "\n" for f in facts))
    return str(path)


class Writer:
    """One writer process, and a thread that collects the lines it prints."""

    def __init__(self, db: str, pause: float, wait: bool = False) -> None:
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self.process = subprocess.Popen(
            [sys.executable, "-c", WRITER, db, str(pause), "wait" if wait else "open"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errors, text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.pump = threading.Thread(target=self._pump, daemon=True)
        self.pump.start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def receive(self) -> Any:
        try:
            line = self.lines.get(timeout=TIMEOUT)
        except queue.Empty:
            raise AssertionError(f"writer {self.process.pid} did not answer") from None
        if line is None:
            self.process.wait(timeout=TIMEOUT)
            self.errors.seek(0)
            raise AssertionError(f"writer exited {self.process.returncode}: "
                                 f"{self.errors.read().decode(errors='replace')}")
        return json.loads(line)

    def send(self, files: list[str]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(files) + "\n")
        self.process.stdin.flush()

    def close(self) -> None:
        try:
            if self.process.stdin is not None:
                self.process.stdin.close()
            self.process.wait(timeout=TIMEOUT)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self.pump.join(timeout=TIMEOUT)
            if self.process.stdout is not None:
                self.process.stdout.close()
            self.errors.close()


@contextmanager
def writers(db: str, count: int, pause: float = 0.0) -> Iterator[list[Writer]]:
    """Writers that have all opened one ledger at the same moment, ready to append."""
    started = [Writer(db, pause, wait=True) for _ in range(count)]
    try:
        for writer in started:
            assert writer.receive() == "started"
        for writer in started:
            writer.send([])  # open now, all at once
        for writer in started:
            assert writer.receive() == "ready"
        yield started
    finally:
        for writer in started:
            writer.close()
    assert [w.process.returncode for w in started] == [0] * count


def stored(db: str) -> tuple[list[int], list[str], int]:
    """Positions and fact ids in ledger order, and the number of records verify checked."""
    with ComputeLedger.open(db, environ={}) as ledger:
        entries = list(ledger.facts())
        checked = ledger.verify().checked
    return [e.position for e in entries], [e.fact_id for e in entries], checked


@pytest.mark.parametrize("pause", [0.0, 0.02], ids=["flat-out", "paced"])
def test_concurrent_writers_never_lose_nor_fork(db: str, tmp_path: Path, pause: float) -> None:
    """4 writers, 50 batches of 5 facts each; flat out, or with a pause before each batch."""
    batches: dict[str, list[str]] = {}  # file -> the ids of its facts, in order
    plan: list[list[str]] = []
    for w in range(WRITERS):
        files = []
        for b in range(BATCHES):
            facts = [realistic_fact(w, b * BATCH_SIZE + i) for i in range(BATCH_SIZE)]
            path = write_batch(tmp_path / f"w{w}-b{b:03d}.jsonl", facts)
            batches[path] = [f["id"] for f in facts]
            files.append(path)
        plan.append(files)
    total = WRITERS * BATCHES * BATCH_SIZE

    with writers(db, WRITERS, pause) as procs:
        for proc, files in zip(procs, plan, strict=True):
            proc.send(files)
        reports = [proc.receive() for proc in procs]

    positions, ids, checked = stored(db)
    assert positions == list(range(1, total + 1))
    assert checked == total
    assert Counter(ids) == Counter(i for files in batches.values() for i in files)
    assert len(set(ids)) == total

    results = [r for report in reports for r in report]
    assert len(results) == WRITERS * BATCHES
    assert all((r["appended"], r["duplicates"]) == (BATCH_SIZE, 0) for r in results)
    # Each batch is atomic: its facts sit in consecutive positions, in their order, exactly
    # where the writer was told they went.
    for r in results:
        first = r["first"]
        assert ids[first - 1 : first - 1 + BATCH_SIZE] == batches[r["file"]]
    assert sorted(r["first"] for r in results) == list(range(1, total + 1, BATCH_SIZE))
    # The writers really raced: some lost the race for the next position and tried again.
    assert any(r["attempts"] > 1 for r in results)
    if pause:
        # Paced writers take turns: their batches interleave all along the ledger.
        owners = [ids[p - 1].split("-")[0] for p in range(1, total + 1, BATCH_SIZE)]
        changes = sum(a != b for a, b in itertools.pairwise(owners))
        assert changes >= 2 * WRITERS  # one writer after another would make WRITERS - 1


def test_the_same_batch_from_two_writers_is_stored_once(db: str, tmp_path: Path) -> None:
    rounds, size = 6, 20
    with writers(db, 2) as (one, two):
        for n in range(rounds):
            facts = [realistic_fact(9, n * size + i) for i in range(size)]
            path = write_batch(tmp_path / f"same-{n}.jsonl", facts)
            one.send([path])
            two.send([path])
            [first], [second] = one.receive(), two.receive()
            outcomes = sorted([(first["appended"], first["duplicates"]),
                               (second["appended"], second["duplicates"])])
            assert outcomes == [(0, size), (size, 0)]
            winner = first if first["appended"] else second
            assert winner["first"] == n * size + 1

    positions, ids, checked = stored(db)
    assert positions == list(range(1, rounds * size + 1))
    assert checked == rounds * size
    assert ids == [realistic_fact(9, i)["id"] for i in range(rounds * size)]



def test_writers_opening_a_new_ledger_at_once_leave_it_consistent(
    db: str, tmp_path: Path
) -> None:
    """Writers that all open a ledger that does not exist yet, at the same moment.

    Opening creates the tables, which races on both backends unless the store serialises it
    (PostgreSQL: concurrent CREATE ... IF NOT EXISTS collide on the catalog; SQLite: switching
    a new file to WAL answers "database is locked").  Every writer must open, and append.
    """
    started = [Writer(db, 0.0, wait=True) for _ in range(WRITERS)]
    opened: list[tuple[int, Writer]] = []
    try:
        for writer in started:
            assert writer.receive() == "started"
        for writer in started:
            writer.send([])  # open now, all at once
        for w, writer in enumerate(started):
            assert writer.receive() == "ready"
            opened.append((w, writer))
        for w, writer in opened:
            path = write_batch(tmp_path / f"first-{w}.jsonl",
                               [realistic_fact(w, i) for i in range(BATCH_SIZE)])
            writer.send([path])
        for _, writer in opened:
            [result] = writer.receive()
            assert (result["appended"], result["duplicates"]) == (BATCH_SIZE, 0)
    finally:
        for writer in started:
            writer.close()
    assert [w.process.returncode for w in started] == [0] * WRITERS
    positions, ids, checked = stored(db)
    total = len(opened) * BATCH_SIZE
    assert positions == list(range(1, total + 1))
    assert checked == total
    assert sorted(ids) == sorted(realistic_fact(w, i)["id"]
                                 for w, _ in opened for i in range(BATCH_SIZE))


@contextmanager
def appending(db: str, tmp_path: Path, *, count: int = 2, batches: int = 40, size: int = 50,
              pause: float = 0.01) -> Iterator[threading.Event]:
    """Writers appending in the background; the event is set once they have all finished."""
    plan = [
        [write_batch(tmp_path / f"live-{w}-{b:03d}.jsonl",
                     [realistic_fact(w, b * size + i) for i in range(size)])
         for b in range(batches)]
        for w in range(count)
    ]
    procs = [Writer(db, pause) for _ in range(count)]
    done = threading.Event()
    try:
        for proc in procs:
            assert proc.receive() == "ready"
        for proc, files in zip(procs, plan, strict=True):
            proc.send(files)

        def collect() -> None:
            for proc in procs:
                proc.receive()
            done.set()

        collector = threading.Thread(target=collect, daemon=True)
        collector.start()
        yield done
        collector.join(timeout=TIMEOUT)
        assert done.is_set(), "the writers did not finish"
    finally:
        for proc in procs:
            proc.close()
    assert [p.process.returncode for p in procs] == [0] * count


def test_known_at_answers_asked_during_appends_never_change(db: str, tmp_path: Path) -> None:
    """A reader asks "what was known at K?" for K just before now, again and again, while two
    writers append 80 batches; once they are done, every K is asked again: the same position,
    and the same verdict."""
    with ComputeLedger.open(db, environ={}) as reader:
        reader.append_text(json.dumps(realistic_fact(7, 0)))
        asked: list[tuple[datetime, int]] = []
        with appending(db, tmp_path) as done:
            while not done.is_set():
                now = reader.now()
                for back in (0, 1, 50, 2000):  # now, and a little before it
                    moment = now - timedelta(microseconds=back)
                    asked.append((moment, reader.ledger.position_known_at(moment)))
        assert len({p for _, p in asked}) > 5, "the reader saw the ledger grow"
        again = [(moment, reader.ledger.position_known_at(moment)) for moment, _ in asked]
        assert again == asked
        for moment, position in asked[:: max(1, len(asked) // 20)]:
            assert reader.verdict(moment, moment).ledger_position == position


def test_verify_during_appends_never_reports_tampering(db: str, tmp_path: Path) -> None:
    """``verify`` reads the records and the fact index in one snapshot: appends committing
    (and syncing the index) meanwhile never make an intact ledger look tampered with."""
    with ComputeLedger.open(db, environ={}) as auditor:
        auditor.append_text(json.dumps(realistic_fact(7, 0)))
        checks: list[int] = []
        with appending(db, tmp_path, batches=30, size=100) as done:
            while not done.is_set():
                checks.append(auditor.verify().checked)
        assert len(checks) >= 3 and checks == sorted(checks) and checks[0] < checks[-1]
