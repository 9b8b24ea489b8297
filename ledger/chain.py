"""The hash chain.  Pure functions; auditors can re-implement them in a few lines.

Each record's hash is the SHA-256, in lowercase hex, of the UTF-8 text::

    <previous hash> "\\n" <position> "\\n" <recorded_at> "\\n" <canonical fact bytes>

where the previous hash of position 1 is 64 zeros, ``position`` is a decimal integer,
``recorded_at`` is the stored UTC text (``2026-05-06T17:00:00.000000Z``) and the canonical
fact bytes are stored verbatim inside the record.  Changing any byte of a fact, its position,
its time or the order of records changes every hash after it.
"""

from __future__ import annotations

import hashlib

GENESIS = "0" * 64


def link_hash(prev: str, position: int, recorded_at: str, fact: bytes) -> str:
    """The hash of one record, given the hash of the record before it."""
    digest = hashlib.sha256(f"{prev}\n{position}\n{recorded_at}\n".encode())
    digest.update(fact)
    return digest.hexdigest()


def content_digest(fact: bytes) -> bytes:
    """The first 16 bytes of the SHA-256 of a fact's canonical bytes.

    Kept in the fact index to recognise a re-appended fact as a duplicate without reading it.
    """
    return hashlib.sha256(fact).digest()[:16]
