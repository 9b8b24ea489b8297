"""The feed, for other tools: exactly the records after N, and --follow for new ones; a
consumer that stops and resumes from its last position misses nothing and repeats nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from builders import announce
from click.testing import CliRunner

from compute_ledger.cli.main import main
from compute_ledger.ledger.facts import Announcement
from compute_ledger.ledger.store import Record
from compute_ledger.projections.api import ComputeLedger

WAIT = 30.0


def facts(start: int, count: int) -> list[Announcement]:
    return [announce("2026-06-01T00:00:00Z", f"d{i % 3}", id=f"feed-{i:04d}")
            for i in range(start, start + count)]


def test_feed_after_n_prints_exactly_the_records_after_n(ledger: ComputeLedger, db: str) -> None:
    ledger.append(facts(0, 7))
    for after in (0, 3, 7):
        result = CliRunner().invoke(main, ["feed", "--after", str(after), "--db", db])
        lines = result.stdout.splitlines()
        assert [json.loads(line)["position"] for line in lines] == list(range(after + 1, 8))


def test_follow_yields_new_records_as_they_are_appended(ledger: ComputeLedger, db: str) -> None:
    ledger.append(facts(0, 3))
    seen: list[Record] = []
    stop = threading.Event()

    def consume() -> None:
        with ComputeLedger.open(db, environ={}) as other:
            for record in other.follow(after=1, poll=0.05, stop=stop):
                seen.append(record)

    consumer = threading.Thread(target=consume)
    consumer.start()
    try:
        for batch in range(4):
            ledger.append(facts(100 + batch * 2, 2))
        deadline = time.monotonic() + WAIT
        while len(seen) < 10 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        consumer.join(timeout=WAIT)
    assert not consumer.is_alive()
    assert [r.position for r in seen] == list(range(2, 12))
    assert [r.hash for r in seen] == [r.hash for r in ledger.records(after=1)]


@contextmanager
def following(db: str, after: int) -> Iterator[subprocess.Popen[str]]:
    """`compute-ledger feed --after N --follow`, interrupted with Ctrl-C at the end; it must
    then exit 0."""
    with subprocess.Popen(
        [sys.executable, "-c", "from cli.main import main; main()", "feed", "--after",
         str(after), "--follow", "--poll", "0.05", "--db", db],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as process:
        try:
            yield process
        finally:
            process.send_signal(signal.SIGINT)
            _, errors = process.communicate(timeout=WAIT)
        assert process.returncode == 0, errors


def _read(process: subprocess.Popen[str], count: int) -> list[int]:
    assert process.stdout is not None
    positions: list[int] = []
    deadline = time.monotonic() + WAIT
    while len(positions) < count:
        assert time.monotonic() < deadline, f"only {positions} arrived"
        line = process.stdout.readline()
        assert line, "the follower ended"
        positions.append(json.loads(line)["position"])
    return positions


def test_a_consumer_that_stops_and_resumes_misses_nothing_and_repeats_nothing(
    ledger: ComputeLedger, db: str, tmp_path: Path
) -> None:
    ledger.append(facts(0, 4))
    with following(db, after=0) as first:
        got = _read(first, 4)
        ledger.append(facts(10, 3))
        got += _read(first, 2)  # the consumer handles two of the three, then stops
    ledger.append(facts(20, 3))  # appended while nobody was listening
    with following(db, after=got[-1]) as resumed:
        more = _read(resumed, 4)
        ledger.append(facts(30, 1))
        more += _read(resumed, 1)
    assert got + more == list(range(1, 12))
    assert ledger.head().position == 11


def test_follow_on_an_empty_ledger_waits_for_the_first_fact(
    ledger: ComputeLedger, db: str
) -> None:
    with following(db, after=0) as follower:
        time.sleep(0.3)
        ledger.append(facts(0, 1))
        assert _read(follower, 1) == [1]

