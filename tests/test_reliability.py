"""What the ledger does when its world misbehaves (issue 10, item 5): a read-only ledger, a
full disk, a derived step that fails after the commit.

The read-only and full-disk cases are real: each runs the CLI in a private mount namespace
(``unshare -rm``, util-linux), where a read-only bind mount or a 400 KiB tmpfs can be made
without privileges and vanish when the command ends.  Before the fixes a read-only ledger
could not even be verified ("unable to open database file"), and a full disk was retried like
a lost race for 120 s before the error.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_runner import run

from compute_ledger.ledger.errors import StorageError
from compute_ledger.projections.api import ComputeLedger

CLI = f"{shlex.quote(sys.executable)} -m compute_ledger.cli.main"


def in_namespace(script: str) -> subprocess.CompletedProcess[str]:
    """Run a shell script in a new user and mount namespace (mounts made there are private
    to it and go when it ends)."""
    unshare = shutil.which("unshare")
    assert unshare is not None, "these tests need util-linux's unshare"
    return subprocess.run([unshare, "-rm", "sh", "-c", script], capture_output=True,
                          text=True, check=False, timeout=300)


def facts_file(path: Path, count: int) -> Path:
    with path.open("w") as out:
        for i in range(count):
            out.write(json.dumps({
                "id": f"bulk-{i:05d}", "type": "announcement",
                "occurred_at": "2026-05-06T10:00:00Z",
                "source": {"url": f"https://example.org/{i}"}, "speaker": "xai",
                "channel": "official_site", "availability": "available",
                "deal": {"deal_id": f"deal-{i % 9}", "provider": "xai",
                         "customer": f"customer-{i}"},
            }) + "\n")
    return path


def test_every_read_command_works_on_a_read_only_mount(tmp_path: Path) -> None:
    """The ledger's directory is mounted read-only (so SQLite cannot even make its WAL index):
    every read command answers, nothing changes, and an append says why it cannot."""
    home = tmp_path / "ro"
    home.mkdir()
    db = home / "ledger.sqlite3"
    assert run("append", "--public-record", "--db", str(db)).exit_code == 0
    before = sorted((p.name, p.read_bytes()) for p in home.iterdir())
    reads = ["verify", "verdict", "verdict --json --known-at @4", "business", "timeline",
             "replay", "log", "feed", "digest", "show xai-anthropic-announced-2026-05-06"]
    script = [f"mount --bind {home} {home}", f"mount -o remount,bind,ro {home}",
              f"touch {home}/probe 2>/dev/null && echo WRITABLE"]
    script += [f"{CLI} {command} --db {db} >/dev/null || echo FAILED: {command}"
               for command in reads]
    script.append(f"{CLI} append --public-record --db {db} 2>&1; echo exit=$?")
    done = in_namespace("\n".join(script))
    assert done.returncode == 0, done.stderr
    assert "WRITABLE" not in done.stdout, "the mount was not read-only"
    assert "FAILED" not in done.stdout, done.stdout + done.stderr
    assert "can only be read here" in done.stdout and "exit=1" in done.stdout
    assert sorted((p.name, p.read_bytes()) for p in home.iterdir()) == before


def test_a_full_disk_fails_at_once_and_changes_nothing(tmp_path: Path) -> None:
    """A batch bigger than the disk's room: refused at once with the database's reason, the
    head and the chain as they were."""
    big = facts_file(tmp_path / "big.jsonl", 4000)  # about 1 MB, in a 400 KiB tmpfs
    disk = tmp_path / "disk"
    disk.mkdir()
    db = disk / "ledger.sqlite3"
    script = "\n".join([
        f"mount -t tmpfs -o size=400k tmpfs {disk}",
        f"{CLI} append --public-record --db {db} >/dev/null || exit 9",
        f"{CLI} digest --db {db}",
        "start=$(date +%s)",
        f"{CLI} append {big} --db {db} 2>&1; echo exit=$?",
        "echo seconds=$(( $(date +%s) - start ))",
        f"{CLI} digest --db {db}",
        f"{CLI} verify --wide --db {db}",
    ])
    started = time.monotonic()
    done = in_namespace(script)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    pin_before, refusal, code, seconds, pin_after, verified, held = lines
    assert "database or disk is full; nothing was appended" in refusal
    assert code == "exit=1"
    assert int(seconds.removeprefix("seconds=")) < 60  # not retried for 120 s as a lost race
    assert time.monotonic() - started < 100
    assert pin_after == pin_before
    assert verified.startswith("ok: 8 records, chain and Merkle tree intact")
    assert held.startswith("ok: the maintained answers, folded to position 8, hold ")


def test_a_committed_batch_is_reported_committed_when_indexing_it_fails(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = facts_file(tmp_path / "three.jsonl", 3)

    def broken(self: ComputeLedger) -> int:
        raise StorageError("cannot write ledger: disk I/O error")

    monkeypatch.setattr(ComputeLedger, "sync_index", broken)
    result = run("append", str(batch), "--db", db)
    assert result.exit_code == 0
    assert "appended 3 facts (positions 1-3)" in result.stdout
    assert "the batch is committed, but indexing it failed" in result.stderr
    monkeypatch.undo()
    # The next append indexes it (a duplicate is recognised), and the ledger verifies.
    again = run("append", str(batch), "--db", db)
    assert "appended 0 facts, 3 duplicates" in again.stdout
    assert run("verify", "--db", db).stdout.startswith("ok: 3 records")
