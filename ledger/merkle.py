"""The ledger's Merkle tree (RFC 9162, section 2.1): pure functions over hashes.

Leaf ``i`` (0-based) is ``SHA-256(0x00 || record_i)``, where ``record_i`` is the stored
record at position ``i + 1``, byte for byte the line ``feed`` prints for it (without its
newline); an inner node is ``SHA-256(0x01 || left || right)``; a tree of ``n > 1`` leaves
splits at the largest power of two smaller than ``n``; the empty tree's hash is
``SHA-256("")``.

What is stored
==============

The store keeps the hash of every *perfect* subtree: a :data:`Node` ``(level, index)``
covers the ``2**level`` leaves from ``index * 2**level``.  Every range of leaves that the
RFC's recursion ever hashes (a tree head, a sibling in an inclusion proof, a subtree in a
consistency proof) is a right fold of at most ``log2 n`` of them (:func:`cover`), so a root
or a proof is a handful of lookups, whatever the size of the ledger.  The nodes only ever
grow: an append adds the new leaves and the nodes they complete (:func:`extend`), nothing
stored changes.

The proofs are the RFC's ``PATH`` and ``PROOF`` (:func:`inclusion_ranges`,
:func:`consistency_ranges`), and their checks are the RFC's verification algorithms
(:func:`verify_inclusion`, :func:`verify_consistency`), which need nothing but the proof.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterable, Mapping

Node = tuple[int, int]
"""A perfect subtree: ``(level, index)`` covers the leaves from ``index << level`` up to
(not including) ``(index + 1) << level``."""

EMPTY_ROOT = hashlib.sha256(b"").digest()


_LEAF = hashlib.sha256(b"\x00")


def leaf_hash(record: bytes) -> bytes:
    """``SHA-256(0x00 || record)``, from a copy of the hashed prefix: a record is not copied
    to be prefixed (the append hashes every record it writes)."""
    leaf = _LEAF.copy()
    leaf.update(record)
    return leaf.digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n >= 2``): where the RFC splits."""
    return 1 << ((n - 1).bit_length() - 1)


def cover(start: int, end: int) -> list[Node]:
    """The perfect subtrees, left to right, whose right fold is the hash of leaves
    ``[start, end)``, for a range the RFC's recursion hashes (``start`` a multiple of a
    power of two at least ``end - start``)."""
    nodes: list[Node] = []
    while end - start > 0:
        size = end - start
        k = size if size & (size - 1) == 0 else split(size)
        level = k.bit_length() - 1
        nodes.append((level, start >> level))
        start += k
    return nodes


def fold(hashes: list[bytes]) -> bytes:
    """The right fold of a cover's hashes: the hash of the range they cover."""
    if not hashes:
        return EMPTY_ROOT
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes are the inclusion proof of leaf ``index`` in a tree of
    ``size`` leaves (the RFC's ``PATH``), from the leaf's sibling up."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    ranges: list[tuple[int, int]] = []
    low, high = 0, size
    while high - low > 1:
        k = split(high - low)
        if index < low + k:
            ranges.append((low + k, high))
            high = low + k
        else:
            ranges.append((low, low + k))
            low += k
    return ranges[::-1]


def consistency_ranges(old: int, new: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes prove a tree of ``new`` leaves extends its first ``old``
    (the RFC's ``PROOF``); empty when ``old`` is 0 or equals ``new``."""
    if not 0 <= old <= new:
        raise ValueError(f"a tree of {new} leaves cannot extend one of {old}")
    if old in (0, new):
        return []
    ranges: list[tuple[int, int]] = []
    low, high, m, whole = 0, new, old, True
    while m != high - low:
        k = split(high - low)
        if m <= k:
            ranges.append((low + k, high))
            high = low + k
        else:
            ranges.append((low, low + k))
            m -= k
            low += k
            whole = False
    if not whole:
        ranges.append((low, high))
    return ranges[::-1]


def nodes_for(ranges: Iterable[tuple[int, int]]) -> set[Node]:
    """Every stored node the hashes of these ranges need."""
    return {node for start, end in ranges for node in cover(start, end)}


def range_hashes(ranges: list[tuple[int, int]], nodes: Mapping[Node, bytes]) -> list[bytes]:
    """The hashes of these ranges from the stored nodes (which must hold all
    :func:`nodes_for` them)."""
    return [fold([nodes[node] for node in cover(start, end)]) for start, end in ranges]


# -- growing the tree --------------------------------------------------------------------------


def extend(frontier: list[tuple[Node, bytes]], size: int, leaves: Iterable[bytes],
           low: int = 0) -> list[tuple[int, int, bytes]]:
    """Add leaves to a tree of ``size`` leaves whose perfect subtrees on the right edge are
    ``frontier`` (the :func:`cover` of ``[0, size)`` with their hashes; updated in place),
    and return the new nodes at level ``low`` and above as ``(level, index, hash)``: each
    leaf (when ``low`` is 0) and each node the leaves complete.  Level by level, so a batch
    of ``k`` leaves costs about ``2k`` hashes."""
    old = {node[0]: digest for node, digest in frontier}
    rows: list[tuple[int, int, bytes]] = []
    level, start, current = 0, size, list(leaves)
    total = size + len(current)
    dangling: dict[int, bytes] = {}
    sha256 = hashlib.sha256
    while current:
        if level >= low:
            rows.extend(zip(itertools.repeat(level), itertools.count(start), current))
        if start & 1:  # its left sibling is the old frontier's node at this level
            current.insert(0, old[level])
            start -= 1
        if len(current) & 1:
            dangling[level] = current[-1]
        current = [sha256(b"\x01" + current[i] + current[i + 1]).digest()
                   for i in range(0, len(current) - 1, 2)]
        level += 1
        start >>= 1
    frontier[:] = [((lv, (total >> lv) - 1), dangling.get(lv) or old[lv])
                   for lv in reversed(range(total.bit_length())) if total >> lv & 1]
    return rows


def stored_count(size: int, low: int = 0) -> int:
    """How many nodes of level ``low`` and above a tree of ``size`` leaves has."""
    return sum(size >> level for level in range(low, max(size.bit_length(), low)))


def subtree(leaves: list[bytes]) -> bytes:
    """The hash of a perfect subtree from its leaf hashes (a power of two of them)."""
    while len(leaves) > 1:
        leaves = [node_hash(leaves[i], leaves[i + 1]) for i in range(0, len(leaves), 2)]
    return leaves[0]


# -- checking proofs (RFC 9162, 2.1.3.2 and 2.1.4.2) ------------------------------------------


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes]) -> bytes | None:
    """The root an inclusion proof leads to, or None if the proof has the wrong shape."""
    if not 0 <= index < size or len(leaf) != 32:
        return None
    fn, sn, result = index, size - 1, leaf
    for sibling in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            result = node_hash(result, sibling)
        fn >>= 1
        sn >>= 1
    return result if sn == 0 else None


def verify_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes],
                     root: bytes) -> bool:
    return root_from_inclusion(index, size, leaf, proof) == root


def verify_consistency(old: int, new: int, old_root: bytes, new_root: bytes,
                       proof: list[bytes]) -> bool:
    """Whether ``proof`` shows the tree of ``new`` leaves with ``new_root`` extends the
    tree of ``old`` leaves with ``old_root``.  As in transparency-dev/merkle, a proof from
    the empty tree is refused (every tree extends it: there is nothing to prove)."""
    if not 0 < old <= new:
        return False
    if old == new:
        return not proof and old_root == new_root
    path = list(proof)
    if old & (old - 1) == 0:
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    first = second = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            first = node_hash(c, first)
            second = node_hash(c, second)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            second = node_hash(second, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and first == old_root and second == new_root


class TreeView:
    """A tree of ``size`` leaves read through ``fetch`` (stored nodes by their keys): its
    root and its proofs, each from a handful of nodes fetched at once."""

    def __init__(self, size: int, fetch: Callable[[set[Node]], Mapping[Node, bytes]]) -> None:
        self.size = size
        self._fetch = fetch

    def _hashes(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        wanted = nodes_for(ranges)
        nodes = self._fetch(wanted) if wanted else {}
        missing = wanted - set(nodes)
        if missing:
            level, index = min(missing, key=lambda n: n[1] << n[0])
            raise LookupError(f"the Merkle tree holds no node over leaves from {index << level}")
        return range_hashes(ranges, nodes)

    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        return self._hashes([(0, size)])[0] if size else EMPTY_ROOT

    def inclusion(self, index: int, size: int | None = None) -> list[bytes]:
        return self._hashes(inclusion_ranges(index, self.size if size is None else size))

    def consistency(self, old: int, new: int | None = None) -> list[bytes]:
        return self._hashes(consistency_ranges(old, self.size if new is None else new))
