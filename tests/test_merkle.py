"""The project's Merkle tree and C2SP notes against the published test vectors (kept in
``tests/vectors/``, sources and licences in its README) and against the independent verifier
of ``tests/independent.py``, which shares no code with the project."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import independent
import pytest
from hypothesis import given
from hypothesis import strategies as st

from compute_ledger.ledger import merkle, notes

VECTORS = Path(__file__).parent / "vectors"


def load(name: str) -> Any:
    return json.loads((VECTORS / name).read_text())


MERKLE = load("merkle.json")
PROBES = load("merkle_probes.json")
NOTES = load("signed_note.json")
LEAVES = [bytes.fromhex(h) for h in MERKLE["leaves"]]


def tree_of(records: list[bytes]) -> merkle.TreeView:
    """A tree grown by the project's own code, in two appends, read through its nodes."""
    frontier: list[tuple[merkle.Node, bytes]] = []
    nodes: dict[merkle.Node, bytes] = {}
    half = len(records) // 2
    leaves = [merkle.leaf_hash(r) for r in records]
    for size, part in ((0, leaves[:half]), (half, leaves[half:])):
        nodes.update(((lv, i), h) for lv, i, h in merkle.extend(frontier, size, part))
    assert len(nodes) == merkle.stored_count(len(records))
    return merkle.TreeView(len(records), lambda wanted: {k: nodes[k] for k in wanted})


def test_the_empty_tree_and_the_roots_of_the_rfc_vectors() -> None:
    assert merkle.EMPTY_ROOT.hex() == MERKLE["empty_root"]
    view = tree_of(LEAVES)
    for size, root in enumerate(MERKLE["roots"], start=1):
        assert view.root(size).hex() == root


def test_the_inclusion_and_consistency_proofs_of_the_rfc_vectors() -> None:
    view = tree_of(LEAVES)
    for case in MERKLE["inclusion"]:
        proof = [bytes.fromhex(h) for h in case["proof"]]
        assert view.inclusion(case["leaf_index"], case["tree_size"]) == proof
        root = view.root(case["tree_size"])
        leaf = merkle.leaf_hash(LEAVES[case["leaf_index"]])
        assert merkle.verify_inclusion(case["leaf_index"], case["tree_size"], leaf, proof, root)
    for case in MERKLE["consistency"]:
        proof = [bytes.fromhex(h) for h in case["proof"]]
        assert view.consistency(case["size1"], case["size2"]) == proof
        assert merkle.verify_consistency(case["size1"], case["size2"], view.root(case["size1"]),
                                         view.root(case["size2"]), proof)


@pytest.mark.parametrize("case", PROBES["inclusion"], ids=lambda c: c["file"])
def test_the_inclusion_probes(case: dict[str, Any]) -> None:
    ok = merkle.verify_inclusion(case["leaf_index"], case["tree_size"],
                                 bytes.fromhex(case["leaf_hash"]),
                                 [bytes.fromhex(h) for h in case["proof"]],
                                 bytes.fromhex(case["root"]))
    assert ok is not case["want_error"]


@pytest.mark.parametrize("case", PROBES["consistency"], ids=lambda c: c["file"])
def test_the_consistency_probes(case: dict[str, Any]) -> None:
    ok = merkle.verify_consistency(case["size1"], case["size2"], bytes.fromhex(case["root1"]),
                                   bytes.fromhex(case["root2"]),
                                   [bytes.fromhex(h) for h in case["proof"]])
    assert ok is not case["want_error"]


@given(st.lists(st.binary(max_size=8), max_size=40), st.data())
def test_proofs_agree_with_the_independent_verifier(records: list[bytes], data: Any) -> None:
    view = tree_of(records)
    n = len(records)
    assert view.root() == independent.root(records)
    if not n:
        return
    index = data.draw(st.integers(0, n - 1))
    size = data.draw(st.integers(index + 1, n))
    proof = view.inclusion(index, size)
    root = independent.root(records[:size])
    assert independent.verify_inclusion(index, size, independent.leaf_hash(records[index]),
                                        proof, root)
    old = data.draw(st.integers(1, n))
    assert independent.verify_consistency(old, n, independent.root(records[:old]),
                                          view.root(), view.consistency(old))
    if old < n and view.consistency(old):
        bent = [bytes(32), *view.consistency(old)[1:]]
        assert not merkle.verify_consistency(old, n, view.root(old), view.root(), bent)


def test_the_c2sp_signed_note_example_verifies_and_a_changed_byte_does_not() -> None:
    example = NOTES["c2sp_example"]
    verifier = notes.Verifier.parse(example["vkey"])
    assert verifier.text() == example["vkey"]
    assert notes.open_note(example["note"], verifier) == example["body"]
    with pytest.raises(notes.NoteError, match="does not verify"):
        notes.open_note(example["note"].replace("example", "exbmple", 1), verifier)


def test_the_go_signer_key_signs_the_published_note_byte_for_byte() -> None:
    go = NOTES["go_example"]
    signer = notes.Signer.parse(go["skey"])
    assert signer.verifier.text() == go["vkey"]
    assert signer.text() == go["skey"]
    assert signer.sign(go["body"]) == go["note"]
    assert independent.verify_note(go["note"], go["vkey"])
    assert "seed" not in repr(signer) and go["skey"].split("+")[-1] not in repr(signer)


def test_a_checkpoint_signed_here_verifies_independently() -> None:
    signer = notes.Signer.generate("example.org/compute-ledger")
    body = notes.Checkpoint("example.org/compute-ledger", 8,
                            bytes.fromhex(MERKLE["roots"][7])).body()
    note = signer.sign(body)
    assert independent.verify_note(note, signer.verifier.text())
    assert independent.parse_checkpoint(body) == ("example.org/compute-ledger", 8,
                                                  bytes.fromhex(MERKLE["roots"][7]))
    checkpoint, signed = notes.read_checkpoint(note, signer.verifier)
    assert signed and checkpoint.size == 8
    other = notes.Signer.generate("example.org/compute-ledger").verifier
    with pytest.raises(notes.NoteError, match=r"does not verify|no signature"):
        notes.read_checkpoint(note, other)
