"""Verifying the chain: the checks ``verify`` makes, as pure functions over stored bytes.

:class:`ChainVerifier` takes the stored records one at a time in position order and raises
:class:`~compute_ledger.ledger.errors.VerificationError` at the first one that does not
check out: a missing position, a record that cannot be decoded, a wrong position, a broken
link, a hash that does not match, ``recorded_at`` going backwards, a hash that differs from
a pinned one.  :func:`index_breach` and :func:`tail_breach` judge the fact index against the
records.  The store reads; nothing here touches a database.
"""

from __future__ import annotations

from typing import NoReturn

import msgspec

from compute_ledger.ledger.chain import GENESIS, content_digest, link_hash
from compute_ledger.ledger.errors import Breach, VerificationError
from compute_ledger.ledger.facts import decode_fact
from compute_ledger.ledger.merkle import Node, extend, leaf_hash, stored_count
from compute_ledger.ledger.persistence import RECORD_DECODER, RECORD_TOPIC, record_json


class Pin(msgspec.Struct, frozen=True):
    """A pinned head: the ledger's hash at ``position`` must still be ``hash``, or start
    with it (a pin may give a prefix, see :func:`ledger.store.parse_pin`)."""

    position: int
    hash: str


def breach(position: int, reason: str) -> NoReturn:
    raise VerificationError(Breach(position, reason))


class ChainVerifier:
    """The chain checked record by record, from position 1."""

    def __init__(self, against: Pin | None = None) -> None:
        self.against = against
        self.expected = 1
        self.prev = GENESIS
        self.last_recorded = ""

    @property
    def position(self) -> int:
        """The last position checked (0 before the first)."""
        return self.expected - 1

    def check(self, at: int, topic: str, state: bytes) -> tuple[int, str, bytes]:
        """Check the record stored at position ``at``; return ``(position, fact id, content
        digest)`` for the fact index's check."""
        if at != self.expected:
            breach(self.expected,
                   f"record missing (the next stored record is at position {at})")
        if topic != RECORD_TOPIC:
            breach(at, "the stored record cannot be decoded")
        try:
            record = RECORD_DECODER.decode(state)
        except (msgspec.MsgspecError, ValueError):
            breach(at, "the stored record cannot be decoded")
        raw = bytes(record.fact)
        try:
            fact = decode_fact(raw)
        except (msgspec.MsgspecError, ValueError):
            breach(at, "the fact cannot be decoded")
        if record.position != at:
            breach(at, f"the record stored here claims position {record.position}")
        if record_json(record) != bytes(state):
            breach(at, "the stored record is not in its canonical form (it was rewritten; "
                       "feed and the Merkle tree hash the canonical bytes)")
        if record.prev != self.prev:
            breach(at, "the record does not link to the one before it (prev hash differs)")
        if link_hash(self.prev, at, record.recorded_at, raw) != record.hash:
            breach(at, "the stored hash does not match the record's content")
        if record.recorded_at < self.last_recorded:
            breach(at, "recorded_at goes backwards")
        if self.against is not None and at == self.against.position \
                and not record.hash.startswith(self.against.hash):
            breach(at, "the hash differs from the pinned one: history was rewritten")
        self.prev, self.last_recorded, self.expected = record.hash, record.recorded_at, at + 1
        assert fact.id is not None  # every stored fact has an id
        return at, fact.id, content_digest(raw)


def index_breach(rows: list[tuple[int, str, bytes]],
                 found: dict[str, tuple[int, bytes]]) -> None:
    """Raise at the first record the fact index (``found``: id -> position, digest)
    disagrees with."""
    for position, fact_id, digest in rows:
        if found.get(fact_id) != (position, digest):
            breach(position, "the fact index does not match the record")


def tail_breach(head: int, indexed: int, orphan: int | None, entries: int,
                against: Pin | None) -> None:
    """Raise if, after the last record (``head``), the fact index or a pin names more: an
    index entry past the head (``orphan``), an index complete beyond the head, an index
    whose size is not its position, a pin beyond the head."""
    if orphan is not None:
        breach(orphan, "record missing (the fact index still lists it)")
    if indexed > head:
        breach(head + 1, f"record missing (the fact index covers positions up to {indexed})")
    if entries != indexed:
        breach(min(head, indexed) or 1,
               f"the fact index holds {entries} entries for {indexed} records")
    if against is not None and against.position > head:
        breach(head + 1, f"the pinned position {against.position} is beyond the head "
                         f"({head}): records were removed")


class TreeChecker:
    """The Merkle tree's stored nodes checked against the records: each record checked by
    :class:`ChainVerifier` is added as a leaf (:meth:`add`); :meth:`pending` grows the tree
    by the leaves added since and gives the nodes it should store for them, which the
    store fetches for :meth:`compare`.  The tree covers ``size`` records, as the append
    that last grew it recorded (None: never built, a ledger written before the tree
    existed: the next append builds it), and stores its nodes from level ``low`` up."""

    def __init__(self, size: int | None, low: int) -> None:
        self.recorded = size
        self.size = size or 0
        self.low = low
        self.frontier: list[tuple[Node, bytes]] = []
        self.grown = 0
        self.leaves: list[bytes] = []

    def add(self, state: bytes) -> None:
        if self.grown + len(self.leaves) < self.size:
            self.leaves.append(leaf_hash(state))

    def pending(self) -> dict[Node, bytes]:
        """The stored nodes the leaves added since the last call complete."""
        rows = extend(self.frontier, self.grown, self.leaves, self.low)
        self.grown += len(self.leaves)
        self.leaves = []
        return {(level, index): digest for level, index, digest in rows}

    @staticmethod
    def compare(expected: dict[Node, bytes], stored: dict[Node, bytes]) -> None:
        """Raise at the first node whose stored hash is not the one the records give."""
        for (level, index), digest in sorted(expected.items(),
                                             key=lambda item: (item[0][1] << item[0][0],
                                                               item[0][0])):
            if stored.get((level, index)) != digest:
                first, last = (index << level) + 1, (index + 1) << level
                breach(first, f"the Merkle tree's node over positions {first}-{last} does "
                              "not match the records (one of them was altered, or the node)")

    def finish(self, head: int, count: int) -> None:
        """Raise if the tree covers other than the ``head`` records (once built, every
        append grows it with the records), or holds other than its ``count`` nodes."""
        if self.size > head:
            breach(head + 1, f"record missing (the Merkle tree covers positions up to "
                             f"{self.size})")
        if self.recorded is not None and self.size < head:
            breach(self.size + 1, f"record not in the Merkle tree (it covers {self.size} "
                                  "records: records were added behind its back)")
        expected = stored_count(self.size, self.low)
        if count != expected:
            breach(min(head, self.size) or 1,
                   f"the Merkle tree holds {count} nodes; a tree of {self.size} records "
                   f"holds {expected} (nodes were removed or added)")
