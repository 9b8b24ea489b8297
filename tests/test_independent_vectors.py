"""The independent verifier (tests/independent.py) against published vectors (tests/vectors/).

Where a vector came from is in tests/vectors/README.md.  Nothing here imports the project:
these tests say the verifier is right, so that it can then judge the project's own output.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import independent as ind
import pytest

VECTORS = Path(__file__).resolve().parent / "vectors"


def load(name: str) -> Any:
    return json.loads((VECTORS / f"{name}.json").read_text(encoding="utf-8"))


MERKLE = load("merkle")
PROBES = load("merkle_probes")
NOTES = load("signed_note")
TLOG = load("tlog_proof")
LEAVES = [bytes.fromhex(h) for h in MERKLE["leaves"]]
ROOTS = [bytes.fromhex(h) for h in MERKLE["roots"]]


def hexes(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(h) for h in values]


def flip(data: bytes, bit: int = 0) -> bytes:
    return bytes([data[0] ^ (1 << bit)]) + data[1:]


# --- Merkle tree ----------------------------------------------------------------------------

def test_hasher() -> None:
    hasher = MERKLE["hasher"]
    assert ind.root([]).hex() == hasher["empty_root"] == MERKLE["empty_root"]
    for case in hasher["leaf_hashes"]:
        assert ind.leaf_hash(bytes.fromhex(case["data"])).hex() == case["hash"]
    for case in hasher["node_hashes"]:
        got = ind.node_hash(bytes.fromhex(case["left"]), bytes.fromhex(case["right"]))
        assert got.hex() == case["hash"]


@pytest.mark.parametrize("size", range(1, 9))
def test_root_of_each_size(size: int) -> None:
    assert ind.root(LEAVES[:size]) == ROOTS[size - 1]


def test_root_from_feed_takes_each_line_as_a_leaf() -> None:
    lines = ['{"a": 1}', '{"b": "\u00e9"}', "{}"]
    want = ind.root([line.encode("utf-8") for line in lines])
    assert ind.root_from_feed("\n".join(lines) + "\n") == want
    assert ind.root_from_feed("\n".join(lines)) == want  # the last newline is optional
    assert ind.root_from_feed("") == ind.root([])
    with pytest.raises(ValueError):
        ind.root_from_feed('{"a": 1}\n\n{}\n')


@pytest.mark.parametrize("case", MERKLE["inclusion"],
                         ids=lambda c: f"{c['leaf_index']}@{c['tree_size']}")
def test_inclusion_vector(case: dict[str, Any]) -> None:
    index, size, proof = case["leaf_index"], case["tree_size"], hexes(case["proof"])
    leaf, root = ind.leaf_hash(LEAVES[index]), ROOTS[size - 1]
    assert ind.verify_inclusion(index, size, leaf, proof, root)
    assert ind.inclusion_proof(index, LEAVES[:size]) == proof
    for i in range(len(proof)):  # a tampered proof fails
        assert not ind.verify_inclusion(index, size, leaf, [*proof[:i], flip(proof[i], 3),
                                                            *proof[i + 1:]], root)
    assert not ind.verify_inclusion(index, size, flip(leaf), proof, root)
    assert not ind.verify_inclusion(index + 1, size, leaf, proof, root)
    # The size is bound only through the proof's shape (size + 1 can share it), so like the
    # source's corruptions this doubles and halves it.
    assert not ind.verify_inclusion(index, size * 2, leaf, proof, root)
    assert not ind.verify_inclusion(index, size // 2, leaf, proof, root)
    assert not ind.verify_inclusion(index, size, leaf, [*proof, root], root)


@pytest.mark.parametrize("case", MERKLE["consistency"], ids=lambda c: f"{c['size1']}-{c['size2']}")
def test_consistency_vector(case: dict[str, Any]) -> None:
    size1, size2, proof = case["size1"], case["size2"], hexes(case["proof"])
    root1, root2 = ROOTS[size1 - 1], ROOTS[size2 - 1]
    assert ind.verify_consistency(size1, size2, root1, root2, proof)
    assert ind.consistency_proof(size1, LEAVES[:size2]) == proof
    for i in range(len(proof)):
        assert not ind.verify_consistency(size1, size2, root1, root2,
                                          [*proof[:i], flip(proof[i], 4), *proof[i + 1:]])
    if size1 != size2:
        assert not ind.verify_consistency(size1, size2, root2, root1, proof)
        assert not ind.verify_consistency(size1, size2, root1, root2, proof[:-1])
        assert not ind.verify_consistency(size1, size2 * 2, root1, root2, proof)
        assert not ind.verify_consistency(size1, size2 // 2, root1, root2, proof)


@pytest.mark.parametrize("probe", PROBES["inclusion"], ids=lambda p: p["file"])
def test_inclusion_probe(probe: dict[str, Any]) -> None:
    got = ind.verify_inclusion(probe["leaf_index"], probe["tree_size"],
                               bytes.fromhex(probe["leaf_hash"]), hexes(probe["proof"]),
                               bytes.fromhex(probe["root"]))
    assert got is not probe["want_error"]


@pytest.mark.parametrize("probe", PROBES["consistency"], ids=lambda p: p["file"])
def test_consistency_probe(probe: dict[str, Any]) -> None:
    got = ind.verify_consistency(probe["size1"], probe["size2"], bytes.fromhex(probe["root1"]),
                                 bytes.fromhex(probe["root2"]), hexes(probe["proof"]))
    assert got is not probe["want_error"]


def test_every_proof_of_small_trees_verifies() -> None:
    # The RFC's own proof definitions (PATH, PROOF) against its verification algorithms.
    records = [f"record {i}".encode() for i in range(40)]
    roots = [ind.root(records[:n]) for n in range(len(records) + 1)]
    for n in range(1, len(records) + 1):
        for i in range(n):
            proof = ind.inclusion_proof(i, records[:n])
            assert ind.verify_inclusion(i, n, ind.leaf_hash(records[i]), proof, roots[n])
            assert not ind.verify_inclusion(i, n, ind.leaf_hash(records[i - 1] + b"x"), proof,
                                            roots[n])
        for m in range(1, n + 1):
            proof = ind.consistency_proof(m, records[:n])
            assert ind.verify_consistency(m, n, roots[m], roots[n], proof)
            if m < n:
                assert not ind.verify_consistency(m, n, roots[m - 1], roots[n], proof)


# --- signed notes ---------------------------------------------------------------------------

KEYED = [NOTES["c2sp_example"], NOTES["go_example"]]


@pytest.mark.parametrize("example", KEYED, ids=lambda e: e["name"])
def test_signed_note_example_verifies(example: dict[str, Any]) -> None:
    name, kid, key = ind.parse_verifier_key(example["vkey"])
    assert (name, kid.hex(), len(key)) == (example["name"], example["key_id"], 32)
    body, signatures = ind.parse_note(example["note"])
    assert body == example["body"]
    assert [(n, k.hex(), len(s)) for n, k, s in signatures] == [(name, kid.hex(), 64)]
    assert ind.verify_note(example["note"], example["vkey"])


@pytest.mark.parametrize("example", KEYED, ids=lambda e: e["name"])
def test_any_changed_character_fails(example: dict[str, Any]) -> None:
    note: str = example["note"]
    for i, c in enumerate(note):
        changed = note[:i] + chr(ord(c) ^ 1) + note[i + 1:]
        assert not ind.verify_note(changed, example["vkey"]), (i, changed)
    raw = note.encode("utf-8")
    for i in range(len(raw)):
        try:
            changed = (raw[:i] + bytes([raw[i] ^ 0x40]) + raw[i + 1:]).decode("utf-8")
        except UnicodeDecodeError:
            continue
        assert not ind.verify_note(changed, example["vkey"]), (i, changed)


def test_a_note_needs_the_right_key() -> None:
    c2sp, go = NOTES["c2sp_example"], NOTES["go_example"]
    assert not ind.verify_note(c2sp["note"], go["vkey"])
    assert not ind.verify_note(go["note"], c2sp["vkey"])
    assert not ind.verify_note(go["note"], go["enoch_vkey"])


def test_doubly_signed_note() -> None:
    go = NOTES["go_example"]
    body, signatures = ind.parse_note(go["doubly_signed_note"])
    assert body == go["body"]
    assert [n for n, _, _ in signatures] == ["PeterNeumann", "EnochRoot"]
    assert ind.verify_note(go["doubly_signed_note"], go["vkey"])
    assert ind.verify_note(go["doubly_signed_note"], go["enoch_vkey"])


def test_signer_key_signs_the_published_note() -> None:
    go = NOTES["go_example"]
    name, kid, seed = ind.parse_signer_key(go["skey"])
    assert (name, kid.hex(), len(seed)) == (go["name"], go["key_id"], 32)
    assert ind.sign_note(go["body"], go["skey"]) == go["note"]  # Ed25519 is deterministic


def test_mangled_keys_are_refused() -> None:
    go = NOTES["go_example"]
    vkey, skey = go["vkey"], go["skey"]
    for bad in go["bad_vkeys"]:
        with pytest.raises(ValueError):
            ind.parse_verifier_key(bad)
    # As x/mod/sumdb/note's tests do: no proper substring and no byte + 1 is a key.
    for key, parse in ((vkey, ind.parse_verifier_key), (skey, ind.parse_signer_key)):
        for i in range(len(key)):
            for j in range(i + 1, len(key) + 1):
                if (i, j) != (0, len(key)):
                    with pytest.raises(ValueError):
                        parse(key[i:j])
            with pytest.raises(ValueError):
                parse(key[:i] + chr(ord(key[i]) + 1) + key[i + 1:])


@pytest.mark.parametrize("case", NOTES["go_example"]["malformed_or_rejected_notes"],
                         ids=lambda c: c["how"])
def test_malformed_or_rejected_note(case: dict[str, Any]) -> None:
    assert not ind.verify_note(case["note"], NOTES["go_example"]["vkey"])
    if "invalid signature" not in case["how"]:
        with pytest.raises(ValueError):
            ind.parse_note(case["note"])


@pytest.mark.parametrize("example", NOTES["parse_only"], ids=lambda e: e["name"])
def test_unkeyed_examples_parse(example: dict[str, Any]) -> None:
    body, signatures = ind.parse_note(example["note"])
    assert body == example["body"]
    assert [n for n, _, _ in signatures] == [example["name"]]
    if "checkpoint" in example:
        want = example["checkpoint"]
        assert ind.parse_checkpoint(body) == (want["origin"], want["size"],
                                              bytes.fromhex(want["root"]))


# --- checkpoints ----------------------------------------------------------------------------

ROOT_B64 = base64.b64encode(bytes(range(32))).decode()


@pytest.mark.parametrize("body", [
    f"example.com/log\n0\n{ROOT_B64}\n",
    f"example.com/log\n18446744073709551615\n{ROOT_B64}\n",
    f"example.com/log\n7\n{ROOT_B64}\nan extension\nanother one\n",
    f"any origin at all\n7\n{ROOT_B64}\n",
])
def test_checkpoint_accepted(body: str) -> None:
    origin, size, root = ind.parse_checkpoint(body)
    lines = body.split("\n")
    assert (origin, str(size), root) == (lines[0], lines[1], bytes(range(32)))


@pytest.mark.parametrize("body", [
    f"example.com/log\n7\n{ROOT_B64}",  # no final newline
    "example.com/log\n7\n",
    f"\n7\n{ROOT_B64}\n",
    f"example.com/log\n07\n{ROOT_B64}\n",
    f"example.com/log\n+7\n{ROOT_B64}\n",
    f"example.com/log\n-7\n{ROOT_B64}\n",
    f"example.com/log\n 7\n{ROOT_B64}\n",
    f"example.com/log\n\u0667\n{ROOT_B64}\n",  # a digit, but not an ASCII one
    f"example.com/log\n18446744073709551616\n{ROOT_B64}\n",
    f"example.com/log\n7\n{ROOT_B64.rstrip('=')}\n",
    f"example.com/log\n7\n{base64.b64encode(bytes(31)).decode()}\n",
    f"example.com/log\n7\n{base64.b64encode(bytes(33)).decode()}\n",
    f"example.com/log\n7\n{ROOT_B64[:-2]}x=\n",  # not canonical: spare bits set
    f"example.com/log\n7\n{ROOT_B64}\n\nextension\n",
])
def test_checkpoint_refused(body: str) -> None:
    with pytest.raises(ValueError):
        ind.parse_checkpoint(body)


# --- tlog proofs ----------------------------------------------------------------------------

def test_tlog_proof_example_parses() -> None:
    example = TLOG["example"]
    proof = ind.parse_tlog_proof(example["proof"])
    assert proof.index == example["index"]
    assert proof.hashes == hexes(example["hashes"])
    assert proof.extra is not None and proof.extra.hex() == example["extra"]
    assert proof.checkpoint == example["checkpoint"]


def test_tlog_proof_without_extra_or_hashes() -> None:
    checkpoint = NOTES["parse_only"][1]["note"]
    proof = ind.parse_tlog_proof(f"c2sp.org/tlog-proof@v1\nindex 0\n\n{checkpoint}")
    assert proof == ind.TlogProof(0, [], checkpoint, None)


@pytest.mark.parametrize("case", TLOG["malformed"], ids=lambda c: c["desc"])
def test_tlog_proof_malformed(case: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ind.parse_tlog_proof(case["proof"])


@pytest.mark.parametrize("text", [
    "c2sp.org/tlog-proof@v2\nindex 0\n\nx\n",
    "c2sp.org/tlog-proof@v1\nindex 01\n\nx\n",
    "c2sp.org/tlog-proof@v1\nindex 0\n",  # no checkpoint
    "c2sp.org/tlog-proof@v1\nindex 0\n\n",
    "c2sp.org/tlog-proof@v1\nindex 0\n\nx",  # the checkpoint note ends with a newline
    "c2sp.org/tlog-proof@v1\nextra AA==\nextra AA==\nindex 0\n\nx\n",
    "c2sp.org/tlog-proof@v1\nindex 0\nextra AA==\n\nx\n",
])
def test_tlog_proof_refused(text: str) -> None:
    with pytest.raises(ValueError):
        ind.parse_tlog_proof(text)


def composed_tlog_proof(index: int, size: int, proof: list[str], origin: str) -> str:
    """A tlog proof composed from published parts: the RFC 6962 vectors' root and inclusion
    proof, in a checkpoint signed with x/mod/sumdb/note's published signer key."""
    root = base64.b64encode(ROOTS[size - 1]).decode()
    checkpoint = ind.sign_note(f"{origin}\n{size}\n{root}\n", NOTES["go_example"]["skey"])
    lines = [base64.b64encode(bytes.fromhex(h)).decode() for h in proof]
    return "\n".join(["c2sp.org/tlog-proof@v1", f"index {index}", *lines, "", checkpoint])


def test_composed_tlog_proof_verifies() -> None:
    vkey = NOTES["go_example"]["vkey"]
    for case in MERKLE["inclusion"]:
        index, size = case["leaf_index"], case["tree_size"]
        text = composed_tlog_proof(index, size, case["proof"], "PeterNeumann")
        leaf = ind.leaf_hash(LEAVES[index])
        assert ind.verify_tlog_proof(text, leaf, "PeterNeumann", vkey)
        assert not ind.verify_tlog_proof(text, flip(leaf), "PeterNeumann", vkey)
        assert not ind.verify_tlog_proof(text, leaf, "another.example/log", vkey)
        assert not ind.verify_tlog_proof(text, leaf, "PeterNeumann", NOTES["c2sp_example"]["vkey"])
        if case["proof"]:
            tampered = [flip(bytes.fromhex(case["proof"][0])).hex(), *case["proof"][1:]]
            bad = composed_tlog_proof(index, size, tampered, "PeterNeumann")
            assert not ind.verify_tlog_proof(bad, leaf, "PeterNeumann", vkey)
