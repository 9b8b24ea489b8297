"""An independent verifier for the ledger's Merkle tree, checkpoints, signed notes and proofs.

Written from the published specifications only (RFC 9162 section 2.1, c2sp.org/signed-note,
c2sp.org/tlog-checkpoint, c2sp.org/tlog-proof; see tests/vectors/README.md) and sharing no
code with the project: it imports the standard library and ``cryptography`` (Ed25519), never
``compute_ledger``.  Parsers raise ValueError on anything malformed; verifiers return False.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

HASH_SIZE = 32
ED25519 = 0x01  # signature type byte of c2sp.org/signed-note
SIG_PREFIX = "\u2014 "  # em dash, space
MAX_SIGNATURES = 100  # the spec asks verifiers to accept at least 16; x/mod/sumdb/note stops at 100
MAX_UINT64 = 2**64 - 1
TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"
DECIMAL = re.compile(r"0|[1-9][0-9]*")  # ASCII digits, no leading zero
LOWER_HEX8 = re.compile(r"[0-9a-f]{8}")


# --- RFC 9162 Merkle tree -------------------------------------------------------------------

def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf_hash(data: bytes) -> bytes:
    return sha256(b"\x00" + data)


def node_hash(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _mth(hashes: list[bytes]) -> bytes:
    if len(hashes) == 1:
        return hashes[0]
    k = _split(len(hashes))
    return node_hash(_mth(hashes[:k]), _mth(hashes[k:]))


def root(records: list[bytes]) -> bytes:
    """MTH of the records, in order; the empty tree's hash is SHA-256 of nothing."""
    if not records:
        return sha256(b"")
    return _mth([leaf_hash(r) for r in records])


def inclusion_proof(index: int, records: list[bytes]) -> list[bytes]:
    """PATH(index, D_n) of RFC 9162 2.1.3.1, to cross-check the verifier on any tree."""
    if len(records) == 1:
        return []
    k = _split(len(records))
    if index < k:
        return [*inclusion_proof(index, records[:k]), root(records[k:])]
    return [*inclusion_proof(index - k, records[k:]), root(records[:k])]


def consistency_proof(size1: int, records: list[bytes], whole: bool = True) -> list[bytes]:
    """SUBPROOF(size1, D_n, whole) of RFC 9162 2.1.4.1; PROOF(m, D_n) is whole=True."""
    n = len(records)
    if size1 == n:
        return [] if whole else [root(records)]
    k = _split(n)
    if size1 <= k:
        return [*consistency_proof(size1, records[:k], whole), root(records[k:])]
    return [*consistency_proof(size1 - k, records[k:], False), root(records[:k])]


def feed_leaves(text: str) -> list[bytes]:
    """One leaf per line of a JSON Lines feed: the line without its newline, as UTF-8."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the final newline ends the last line, it does not start another
    if any(line == "" for line in lines):
        raise ValueError("a feed has no empty lines")
    return [line.encode("utf-8") for line in lines]


def root_from_feed(text: str) -> bytes:
    return root(feed_leaves(text))


def _hashes(*values: bytes) -> bool:
    return all(len(v) == HASH_SIZE for v in values)


def verify_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes], root: bytes) -> bool:
    """RFC 9162 2.1.3.2.  ``leaf`` is the leaf's hash (``leaf_hash(record)``), not the record."""
    if not 0 <= index < size or not _hashes(leaf, root, *proof):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:  # fn == sn on an even fn: climb past the lone nodes
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes,
                       proof: list[bytes]) -> bool:
    """RFC 9162 2.1.4.2 for 0 < size1 < size2.  Equal sizes are consistent exactly when the
    proof is empty and the roots are equal; a consistency proof from the empty tree (size1 0)
    is refused, as transparency-dev/merkle's vectors expect."""
    if not 0 < size1 <= size2:
        return False
    if size1 == size2:
        return not proof and root1 == root2
    if not proof or not _hashes(root1, root2, *proof):
        return False
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # size1 is a power of two: its root is a node of the new tree
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == root1 and sr == root2 and sn == 0


# --- encodings ------------------------------------------------------------------------------

def b64decode(text: str) -> bytes:
    """Standard base64 with padding, canonical only (re-encoding gives the same text)."""
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as bad:
        raise ValueError(f"not base64: {text!r}") from bad
    if base64.b64encode(data).decode("ascii") != text:
        raise ValueError(f"not canonical base64: {text!r}")
    return data


def _decimal(text: str, what: str) -> int:
    if not DECIMAL.fullmatch(text):
        raise ValueError(f"{what} is not a decimal without leading zeroes: {text!r}")
    value = int(text)
    if value > MAX_UINT64:
        raise ValueError(f"{what} is over 2^64 - 1")
    return value


# --- c2sp.org/tlog-checkpoint ---------------------------------------------------------------

def parse_checkpoint(body: str) -> tuple[str, int, bytes]:
    """(origin, size, root) of a checkpoint's note text, which ends in a newline."""
    if not body.endswith("\n"):
        raise ValueError("a checkpoint body ends with a newline")
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise ValueError("a checkpoint has an origin, a size and a root hash")
    if any(line == "" for line in lines):
        raise ValueError("a checkpoint has no empty lines")  # extension lines too are non-empty
    origin, size, root_b64 = lines[:3]
    hash_ = b64decode(root_b64)
    if len(hash_) != HASH_SIZE:
        raise ValueError("a checkpoint's root hash is 32 bytes")
    return origin, _decimal(size, "tree size"), hash_


# --- c2sp.org/signed-note -------------------------------------------------------------------

def key_id(name: str, key: bytes) -> bytes:
    """Four bytes of SHA-256(name || 0x0A || type byte || public key); ``key`` has the type."""
    return sha256(name.encode("utf-8") + b"\n" + key)[:4]


def _check_name(name: str) -> None:
    if not name or "+" in name or any(c.isspace() for c in name):
        raise ValueError(f"bad key name: {name!r}")


def _check_text(text: str) -> None:
    text.encode("utf-8")  # a lone surrogate is not UTF-8
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise ValueError("a note has no control characters but newline")


def parse_note(text: str) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    """(body with its final newline, [(key name, key ID, signature)]).  The body ends at the
    last blank line; every line after it is a signature line."""
    _check_text(text)
    if not text.endswith("\n"):
        raise ValueError("a signed note ends with a newline")
    split = text.rfind("\n\n")
    if split < 0:
        raise ValueError("a signed note has a blank line before its signatures")
    body, lines = text[:split + 1], text[split + 2:-1].split("\n")
    if lines == [""]:
        raise ValueError("a signed note has at least one signature")
    if len(lines) > MAX_SIGNATURES:
        raise ValueError("too many signatures")
    signatures = []
    for line in lines:
        if not line.startswith(SIG_PREFIX):
            raise ValueError(f"not a signature line: {line!r}")
        parts = line[len(SIG_PREFIX):].split(" ")
        if len(parts) != 2:
            raise ValueError(f"not a signature line: {line!r}")
        name, sig_b64 = parts
        _check_name(name)
        sig = b64decode(sig_b64)
        if len(sig) <= 4:
            raise ValueError("a signature is a key ID and at least one byte")
        signatures.append((name, sig[:4], sig[4:]))
    return body, signatures


def parse_verifier_key(vkey: str) -> tuple[str, bytes, bytes]:
    """``<name>+<hex key ID>+<base64(0x01 || public key)>`` -> (name, key ID, public key)."""
    parts = vkey.split("+", 2)  # the base64 key may hold a plus; name and ID cannot
    if len(parts) != 3:
        raise ValueError("a verifier key has three parts")
    name, id_hex, key_b64 = parts
    _check_name(name)
    if not LOWER_HEX8.fullmatch(id_hex):
        raise ValueError("a key ID is eight lowercase hex digits")
    key = b64decode(key_b64)
    if len(key) != 33 or key[0] != ED25519:
        raise ValueError("not an Ed25519 verifier key")
    if key_id(name, key) != bytes.fromhex(id_hex):
        raise ValueError("key ID does not match the name and key")
    return name, bytes.fromhex(id_hex), key[1:]


def parse_signer_key(skey: str) -> tuple[str, bytes, bytes]:
    """``PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 || seed)>`` (golang.org/x/mod/sumdb/note)
    -> (name, key ID, 32-byte Ed25519 seed); the ID is checked against the derived public key."""
    parts = skey.split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise ValueError("a signer key is PRIVATE+KEY+<name>+<id>+<key>")
    name, id_hex, key_b64 = parts[2:]
    _check_name(name)
    if not LOWER_HEX8.fullmatch(id_hex):
        raise ValueError("a key ID is eight lowercase hex digits")
    key = b64decode(key_b64)
    if len(key) != 33 or key[0] != ED25519:
        raise ValueError("not an Ed25519 signer key")
    public = Ed25519PrivateKey.from_private_bytes(key[1:]).public_key()
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    if key_id(name, bytes([ED25519]) + raw) != bytes.fromhex(id_hex):
        raise ValueError("key ID does not match the name and key")
    return name, bytes.fromhex(id_hex), key[1:]


def sign_note(body: str, skey: str) -> str:
    """The body signed by one Ed25519 signer key (Ed25519 is deterministic)."""
    name, kid, seed = parse_signer_key(skey)
    signature = Ed25519PrivateKey.from_private_bytes(seed).sign(body.encode("utf-8"))
    note = f"{body}\n{SIG_PREFIX}{name} {base64.b64encode(kid + signature).decode('ascii')}\n"
    parse_note(note)
    return note


def verify_note(text: str, vkey: str) -> bool:
    """True when the note holds a signature by this key and every one by it verifies."""
    try:
        name, kid, key = parse_verifier_key(vkey)
        body, signatures = parse_note(text)
    except ValueError:
        return False
    public = Ed25519PublicKey.from_public_bytes(key)
    mine = [sig for n, k, sig in signatures if n == name and k == kid]
    for sig in mine:
        if len(sig) != 64:
            return False
        try:
            public.verify(sig, body.encode("utf-8"))
        except InvalidSignature:
            return False
    return bool(mine)


# --- c2sp.org/tlog-proof@v1 -----------------------------------------------------------------

@dataclass(frozen=True)
class TlogProof:
    index: int
    hashes: list[bytes]
    checkpoint: str  # the signed checkpoint note, verbatim
    extra: bytes | None


def parse_tlog_proof(text: str) -> TlogProof:
    lines = text.split("\n")
    if lines[0] != TLOG_PROOF_HEADER:
        raise ValueError(f"a tlog proof starts with {TLOG_PROOF_HEADER}")
    at = 1
    extra = None
    if len(lines) > at and lines[at].startswith("extra "):
        extra = b64decode(lines[at].removeprefix("extra "))
        at += 1
    if len(lines) <= at or not lines[at].startswith("index "):
        raise ValueError("a tlog proof has an index line")
    index = _decimal(lines[at].removeprefix("index "), "index")
    at += 1
    hashes = []
    while at < len(lines) and lines[at] != "":
        hash_ = b64decode(lines[at])
        if len(hash_) != HASH_SIZE:
            raise ValueError("an inclusion proof hash is 32 bytes")
        hashes.append(hash_)
        at += 1
    if at >= len(lines):
        raise ValueError("a tlog proof has a blank line before its checkpoint")
    checkpoint = "\n".join(lines[at + 1:])
    if not checkpoint.strip("\n") or not checkpoint.endswith("\n"):
        raise ValueError("a tlog proof ends with its checkpoint, a signed note")
    return TlogProof(index, hashes, checkpoint, extra)


def verify_tlog_proof(text: str, leaf: bytes, origin: str, vkey: str) -> bool:
    """The proof's checkpoint is signed by ``vkey`` for ``origin`` and includes ``leaf`` (a
    leaf hash) at the proof's index.  Witness cosignatures are not checked."""
    try:
        proof = parse_tlog_proof(text)
        body, _ = parse_note(proof.checkpoint)
        got_origin, size, hash_ = parse_checkpoint(body)
    except ValueError:
        return False
    return (got_origin == origin and verify_note(proof.checkpoint, vkey)
            and verify_inclusion(proof.index, size, leaf, proof.hashes, hash_))
