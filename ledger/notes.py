"""Signed checkpoints and proofs in the C2SP formats: pure text in, text out.

* ``c2sp.org/signed-note``: a text ending in a newline, an empty line, then signature lines
  ``— NAME BASE64(key id || signature)``; an Ed25519 key's id is the first four bytes of
  ``SHA-256(NAME || 0x0A || 0x01 || public key)``.  A verifier key is
  ``NAME+HEXID+BASE64(0x01 || public key)``; a signer key, as Go's ``sumdb/note`` writes
  it, ``PRIVATE+KEY+NAME+HEXID+BASE64(0x01 || seed)``.
* ``c2sp.org/tlog-checkpoint``: the signed text is the origin, the tree size in decimal
  and the base64 root hash, a line each.
* ``c2sp.org/tlog-proof@v1``: the header line, ``index N``, the inclusion proof's hashes in
  base64 a line each, an empty line, then the signed checkpoint verbatim.

Errors are :class:`NoteError` with a message that names what is wrong, never a key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from compute_ledger.ledger.errors import LedgerError

ED25519 = 0x01
DASH = "\u2014 "
PROOF_HEADER = "c2sp.org/tlog-proof@v1"
MAX_SIGNATURES = 100


class NoteError(LedgerError, ValueError):
    """A note, key, checkpoint or proof that is malformed or does not verify."""


class SignatureError(NoteError):
    """A well-formed note that does not verify against the key given: no signature by it,
    a signature that fails, or a checkpoint of another origin.  A failed check, where a
    malformed note is bad input."""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str, what: str) -> bytes:
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise NoteError(f"{what} is not base64") from None
    if b64(data) != text:
        raise NoteError(f"{what} is not canonical base64")
    return data


MAX_NAME = 255


def check_name(name: str) -> None:
    """A key name as signed-note has it: non-empty, no Unicode space, no ``+`` (and, here,
    no control character and at most :data:`MAX_NAME` characters)."""
    if not name or "+" in name or any(c.isspace() or ord(c) < 0x20 or c == "\x7f"
                                      for c in name) or len(name) > MAX_NAME:
        shown = name if len(name) <= 60 else name[:57] + "..."
        raise NoteError(f"{shown!r} is not a key name: it must be 1 to {MAX_NAME} characters "
                        "without spaces or '+' (a schema-less URL such as example.com/log)")


def key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public).digest()[:4]


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class Verifier:
    """A verifier key: who signs, and the Ed25519 public key to check them with."""

    name: str
    public: bytes

    @property
    def id(self) -> bytes:
        return key_id(self.name, self.public)

    def text(self) -> str:
        return f"{self.name}+{self.id.hex()}+{b64(bytes([ED25519]) + self.public)}"

    @classmethod
    def parse(cls, text: str) -> Verifier:
        if text.strip().upper().startswith("PRIVATE+KEY+"):
            raise NoteError("that is a signer key, which must stay secret: give the verifier "
                            "key keygen printed (NAME+KEYID+KEY)")
        parts = text.strip().split("+", 2)
        if len(parts) != 3:
            raise NoteError("not a verifier key: expected NAME+KEYID+KEY (as keygen prints it)")
        name, hexid, data = parts
        check_name(name)
        raw = unb64(data, "the verifier key's key")
        if len(raw) != 33 or raw[0] != ED25519:
            raise NoteError("the verifier key is not an Ed25519 key")
        verifier = cls(name, raw[1:])
        if hexid.lower() != verifier.id.hex():
            raise NoteError("the verifier key's id does not match its name and key")
        return verifier

    def check(self, body: str, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(signature, body.encode())
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True, repr=False)
class Signer:
    """A signer key.  Its ``repr`` and errors never show the seed."""

    name: str
    _seed: bytes

    def __repr__(self) -> str:
        return f"Signer({self.name!r})"

    @classmethod
    def generate(cls, name: str) -> Signer:
        check_name(name)
        return cls(name, Ed25519PrivateKey.generate().private_bytes_raw())

    @property
    def verifier(self) -> Verifier:
        key = Ed25519PrivateKey.from_private_bytes(self._seed)
        return Verifier(self.name, _raw_public(key.public_key()))

    def text(self) -> str:
        return (f"PRIVATE+KEY+{self.name}+{self.verifier.id.hex()}+"
                f"{b64(bytes([ED25519]) + self._seed)}")

    @classmethod
    def parse(cls, text: str) -> Signer:
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise NoteError("not a signer key: expected PRIVATE+KEY+NAME+KEYID+KEY (as keygen "
                            "writes it)")
        _, _, name, hexid, data = parts
        check_name(name)
        try:
            raw = base64.b64decode(data.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise NoteError("the signer key is not base64") from None
        if len(raw) != 33 or raw[0] != ED25519:
            raise NoteError("the signer key is not an Ed25519 key")
        signer = cls(name, raw[1:])
        if hexid != signer.verifier.id.hex():
            raise NoteError("the signer key's id does not match its name and key")
        return signer

    def sign(self, body: str) -> str:
        """The signed note of ``body`` (a text ending in a newline)."""
        check_body(body)
        key = Ed25519PrivateKey.from_private_bytes(self._seed)
        signature = self.verifier.id + key.sign(body.encode())
        return f"{body}\n{DASH}{self.name} {b64(signature)}\n"


def check_body(body: str) -> None:
    if not body.endswith("\n"):
        raise NoteError("a note's text must end with a newline")
    if any(ord(c) < 0x20 and c != "\n" for c in body):
        raise NoteError("a note's text may hold no control character but newlines")


def split_note(text: str) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    """A signed note's text and its signatures ``(name, key id, signature)``."""
    check_body(text)
    cut = text.rfind("\n\n")
    if cut < 0:
        raise NoteError("not a signed note: no empty line before the signatures")
    body, block = text[: cut + 1], text[cut + 2 :]
    lines = block.split("\n")
    if lines[-1] != "" or len(lines) < 2:
        raise NoteError("not a signed note: no signature, or no newline after the last")
    lines = lines[:-1]
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"a note with more than {MAX_SIGNATURES} signatures is refused")
    signatures = []
    for line in lines:
        if not line.startswith(DASH):
            raise NoteError(f"not a signature line: {line[:40]!r}")
        name, space, data = line[len(DASH):].partition(" ")
        check_name(name)
        try:  # as Go's sumdb/note: any decodable base64 (an unknown signer's is ignored)
            raw = base64.b64decode(data.encode("ascii"), validate=True) if space else b""
        except (binascii.Error, UnicodeEncodeError):
            raise NoteError(f"the signature by {name} is not base64") from None
        if len(raw) < 5:
            raise NoteError(f"the signature by {name} is too short")
        signatures.append((name, raw[:4], raw[4:]))
    return body, signatures


def open_note(text: str, verifier: Verifier) -> str:
    """The text of a note signed by ``verifier`` (other signatures are ignored)."""
    body, signatures = split_note(text)
    mine = [sig for name, kid, sig in signatures if (name, kid) == (verifier.name, verifier.id)]
    if not mine:
        raise SignatureError(f"the note carries no signature by {verifier.name} "
                        f"({verifier.id.hex()})")
    if not all(verifier.check(body, sig) for sig in mine):
        raise SignatureError(f"the signature by {verifier.name} does not verify: the note was "
                        "altered or signed by another key")
    return body


# -- checkpoints -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def body(self) -> str:
        return f"{self.origin}\n{self.size}\n{b64(self.root)}\n"


def _decimal(text: str, what: str) -> int:
    """A decimal with no leading zero, below 2**63 (a tree size or a leaf index)."""
    if not text.isascii() or not text.isdigit() or (text != "0" and text.startswith("0")) \
            or len(text) > 19 or int(text) >= 2**63:
        raise NoteError(f"{what} {text[:30]!r} is not a decimal number below 2**63")
    return int(text)


def parse_checkpoint(body: str) -> Checkpoint:
    """The origin, size and root of a checkpoint's text (extension lines are allowed)."""
    lines = body.split("\n")
    if len(lines) < 4 or lines[-1] != "" or any(not line for line in lines[:-1]):
        raise NoteError("not a checkpoint: expected the origin, the tree size and the root "
                        "hash, a non-empty line each")
    origin, size, root = lines[:3]
    digest = unb64(root, "the checkpoint's root hash")
    if len(digest) != 32:
        raise NoteError("the checkpoint's root hash is not 32 bytes")
    return Checkpoint(origin, _decimal(size, "the checkpoint's tree size"), digest)


def read_checkpoint(text: str, verifier: Verifier | None) -> tuple[Checkpoint, bool]:
    """A checkpoint from a signed note (checked against ``verifier`` when given) or from an
    unsigned body; and whether its signature was checked."""
    if "\n\n" in text:
        body = open_note(text, verifier) if verifier is not None else split_note(text)[0]
        checkpoint = parse_checkpoint(body)
        if verifier is not None and checkpoint.origin != verifier.name:
            raise SignatureError(f"the checkpoint's origin {checkpoint.origin!r} is not the "
                            f"verifier key's name {verifier.name!r}")
        return checkpoint, verifier is not None
    if verifier is not None:
        raise SignatureError("the checkpoint is not signed, so --verifier-key cannot check it")
    return parse_checkpoint(text), False


# -- proofs ------------------------------------------------------------------------------------


def proof_text(index: int, hashes: list[bytes], checkpoint: str) -> str:
    """A ``c2sp.org/tlog-proof@v1`` of the entry at ``index`` under a signed checkpoint."""
    lines = [PROOF_HEADER, f"index {index}", *(b64(h) for h in hashes)]
    return "\n".join(lines) + "\n\n" + checkpoint


@dataclass(frozen=True)
class InclusionProof:
    index: int
    hashes: list[bytes]
    checkpoint: str


def parse_proof(text: str) -> InclusionProof:
    head, sep, checkpoint = text.partition("\n\n")
    lines = head.split("\n")
    if not sep or lines[0] != PROOF_HEADER:
        raise NoteError(f"not a tlog proof: the first line must be {PROOF_HEADER}, and an "
                        "empty line must come before the checkpoint")
    rest = lines[1:]
    if rest and rest[0].startswith("extra "):
        unb64(rest[0][len("extra "):], "the proof's extra data")
        rest = rest[1:]
    if not rest or not rest[0].startswith("index "):
        raise NoteError("not a tlog proof: no index line")
    index = _decimal(rest[0][len("index "):], "the proof's index")
    hashes = [unb64(line, "a proof hash") for line in rest[1:]]
    if any(len(h) != 32 for h in hashes):
        raise NoteError("a proof hash is not 32 bytes")
    return InclusionProof(index, hashes, checkpoint)
