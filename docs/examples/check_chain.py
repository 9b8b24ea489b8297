"""Check a ledger's hash chain from `compute-ledger feed`, independently of compute-ledger.

    compute-ledger feed | python3 check_chain.py

Each line of the feed is a stored record: {"fact":...,"hash":...,"position":...,"prev":...,
"recorded_at":...}, keys sorted, the fact in its canonical bytes.  A record's hash is the
SHA-256 of  prev "\n" position "\n" recorded_at "\n" fact  (the first prev is 64 zeros).
"""

import hashlib
import json
import sys

prev, position = "0" * 64, 0
for raw_line in sys.stdin.buffer:
    line = raw_line.rstrip(b"\n")
    record = json.loads(line)
    fact = line[len(b'{"fact":'):line.rindex(b',"hash":"')]  # the fact's bytes, verbatim
    position += 1
    digest = hashlib.sha256(f"{prev}\n{position}\n{record['recorded_at']}\n".encode() + fact)
    if (record["position"], record["prev"], record["hash"]) != (position, prev,
                                                              digest.hexdigest()):
        sys.exit(f"Error: chain broken at position {position}")
    prev = record["hash"]
print(f"{position} records, chain intact, head {position}:{prev}")
