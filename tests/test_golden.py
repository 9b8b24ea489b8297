"""Golden payloads of every version decode with today's code (see tests/golden/README.md):
a schema change that breaks stored history fails the build."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from compute_ledger.ledger import facts as F
from compute_ledger.ledger.chain import GENESIS, link_hash
from compute_ledger.ledger.instants import parse_instant
from compute_ledger.ledger.store import Record
from compute_ledger.projections.verdict import verdict
from compute_ledger.projections.view import build_view

GOLDEN = Path(__file__).parent / "golden"
VERSIONS = sorted(p.name.split("-")[1].split(".")[0] for p in GOLDEN.glob("facts-v*.jsonl"))


def test_there_are_golden_payloads() -> None:
    assert "v1" in VERSIONS


@pytest.mark.parametrize("version", VERSIONS)
def test_every_fact_type_of_the_version_still_decodes(version: str) -> None:
    lines = (GOLDEN / f"facts-{version}.jsonl").read_bytes()
    facts = [fact for _, fact in F.parse_facts(lines)]
    assert {str(f.__struct_config__.tag) for f in facts} == set(F.FACT_TYPES)
    for line, fact in zip(lines.splitlines(), facts, strict=True):
        # what another tool wrote is what the ledger stores, field for field
        assert json.loads(F.canonical_bytes(fact)) == json.loads(line)


@pytest.mark.parametrize("version", VERSIONS)
def test_stored_records_of_the_version_still_decode_and_verify(version: str) -> None:
    states = (GOLDEN / f"records-{version}.jsonl").read_bytes().splitlines()
    prev = GENESIS
    entries = []
    for position, state in enumerate(states, start=1):
        record = msgspec.json.decode(state, type=Record)
        raw = bytes(record.fact)
        fact = F.decode_fact(raw)
        assert record.position == position
        assert record.prev == prev
        assert link_hash(prev, position, record.recorded_at, raw) == record.hash
        assert F.canonical_bytes(fact) == raw  # the canonical form has not changed
        assert msgspec.json.Encoder(order="sorted").encode(record) == state
        entries.append((position, record.recorded_at, record.hash, fact))
        prev = record.hash
    answer = verdict(build_view(entries), parse_instant("2026-05-23"), parse_instant("2027-01-01"))
    assert answer.qualifying == ["golden-deal"]
    assert answer.ledger_head == prev
