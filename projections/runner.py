"""The maintained projection: every subject's history, kept in the ledger's own database and
caught up incrementally, so questions are answered without replaying the ledger.

Tables (beside eventsourcing's, never touching the records):

``cl_tracking``      the position and head hash the projection has folded, per view
``cl_facts``         every fact as known: where its content in force lives (its own position,
                     or its winning correction's), its occurred_at and buckets (space-
                     separated), live or not
``cl_fixes``         every correction: its target, valid time, position, live or not
``cl_bucket_facts``  (bucket, occurred_at, fact) for every fact, live or retracted
``cl_subjects``      every deal, offering and the market and groups records
``cl_steps``         each subject's steps along valid time (msgpack), as
                     :mod:`projections.subjects` defines them, with whether each qualifies
                     and since when (columns, read without decoding the steps), each row a
                     rectangle: in force over valid time from ``valid_from`` to the next
                     step, and over knowledge from ledger position ``pos_from`` until
                     ``pos_to`` (:data:`OPEN` while in force); ``earliest``, the earliest
                     instant the step names (:func:`projections.subjects.earliest`), is
                     indexed: where the timeline's walk starts
``cl_retracted``     deals and offerings known only from retracted facts, with the same
                     ``pos_from``/``pos_to``
``cl_clarifications`` the creator's clarifications of each deal and offering, one row
                     each (:func:`projections.subjects.clarifications`: they decide
                     nothing, so no step holds them), with the same ``pos_from``/``pos_to``
``cl_about``         (list, position): the facts each subject's list holds, from the position
                     each was recorded at (see :func:`projections.provenance.listed_under`):
                     what ``deal``, ``show``, ``diff`` and the timeline read to say what
                     became of the facts they show, without folding the ledger
``cl_gaps``          (after, until): batch ends strictly between them were passed over by a
                     one-pass catch-up and are not held (answered by a fold)
``cl_amendments``    (position, occurred_at) of every correction and retraction: when each
                     was issued, so that a timeline from ``--since`` reads only those
                     issued since (known at P: the rows with position <= P)
``cl_points``        the timeline's change points (:data:`projections.timeline.ROW`'s columns,
                     an export's ``timeline`` rows), as walked at the position its own
                     tracking row names (:data:`POINTS`): the latest knowledge only, kept by
                     :meth:`Projection.write_points` from the earliest valid time each append
                     can change, so that the timeline and an export read them instead of
                     walking
``cl_digests``       each table's digest (:mod:`projections.digest`): its number of rows
                     and the sum of their hashes, kept by every catch-up from the rows it
                     writes and replaces, so that ``verify`` can tell a table altered by
                     anything else

A catch-up folds the facts after the tracked position, works out which subjects they touch
and from which valid time, recomputes those histories from that time on (resuming each fold
from the step before it, see :func:`projections.subjects.subject_steps`), and writes the
steps, the indexes and the new tracked position in **one transaction**: a reader sees the
projection before or after a catch-up, never half of one.  Two processes catching up at once
queue on the tracking row.

The histories are **bitemporal**: a catch-up folds the batches one after the other and
writes each as known from its own last position (the only positions a ``--known-at`` maps
to, since a batch shares one ``recorded_at``), closing the rows it supersedes there rather
than deleting them.  So :meth:`Projection.view` answers at any batch end up to the tracked
position by reading the rows in force there (``pos_from <= P < pos_to``), without replaying
anything.  A step that stays as it was keeps its row.  A catch-up of more than
:data:`REBUILD_SHARE` of the ledger folds it in one pass and writes it as known from its last
position; the batch ends it passed over are a gap (``cl_gaps``, :meth:`Projection.holds`),
answered by a fold.  Either way the fold is the same, and writes what it has folded every
:data:`SPILL` facts: a catch-up's memory does not grow with the facts it takes in.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from itertools import chain
from typing import Any

import msgspec

from compute_ledger.contracts.parties import Groups
from compute_ledger.contracts.state import RulingRef
from compute_ledger.ledger.bulk import counted, paused_gc
from compute_ledger.ledger.chain import GENESIS
from compute_ledger.ledger.errors import LedgerError, StorageError
from compute_ledger.ledger.facts import Correction, Fact, Retraction, SourcedFact
from compute_ledger.ledger.instants import from_utc_text, utc_text
from compute_ledger.ledger.persistence import POSITIONS_AT_ONCE
from compute_ledger.ledger.store import SCHEMA_LOCK, Ledger, SideCursor
from compute_ledger.projections import digest as digests
from compute_ledger.projections.digest import TableSum
from compute_ledger.projections.provenance import listed_under
from compute_ledger.projections.subjects import (
    EMPTY_GROUPS,
    GROUPS,
    MARKET,
    GroupsStep,
    History,
    MarketState,
    MarketStep,
    SubjectStep,
    buckets,
    buckets_of_subject,
    clarifications,
    earliest,
    groups_at,
    groups_steps,
    market_steps,
    step_instants,
    subject_steps,
    subjects_of_bucket,
)
from compute_ledger.projections.view import (
    Retracted,
    Sweep,
    View,
    merged,
)

VIEW = "histories/12"
"""The tracking key.  Change it when the stored format changes: the tables of any other
layout are dropped and the projection rebuilds (it is derived data)."""
POINTS = f"{VIEW} timeline"
"""The tracking key of the stored timeline (``cl_points``): the position and head it was
walked at, which may be behind the histories' (it is caught up after them, on its own)."""

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS cl_tracking (view TEXT PRIMARY KEY, position INTEGER NOT NULL,"
    " head TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS cl_facts (fact_id TEXT PRIMARY KEY, position INTEGER NOT NULL,"
    " content_position INTEGER NOT NULL, live INTEGER NOT NULL, occurred_at TEXT NOT NULL,"
    " buckets TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS cl_fixes (fix_id TEXT PRIMARY KEY, target TEXT NOT NULL,"
    " occurred_at TEXT NOT NULL, position INTEGER NOT NULL, live INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS cl_fixes_by_target ON cl_fixes (target)",
    "CREATE TABLE IF NOT EXISTS cl_bucket_facts (bucket TEXT NOT NULL, occurred_at TEXT NOT NULL,"
    " fact_id TEXT NOT NULL, content_position INTEGER NOT NULL, live INTEGER NOT NULL,"
    " PRIMARY KEY (bucket, occurred_at, fact_id))",
    "CREATE TABLE IF NOT EXISTS cl_subjects (subject TEXT PRIMARY KEY, kind TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS cl_steps (subject TEXT NOT NULL, valid_from TEXT NOT NULL,"
    " pos_from INTEGER NOT NULL, pos_to INTEGER NOT NULL, qualifies INTEGER NOT NULL,"
    " rules_qualify INTEGER NOT NULL, earliest TEXT NOT NULL, state BLOB NOT NULL,"
    " PRIMARY KEY (subject, valid_from, pos_from))",
    "CREATE INDEX IF NOT EXISTS cl_steps_earliest ON cl_steps (earliest, pos_from, pos_to)",
    "CREATE INDEX IF NOT EXISTS cl_steps_qualifying ON cl_steps (subject, valid_from)"
    " WHERE rules_qualify = 1",
    "CREATE TABLE IF NOT EXISTS cl_about (subject TEXT NOT NULL, position INTEGER NOT NULL,"
    " PRIMARY KEY (subject, position))",
    "CREATE TABLE IF NOT EXISTS cl_gaps (after INTEGER NOT NULL, until INTEGER NOT NULL,"
    " PRIMARY KEY (after, until))",
    "CREATE TABLE IF NOT EXISTS cl_retracted (subject TEXT NOT NULL, pos_from INTEGER NOT NULL,"
    " pos_to INTEGER NOT NULL, first_at TEXT NOT NULL, facts TEXT NOT NULL,"
    " PRIMARY KEY (subject, pos_from))",
    "CREATE TABLE IF NOT EXISTS cl_clarifications (subject TEXT NOT NULL, occurred_at TEXT"
    " NOT NULL, fact_id TEXT NOT NULL, pos_from INTEGER NOT NULL, pos_to INTEGER NOT NULL,"
    " ref BLOB NOT NULL, PRIMARY KEY (subject, occurred_at, fact_id, pos_from))",
    "CREATE TABLE IF NOT EXISTS cl_amendments (position INTEGER PRIMARY KEY,"
    " occurred_at TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS cl_amendments_by_time ON cl_amendments (occurred_at)",
    "CREATE TABLE IF NOT EXISTS cl_points (at TEXT PRIMARY KEY, status TEXT NOT NULL,"
    " criteria_met INTEGER NOT NULL, monthly_run_rate_usd TEXT NOT NULL, changes TEXT NOT NULL,"
    " facts TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS cl_digests (tbl TEXT PRIMARY KEY, rows INTEGER NOT NULL,"
    " total TEXT NOT NULL)",
)
POINT_COLUMNS = digests.COLUMNS["cl_points"]
"""The stored timeline's columns (:data:`projections.timeline.ROW`)."""
DIGESTED = ("cl_facts", "cl_fixes", "cl_bucket_facts", "cl_subjects", "cl_steps",
            "cl_retracted", "cl_clarifications", "cl_about", "cl_gaps", "cl_amendments",
            "cl_points")
"""The tables of the projection, each covered by its digest (:data:`digests.COLUMNS`)."""
TABLES = (*DIGESTED, "cl_digests")
LATEST = ("cl_facts", "cl_fixes", "cl_bucket_facts")
"""The tables that hold only the latest knowledge (what a catch-up folds from); the others
keep every batch end's."""
LATEST_COLUMNS = {table: digests.COLUMNS[table] for table in LATEST}
"""Their columns, the key first."""
KEYS = {"cl_facts": 1, "cl_fixes": 1, "cl_bucket_facts": 3, "cl_subjects": 1, "cl_steps": 3,
        "cl_retracted": 2, "cl_clarifications": 4, "cl_about": 2, "cl_gaps": 2,
        "cl_amendments": 1, "cl_points": 1}
"""How many of each table's first columns (:data:`projections.digest.COLUMNS`) make its
primary key."""
BATCH_SHARE = 0.05
"""The same for a catch-up of one batch: folding it in one pass passes over no batch end,
and a batch of late facts touches most histories from far back, so one pass is cheaper as
soon as the batch is a small share of the ledger."""
REBUILD_SHARE = 0.2
"""A catch-up that would fold more than this share of the ledger folds it in one pass
instead (the same fold, but each subject it touches is refolded once at the end rather
than once per batch it is touched in).  The
batch ends it passes over are then not held by the index (``cl_gaps``): a question about
one of them is answered by a fold of the facts."""

OPEN = 2**31 - 1
"""``pos_to`` of a row still in force at the tracked position (the largest position an
``INTEGER`` holds on both backends)."""
VISIBLE = "pos_from <= ? AND pos_to > ?"
"""The rows in force at a position (two parameters: the position, twice)."""

_ENCODER = msgspec.msgpack.Encoder()
_DECODE_SUBJECT = msgspec.msgpack.Decoder(SubjectStep)
_DECODE_MARKET = msgspec.msgpack.Decoder(MarketStep)
_DECODE_GROUPS = msgspec.msgpack.Decoder(GroupsStep)
_DECODE_RULING = msgspec.msgpack.Decoder(RulingRef)
FAR_PAST = "0000"  # sorts before every utc_text
SPILL = 20_000
"""Facts a catch-up folds before it writes their rows to the latest-knowledge tables and
the lists and forgets them (:meth:`_CatchUp.spill`): what bounds its memory, however many
facts one batch, or one pass, holds."""

SWEEP_ROWS = 4096
"""How many rows of steps a walk along valid time (:meth:`StoredView.sweep`) reads ahead,
over all subjects: a page of each is this shared among them, and at least
:data:`SWEEP_PAGE` rows."""
SWEEP_PAGE = 8


def _kind(subject: str) -> str:
    return subject.split(":", 1)[0]


def _blob(value: Any) -> bytes:
    return bytes(value)


def _plain(value: Any) -> Any:
    """A column's value as written (a binary one as ``bytes``, whatever the driver gives)."""
    return bytes(value) if isinstance(value, (memoryview, bytearray)) else value


# ---------------------------------------------------------------------------------------------
# Reading the projection
# ---------------------------------------------------------------------------------------------


class StoredView:
    """The maintained histories, read on demand (implements ``Histories``)."""

    def __init__(self, ledger: Ledger, position: int, head: str) -> None:
        self.ledger = ledger
        self._position = position
        self._head = head
        self._groups: History[GroupsStep] | None = None
        self._market: History[MarketStep] | None = None
        self._at: dict[datetime, dict[str, SubjectStep]] = {}

    @property
    def position(self) -> int:
        return self._position

    @property
    def head(self) -> str:
        return self._head

    @property
    def _at_position(self) -> tuple[int, int]:
        return self._position, self._position

    def _load_small(self) -> None:
        with self.ledger.side_tables(write=False) as cur:
            cur.execute(f"SELECT subject, state FROM cl_steps WHERE subject IN (?, ?) AND "
                        f"{VISIBLE} ORDER BY subject, valid_from",
                        (GROUPS, MARKET, *self._at_position))
            rows = cur.fetchall()
        self._groups = History(tuple(_DECODE_GROUPS.decode(_blob(r["state"]))
                                     for r in rows if r["subject"] == GROUPS))
        self._market = History(tuple(_DECODE_MARKET.decode(_blob(r["state"]))
                                     for r in rows if r["subject"] == MARKET))

    def _states_at(self, at: datetime) -> dict[str, Any]:
        """The stored state of every deal's and offering's step in force at ``at`` (those
        with none then left out)."""
        with self.ledger.side_tables(write=False) as cur:
            cur.execute(
                "SELECT s.subject AS subject, (SELECT t.state FROM cl_steps t WHERE "
                "t.subject = s.subject AND t.valid_from <= ? AND t.pos_from <= ? AND "
                "t.pos_to > ? ORDER BY t.valid_from DESC LIMIT 1) AS found FROM cl_subjects s "
                "WHERE s.kind IN ('deal', 'offering')",
                (utc_text(at), *self._at_position),
            )
            rows = cur.fetchall()
        return {r["subject"]: r["found"] for r in rows if r["found"] is not None}

    def subjects_at(self, at: datetime) -> dict[str, SubjectStep]:
        found = self._at.get(at)
        if found is None:
            found = {subject: _DECODE_SUBJECT.decode(_blob(state))
                     for subject, state in self._states_at(at).items()}
            self._at[at] = found
        return found

    def subject_at(self, key: str, at: datetime) -> SubjectStep | None:
        found = self._at.get(at)
        if found is not None:
            return found.get(key)
        with self.ledger.side_tables(write=False) as cur:
            cur.execute(f"SELECT state FROM cl_steps WHERE subject = ? AND valid_from <= ? "
                        f"AND {VISIBLE} ORDER BY valid_from DESC LIMIT 1",
                        (key, utc_text(at), *self._at_position))
            row = cur.fetchone()
        return None if row is None else _DECODE_SUBJECT.decode(_blob(row["state"]))

    def history_of(self, key: str) -> History[SubjectStep] | None:
        with self.ledger.side_tables(write=False) as cur:
            cur.execute(f"SELECT state FROM cl_steps WHERE subject = ? AND {VISIBLE} "
                        "ORDER BY valid_from", (key, *self._at_position))
            rows = cur.fetchall()
        if not rows or not key.startswith(("deal:", "offering:")):
            return None
        return History(tuple(_DECODE_SUBJECT.decode(_blob(r["state"])) for r in rows))

    def qualified_by(self, at: datetime) -> dict[str, tuple[datetime, datetime | None]]:
        # Two index lookups a subject (the primary key, and the partial index of the steps
        # the clauses let count): the earliest of each does not depend on ``at``.
        with self.ledger.side_tables(write=False) as cur:
            cur.execute(
                "SELECT s.subject AS subject, (SELECT MIN(t.valid_from) FROM cl_steps t "
                "WHERE t.subject = s.subject AND t.pos_from <= ? AND t.pos_to > ?) AS first, "
                "(SELECT MIN(q.valid_from) FROM cl_steps q WHERE q.subject = s.subject AND "
                "q.rules_qualify = 1 AND q.pos_from <= ? AND q.pos_to > ?) AS qualified "
                "FROM cl_subjects s WHERE s.kind IN ('deal', 'offering')",
                (*self._at_position, *self._at_position),
            )
            rows = cur.fetchall()
        limit = utc_text(at)
        return {
            r["subject"]: (from_utc_text(r["first"]),
                           from_utc_text(r["qualified"])
                           if r["qualified"] is not None and r["qualified"] <= limit else None)
            for r in rows if r["first"] is not None and r["first"] <= limit
        }

    def groups_at(self, at: datetime) -> Groups:
        if self._groups is None:
            self._load_small()
        assert self._groups is not None
        return groups_at(self._groups, at)

    def groups_history(self) -> History[GroupsStep]:
        if self._groups is None:
            self._load_small()
        assert self._groups is not None
        return self._groups

    def market_at(self, at: datetime) -> MarketState | None:
        if self._market is None:
            self._load_small()
        assert self._market is not None
        step = self._market.at(at)
        return None if step is None else step.state

    def retracted_at(self, at: datetime) -> dict[str, Retracted]:
        return {k: r for k, r in self._retracted().items() if r.first_at <= at}

    def clarifications_at(self, keys: Iterable[str], at: datetime) -> list[RulingRef]:
        wanted = set(keys)
        with self.ledger.side_tables(write=False) as cur:
            cur.execute(f"SELECT subject, ref FROM cl_clarifications WHERE {VISIBLE} AND "
                        "occurred_at <= ? ORDER BY occurred_at, fact_id",
                        (*self._at_position, utc_text(at)))
            return [_DECODE_RULING.decode(_blob(r["ref"])) for r in cur.fetchall()
                    if r["subject"] in wanted]

    def sweep(self, since: datetime | None = None) -> Sweep:
        """:meth:`View.sweep`, read from the index a page at a time: each subject's steps
        from its last one before ``since`` (from its first without one) are read in pages of
        at most :data:`SWEEP_ROWS` rows over all subjects and decoded one at a time as the
        walk reaches them, so a walk holds a page of each subject, never every history.
        Rows visible at a position stay so whatever is appended meanwhile, so the pages,
        each read on its own, read one view."""
        held = self._at_position
        with self.ledger.side_tables(write=False) as cur:
            cur.execute("SELECT subject FROM cl_subjects WHERE kind IN ('deal', 'offering') "
                        "ORDER BY subject")
            keys = [str(r["subject"]) for r in cur.fetchall()]
            cur.execute(f"SELECT earliest FROM cl_steps WHERE {VISIBLE} ORDER BY earliest "
                        "LIMIT 1", held)
            row = cur.fetchone()
            first = None if row is None else from_utc_text(row["earliest"])
            counted: frozenset[str] = frozenset()
            if since is not None:
                cur.execute(f"SELECT DISTINCT subject FROM cl_steps WHERE rules_qualify = 1 AND "
                            f"valid_from < ? AND {VISIBLE}", (utc_text(since), *held))
                counted = frozenset(str(r["subject"]) for r in cur.fetchall())
        page = max(SWEEP_ROWS // max(len(keys), 1), SWEEP_PAGE)
        rows: dict[str, Iterable[tuple[str, bytes]]] = {}
        for key in keys:  # the first row of each, to know which subjects have a history
            reader = self._steps_of(key, since, page)
            head = next(reader, None)
            if head is not None:
                rows[key] = chain((head,), reader)
        groups = self.groups_history()  # the market's steps are read with the groups'
        assert self._market is not None
        steps = ((key, _DECODE_SUBJECT.decode(blob)) for key, blob in merged(rows))
        return Sweep(frozenset(rows), steps, first, self._market, groups, self._retracted(),
                     counted)

    def _steps_of(self, key: str, since: datetime | None, page: int
                  ) -> Iterator[tuple[str, bytes]]:
        """One subject's rows ``(valid_from, state)`` in force at the position, in valid-time
        order, from its last one before ``since``, a page at a time."""
        held = self._at_position
        # The first page starts at the last row before ``since`` (FAR_PAST: none is).
        start = ("valid_from >= COALESCE((SELECT MAX(t.valid_from) FROM cl_steps t WHERE "
                 "t.subject = ? AND t.valid_from < ? AND t.pos_from <= ? AND t.pos_to > ?), '')",
                 (key, FAR_PAST if since is None else utc_text(since), *held))
        after: str | None = None
        while True:
            where, params = start if after is None else ("valid_from > ?", (after,))
            with self.ledger.side_tables(write=False) as cur:
                cur.execute(f"SELECT valid_from, state FROM cl_steps WHERE subject = ? AND "
                            f"{VISIBLE} AND {where} ORDER BY valid_from LIMIT ?",
                            (key, *held, *params, page))
                rows = [(str(r["valid_from"]), _blob(r["state"])) for r in cur.fetchall()]
            yield from rows
            if len(rows) < page:
                return
            after = rows[-1][0]

    def _retracted(self) -> dict[str, Retracted]:
        with self.ledger.side_tables(write=False) as cur:
            cur.execute(f"SELECT subject, first_at, facts FROM cl_retracted WHERE {VISIBLE}",
                        self._at_position)
            return {r["subject"]: Retracted(from_utc_text(r["first_at"]),
                                            tuple(json.loads(r["facts"])))
                    for r in cur.fetchall()}

    def full(self) -> View:
        """Every history, read whole (for the timeline and for comparisons)."""
        subjects: dict[str, list[SubjectStep]] = defaultdict(list)
        groups: list[GroupsStep] = []
        market: list[MarketStep] = []
        with self.ledger.side_tables(write=False) as cur:
            cur.execute(f"SELECT subject, state FROM cl_steps WHERE {VISIBLE} "
                        "ORDER BY subject, valid_from", self._at_position)
            for row in cur.fetchall():
                subject, blob = row["subject"], _blob(row["state"])
                if subject == GROUPS:
                    groups.append(_DECODE_GROUPS.decode(blob))
                elif subject == MARKET:
                    market.append(_DECODE_MARKET.decode(blob))
                else:
                    subjects[subject].append(_DECODE_SUBJECT.decode(blob))
            cur.execute(f"SELECT subject, ref FROM cl_clarifications WHERE {VISIBLE} "
                        "ORDER BY subject, occurred_at, fact_id", self._at_position)
            notes: dict[str, list[RulingRef]] = defaultdict(list)
            for row in cur.fetchall():
                notes[row["subject"]].append(_DECODE_RULING.decode(_blob(row["ref"])))
        return View(
            position=self._position, head=self._head, recorded_at=None,
            subjects={k: History(tuple(v)) for k, v in sorted(subjects.items())},
            market=History(tuple(market)), groups=History(tuple(groups)),
            retracted=self._retracted(),
            clarifications={k: tuple(v) for k, v in notes.items()},
        )


# ---------------------------------------------------------------------------------------------
# Catching up
# ---------------------------------------------------------------------------------------------


class FactRow(msgspec.Struct, frozen=True):
    fact_id: str
    position: int
    content_position: int
    live: bool
    occurred_at: str
    buckets: tuple[str, ...]


class FixRow(msgspec.Struct):
    fix_id: str
    target: str
    occurred_at: str
    position: int
    live: bool


class _CatchUp:
    """One catch-up: folds new entries into the indexes, then recomputes what they touched."""

    def __init__(self, ledger: Ledger, cur: SideCursor) -> None:
        self.ledger = ledger
        self.cur = cur
        self.facts: dict[str, FactRow | None] = {}
        self.dirty_facts: set[str] = set()
        self.fixes: dict[str, FixRow] = {}
        self.fixes_of: dict[str, list[FixRow]] = {}
        self.dirty_fixes: set[str] = set()
        self.contents: dict[int, SourcedFact] = {}
        self.bucket_rows: dict[tuple[str, str, str], tuple[int, bool] | None] = {}
        self.affected: dict[str, str] = {}
        self.position = 0
        """The position whose knowledge is being written: the end of a batch."""
        self.about: list[tuple[str, int]] = []
        self.issued: list[tuple[int, str]] = []
        """(position, occurred_at) of the corrections and retractions folded."""
        self.stored_facts: dict[str, tuple[Any, ...]] = {}
        self.stored_fixes: dict[str, tuple[Any, ...]] = {}
        """The rows of ``cl_facts`` and ``cl_fixes`` as the table holds them now (those read
        or written by this catch-up): what a row written again replaces."""
        self.change: dict[str, TableSum] = defaultdict(TableSum)
        """How each table's digest moves with what this catch-up writes."""

    # -- the indexes ------------------------------------------------------------------------

    def fact(self, fact_id: str) -> FactRow | None:
        if fact_id not in self.facts:
            self.cur.execute("SELECT fact_id, position, content_position, live, occurred_at, "
                             "buckets FROM cl_facts WHERE fact_id = ?", (fact_id,))
            row = self.cur.fetchone()
            self.facts[fact_id] = None if row is None else FactRow(
                row["fact_id"], row["position"], row["content_position"], bool(row["live"]),
                row["occurred_at"], tuple(row["buckets"].split()),
            )
            if row is not None:
                self.stored_facts[fact_id] = tuple(row[c] for c in digests.COLUMNS["cl_facts"])
        return self.facts[fact_id]

    def fixes_for(self, target: str) -> list[FixRow]:
        if target not in self.fixes_of:
            self.cur.execute("SELECT fix_id, target, occurred_at, position, live FROM cl_fixes "
                             "WHERE target = ?", (target,))
            found = [FixRow(r["fix_id"], r["target"], r["occurred_at"], r["position"],
                            bool(r["live"])) for r in self.cur.fetchall()]
            for fix in found:
                if fix.fix_id not in self.fixes:
                    self.fixes[fix.fix_id] = fix
                    self.stored_fixes[fix.fix_id] = _fix_row(fix)
            self.fixes_of[target] = [self.fixes[f.fix_id] for f in found]
        return self.fixes_of[target]

    def fix(self, fix_id: str) -> FixRow | None:
        if fix_id not in self.fixes:
            self.cur.execute("SELECT target FROM cl_fixes WHERE fix_id = ?", (fix_id,))
            row = self.cur.fetchone()
            if row is None:
                return None
            self.fixes_for(row["target"])
        return self.fixes.get(fix_id)

    def content(self, position: int) -> SourcedFact:
        if position not in self.contents:
            self.load_contents([position])
        return self.contents[position]

    def load_contents(self, positions: Iterable[int]) -> None:
        wanted = [position for position in positions if position not in self.contents]
        for position, fact in self.ledger.facts_at(wanted).items():
            self.contents[position] = _content(fact)

    # -- folding new entries ------------------------------------------------------------------

    def listed(self, position: int, fact: Fact) -> None:
        """Enter a newly folded fact in the lists of ``cl_about``."""
        if isinstance(fact, Correction):
            row = self.fact(fact.corrects)
            assert row is not None, f"correction of unknown {fact.corrects}"
            lists = listed_under(self.content(row.position), _content(fact), fact.corrects)
        elif isinstance(fact, Retraction):
            voided = self.fix(fact.retracts)
            if voided is not None:
                row = self.fact(voided.target)
                assert row is not None
                lists = listed_under(self.content(row.position), self.content(voided.position),
                                     fact.retracts)
            else:
                row = self.fact(fact.retracts)
                assert row is not None, f"retraction of unknown {fact.retracts}"
                lists = listed_under(self.content(row.position), None, fact.retracts)
        else:
            lists = listed_under(fact)
        self.about += [(name, position) for name in lists]

    def fold(self, position: int, fact: Fact) -> None:
        assert fact.id is not None
        self.listed(position, fact)
        if isinstance(fact, (Correction, Retraction)):
            self.issued.append((position, utc_text(fact.occurred_at)))
        if isinstance(fact, Correction):
            self.contents[position] = _content(fact)
            fix = FixRow(fact.id, fact.corrects, utc_text(fact.occurred_at), position, True)
            self.fixes_for(fact.corrects).append(fix)
            self.fixes[fix.fix_id] = fix
            self.dirty_fixes.add(fix.fix_id)
            self.refresh(fact.corrects)
        elif isinstance(fact, Retraction):
            voided = self.fix(fact.retracts)
            if voided is not None:
                voided.live = False
                self.dirty_fixes.add(voided.fix_id)
                self.refresh(voided.target)
            else:
                row = self.fact(fact.retracts)
                assert row is not None, f"retraction of unknown {fact.retracts}"
                self.apply(row, msgspec.structs.replace(row, live=False))
        else:
            self.contents[position] = fact
            row = FactRow(fact.id, position, position, True, utc_text(fact.occurred_at),
                          buckets(fact))
            self.apply(None, row)  # ids are unique in the ledger: this fact is new

    def refresh(self, target: str) -> None:
        """Recompute which content is in force for ``target`` after its corrections changed."""
        row = self.fact(target)
        assert row is not None, f"correction of unknown {target}"
        live = [f for f in self.fixes_for(target) if f.live]
        position = max(live, key=lambda f: (f.occurred_at, f.fix_id)).position if live \
            else row.position
        content = self.content(position)
        self.apply(row, msgspec.structs.replace(row, content_position=position,
                                occurred_at=utc_text(content.occurred_at),
                                buckets=buckets(content)))

    def apply(self, old: FactRow | None, new: FactRow) -> None:
        if old == new:
            return
        self.facts[new.fact_id] = new
        self.dirty_facts.add(new.fact_id)
        if old is not None:
            for bucket in old.buckets:
                self.bucket_rows[(bucket, old.occurred_at, old.fact_id)] = None
                self.touch(bucket, old.occurred_at)
        for bucket in new.buckets:
            self.bucket_rows[(bucket, new.occurred_at, new.fact_id)] = (new.content_position,
                                                                         new.live)
            self.touch(bucket, new.occurred_at)

    def touch(self, bucket: str, at: str) -> None:
        for subject in subjects_of_bucket(bucket):
            if subject not in self.affected or at < self.affected[subject]:
                self.affected[subject] = at

    # -- recomputing the histories ----------------------------------------------------------

    def latest_rows(self) -> dict[str, list[tuple[Any, ...]]]:
        """The rows of the latest-knowledge tables this catch-up writes (or, after
        :meth:`take`, every row they hold), in :data:`LATEST_COLUMNS` order."""
        return {
            "cl_facts": [_fact_row(r) for r in
                         (self.facts[f] for f in sorted(self.dirty_facts)) if r is not None],
            "cl_fixes": [_fix_row(f) for f in (self.fixes[i] for i in sorted(self.dirty_fixes))],
            "cl_bucket_facts": [(*key, row[0], int(row[1]))
                                for key, row in self.bucket_rows.items() if row is not None],
        }

    def digest_latest(self, rows: dict[str, list[tuple[Any, ...]]]) -> None:
        """Move the digests of the latest-knowledge tables by the rows about to be written
        over the ones they replace.  ``cl_bucket_facts`` holds, for each fact row, one row
        per bucket it names, so its change follows from the fact rows' (what
        :meth:`apply` does to it, row by row)."""
        facts = self.change["cl_facts"]
        buckets_change = self.change["cl_bucket_facts"]
        for new in rows["cl_facts"]:
            old = self.stored_facts.get(new[0])
            if old is not None:
                facts.remove("cl_facts", [old])
                buckets_change.remove("cl_bucket_facts", _bucket_rows(old))
            facts.add("cl_facts", [new])
            buckets_change.add("cl_bucket_facts", _bucket_rows(new))
            self.stored_facts[new[0]] = new
        fixes = self.change["cl_fixes"]
        for new in rows["cl_fixes"]:
            old = self.stored_fixes.get(new[0])
            if old is not None:
                fixes.remove("cl_fixes", [old])
            fixes.add("cl_fixes", [new])
            self.stored_fixes[new[0]] = new

    def insert_new(self, table: str, statement: str, rows: list[tuple[Any, ...]]) -> None:
        """Insert rows no catch-up wrote before (``ON CONFLICT DO NOTHING``), their hashes
        joining the digest.  One the table holds already was put there by something other
        than a catch-up: :class:`ProjectionError` (the transaction rolls back), rather than
        a digest that would count it as written."""
        if not rows:
            return
        self.cur.executemany(statement, rows)
        if self.cur.rowcount != len(rows):
            raise ProjectionError(
                f"the projection's table {table} already holds {len(rows) - self.cur.rowcount}"
                f" of the {len(rows)} rows a catch-up adds to it: it was altered by something "
                "other than a catch-up. `compute-ledger replay` names what differs, and "
                "`compute-ledger replay --rebuild` rebuilds the projection from the records")
        self.change[table].add(table, rows)

    def insert_once(self, table: str, statement: str, row: tuple[Any, ...]) -> None:
        """Insert a row the table may hold already (its key gives every column): counted
        in the digest when it is new, and already counted, by the catch-up that wrote it,
        when it is not."""
        self.cur.execute(statement, row)
        if self.cur.rowcount == 1:
            self.change[table].add(table, [row])

    def write_digests(self) -> None:
        """Write the digests as this catch-up leaves the tables (in its transaction)."""
        for table in sorted(self.change):
            _move_digest(self.cur, table, self.change[table])
        self.change.clear()

    def write_indexes(self) -> None:
        cur = self.cur
        self.insert_new("cl_about", "INSERT INTO cl_about (subject, position) VALUES (?, ?) "
                        "ON CONFLICT (subject, position) DO NOTHING",
                        sorted(set(self.about)))
        self.about.clear()
        self.insert_new("cl_amendments", "INSERT INTO cl_amendments (position, occurred_at) "
                        "VALUES (?, ?) ON CONFLICT (position) DO NOTHING",
                        sorted(self.issued))
        self.issued.clear()
        rows = self.latest_rows()
        self.digest_latest(rows)
        cur.executemany(
            "INSERT INTO cl_facts (fact_id, position, content_position, live, occurred_at, "
            "buckets) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (fact_id) DO UPDATE SET "
            "content_position = excluded.content_position, live = excluded.live, "
            "occurred_at = excluded.occurred_at, buckets = excluded.buckets",
            rows["cl_facts"],
        )
        cur.executemany(
            "INSERT INTO cl_fixes (fix_id, target, occurred_at, position, live) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (fix_id) DO UPDATE SET live = excluded.live",
            rows["cl_fixes"],
        )
        cur.executemany(
            "DELETE FROM cl_bucket_facts WHERE bucket = ? AND occurred_at = ? AND fact_id = ?",
            [key for key, row in self.bucket_rows.items() if row is None],
        )
        cur.executemany(
            "INSERT INTO cl_bucket_facts (bucket, occurred_at, fact_id, content_position, live) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (bucket, occurred_at, fact_id) DO UPDATE SET "
            "content_position = excluded.content_position, live = excluded.live",
            rows["cl_bucket_facts"],
        )

    def bucket_facts(self, bucket_names: Iterable[str], since: str) -> list[SourcedFact]:
        names = list(bucket_names)
        self.cur.execute(
            f"SELECT content_position FROM cl_bucket_facts WHERE live = 1 AND occurred_at >= ? "
            f"AND bucket IN ({', '.join('?' * len(names))})",
            (since, *names),
        )
        positions = [r["content_position"] for r in self.cur.fetchall()]
        self.load_contents(positions)
        return [self.contents[p] for p in positions]

    def steps(self, subject: str, since: str) -> list[bytes]:
        """The subject's steps from ``since`` on, as they stand (in force now)."""
        self.cur.execute("SELECT state FROM cl_steps WHERE subject = ? AND valid_from >= ? "
                         "AND pos_to = ? ORDER BY valid_from", (subject, since, OPEN))
        return [_blob(r["state"]) for r in self.cur.fetchall()]

    def replace_steps(self, subject: str, since: str, steps: Sequence[Any]) -> None:
        """The subject's steps from ``since`` on are now ``steps`` (:meth:`supersede`)."""
        self.supersede("cl_steps", "valid_from", subject, since, [
            (utc_text(s.valid_from), int(getattr(s, "qualifies", False)),
             int(getattr(s, "rules_qualify", False)), utc_text(earliest(s)), _ENCODER.encode(s))
            for s in steps])
        if steps:
            self.insert_once("cl_subjects", "INSERT INTO cl_subjects (subject, kind) VALUES "
                             "(?, ?) ON CONFLICT (subject) DO NOTHING",
                             (subject, _kind(subject)))

    def supersede(self, table: str, start: str, subject: str, since: str,
                  rows: Sequence[tuple[Any, ...]]) -> None:
        """The subject's rows of ``table`` whose ``start`` column is at or after ``since``
        are now ``rows`` (each the row's columns but ``subject``, ``pos_from`` and
        ``pos_to``, in the table's order), as known from :attr:`position`: the rows in
        force that are not among them are closed there (a row made at this very position
        is deleted: it was never in force at any position another question can ask about),
        and the new ones are opened there.  A row that stays as it was stays."""
        columns = digests.COLUMNS[table]
        said = [c for c in columns if c not in ("subject", "pos_from", "pos_to")]
        key = columns[:KEYS[table]]
        position = self.position
        self.cur.execute(f"SELECT pos_from, {', '.join(said)} FROM {table} WHERE subject = ? "
                         f"AND {start} >= ? AND pos_to = ?", (subject, since, OPEN))
        old = {tuple(_plain(r[c]) for c in said): int(r["pos_from"])
               for r in self.cur.fetchall()}
        wanted = set(rows)

        def row(values: tuple[Any, ...], made: int, until: int) -> tuple[Any, ...]:
            named = dict(zip(said, values, strict=True))
            named.update(subject=subject, pos_from=made, pos_to=until)
            return tuple(named[c] for c in columns)

        superseded = [(values, made) for values, made in old.items() if values not in wanted]
        gone = [row(values, made, OPEN) for values, made in superseded]
        deleted = [row(values, made, OPEN) for values, made in superseded if made == position]
        closed = [row(values, made, position) for values, made in superseded
                  if made != position]
        opened = [row(values, position, OPEN) for values in rows if values not in old]
        match = " AND ".join(f"{c} = ?" for c in key)
        at = [columns.index(c) for c in key]
        self.cur.executemany(f"DELETE FROM {table} WHERE {match}",
                             [tuple(r[i] for i in at) for r in deleted])
        self.cur.executemany(f"UPDATE {table} SET pos_to = ? WHERE {match}",
                             [(position, *(r[i] for i in at)) for r in closed])
        self.cur.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                             f"({', '.join('?' * len(columns))})", opened)
        change = self.change[table]
        change.remove(table, gone)
        change.add(table, closed + opened)

    def spill(self) -> None:
        """Write the rows folded so far to the latest-knowledge tables and the lists, and
        forget every fact and content read or folded: what is left is which subjects the
        facts touch, and from when, which the flush recomputes from the tables."""
        self.write_indexes()
        for held in (self.dirty_facts, self.dirty_fixes, self.bucket_rows, self.facts,
                     self.fixes, self.fixes_of, self.contents, self.stored_facts,
                     self.stored_fixes):
            held.clear()

    def flush(self, position: int) -> None:
        """Write what the facts folded since the last flush changed, as known from
        ``position`` (the end of their batch)."""
        self.position = position
        self.recompute()
        self.dirty_facts.clear()
        self.dirty_fixes.clear()
        self.bucket_rows.clear()
        self.affected.clear()

    def recompute(self) -> None:
        self.write_indexes()
        groups = self.recompute_groups()
        if MARKET in self.affected:
            self.replace_steps(MARKET, FAR_PAST,
                               market_steps(self.bucket_facts([MARKET], FAR_PAST)))
        for subject, since in sorted(self.affected.items()):
            if subject.startswith(("deal:", "offering:")):
                self.recompute_subject(subject, since, groups)

    def recompute_groups(self) -> History[GroupsStep]:
        if GROUPS in self.affected:
            steps = groups_steps(self.bucket_facts([GROUPS], FAR_PAST))
            self.replace_steps(GROUPS, FAR_PAST, steps)
            since = self.affected.pop(GROUPS)
            self.cur.execute("SELECT subject FROM cl_subjects WHERE kind IN ('deal', 'offering')")
            for row in self.cur.fetchall():  # a group change can change who qualifies
                self.touch(row["subject"], since)
            return History(tuple(steps)) if steps else EMPTY_GROUPS
        return History(tuple(_DECODE_GROUPS.decode(b) for b in self.steps(GROUPS, FAR_PAST)))

    def recompute_subject(self, subject: str, since: str, groups: History[GroupsStep]) -> None:
        if len(self.contents) > SPILL:
            self.contents.clear()  # a cache: a catch-up of every subject holds one at a time
        self.cur.execute("SELECT state FROM cl_steps WHERE subject = ? AND valid_from < ? "
                         "AND pos_to = ? ORDER BY valid_from DESC LIMIT 1",
                         (subject, since, OPEN))
        row = self.cur.fetchone()
        base = None if row is None else _DECODE_SUBJECT.decode(_blob(row["state"]))
        start = since if base is not None else FAR_PAST
        facts = self.bucket_facts(buckets_of_subject(subject), start)
        steps = subject_steps(subject, facts, groups, base,
                              from_utc_text(since) if base is not None else None)
        self.replace_steps(subject, start, steps)
        known = base is not None or bool(steps)
        self.supersede("cl_clarifications", "occurred_at", subject, start, [
            (utc_text(ref.at), ref.fact, _ENCODER.encode(ref))
            for ref in (clarifications(facts) if known else ())])
        self.mark_retracted(subject, known)

    def mark_retracted(self, subject: str, known: bool) -> None:
        """Whether the subject is known only from retracted facts, as of :attr:`position`
        (the row in force closed or replaced as :meth:`replace_steps` does)."""
        new: tuple[str, str] | None = None
        if not known:
            self.cur.execute("SELECT occurred_at, fact_id FROM cl_bucket_facts WHERE "
                             "bucket = ? AND live = 0", (subject,))
            gone = self.cur.fetchall()
            if gone:
                new = (min(r["occurred_at"] for r in gone),
                       json.dumps(sorted(r["fact_id"] for r in gone)))
        self.set_retracted(subject, new)

    def set_retracted(self, subject: str, new: tuple[str, str] | None) -> None:
        """The subject's row in ``cl_retracted`` as known from :attr:`position` (first_at
        and the facts, or None when it is not known only from retracted facts)."""
        self.cur.execute("SELECT pos_from, first_at, facts FROM cl_retracted WHERE "
                         "subject = ? AND pos_to = ?", (subject, OPEN))
        row = self.cur.fetchone()
        if row is not None and (row["first_at"], row["facts"]) == new:
            return
        change = self.change["cl_retracted"]
        if row is not None:
            made = int(row["pos_from"])
            change.remove("cl_retracted", [(subject, made, OPEN, row["first_at"], row["facts"])])
            if made == self.position:
                self.cur.execute("DELETE FROM cl_retracted WHERE subject = ? AND pos_from = ?",
                                 (subject, made))
            else:
                self.cur.execute("UPDATE cl_retracted SET pos_to = ? WHERE subject = ? AND "
                                 "pos_from = ?", (self.position, subject, made))
                change.add("cl_retracted", [(subject, made, self.position, row["first_at"],
                                             row["facts"])])
        if new is not None:
            self.cur.execute(
                "INSERT INTO cl_retracted (subject, pos_from, pos_to, first_at, facts) "
                "VALUES (?, ?, ?, ?, ?)", (subject, self.position, OPEN, *new))
            change.add("cl_retracted", [(subject, self.position, OPEN, *new)])


def _fact_row(row: FactRow) -> tuple[Any, ...]:
    """A fact's row of ``cl_facts``, in the digest's column order."""
    return (row.fact_id, row.position, row.content_position, int(row.live), row.occurred_at,
            " ".join(row.buckets))


def _fix_row(fix: FixRow) -> tuple[Any, ...]:
    """A correction's row of ``cl_fixes``, in the digest's column order."""
    return (fix.fix_id, fix.target, fix.occurred_at, fix.position, int(fix.live))


def _bucket_rows(fact: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """The rows of ``cl_bucket_facts`` that go with a row of ``cl_facts``."""
    fact_id, _, content_position, live, occurred_at, names = fact
    return [(bucket, occurred_at, fact_id, content_position, live) for bucket in names.split()]


def _tables(cur: SideCursor) -> set[str]:
    """The tables the ledger's database holds (beside the ledger's own: read, not made)."""
    if cur.backend == "sqlite":
        cur.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    else:
        cur.execute("SELECT tablename AS name FROM pg_tables WHERE schemaname = "
                    "current_schema()")
    return {str(r["name"]) for r in cur.fetchall()}


def pages(cur: SideCursor, table: str, columns: Sequence[str], key: Sequence[str], *,
          where: str = "", params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
    """The rows of ``table`` that ``where`` selects, ``columns`` as tuples, in the order of
    ``key`` (columns among ``columns`` that no two of those rows share), read
    :data:`AUDIT_PAGE` at a time: a client-side cursor holds a whole result, so each page
    is a query of its own, resuming after the last key read."""
    order = ", ".join(key)
    at = [list(columns).index(column) for column in key]
    select = f"SELECT {', '.join(columns)} FROM {table} WHERE " + (
        f"({where}) AND " if where else "")
    after = f"({order}) > ({', '.join('?' * len(key))})"
    last: tuple[Any, ...] | None = None
    while True:
        if last is None:
            cur.execute(f"{select}1 = 1 ORDER BY {order} LIMIT ?", (*params, AUDIT_PAGE))
        else:
            cur.execute(f"{select}{after} ORDER BY {order} LIMIT ?",
                        (*params, *last, AUDIT_PAGE))
        rows = [tuple(row[c] for c in columns) for row in cur.fetchall()]
        yield from rows
        if len(rows) < AUDIT_PAGE:
            return
        last = tuple(rows[-1][i] for i in at)


def _earliest(earliest: datetime | None, instants: Iterable[datetime]) -> datetime | None:
    """The earliest of ``earliest`` (None: none yet) and ``instants``."""
    return min(instants, default=earliest) if earliest is None else \
        min((earliest, *instants))


def _move_digest(cur: SideCursor, table: str, change: TableSum) -> None:
    """Move the digest ``cl_digests`` records for ``table`` by ``change`` (the rows a writer
    added and removed, in its transaction)."""
    if change == TableSum():
        return  # written over with the same rows, or not at all
    held = TableSum()
    cur.execute("SELECT rows, total FROM cl_digests WHERE tbl = ?", (table,))
    row = cur.fetchone()
    if row is not None:
        held = TableSum(int(row["rows"]), int(row["total"], 16))
    now = held.plus(change)
    cur.execute("INSERT INTO cl_digests (tbl, rows, total) VALUES (?, ?, ?) "
                "ON CONFLICT (tbl) DO UPDATE SET rows = excluded.rows, "
                "total = excluded.total", (table, now.rows, now.hex))


def _table_sum(cur: SideCursor, table: str) -> TableSum:
    """A table's digest from its rows, read a page at a time in key order."""
    columns = digests.COLUMNS[table]
    found = TableSum()
    found.add(table, pages(cur, table, columns, columns[:KEYS[table]]))
    return found


def _content(fact: Fact) -> SourcedFact:
    """The content a stored fact contributes: itself, or a correction's replacement (which
    takes the id of the fact it corrects)."""
    if isinstance(fact, Correction):
        return msgspec.structs.replace(fact.fact, id=fact.corrects)
    assert not isinstance(fact, Retraction)
    return fact


# ---------------------------------------------------------------------------------------------
# The projection
# ---------------------------------------------------------------------------------------------


class ProjectionError(LedgerError):
    """The maintained projection does not stand on the ledger's records as they are."""


class PointsMoved(StorageError):
    """The stored timeline was caught up past the position its reader asked for while the
    reader was between two pages (see :meth:`Projection.stored_points`)."""

    def __init__(self) -> None:
        super().__init__("the stored timeline was caught up while it was being read; ask again")


AUDIT_PAGE = 5_000
"""Rows read at a time when a table's digest is recomputed (memory stays bounded)."""


class DigestAudit(msgspec.Struct, frozen=True):
    """What :meth:`Projection.audit` found: the tracked position and head, the digest of
    the tables as they are, how many rows they hold, and each table whose rows do not add
    up to the digest the catch-ups recorded."""

    position: int
    head: str
    digest: str
    rows: int
    differs: tuple[str, ...]


class Projection:
    """The maintained histories of one ledger."""

    def __init__(self, ledger: Ledger, chunk: int = 20_000,
                 rebuild_share: float = REBUILD_SHARE, batch_share: float = BATCH_SHARE
                 ) -> None:
        self.ledger = ledger
        self.chunk = chunk
        self.rebuild_share = rebuild_share
        self.batch_share = batch_share
        self._ready = False

    def _ensure(self) -> None:
        if self._ready:
            return
        with self.ledger.side_tables(write=True) as cur:
            if cur.backend == "postgresql":  # CREATE ... IF NOT EXISTS races on PostgreSQL
                cur.execute("SELECT pg_advisory_xact_lock(?)", (SCHEMA_LOCK,))
            cur.execute(SCHEMA[0])  # cl_tracking
            cur.execute("SELECT view FROM cl_tracking WHERE view NOT IN (?, ?)", (VIEW, POINTS))
            if cur.fetchall():  # tables of another layout: derived data, rebuilt
                for table in TABLES:
                    cur.execute(f"DROP TABLE IF EXISTS {table}")
                cur.execute("DELETE FROM cl_tracking")  # this layout's row too: nothing held
            for statement in SCHEMA[1:]:
                cur.execute(statement)
            for view in (VIEW, POINTS):
                cur.execute("INSERT INTO cl_tracking (view, position, head) VALUES (?, 0, ?) "
                            "ON CONFLICT (view) DO NOTHING", (view, GENESIS))
        self._ready = True

    def tracked(self) -> tuple[int, str]:
        """The position and head hash the projection has folded."""
        self._ensure()
        with self.ledger.side_tables(write=False) as cur:
            cur.execute("SELECT position, head FROM cl_tracking WHERE view = ?", (VIEW,))
            row = cur.fetchone()
        return int(row["position"]), str(row["head"])

    def tracked_if_any(self) -> tuple[int, str] | None:
        """What :meth:`tracked` says, without creating the projection's tables where they
        do not exist yet (None then): for questions that must not write."""
        try:
            with self.ledger.side_tables(write=False) as cur:
                cur.execute("SELECT position, head FROM cl_tracking WHERE view = ?", (VIEW,))
                row = cur.fetchone()
        except StorageError:
            return None
        return None if row is None else (int(row["position"]), str(row["head"]))

    def catch_up(self, until: int | None = None, *,
                 progress: Callable[[int], None] | None = None) -> tuple[int, str]:
        """Fold every fact recorded since the tracked position (up to ``until``);
        ``progress`` is told of every thousand facts read.

        If the record at the tracked position no longer has the tracked hash (the ledger was
        replaced or rewritten under the projection), raises :class:`ProjectionError`: the
        projection was folded from another history, which is tamper evidence, not something
        to paper over with a silent rebuild (``replay --rebuild`` rebuilds it, on purpose).
        """
        self._ensure()
        ledger_head = self.ledger.head()
        target = ledger_head.position if until is None else until
        position, tracked_head = self.tracked()
        if position:
            self.check_history(position, tracked_head, ledger_head.position)
        with paused_gc():
            while True:
                position, tracked_head = self.tracked()
                if position >= target:
                    return position, tracked_head
                if position == 0 or target - position > self._share(position, target) * target:
                    self._fold(target, target, one_pass=True, progress=progress)
                else:
                    self._fold(position + self.chunk, target, one_pass=False,
                               progress=progress)

    def check_history(self, position: int, tracked_head: str, head: int) -> None:
        """Raise :class:`ProjectionError` unless the ledger's record at ``position`` has the
        hash the projection tracked there."""
        if position > head:
            found = f"the ledger holds only {head} records"
        else:
            stored = self.ledger.entry_at(position).hash
            if stored == tracked_head:
                return
            found = f"the ledger's record there has hash {stored[:16]}..."
        raise ProjectionError(
            f"the maintained projection was folded from another history: it tracks position "
            f"{position} with head {tracked_head[:16]}..., but {found} (the records were "
            "replaced or rewritten under it). Check the ledger with `compute-ledger verify "
            "--against` a checkpoint you kept; `compute-ledger replay --rebuild` rebuilds the "
            "projection from the records as they are")

    def _share(self, position: int, target: int) -> float:
        """The share of the ledger above which a catch-up from ``position`` to ``target``
        folds in one pass: :attr:`batch_share` when they are one batch (no batch end is
        passed over, so one pass loses nothing), else :attr:`rebuild_share`."""
        first = self.ledger.entry_at(position + 1).recorded_at
        return self.batch_share if first == self.ledger.entry_at(target).recorded_at \
            else self.rebuild_share

    def holds(self, position: int) -> bool:
        """Whether the index holds the knowledge at ``position``: it is at most the tracked
        position and no one-pass catch-up passed over it."""
        if position > self.tracked()[0]:
            return False
        with self.ledger.side_tables(write=False) as cur:
            cur.execute("SELECT 1 FROM cl_gaps WHERE after < ? AND until > ? LIMIT 1",
                        (position, position))
            return cur.fetchone() is None

    def changed(self, after: int, until: int) -> tuple[datetime | None, list[str]]:
        """What differs between the histories held at ``after`` and at ``until``: the
        earliest instant the rows entered or superseded between the two name (of a deal's
        or offering's step, every instant it names, :func:`~projections.subjects.step_instants`;
        of the groups', the market's or a retracted subject's row, where it starts; None:
        no row), and the deals and offerings known (with a history, or from retracted
        facts) at one of the two and not at the other: the corrections and retractions
        about those are change points at one and not at the other.  The rows are read a
        page at a time and decoded one at a time, so a catch-up that superseded every step
        costs no more memory than one that superseded a few.  Neither position need be held
        (:meth:`holds`): a one-pass catch-up gives its rows its end position, so a position
        it passed over only adds rows.  ``until`` must be at most the tracked position."""
        if until > self.tracked()[0]:
            raise ValueError(f"position {until} is after the tracked one")
        changed = "(pos_from > ? AND pos_from <= ?) OR (pos_to > ? AND pos_to <= ?)"
        span = (after, until, after, until)
        earliest: datetime | None = None
        touched: set[str] = set()
        with self.ledger.side_tables(write=False) as cur:
            for subject, valid_from, _, state in pages(
                    cur, "cl_steps", ("subject", "valid_from", "pos_from", "state"),
                    ("subject", "valid_from", "pos_from"), where=changed, params=span):
                if subject in (GROUPS, MARKET):
                    instants: Iterable[datetime] = (from_utc_text(valid_from),)
                else:
                    touched.add(str(subject))
                    instants = step_instants(_DECODE_SUBJECT.decode(_blob(state)))
                earliest = _earliest(earliest, instants)
            for subject, _, first_at in pages(
                    cur, "cl_retracted", ("subject", "pos_from", "first_at"),
                    ("subject", "pos_from"), where=changed, params=span):
                touched.add(str(subject))
                earliest = _earliest(earliest, (from_utc_text(first_at),))
            known: dict[int, set[str]] = {after: set(), until: set()}
            ordered = sorted(touched)
            for start_at in range(0, len(ordered), POSITIONS_AT_ONCE):
                some = ordered[start_at:start_at + POSITIONS_AT_ONCE]
                marks = ", ".join("?" * len(some))
                for position, held in known.items():
                    for table in ("cl_steps", "cl_retracted"):
                        cur.execute(f"SELECT DISTINCT subject FROM {table} WHERE {VISIBLE} "
                                    f"AND subject IN ({marks})", (position, position, *some))
                        held.update(str(r["subject"]) for r in cur.fetchall())
        return earliest, sorted(known[after] ^ known[until])

    @staticmethod
    def _locked_position(cur: SideCursor) -> int:
        """The tracked position, after taking the write lock (SQLite) or locking the
        tracking row (PostgreSQL), so two catch-ups queue instead of interleaving."""
        cur.execute("UPDATE cl_tracking SET head = head WHERE view = ?", (VIEW,))
        cur.execute("SELECT position FROM cl_tracking WHERE view = ?", (VIEW,))
        return int(cur.fetchone()["position"])

    def _fold(self, until: int, target: int, *, one_pass: bool,
              progress: Callable[[int], None] | None = None) -> None:
        """Fold the batches after the tracked position, in one transaction: one after the
        other, each written as known from its own last position (the only positions a
        question maps to), up to the first batch end at or after ``until`` (never past
        ``target``, a batch end); or with ``one_pass``, every fact up to ``target`` at
        once, written as known from ``target``, the batch ends passed over recorded as a
        gap.  Either way the facts go through the same incremental fold (the rows a fact
        changes, then each subject it touches refolded from the tables), writing what
        they change every :data:`SPILL` facts, so that memory stays bounded however many
        facts one pass or one batch holds: it is what the histories are rebuilt by from
        the first fact too.  ``progress`` is told of every thousand facts read."""
        with self.ledger.side_tables(write=True) as cur:
            start = self._locked_position(cur)
            if start >= target:
                return  # someone else caught up meanwhile
            work = _CatchUp(self.ledger, cur)
            last: tuple[int, str] | None = None
            batch: str | None = None
            folded = 0
            entries = self.ledger.stream(after=start, until=target)
            for at, recorded, digest, fact in entries if progress is None else \
                    counted(entries, progress):
                if not one_pass and batch is not None and recorded != batch:
                    assert last is not None
                    work.flush(last[0])
                    folded = 0
                    if last[0] >= until:
                        break
                work.fold(at, fact)
                last, batch = (at, digest), recorded
                folded += 1
                if folded == SPILL:
                    work.spill()
                    folded = 0
            else:
                if last is None:
                    return
                work.flush(last[0])
                if one_pass:
                    work.insert_once("cl_gaps", "INSERT INTO cl_gaps (after, until) VALUES "
                                     "(?, ?) ON CONFLICT (after, until) DO NOTHING",
                                     (start, last[0]))
            assert last is not None
            work.write_digests()
            cur.execute("UPDATE cl_tracking SET position = ?, head = ? WHERE view = ?",
                        (*last, VIEW))

    def reset(self) -> None:
        """Forget everything folded (the next catch-up rebuilds from the first fact)."""
        self._ensure()
        with self.ledger.side_tables(write=True) as cur:
            cur.execute("UPDATE cl_tracking SET position = 0, head = ? WHERE view IN (?, ?)",
                        (GENESIS, VIEW, POINTS))
            for table in TABLES:
                cur.execute(f"DELETE FROM {table}")

    def listing(self, position: int) -> Callable[[Iterable[str]], list[int]] | None:
        """A reader of the index's lists (``cl_about``) as known at ``position``: the
        positions of the facts entered in any of the lists named; None when the index does
        not hold ``position`` (it is caught up first when it can be)."""
        try:
            tracked, _ = self.catch_up(until=position)
        except StorageError:
            return None  # it cannot be written now (a full disk): the caller folds
        if tracked < position:
            return None

        def listed(names: Iterable[str]) -> list[int]:
            wanted = sorted(set(names))
            found: set[int] = set()
            with self.ledger.side_tables(write=False) as cur:
                for start in range(0, len(wanted), POSITIONS_AT_ONCE):
                    chunk = wanted[start:start + POSITIONS_AT_ONCE]
                    cur.execute(f"SELECT position FROM cl_about WHERE position <= ? AND "
                                f"subject IN ({', '.join('?' * len(chunk))})",
                                (position, *chunk))
                    found.update(int(r["position"]) for r in cur.fetchall())
            return sorted(found)

        return listed

    def audit(self) -> DigestAudit | None:
        """Each table's digest recomputed from its rows, against the one the catch-ups
        recorded, all read in one snapshot, a page at a time; None when there is no
        projection of this layout (nothing is created: verify only reads).  A table that
        is missing, or a tracking row missing beside tables that hold rows, is a
        difference too."""
        with self.ledger.side_tables(write=False, snapshot=True) as cur:
            present = _tables(cur)
            if "cl_tracking" not in present:
                return None
            cur.execute("SELECT position, head FROM cl_tracking WHERE view = ?", (VIEW,))
            tracking = cur.fetchone()
            recorded: dict[str, TableSum] = {}
            if "cl_digests" in present:
                cur.execute("SELECT tbl, rows, total FROM cl_digests")
                recorded = {str(r["tbl"]): TableSum(int(r["rows"]), int(r["total"], 16))
                            for r in cur.fetchall()}
            if tracking is None and not recorded:
                return None  # never caught up in this layout
            differs = [f"the projection's table {table} is missing"
                       for table in TABLES if table not in present]
            if tracking is None:
                differs.insert(0, "the projection's tracking row is missing, but its tables "
                                  "record rows")
            held = {table: _table_sum(cur, table) for table in DIGESTED if table in present}
        for table, got in held.items():
            want = recorded.get(table, TableSum())
            if want != got:
                differs.append(
                    f"the projection's table {table} holds {got.rows} row"
                    f"{'s' * (got.rows != 1)} adding up to {got.hex[:16]}, but its digest "
                    f"records {want.rows} adding up to {want.hex[:16]}")
        position, head = (0, GENESIS) if tracking is None else \
            (int(tracking["position"]), str(tracking["head"]))
        # The stored timeline keeps a position of its own (it is caught up after the
        # histories): each table is checked, but the digest said with the tracked position
        # and head is of the tables held at that position.
        at_position = {table: got for table, got in held.items() if table != "cl_points"}
        return DigestAudit(position, head, digests.digest(at_position),
                           sum(t.rows for t in at_position.values()), tuple(differs))

    # -- the stored timeline ----------------------------------------------------------------

    def points_tracked(self) -> tuple[int, str]:
        """The position and head the stored timeline (``cl_points``) was walked at: at most
        the histories' (:meth:`tracked`); ``(0, GENESIS)`` before its first walk."""
        self._ensure()
        with self.ledger.side_tables(write=False) as cur:
            cur.execute("SELECT position, head FROM cl_tracking WHERE view = ?", (POINTS,))
            row = cur.fetchone()
        return int(row["position"]), str(row["head"])

    def stored_points(self, position: int, head: str,
                      window: tuple[str | None, str | None] = (None, None)
                      ) -> Iterator[tuple[Any, ...]]:
        """The stored timeline's rows (as :meth:`write_points` was given them) from
        ``window[0]`` up to ``window[1]`` (``utc_text``; None: no bound), in valid-time
        order, a page at a time, each page in a short transaction of its own that first
        checks the timeline is still the one walked at ``(position, head)`` (a catch-up
        replaces rows and tracking row together, so every page is of that one timeline,
        however slowly the caller reads, and no transaction stays open between pages);
        :class:`~ledger.errors.StorageError` if it is not (it was caught up after the
        caller looked: :class:`PointsMoved`)."""
        since, until = window
        last = since
        first = True
        while True:
            with self.ledger.side_tables(write=False, snapshot=True) as cur:
                cur.execute("SELECT position, head FROM cl_tracking WHERE view = ?", (POINTS,))
                row = cur.fetchone()
                if row is None or (int(row["position"]), str(row["head"])) != (position, head):
                    raise PointsMoved
                clauses = [(("at >= ?" if first else "at > ?"), last), ("at <= ?", until)]
                where = " AND ".join(c for c, bound in clauses if bound is not None)
                cur.execute(f"SELECT {', '.join(POINT_COLUMNS)} FROM cl_points"
                            + (f" WHERE {where}" if where else "") + " ORDER BY at LIMIT ?",
                            (*(b for _, b in clauses if b is not None), AUDIT_PAGE))
                page = [tuple(r[c] for c in POINT_COLUMNS) for r in cur.fetchall()]
            yield from page
            if len(page) < AUDIT_PAGE:
                return
            last, first = str(page[-1][0]), False

    def write_points(self, walked: tuple[int, str], position: int, head: str,
                     since: str | None, rows: Iterable[Sequence[Any]]) -> bool:
        """Replace the stored timeline's rows from ``since`` on (``utc_text``; None: every
        one) with ``rows`` (walked at ``(position, head)`` from ``since``, in
        :data:`POINT_COLUMNS` order), and track that position, in one transaction, the
        digest moved by the rows replaced and written; unless the stored timeline is no
        longer the one walked at ``walked`` (another process caught it up meanwhile): False
        then, and nothing is written."""
        with self.ledger.side_tables(write=True) as cur:
            # Locks the row (PostgreSQL) or takes the write lock (SQLite) before reading it.
            cur.execute("UPDATE cl_tracking SET head = head WHERE view = ?", (POINTS,))
            cur.execute("SELECT position, head FROM cl_tracking WHERE view = ?", (POINTS,))
            row = cur.fetchone()
            if (int(row["position"]), str(row["head"])) != walked:
                return False
            change = TableSum()
            where, params = ("at >= ?", (since,)) if since is not None else ("", ())
            change.remove("cl_points", pages(cur, "cl_points", POINT_COLUMNS, ("at",),
                                             where=where, params=params))
            cur.execute("DELETE FROM cl_points" + (f" WHERE {where}" if where else ""), params)
            written = [tuple(r) for r in rows]
            cur.executemany(f"INSERT INTO cl_points ({', '.join(POINT_COLUMNS)}) VALUES "
                            f"({', '.join('?' * len(POINT_COLUMNS))})", written)
            change.add("cl_points", written)
            _move_digest(cur, "cl_points", change)
            cur.execute("UPDATE cl_tracking SET position = ?, head = ? WHERE view = ?",
                        (position, head, POINTS))
        return True

    def amendments_issued(self, position: int, since: datetime | None = None, *,
                          after: tuple[str, int] | None = None, limit: int | None = None
                          ) -> dict[int, str]:
        """The corrections and retractions recorded by ``position`` (issued at or after
        ``since``; after ``after``, an ``(occurred_at, position)``; at most ``limit``), as
        the index holds them: position -> when issued (``utc_text``), in the order they were
        issued (then ledger order).  The index must hold ``position``."""
        low = "" if since is None else utc_text(since)  # "" sorts before every utc_text
        last = ("", 0) if after is None else after
        with self.ledger.side_tables(write=False) as cur:
            cur.execute("SELECT position, occurred_at FROM cl_amendments WHERE position <= ? "
                        "AND occurred_at >= ? AND (occurred_at > ? OR (occurred_at = ? AND "
                        "position > ?)) ORDER BY occurred_at, position"
                        + ("" if limit is None else " LIMIT ?"),
                        (position, low, last[0], last[0], last[1],
                         *(() if limit is None else (limit,))))
            return {int(r["position"]): str(r["occurred_at"]) for r in cur.fetchall()}

    def sizes(self, position: int) -> tuple[int, int]:
        """How many deals and offerings have a history at ``position``, and how many steps
        those histories hold."""
        with self.ledger.side_tables(write=False) as cur:
            cur.execute(f"SELECT COUNT(DISTINCT subject) AS subjects, COUNT(*) AS steps FROM "
                        f"cl_steps WHERE {VISIBLE} AND subject NOT IN (?, ?)",
                        (position, position, MARKET, GROUPS))
            row = cur.fetchone()
        return int(row["subjects"]), int(row["steps"])

    def view(self, position: int | None = None) -> StoredView:
        """The histories as known at ``position`` (default: the tracked one), read from the
        index: any batch end up to the tracked position (call :meth:`catch_up` first for
        the latest)."""
        tracked, head = self.tracked()
        if position is None or position == tracked:
            return StoredView(self.ledger, tracked, head)
        if not 0 <= position <= tracked or not self.holds(position):
            raise ValueError(f"position {position} is not held by the index (tracked: "
                             f"{tracked}; see Projection.holds)")
        return StoredView(self.ledger, position,
                          GENESIS if position == 0 else self.ledger.entry_at(position).hash)
