"""Tampering made directly in the database is caught by ``verify``, which names the first bad
position.  Run on every backend: SQLite is edited with :mod:`sqlite3` on the file, PostgreSQL
with psycopg on the URL, never through the ledger's own code.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from click.testing import CliRunner, Result

from compute_ledger.cli.main import main
from compute_ledger.ledger.chain import GENESIS, content_digest, link_hash
from compute_ledger.ledger.clock import ManualClock
from compute_ledger.ledger.errors import StorageError, VerificationError
from compute_ledger.ledger.facts import canonical_bytes, decode_fact
from compute_ledger.ledger.store import STORED_FROM
from compute_ledger.projections.api import ComputeLedger, Head, VerifyReport

N = 40
"""Facts in each tampered ledger: enough for a first, a middle and a last position, and
for the Merkle tree to store nodes (it stores those over 16 records and more)."""

CUSTOMERS = ("anthropic", "mistral", "perplexity", "midjourney", "character-ai", "runway")
SERVICES = ("training", "inference", "training_and_inference", "compute_capacity")


# ---------------------------------------------------------------------------------------------
# Realistic facts
# ---------------------------------------------------------------------------------------------


def realistic_fact(i: int) -> dict[str, Any]:
    """A valid fact in the interchange format: deals, filings, confirmations, rulings."""
    customer = CUSTOMERS[i % len(CUSTOMERS)]
    deal_id = f"xai-{customer}-colossus"
    day = f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}"
    source = {
        "url": f"https://example.org/compute/{i}",
        "publisher": "Compute Wire",
        "title": f"Report number {i} about the {customer} deal",
    }
    base = {"id": f"tamper-{i:04d}", "occurred_at": f"{day}T09:30:00-07:00", "source": source}
    match i % 5:
        case 0:
            return {
                **base, "type": "announcement", "speaker": "xai", "channel": "official_site",
                "availability": "available",
                "deal": {"deal_id": deal_id, "provider": "xai", "customer": customer,
                         "service": SERVICES[i % len(SERVICES)], "consideration": "cash",
                         "facilities": ["colossus-1"], "capacity_mw": str(50 + 10 * i),
                         "usd_per_month": str(25_000_000 * (1 + i % 4)), "starts_on": day},
            }
        case 1:
            return {
                **base, "type": "filing", "filer": "spacex", "form": "10-Q",
                "discloses_compute_revenue": i % 2 == 1,
                "deal": {"deal_id": deal_id, "usd_per_month": "1250000000",
                         "ends_on": "2029-05-31"},
            }
        case 2:
            return {
                **base, "type": "customer_confirmation", "customer": customer,
                "deal_id": deal_id, "in_use": True,
                "statement": f"{customer} says it runs its models on the Colossus capacity",
            }
        case 3:
            return {
                **base, "type": "creator_ruling", "ruling": "under_review", "deal_id": deal_id,
                "clauses": ["inc-enterprise-deal", "prf-customer"],
                "summary": f"The creator is reviewing whether the {customer} deal qualifies.",
            }
        case _:
            return {
                **base, "type": "announcement", "speaker": "xai", "channel": "press_release",
                "availability": "planned", "available_from": "2027-01-15",
                "offering": {"offering_id": "grok-compute-cloud", "provider": "xai",
                             "service": "inference", "signup_open": False,
                             "pricing_published": False, "available_from": "2027-01-15"},
            }


def jsonl(facts: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(f) + "\n" for f in facts)


# ---------------------------------------------------------------------------------------------
# Direct access to the database, bypassing the ledger
# ---------------------------------------------------------------------------------------------


class Raw:
    """The ledger's tables, opened with the database's own driver."""

    def __init__(self, db: str) -> None:
        self.db = db
        self.postgres = db.startswith("postgresql://")
        self.events = "computeledger_events" if self.postgres else "stored_events"
        self.index = "computeledger_index" if self.postgres else "ledger_index"
        self.tree = "computeledger_tree" if self.postgres else "ledger_tree"

    @contextmanager
    def _connect(self) -> Iterator[Any]:
        if self.postgres:
            import psycopg

            with psycopg.connect(self.db, autocommit=True) as conn:
                yield conn
        else:
            lite = sqlite3.connect(self.db, isolation_level=None)
            try:
                yield lite
            finally:
                lite.close()

    def run(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Run one statement (``?`` placeholders; ``{events}``/``{index}`` table names)."""
        sql = sql.format(events=self.events, index=self.index, tree=self.tree)
        if self.postgres:
            sql = sql.replace("?", "%s")
        with self._connect() as conn:
            cursor = conn.execute(sql, params)
            return list(cursor.fetchall()) if cursor.description else []

    def state(self, position: int) -> bytes:
        [(state,)] = self.run(
            "SELECT state FROM {events} WHERE originator_version = ?", position
        )
        return bytes(state)

    def set_state(self, position: int, state: bytes) -> None:
        self.run("UPDATE {events} SET state = ? WHERE originator_version = ?", state, position)
        assert self.state(position) == state

    def edit_state(self, position: int, edit: Callable[[bytes], bytes]) -> None:
        before = self.state(position)
        after = edit(before)
        assert after != before, "the edit changed nothing"
        self.set_state(position, after)

    def delete(self, position: int) -> None:
        self.run("DELETE FROM {events} WHERE originator_version = ?", position)

    def renumber(self, position: int, to: int) -> None:
        self.run(
            "UPDATE {events} SET originator_version = ? WHERE originator_version = ?",
            to, position,
        )

    def versions(self) -> list[int]:
        return [v for (v,) in self.run(
            "SELECT originator_version FROM {events} ORDER BY originator_version"
        )]

    def rewrite_tree(self) -> None:
        """Recompute every stored Merkle node from the records as they now are (RFC 9162
        leaves and nodes, written here from the RFC, not with the ledger's code)."""
        level_hashes = [hashlib.sha256(b"\x00" + self.state(v)).digest()
                        for v in self.versions()]
        self.run("DELETE FROM {tree}")
        self.run("DELETE FROM {tree}_state")
        self.run("INSERT INTO {tree}_state (singleton, size) VALUES (1, ?)", len(level_hashes))
        level = 0
        while level_hashes:
            if level >= STORED_FROM:  # the layout the ledger stores, as an attacker knows it
                for index, digest in enumerate(level_hashes):
                    self.run("INSERT INTO {tree} (level, idx, hash) VALUES (?, ?, ?)",
                             level, index, digest)
            level_hashes = [hashlib.sha256(b"\x01" + level_hashes[i] + level_hashes[i + 1])
                            .digest() for i in range(0, len(level_hashes) - 1, 2)]
            level += 1

    def index_row(self, position: int) -> tuple[str, int, bytes]:
        [(fact_id, at, digest)] = self.run(
            "SELECT fact_id, position, digest FROM {index} WHERE position = ?", position
        )
        return str(fact_id), int(at), bytes(digest)


def replace_once(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) == 1, (old, data)
    return data.replace(old, new)


def stored_fact(state: bytes) -> bytes:
    """The canonical fact bytes inside a stored record's state."""
    start = state.index(b'"fact":') + len(b'"fact":')
    end = state.index(b',"hash":')
    return state[start:end]


# ---------------------------------------------------------------------------------------------
# Fixtures and helpers
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def built(db: str, clock: ManualClock) -> Head:
    """An N-fact ledger, closed, its head pinned; appended in three batches and indexed."""
    facts = [realistic_fact(i) for i in range(1, N + 1)]
    with ComputeLedger.open(db, clock=clock, environ={}) as ledger:
        for chunk in (facts[:5], facts[5:6], facts[6:]):
            ledger.append_text(jsonl(chunk))
        assert ledger.ledger.sync_index() == N
        head = ledger.head()
        assert ledger.verify().checked == N
    assert head.position == N
    return head


def verify(db: str, against: Head | None = None) -> VerifyReport:
    with ComputeLedger.open(db, environ={}) as ledger:
        return ledger.verify(against)


def breach(db: str, against: Head | None = None) -> int:
    """The position ``verify`` names; fails the test if verification passes."""
    with pytest.raises(VerificationError) as caught:
        verify(db, against)
    assert str(caught.value).startswith(
        f"ledger verification failed at position {caught.value.breach.position}: "
    )
    return caught.value.breach.position


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False,
                              prog_name="compute-ledger")


# ---------------------------------------------------------------------------------------------
# The control: untouched and rewritten-identically ledgers verify
# ---------------------------------------------------------------------------------------------


def test_writing_the_same_bytes_back_is_not_a_breach(db: str, built: Head) -> None:
    raw = Raw(db)
    for position in range(1, N + 1):
        raw.set_state(position, raw.state(position))
    report = verify(db, against=built)
    assert (report.checked, report.head) == (N, Head(N, built.hash, built.recorded_at))


def test_a_record_edited_by_sql_into_text_is_read_as_bytes(tmp_path: Any, clock: ManualClock
                                                            ) -> None:
    """SQLite's replace() on a blob stores TEXT: the same bytes as text still verify, and
    text whose content changed is a breach at its position, never a crash."""
    path = str(tmp_path / "ledger.sqlite3")
    with ComputeLedger.open(path, clock=clock, environ={}, create=True) as ledger:
        ledger.append_text(jsonl([realistic_fact(i) for i in range(1, N + 1)]))
        head = ledger.head()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE stored_events SET state = CAST(state AS TEXT)")
    assert conn.execute("SELECT DISTINCT typeof(state) FROM stored_events").fetchall() == \
        [("text",)]
    assert verify(path, against=head).checked == N
    with conn:
        [(first,)] = conn.execute("SELECT MIN(originator_version) FROM stored_events WHERE "
                                  "originator_version >= 4 AND instr(state, 'colossus')")
        conn.execute("UPDATE stored_events SET state = replace(state, 'colossus', 'kolossus') "
                     "WHERE originator_version >= 4")
    conn.close()
    assert breach(path) == first


def test_the_stored_bytes_are_what_the_tampering_helpers_expect(db: str, built: Head) -> None:
    raw = Raw(db)
    assert raw.versions() == list(range(1, N + 1))
    state = raw.state(4)
    record = json.loads(state)
    fact = stored_fact(state)
    assert decode_fact(fact).id == "tamper-0004"
    assert canonical_bytes(decode_fact(fact)) == fact
    assert record["hash"] == link_hash(record["prev"], 4, record["recorded_at"], fact)
    assert raw.index_row(4) == ("tamper-0004", 4, content_digest(fact))


# ---------------------------------------------------------------------------------------------
# (a) a byte of a stored record altered, the JSON still valid
# ---------------------------------------------------------------------------------------------

def bump_hex(key: bytes) -> Callable[[bytes], bytes]:
    """Change the first hex digit of the string value of ``key``."""

    def edit(state: bytes) -> bytes:
        at = state.index(b'"' + key + b'":"') + len(key) + 4
        digit = b"1" if state[at : at + 1] != b"1" else b"2"
        return state[:at] + digit + state[at + 1 :]

    return edit


EDITS: dict[str, Callable[[bytes], bytes]] = {
    # the fact's content: a letter inside a string value ...
    "fact text": lambda s: replace_once(s, b'"title":"Report number', b'"title":"Report numbe_'),
    # ... and a date moved by one year (a backdated fact is still a perfectly valid fact)
    "fact date": lambda s: replace_once(s, b'"occurred_at":"2026', b'"occurred_at":"2025'),
    # the record's envelope: its time, its links, its claimed position
    "recorded_at": lambda s: replace_once(s, b'"recorded_at":"2026-06', b'"recorded_at":"2026-07'),
    "hash": bump_hex(b"hash"),
    "prev": bump_hex(b"prev"),
    "position": lambda s: s.replace(b'"position":', b'"position":9', 1),
}


@pytest.mark.parametrize("what", sorted(EDITS))
@pytest.mark.parametrize("k", [1, 6, N])
def test_an_altered_byte_is_named(db: str, built: Head, what: str, k: int) -> None:
    raw = Raw(db)
    raw.edit_state(k, EDITS[what])
    json.loads(raw.state(k))  # still valid JSON: only the chain can tell
    assert breach(db) == k


def test_every_single_letter_of_a_stored_fact_is_covered(db: str, built: Head) -> None:
    """Not just the fields above: flipping the case of any letter of the fact is a breach."""
    raw = Raw(db)
    k = 7
    original = raw.state(k)
    fact = stored_fact(original)
    offset = original.index(fact)
    letters = [i for i, b in enumerate(fact) if chr(b).isalpha()]
    assert len(letters) > 100
    for i in letters[:: max(1, len(letters) // 40)]:
        at = offset + i
        changed = original[:at] + bytes([original[at] ^ 0x20]) + original[at + 1 :]
        raw.set_state(k, changed)
        assert breach(db) == k, chr(original[at])
    raw.set_state(k, original)
    assert verify(db).checked == N


def forge(fact: bytes, position: int, prev: str, recorded_at: str) -> tuple[bytes, str]:
    """A stored record as an attacker would write it, its hash recomputed; and that hash."""
    digest = link_hash(prev, position, recorded_at, fact)
    state = (
        b'{"fact":' + fact + b',"hash":"' + digest.encode() + b'","position":'
        + str(position).encode() + b',"prev":"' + prev.encode() + b'","recorded_at":"'
        + recorded_at.encode() + b'"}'
    )
    return state, digest


def test_forge_writes_what_the_ledger_writes(db: str, built: Head) -> None:
    raw = Raw(db)
    for position in (1, 6, N):
        state = raw.state(position)
        record = json.loads(state)
        again, digest = forge(stored_fact(state), position, record["prev"], record["recorded_at"])
        assert (again, digest) == (state, record["hash"])


def test_a_rewritten_record_with_its_hash_recomputed_is_caught(db: str, built: Head) -> None:
    """An attacker who also recomputes the altered record's own hash breaks the next link.

    The record at k is self-consistent; what is inconsistent is the link from k + 1 back to
    it, and k's digest in the fact index.  ``verify`` names k, the record that changed.
    """
    raw = Raw(db)
    k = 5
    state = raw.state(k)
    record = json.loads(state)
    fact = stored_fact(state)
    forged = replace_once(fact, b'"capacity_mw":"', b'"capacity_mw":"9')
    raw.set_state(k, forge(forged, k, record["prev"], record["recorded_at"])[0])
    assert breach(db) == k


def test_a_history_rewritten_consistently_is_caught_by_the_pin(db: str, built: Head) -> None:
    """Forged fact, every later hash recomputed, index digest updated: only a pin can tell."""
    raw = Raw(db)
    k = 7  # a customer confirmation: it will now say the compute is not in use
    prev = json.loads(raw.state(k))["prev"]
    for position in range(k, N + 1):
        state = raw.state(position)
        fact = stored_fact(state)
        if position == k:
            fact = replace_once(fact, b'"in_use":true', b'"in_use":false')
            raw.run("UPDATE {index} SET digest = ? WHERE position = ?", content_digest(fact), k)
        forged, prev = forge(fact, position, prev, json.loads(state)["recorded_at"])
        raw.set_state(position, forged)
    assert breach(db) == 1  # the tree's node over positions 1-16 still holds the old record
    raw.rewrite_tree()
    assert verify(db).head.hash != built.hash  # a self-consistent forgery ...
    assert breach(db, against=built) == N  # ... does not extend the pinned head


# ---------------------------------------------------------------------------------------------
# (b) a byte altered so the JSON breaks; the topic altered
# ---------------------------------------------------------------------------------------------

BREAKS: dict[str, Callable[[bytes], bytes]] = {
    "a quote removed": lambda s: s.replace(b'"id":"', b'"id":', 1),
    "the last brace": lambda s: s[:-1] + b"]",
    "a NUL byte": lambda s: s[:20] + b"\x00" + s[21:],
    "not UTF-8": lambda s: s.replace(b'"title":"R', b'"title":"\xff', 1),
    "truncated": lambda s: s[: len(s) // 2],
    "emptied": lambda s: b"",
}


@pytest.mark.parametrize("what", sorted(BREAKS))
@pytest.mark.parametrize("k", [1, 6, N])
def test_a_broken_record_is_named(db: str, built: Head, what: str, k: int) -> None:
    raw = Raw(db)
    raw.edit_state(k, BREAKS[what])
    assert breach(db) == k


def test_a_record_under_another_topic_is_named(db: str, built: Head) -> None:
    raw = Raw(db)
    raw.run("UPDATE {events} SET topic = ? WHERE originator_version = ?",
            "compute-ledger/record@2", 6)
    assert breach(db) == 6


def test_a_fact_that_no_longer_decodes_is_named(db: str, built: Head) -> None:
    """A record whose fact is no longer a valid fact, even with its hash recomputed."""
    raw = Raw(db)
    k = 3
    state = raw.state(k)
    record = json.loads(state)
    forged = replace_once(stored_fact(state), b'"type":"', b'"type":"x')
    raw.set_state(k, forge(forged, k, record["prev"], record["recorded_at"])[0])
    assert breach(db) == k


# ---------------------------------------------------------------------------------------------
# (c) a record deleted; (d) states swapped; (e) positions swapped
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 6, N - 1])
def test_a_deleted_record_is_named(db: str, built: Head, k: int) -> None:
    raw = Raw(db)
    raw.delete(k)
    assert k not in raw.versions()
    assert breach(db) == k


def test_a_deleted_record_and_its_index_row_are_named(db: str, built: Head) -> None:
    raw = Raw(db)
    raw.delete(6)
    raw.run("DELETE FROM {index} WHERE position = ?", 6)
    assert breach(db) == 6


def test_a_run_of_deleted_records_names_the_first(db: str, built: Head) -> None:
    raw = Raw(db)
    for position in (4, 5, 6, 9):
        raw.delete(position)
    assert breach(db) == 4


def test_records_renumbered_to_close_a_gap_are_named(db: str, built: Head) -> None:
    """Delete position 6 and shift every later record down by one: no gap left to see."""
    raw = Raw(db)
    raw.delete(6)
    for position in range(7, N + 1):
        raw.renumber(position, position - 1)
    assert raw.versions() == list(range(1, N))
    assert breach(db) == 6


@pytest.mark.parametrize(("j", "k"), [(1, N), (3, 9), (6, 7)])
def test_swapped_states_name_the_first(db: str, built: Head, j: int, k: int) -> None:
    raw = Raw(db)
    first, second = raw.state(j), raw.state(k)
    raw.set_state(j, second)
    raw.set_state(k, first)
    assert breach(db) == j


@pytest.mark.parametrize(("j", "k"), [(1, N), (3, 9), (6, 7)])
def test_swapped_positions_name_the_first(db: str, built: Head, j: int, k: int) -> None:
    raw = Raw(db)
    first, second = raw.state(j), raw.state(k)
    raw.renumber(j, -1)
    raw.renumber(k, j)
    raw.renumber(-1, k)
    assert raw.versions() == list(range(1, N + 1))
    assert (raw.state(j), raw.state(k)) == (second, first)
    assert breach(db) == j


def test_a_fact_swapped_between_records_is_named(db: str, built: Head) -> None:
    """The envelopes stay; only the facts trade places (same length is not needed)."""
    raw = Raw(db)
    j, k = 2, 8
    sj, sk = raw.state(j), raw.state(k)
    fj, fk = stored_fact(sj), stored_fact(sk)
    raw.set_state(j, sj.replace(fj, fk))
    raw.set_state(k, sk.replace(fk, fj))
    assert breach(db) == j


# ---------------------------------------------------------------------------------------------
# (f) the last record deleted: only a pinned head can tell
# ---------------------------------------------------------------------------------------------


def test_a_deleted_last_record_is_caught_by_the_pin(db: str, built: Head) -> None:
    raw = Raw(db)
    raw.delete(N)
    raw.run("DELETE FROM {index} WHERE position = ?", N)
    raw.run("UPDATE {index}_state SET position = ?", N - 1)
    assert breach(db) == N  # the Merkle tree still covers the deleted record
    raw.rewrite_tree()
    plain = verify(db)  # a careful attacker leaves a shorter, self-consistent chain
    assert plain.head.position == N - 1
    assert plain.head.hash != built.hash
    assert breach(db, against=built) == N


def test_a_truncated_tail_is_caught_by_an_older_pin_too(db: str, built: Head) -> None:
    with ComputeLedger.open(db, environ={}) as ledger:
        pinned = Head(8, next(ledger.records(after=7, until=8)).hash)
    assert verify(db, against=pinned).head == Head(N, built.hash, built.recorded_at)
    raw = Raw(db)
    for position in range(8, N + 1):
        raw.delete(position)
        raw.run("DELETE FROM {index} WHERE position = ?", position)
    raw.run("UPDATE {index}_state SET position = ?", 7)
    assert breach(db) == 8  # the Merkle tree still covers the deleted records
    raw.rewrite_tree()
    assert verify(db).head.position == 7
    assert breach(db, against=pinned) == 8


def test_a_deleted_last_record_with_its_index_row_left_is_caught(db: str, built: Head) -> None:
    raw = Raw(db)
    raw.delete(N)
    assert breach(db) == N  # the index still lists the fact at N


def test_a_deleted_last_record_is_caught_by_the_index_position(db: str, built: Head) -> None:
    raw = Raw(db)
    raw.delete(N)
    raw.run("DELETE FROM {index} WHERE position = ?", N)
    assert breach(db) == N  # the index says it covers N records


def test_a_replaced_last_record_is_caught_by_the_pin(db: str, built: Head) -> None:
    """Delete the last record, then append another fact through the ledger itself."""
    raw = Raw(db)
    raw.delete(N)
    raw.run("DELETE FROM {index} WHERE position = ?", N)
    raw.run("UPDATE {index}_state SET position = ?", N - 1)
    other = realistic_fact(N + 100) | {"id": "tamper-replacement"}
    with ComputeLedger.open(db, environ={}) as ledger, \
            pytest.raises(StorageError, match=f"the Merkle tree covers {N} records but the "
                          f"ledger holds {N - 1}: records were removed"):
        ledger.append_text(json.dumps(other))  # the tree still covers the deleted record
    raw.rewrite_tree()
    with ComputeLedger.open(db, environ={}) as ledger:
        result = ledger.append_text(json.dumps(other))
    assert result.head.position == N
    assert verify(db).head.position == N
    assert breach(db, against=built) == N


def test_a_ledger_that_grew_still_extends_its_pin(db: str, built: Head) -> None:
    with ComputeLedger.open(db, environ={}) as ledger:
        ledger.append_text(jsonl([realistic_fact(i) for i in range(N + 1, N + 4)]))
    report = verify(db, against=built)
    assert report.head.position == N + 3
    assert report.against == built


def test_a_forged_pin_is_refused(db: str, built: Head) -> None:
    assert breach(db, against=Head(N, GENESIS)) == N
    assert breach(db, against=Head(5, built.hash)) == 5
    assert breach(db, against=Head(N + 1, built.hash)) == N + 1


# ---------------------------------------------------------------------------------------------
# (g) the fact index altered
# ---------------------------------------------------------------------------------------------

INDEX_EDITS: dict[str, tuple[str, tuple[Any, ...]]] = {
    "digest": ("UPDATE {index} SET digest = ? WHERE position = ?", (b"\x00" * 16,)),
    "position": ("UPDATE {index} SET position = position + 100 WHERE position = ?", ()),
    "fact id": ("UPDATE {index} SET fact_id = 'someone-else' WHERE position = ?", ()),
    "deleted": ("DELETE FROM {index} WHERE position = ?", ()),
}


@pytest.mark.parametrize("what", sorted(INDEX_EDITS))
@pytest.mark.parametrize("k", [1, 6, N])
def test_an_altered_index_row_is_named(db: str, built: Head, what: str, k: int) -> None:
    raw = Raw(db)
    before = raw.run("SELECT fact_id, position, digest FROM {index} ORDER BY fact_id")
    sql, params = INDEX_EDITS[what]
    raw.run(sql, *params, k)
    assert raw.run("SELECT fact_id, position, digest FROM {index} ORDER BY fact_id") != before
    assert breach(db) == k


def test_two_index_rows_swapped_are_named(db: str, built: Head) -> None:
    raw = Raw(db)
    raw.run("UPDATE {index} SET position = -1 WHERE position = ?", 3)
    raw.run("UPDATE {index} SET position = 3 WHERE position = ?", 10)
    raw.run("UPDATE {index} SET position = 10 WHERE position = ?", -1)
    assert breach(db) == 3


def test_an_extra_index_row_is_caught(db: str, built: Head) -> None:
    raw = Raw(db)
    _, _, digest = raw.index_row(4)
    raw.run("INSERT INTO {index} (fact_id, position, digest) VALUES (?, ?, ?)",
            "never-appended", N + 1, digest)
    breach(db)


# ---------------------------------------------------------------------------------------------
# (h) what a person sees: `compute-ledger verify`
# ---------------------------------------------------------------------------------------------


def test_the_cli_names_the_altered_position(db: str, built: Head) -> None:
    assert cli("verify", "--db", db).exit_code == 0
    Raw(db).edit_state(6, EDITS["fact text"])
    result = cli("verify", "--db", db)
    assert result.exit_code == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: ledger verification failed at position 6: ")


def test_the_cli_names_a_deleted_position(db: str, built: Head) -> None:
    Raw(db).delete(3)
    result = cli("verify", "--db", db, "--json")
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]  # with --json, the error on stdout too
    assert (error["code"], error["exit_code"]) == ("verification_failed", 1)
    assert error["message"].startswith("ledger verification failed at position 3: ")
    assert result.stderr.startswith("Error: ledger verification failed at position 3: ")


def test_the_cli_names_swapped_positions(db: str, built: Head) -> None:
    raw = Raw(db)
    raw.renumber(2, -1)
    raw.renumber(11, 2)
    raw.renumber(-1, 11)
    result = cli("verify", "--db", db)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ledger verification failed at position 2: ")


def test_the_cli_catches_a_truncated_tail_against_a_pin(db: str, built: Head) -> None:
    pinned = cli("digest", "--db", db).stdout.strip()
    assert pinned == built.pin
    raw = Raw(db)
    raw.delete(N)
    raw.run("DELETE FROM {index} WHERE position = ?", N)
    raw.run("UPDATE {index}_state SET position = ?", N - 1)
    assert cli("verify", "--db", db).exit_code == 1  # the Merkle tree covers position N
    raw.rewrite_tree()
    assert cli("verify", "--db", db).exit_code == 0
    result = cli("verify", "--db", db, "--against", pinned)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: ledger verification failed at position {N}: ")
