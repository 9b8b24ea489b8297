"""Recompute a ledger's Merkle tree root from `compute-ledger feed`, independently of it.

    compute-ledger feed | python3 check_root.py checkpoint.txt

The tree is RFC 9162's: leaf i is SHA-256(0x00 || line i of the feed, without its newline),
a node SHA-256(0x01 || left || right), split at the largest power of two below the size.
The checkpoint's second line is the size, its third the root in base64.  Only the standard
library: checking the checkpoint's Ed25519 signature is `compute-ledger audit`'s job.
"""

import base64
import hashlib
import pathlib
import sys


def root(leaves):
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + root(leaves[:k]) + root(leaves[k:])).digest()


lines = pathlib.Path(sys.argv[1]).read_text(encoding="utf-8").split("\n")
size, pinned = int(lines[1]), base64.b64decode(lines[2])
leaves = [hashlib.sha256(b"\x00" + line.rstrip(b"\n")).digest() for line in sys.stdin.buffer]
if len(leaves) < size:
    sys.exit(f"Error: the feed has {len(leaves)} records, the checkpoint covers {size}")
got = root(leaves[:size]) if size else hashlib.sha256(b"").digest()
if got != pinned:
    sys.exit(f"Error: the first {size} records do not hash to the checkpoint's root")
print(f"the first {size} of {len(leaves)} records hash to the checkpoint's root")
