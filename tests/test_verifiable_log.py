"""The verifiable log from the outside: checkpoints, proofs, bundles and audits, checked by
the independent verifier of ``tests/independent.py`` (it shares no code with the project),
and tampering caught against an earlier signed checkpoint.  Run on both backends."""

from __future__ import annotations

import base64
import json
import math
import os
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import independent
import pytest
from cli_runner import run
from test_tamper import N, Raw, forge, jsonl, realistic_fact, replace_once, stored_fact

from compute_ledger.ledger.chain import content_digest
from compute_ledger.ledger.clock import ManualClock
from compute_ledger.projections.api import ComputeLedger, Head

ORIGIN = "example.org/compute-ledger"


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, str]:
    """A signer key file made by keygen, and the verifier key it printed."""
    path = tmp_path / "ledger.key"
    made = run("keygen", "--name", ORIGIN, "--out", str(path))
    assert made.exit_code == 0, made.output
    return path, made.stdout.strip()


@pytest.fixture
def built(db: str, clock: ManualClock) -> Head:
    """An N-fact ledger, appended in three batches."""
    facts = [realistic_fact(i) for i in range(1, N + 1)]
    with ComputeLedger.open(db, clock=clock, environ={}) as ledger:
        for chunk in (facts[:5], facts[5:6], facts[6:]):
            ledger.append_text(jsonl(chunk))
        assert ledger.ledger.sync_index() == N
        return ledger.head()


def checkpoint(db: str, key: Path, tmp_path: Path, name: str = "checkpoint.txt") -> Path:
    result = run("checkpoint", "--key", str(key), "--db", db)
    assert result.exit_code == 0, result.output
    path = tmp_path / name
    path.write_text(result.stdout)
    return path


def grow(db: str, start: int, count: int) -> None:
    with ComputeLedger.open(db, environ={}) as ledger:
        ledger.append_text(jsonl([realistic_fact(i) for i in range(start, start + count)]))


def test_keygen_writes_a_private_key_readable_by_its_owner_alone(
        tmp_path: Path, keys: tuple[Path, str]) -> None:
    path, vkey = keys
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    secret = path.read_text().strip()
    assert secret.startswith(f"PRIVATE+KEY+{ORIGIN}+")
    assert vkey.startswith(f"{ORIGIN}+") and "PRIVATE" not in vkey
    assert independent.parse_verifier_key(vkey)[0] == ORIGIN
    again = run("keygen", "--name", ORIGIN, "--out", str(path))
    assert again.exit_code == 2 and "never overwritten" in again.stderr
    assert path.read_text().strip() == secret  # not overwritten
    # PRIVATE+KEY+<name>+<hex id>+<base64>: base64 may itself hold '+', so split from the left
    seed = secret.split("+", 4)[4]
    assert len(seed) > 40 and seed not in again.output


def test_the_checkpoint_root_is_the_root_of_the_feed(db: str, built: Head,
                                                     keys: tuple[Path, str]) -> None:
    key, vkey = keys
    note = run("checkpoint", "--key", str(key), "--db", db).stdout
    assert independent.verify_note(note, vkey)
    body = note.split("\n\n")[0] + "\n"
    origin, size, root = independent.parse_checkpoint(body)
    feed = run("feed", "--db", db).stdout
    assert (origin, size) == (ORIGIN, N)
    assert root == independent.root_from_feed(feed)
    unsigned = run("checkpoint", "--db", db)
    assert unsigned.stdout.split("\n")[1:3] == body.split("\n")[1:3]
    assert "unsigned" in unsigned.stderr


def test_every_fact_has_an_inclusion_proof_of_log_n_hashes(db: str, built: Head,
                                                           keys: tuple[Path, str]) -> None:
    key, vkey = keys
    leaves = independent.feed_leaves(run("feed", "--db", db).stdout)
    for position in range(1, N + 1):
        fact_id = realistic_fact(position)["id"]
        proof = run("prove", fact_id, "--key", str(key), "--db", db).stdout
        parsed = independent.parse_tlog_proof(proof)
        assert parsed.index == position - 1
        assert len(parsed.hashes) <= math.ceil(math.log2(N))
        leaf = independent.leaf_hash(leaves[position - 1])
        assert independent.verify_tlog_proof(proof, leaf, ORIGIN, vkey)
        other = independent.leaf_hash(leaves[position % N])
        assert not independent.verify_tlog_proof(proof, other, ORIGIN, vkey)


def test_a_consistency_proof_links_an_old_checkpoint_to_a_new_one(
        db: str, built: Head, keys: tuple[Path, str], tmp_path: Path) -> None:
    key, vkey = keys
    old = checkpoint(db, key, tmp_path, "old.txt")
    grow(db, N + 1, 9)
    new_note = run("checkpoint", "--key", str(key), "--db", db).stdout
    proof = run("consistency", "--from", str(old), "--db", db)
    assert proof.exit_code == 0, proof.output
    hashes = [base64.b64decode(line) for line in proof.stdout.split()]
    _, size1, root1 = independent.parse_checkpoint(old.read_text().split("\n\n")[0] + "\n")
    _, size2, root2 = independent.parse_checkpoint(new_note.split("\n\n")[0] + "\n")
    assert (size1, size2) == (N, N + 9)
    assert len(hashes) <= 2 * math.ceil(math.log2(size2))
    assert independent.verify_consistency(size1, size2, root1, root2, hashes)
    assert not independent.verify_consistency(size1, size2, root2, root2, hashes)
    verified = run("verify", "--db", db, "--against", str(old), "--verifier-key", vkey)
    assert verified.exit_code == 0, verified.output
    assert f"extends the checkpoint of {N} records (signed by {ORIGIN}" in verified.stdout
    answer = json.loads(run("verify", "--db", db, "--against", str(old), "--json").stdout)
    assert answer["extends"]["size"] == N and answer["root"] == base64.b64encode(root2).decode()


def test_a_checkpoint_with_a_wrong_signature_is_refused(
        db: str, built: Head, keys: tuple[Path, str], tmp_path: Path) -> None:
    key, _ = keys
    old = checkpoint(db, key, tmp_path)
    stranger = run("keygen", "--name", ORIGIN, "--out", str(tmp_path / "other.key")).stdout
    refused = run("verify", "--db", db, "--against", str(old), "--verifier-key", stranger)
    assert refused.exit_code == 1
    assert "does not verify" in refused.stderr or "no signature" in refused.stderr


def _tamper_in_place(raw: Raw) -> int:
    """A fact edited where it is stored, its hash and every later one recomputed."""
    k = 5  # an announcement of a deal
    prev = json.loads(raw.state(k))["prev"]
    for position in range(k, N + 1):
        state = raw.state(position)
        fact = stored_fact(state)
        if position == k:
            fact = replace_once(fact, b'"capacity_mw":"', b'"capacity_mw":"9')
        forged, prev = forge(fact, position, prev, json.loads(state)["recorded_at"])
        raw.set_state(position, forged)
    return k


@pytest.mark.parametrize("tampering", ["an edited record", "a rewritten chain and tree",
                                       "a truncated ledger"])
def test_tampering_fails_against_an_earlier_signed_checkpoint(
        db: str, built: Head, keys: tuple[Path, str], tmp_path: Path, tampering: str) -> None:
    key, vkey = keys
    old = checkpoint(db, key, tmp_path)
    raw = Raw(db)
    if tampering == "a truncated ledger":
        for position in (N - 1, N):
            raw.delete(position)
            raw.run("DELETE FROM {index} WHERE position = ?", position)
        raw.run("UPDATE {index}_state SET position = ?", N - 2)
        raw.rewrite_tree()
    else:
        _tamper_in_place(raw)
        if tampering == "a rewritten chain and tree":
            raw.rewrite_tree()
    result = run("verify", "--db", db, "--against", str(old), "--verifier-key", vkey)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ledger verification failed at position ")
    if tampering == "an edited record":
        assert "position 5" in result.stderr  # the index and tree hold the old digests
    if tampering == "a truncated ledger":
        assert f"position {N - 1}: record missing" in result.stderr


def test_a_consistent_rewrite_passes_verify_alone_but_not_the_checkpoint(
        db: str, built: Head, keys: tuple[Path, str], tmp_path: Path) -> None:
    key, vkey = keys
    old = checkpoint(db, key, tmp_path)
    raw = Raw(db)
    k = _tamper_in_place(raw)
    raw.run("UPDATE {index} SET digest = ? WHERE position = ?",
            content_digest(stored_fact(raw.state(k))), k)
    raw.rewrite_tree()
    assert run("verify", "--db", db).exit_code == 0  # self-consistent ...
    result = run("verify", "--db", db, "--against", str(old), "--verifier-key", vkey)
    assert result.exit_code == 1  # ... but not what was checkpointed
    assert f"the ledger does not extend the checkpoint: its first {N} records" in result.stderr
    assert run("consistency", "--from", str(old), "--db", db).exit_code == 1


def test_audit_checks_a_bundle_with_the_database_gone(
        tmp_path: Path, keys: tuple[Path, str]) -> None:
    key, vkey = keys
    db = str(tmp_path / "audit.sqlite3")
    assert run("append", "--public-record", "--db", db).exit_code == 0
    path = tmp_path / "bundle.json"
    made = run("bundle", str(path), "--key", str(key), "--as-of", "2026-11-05", "--db", db)
    assert made.exit_code == 0, made.output
    for leftover in Path(tmp_path).glob("audit.sqlite3*"):
        leftover.unlink()
    ok = run("audit", str(path), "--verifier-key", vkey, "--json")
    assert ok.exit_code == 0, ok.output
    report = json.loads(ok.stdout)
    assert report["ok"] and report["status"] == "CRITERIA_MET" and report["records"] == 8
    assert not list(tmp_path.glob("*.sqlite3*"))  # audit opened no ledger
    data = json.loads(path.read_text())
    # The independent verifier agrees: root of the records, each proof.
    note = data["proven"]["checkpoint"]
    assert independent.verify_note(note, vkey)
    records = [r.encode() for r in data["records"]]
    assert independent.parse_checkpoint(note.split("\n\n")[0] + "\n")[2] == \
        independent.root(records)
    named = {fact for c in data["proven"]["verdict"]["candidates"] for check in c["checks"]
             for fact in check["facts"]}
    assert named <= {p["id"] for p in data["proven"]["facts"]}
    for fact in data["proven"]["facts"]:
        leaf = independent.leaf_hash(records[fact["position"] - 1])
        assert independent.verify_tlog_proof(fact["proof"], leaf, ORIGIN, vkey)

    def refused(edit: str, change: Callable[[dict[str, Any]], None]) -> str:
        bad = json.loads(path.read_text())
        change(bad)
        bad_path = tmp_path / f"{edit}.json"
        bad_path.write_text(json.dumps(bad))
        result = run("audit", str(bad_path), "--verifier-key", vkey)
        assert result.exit_code == 1, edit
        return result.stderr

    def of_verdict(b: dict[str, Any]) -> None:
        b["proven"]["verdict"]["status"] = "OPEN"

    def of_fact(b: dict[str, Any]) -> None:
        b["records"][3] = b["records"][3].replace('"300"', '"350"')

    def of_signature(b: dict[str, Any]) -> None:
        b["proven"]["checkpoint"] = b["proven"]["checkpoint"].replace("\n8\n", "\n7\n")

    def of_proofs(b: dict[str, Any]) -> None:
        b["proven"]["facts"].pop()

    assert "the bundled verdict is not the one its facts give: status" in \
        refused("verdict", of_verdict)
    assert "do not hash to the checkpoint's root" in refused("fact", of_fact)
    assert "does not verify" in refused("signature", of_signature)
    assert "the verdict names facts the bundle does not prove" in refused("proof", of_proofs)
    stranger = run("keygen", "--name", ORIGIN, "--out", str(tmp_path / "x.key")).stdout
    assert run("audit", str(path), "--verifier-key", stranger).exit_code == 1

    def of_duplicates(b: dict[str, Any]) -> None:
        b["proven"]["facts"].append(b["proven"]["facts"][0])

    assert "twice" in refused("duplicates", of_duplicates)

    def not_a_bundle(name: str, text: str) -> str:
        bad_path = tmp_path / name
        bad_path.write_text(text)
        result = run("audit", str(bad_path), "--verifier-key", vkey)
        assert result.exit_code == 2, name  # bad input, not a failed check
        assert str(bad_path) in result.stderr and "Traceback" not in result.output
        return result.stderr

    assert "not a bundle" in not_a_bundle("text.json", "not json at all")
    naive = json.loads(path.read_text())
    naive["proven"]["verdict"]["known_at"] = "2026-11-05T00:00:00"
    assert "no UTC offset" in not_a_bundle("naive.json", json.dumps(naive))


def test_a_key_is_never_echoed_and_a_key_others_can_read_is_refused(
        db: str, built: Head, keys: tuple[Path, str], tmp_path: Path) -> None:
    key, _vkey = keys
    secret = key.read_text().strip()
    seed = secret.split("+", 4)[4]
    old = checkpoint(db, key, tmp_path)
    for args in (["verify", "--against", secret], ["verify", "--against", str(old),
                                                   "--verifier-key", secret],
                 ["log", "--type", secret], ["checkpoint", "--origin", secret]):
        result = run(*args, "--db", db)
        assert result.exit_code == 2, args
        assert seed not in result.output and "Error" in result.stderr, args
    key.chmod(0o640)
    refused = run("checkpoint", "--key", str(key), "--db", db)
    assert refused.exit_code == 2 and "chmod 600" in refused.stderr
    assert refused.stdout == "" and seed not in refused.output
    key.chmod(0o600)
    assert run("checkpoint", "--key", str(key), "--db", db).exit_code == 0
    too_long = "x" * 5000 + "+00000000+AAAA"  # no file could have that name
    result = run("verify", "--against", str(old), "--verifier-key", too_long, "--db", db)
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_a_checkpoint_that_is_not_one_is_bad_input_and_one_that_fails_a_failed_check(
        db: str, built: Head, keys: tuple[Path, str], tmp_path: Path) -> None:
    key, _vkey = keys
    garbage = tmp_path / "garbage.txt"
    garbage.write_text("example.org/compute-ledger\nnot a size\nnot a hash\n")
    for command in (["verify", "--against"], ["consistency", "--from"]):
        result = run(*command, str(garbage), "--db", db)
        assert result.exit_code == 2, command
        assert "garbage.txt" in result.stderr and "not base64" in result.stderr
    old = checkpoint(db, key, tmp_path)
    other = run("keygen", "--name", "example.org/other", "--out",
                str(tmp_path / "o.key")).stdout.strip()
    result = run("verify", "--against", str(old), "--verifier-key", other, "--db", db)
    assert result.exit_code == 1 and "no signature by example.org/other" in result.stderr
    bad_origin = run("checkpoint", "--origin", "two words", "--db", db)
    assert bad_origin.exit_code == 2 and "--origin" in bad_origin.stderr


def test_verdict_proof_attaches_a_verifying_proof_of_every_named_fact(
        tmp_path: Path, keys: tuple[Path, str]) -> None:
    key, vkey = keys
    db = str(tmp_path / "ledger.sqlite3")
    run("append", "--public-record", "--db", db)
    result = run("verdict", "--as-of", "2026-11-05", "--proof", "--key", str(key), "--db", db)
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    plain = json.loads(run("verdict", "--as-of", "2026-11-05", "--json", "--db", db).stdout)
    assert {k: v for k, v in answer["verdict"].items() if k != "known_at"} == \
        {k: v for k, v in plain.items() if k != "known_at"}
    leaves = independent.feed_leaves(run("feed", "--db", db).stdout)
    assert answer["facts"]
    for fact in answer["facts"]:
        leaf = independent.leaf_hash(leaves[fact["position"] - 1])
        assert independent.verify_tlog_proof(fact["proof"], leaf, ORIGIN, vkey)
    assert run("verdict", "--proof", "--db", db).exit_code == 2  # no key


def test_a_ledger_written_before_the_tree_existed_is_read_then_built_on_append(
        tmp_path: Path) -> None:
    db = str(tmp_path / "old.sqlite3")
    grow(db, 1, 40)
    before = run("checkpoint", "--db", db).stdout
    raw = Raw(db)
    raw.run("DELETE FROM {tree}")  # as a ledger of an earlier version holds it: no tree
    raw.run("DELETE FROM {tree}_state")
    assert run("checkpoint", "--db", db).stdout == before  # hashed from the records
    verified = run("verify", "--db", db)
    assert verified.exit_code == 0
    assert "the Merkle tree covers 0 of 40 records" in verified.stdout
    assert raw.run("SELECT COUNT(*) FROM {tree}") == [(0,)]  # and nothing written by reads
    grow(db, 41, 3)
    assert raw.run("SELECT size FROM {tree}_state") == [(43,)]
    assert raw.run("SELECT COUNT(*) FROM {tree}") == [(43 // 16 + 43 // 32,)]  # 16s, 32s
    assert "chain and Merkle tree intact" in run("verify", "--db", db).stdout


def test_a_file_without_the_tree_tables_reads_as_an_empty_tree(tmp_path: Path) -> None:
    """A ledger written before the tree existed, opened read-only, has no tree tables."""
    from compute_ledger.ledger import sqlite as backend
    path = tmp_path / "bare.sqlite3"
    with sqlite3.connect(path) as conn:
        cursor = conn.cursor()
        assert backend._tree_size(cursor) is None
        assert backend._tree_nodes(cursor, [(4, 0)]) == {}


@pytest.mark.parametrize(("edit", "named"), [
    ("UPDATE {tree} SET hash = ? WHERE level = 4 AND idx = 1",
     "position 17: the Merkle tree's node over positions 17-32 does not match the records"),
    ("UPDATE {tree} SET hash = ? WHERE level = 5 AND idx = 0",
     "position 1: the Merkle tree's node over positions 1-32 does not match the records"),
    ("DELETE FROM {tree} WHERE level = 4 AND idx = 1",
     "position 17: the Merkle tree's node over positions 17-32 does not match the records"),
    ("DELETE FROM {tree}",
     "the Merkle tree's node over positions 1-16 does not match the records"),
    ("UPDATE {tree}_state SET size = 39",
     "position 40: record not in the Merkle tree (it covers 39 records"),
    ("INSERT INTO {tree} (level, idx, hash) VALUES (4, 2, ?)",
     "the Merkle tree holds 4 nodes; a tree of 40 records holds 3"),
])
def test_an_altered_tree_is_named(db: str, built: Head, edit: str, named: str) -> None:
    Raw(db).run(edit, *([bytes(32)] if "?" in edit else []))
    result = run("verify", "--db", db)
    assert result.exit_code == 1
    assert named in result.stderr


def test_a_damaged_tree_stops_an_append_at_once(db: str, built: Head) -> None:
    """Not two minutes of retries as if another writer had won a race."""
    Raw(db).run("INSERT INTO {tree} (level, idx, hash) VALUES (4, 2, ?)", bytes(32))
    grown = run("append", "--db", db, input=jsonl([realistic_fact(i) for i in range(41, 60)]))
    assert grown.exit_code == 1
    assert "the Merkle tree holds nodes beyond the records it covers" in grown.stderr
    assert "nothing was appended" in grown.stderr
    assert run("digest", "--db", db).stdout.startswith(f"{N}:")


def test_a_copy_of_the_records_names_the_first_position_a_consistent_rewrite_changed(
        db: str, built: Head, keys: tuple[Path, str], tmp_path: Path) -> None:
    """A checkpoint holds one root: it tells that a record it covers differs, not which. A
    copy of the records (a saved feed, or a bundle) names the first position that differs."""
    key, vkey = keys
    saved = tmp_path / "saw.jsonl"
    saved.write_text(run("feed", "--db", db).stdout)
    bundle = tmp_path / "bundle.json"
    assert run("bundle", str(bundle), "--key", str(key), "--db", db).exit_code == 0
    ok = run("verify", "--db", db, "--against", str(saved))
    assert ok.exit_code == 0 and f"holds the {N} records of {saved} byte for byte" in ok.stdout
    longer = tmp_path / "longer.jsonl"  # a copy with a record the ledger no longer holds
    longer.write_text(saved.read_text() + saved.read_text().splitlines()[0] + "\n")
    assert f"position {N + 1}: record missing" in \
        run("verify", "--db", db, "--against", str(longer)).stderr
    raw = Raw(db)
    k = _tamper_in_place(raw)
    raw.run("UPDATE {index} SET digest = ? WHERE position = ?",
            content_digest(stored_fact(raw.state(k))), k)
    raw.rewrite_tree()
    # The bundle's verdict caught the maintained answers up: they still stand on the old
    # chain, and verify alone says so ...
    stale = run("verify", "--db", db)
    assert stale.exit_code == 1 and "folded from another history" in stale.stderr
    # ... until the rewriter moves their tracked head too.
    raw.run("UPDATE cl_tracking SET head = ?", json.loads(raw.state(N))["hash"])
    assert run("verify", "--db", db).exit_code == 0  # self-consistent
    for against in ([str(saved)], [str(bundle), "--verifier-key", vkey]):
        result = run("verify", "--db", db, "--against", *against)
        assert result.exit_code == 1
        assert f"failed at position {k}: the record differs from the copy kept" in result.stderr
