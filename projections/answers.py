"""The JSON answers: typed, versioned, and described by JSON Schema.

Every answer carries ``schema`` (``compute-ledger/verdict/1`` ...).  The number changes
whenever the shape of the answer changes; ``tests/test_answer_schemas.py`` fails if a schema
changes without its version, so tools can rely on it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

import msgspec

from compute_ledger.contracts.market import Standing, Status
from compute_ledger.ledger.facts import Fact, schema_of
from compute_ledger.ledger.store import RECORD_TOPIC


class _Answer(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


def utc(moment: datetime) -> datetime:
    """Answers state every instant in UTC."""
    return moment.astimezone(UTC)


def utc_or_none(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)


class CheckOut(_Answer, frozen=True, kw_only=True):
    """One clause applied to one deal or offering."""

    clause: str
    kind: str
    state: Literal["met", "failed", "unknown", "not_applicable"]
    held: bool
    facts: list[str]
    note: str


class CandidateOut(_Answer, frozen=True, kw_only=True):
    """A deal or offering weighed by the verdict, with its clause checklist."""

    id: str
    kind: Literal["deal", "offering"]
    standing: Standing
    qualifies: bool
    by_ruling: bool
    under_review: bool
    qualified_at: datetime | None
    """The valid time at which it first qualified (judged with the party groups of that time
    and the ruling in force as of the question); its checks are as of then.  Null if it has
    not qualified by the question's time: its checks are as of that time."""
    available_since: datetime | None
    missing: list[str]
    checks: list[CheckOut]


class RulingOut(_Answer, frozen=True, kw_only=True):
    """A creator ruling in force."""

    fact: str
    ruling: str
    subject: str | None
    at: datetime
    clauses: list[str]
    summary: str


class FactAt(_Answer, frozen=True, kw_only=True):
    """A fact and its ledger position (for a hypothetical fact, the one it would take)."""

    id: str
    position: int


class DifferenceOut(_Answer, frozen=True, kw_only=True):
    """One field that differs between two answers, and the facts that made it differ (see
    ``docs/verdict.md``, "What changed").  Values are strings as the answers show them
    (booleans ``true``/``false``, instants in RFC 3339, lists joined by ``, ``); null where
    one answer has no such field."""

    subject: str
    """``market``, ``business``, ``deal:ID`` or ``offering:ID``."""
    what: str
    """The field: ``status``, ``qualifies``, ``clause CLAUSE``, ``term NAME``, ..."""
    before: str | None
    after: str | None
    facts: list[FactAt]


class WhatIfOut(_Answer, frozen=True, kw_only=True):
    """What a hypothetical answer (``--with FILE``) stands on and what its facts change."""

    base_position: int
    base_head: str
    """The ledger the hypothesis is laid on: its head when the answer was given."""
    facts: list[FactAt]
    """The hypothetical facts that are new to the ledger, with the positions they would
    take; none of them was written."""
    duplicates: int
    """Facts of the file already in the ledger with the same content (they change nothing)."""
    flips: list[DifferenceOut]
    """What differs from the same answer without them."""


class Verdict(_Answer, frozen=True, kw_only=True):
    """The market's verdict as of a valid time, as known at a system time."""

    schema: str = "compute-ledger/verdict/3"
    market: str
    question: str
    deadline: datetime
    as_of: datetime
    known_at: datetime
    status: Status
    under_review: bool
    disagrees_with_rules: bool
    criteria_met: bool
    qualifying: list[str]
    criteria_met_since: datetime | None
    candidates: list[CandidateOut]
    rulings: list[RulingOut]
    clauses_used: list[str]
    ledger_position: int
    ledger_head: str
    hypothetical: bool = False
    """True when the answer is a what-if (``--with FILE``): facts that are not in the
    ledger were laid on it; ``ledger_position`` and ``ledger_head`` are the ledger's own."""
    what_if: WhatIfOut | None = None


class TermOut(_Answer, frozen=True, kw_only=True):
    """A merged term and the fact that decided it.  Decimals and dates are strings, as in
    the fact format, so the value's JSON type does not depend on the term."""

    value: str | bool | list[str]
    fact: str


class DealOut(_Answer, frozen=True, kw_only=True):
    """A deal with its merged terms, its status and the facts behind each term."""

    id: str
    status: Literal["reported", "announced", "filed", "confirmed", "active", "ended", "retracted"]
    provider: str | None
    customer: str | None
    external: bool | None
    service: str | None
    consideration: str | None
    facilities: list[str] | None
    capacity_mw: Decimal | None
    usd_per_month: Decimal | None
    starts_on: date | None
    ends_on: date | None
    qualifies: bool
    terms: dict[str, TermOut]
    first_fact: str | None


class OfferingOut(_Answer, frozen=True, kw_only=True):
    id: str
    status: Literal["available", "announced", "retracted"]
    provider: str | None
    service: str | None
    signup_open: bool | None
    pricing_published: bool | None
    available_from: date | None
    qualifies: bool
    terms: dict[str, TermOut]


class CustomerOut(_Answer, frozen=True, kw_only=True):
    customer: str
    deals: list[str]
    capacity_mw: Decimal
    usd_per_month: Decimal


class Business(_Answer, frozen=True, kw_only=True):
    """The state of xAI's compute business as of a valid time, as known at a system time."""

    schema: str = "compute-ledger/business/2"
    as_of: datetime
    known_at: datetime
    deals: list[DealOut]
    offerings: list[OfferingOut]
    external_customers: list[CustomerOut]
    capacity_mw_by_facility: dict[str, Decimal]
    capacity_mw_by_customer: dict[str, Decimal]
    monthly_run_rate_usd: Decimal
    contracted_backlog_usd: Decimal
    open_ended_deals: list[str]
    """Active deals with no end date: left out of the backlog."""
    ledger_position: int
    ledger_head: str
    hypothetical: bool = False
    what_if: WhatIfOut | None = None
    """As for the verdict: a what-if answer (``--with FILE``) says so."""


class ChangeOut(_Answer, frozen=True, kw_only=True):
    """One thing that changed at a point: a deal's or offering's ``standing``, ``status``,
    the creator's ``ruling`` in force on it (``counts``, ``does_not_count``,
    ``under_review``), its ``usd_per_month`` run-rate (a decimal string) or whether it
    ``qualifies`` (counts towards the criteria: ``true`` or ``false``); a ``correction``
    or ``retraction`` of one of its facts, issued then (``before`` names the fact, ``after``
    the correction or retraction; its effect is retroactive and already in every point); or
    the market's ``status``, or ``deadline`` (``passed``, at the first instant after it)."""

    subject: str
    what: str
    before: str | None
    after: str | None


class PointOut(_Answer, frozen=True, kw_only=True):
    """A valid time at which the verdict or the business changes, naming what changed (the
    deals and offerings that qualify are not repeated at every point: each one's
    ``qualifies`` changes say when it starts and stops counting)."""

    at: datetime
    status: Status
    criteria_met: bool
    monthly_run_rate_usd: Decimal
    changes: list[ChangeOut]
    facts: list[str]
    """Facts that occurred at this instant."""


class Timeline(_Answer, frozen=True, kw_only=True):
    """Every change point of the verdict and of the business along valid time."""

    schema: str = "compute-ledger/timeline/4"
    known_at: datetime
    points: list[PointOut]
    ledger_position: int
    ledger_head: str
    hypothetical: bool = False
    what_if: WhatIfOut | None = None
    """As for the verdict: a what-if answer (``--with FILE``) says so."""


class HeadOut(_Answer, frozen=True, kw_only=True):
    """A ledger head: the position and hash of the last record."""

    position: int
    hash: str


class ExportCheckOut(_Answer, frozen=True, kw_only=True):
    """An export file compared by ``replay --export``: the ledger position and head its last
    export recorded, and the first difference from a fresh export of that position and
    as-of (empty: every table agrees, row for row)."""

    path: str
    position: int
    head: str
    differs: list[str]


class ReplayReport(_Answer, frozen=True, kw_only=True):
    """What an auditor's replay found (``compute-ledger replay``)."""

    schema: str = "compute-ledger/replay/4"
    ok: bool
    verified: int
    """Records whose chain, positions and index were checked."""
    head: HeadOut
    position: int
    """The ledger position the replay folded to: the last one recorded by ``known_at``."""
    known_at: datetime
    subjects: int
    steps: int
    projection_compared: bool
    """Whether the maintained index was compared with the replay at ``position`` (not on a
    ledger that can only be read here)."""
    projection_differs: list[str]
    """The subjects whose maintained histories differ from the replay (empty: they agree)."""
    projection_rebuilt: bool
    exports: list[ExportCheckOut] = []
    """The export files compared (``--export``), each with what differs."""
    answer: Verdict
    """The verdict the ledger gave at ``known_at``: as of ``known_at`` unless asked
    otherwise, with the position and head it stood on."""


class AppendOut(_Answer, frozen=True, kw_only=True):
    """What ``append --json`` reports."""

    schema: str = "compute-ledger/append/1"
    appended: int
    duplicates: int
    first_position: int | None
    """The position of the first fact appended (None when every fact was a duplicate)."""
    recorded_at: str | None
    head: HeadOut


class CheckpointOut(_Answer, frozen=True, kw_only=True):
    """A tree head of the ledger's Merkle tree (``checkpoint --json``): the C2SP
    ``tlog-checkpoint`` in ``note``, signed when a key was given."""

    schema: str = "compute-ledger/checkpoint/1"
    origin: str
    size: int
    root: str
    """The RFC 9162 root hash over the first ``size`` records, base64."""
    signed: bool
    note: str
    """The checkpoint as text: a C2SP signed note when ``signed``, else its unsigned body."""


class ExtendsOut(_Answer, frozen=True, kw_only=True):
    """A checkpoint the ledger was proved to extend (``verify --against CHECKPOINT``)."""

    origin: str
    size: int
    root: str
    signature_checked: bool
    proof: list[str]
    """The consistency proof from ``size`` to the ledger's head, base64 hashes."""


class ProjectionDigestOut(_Answer, frozen=True, kw_only=True):
    """The maintained projection as ``verify`` found it: folded to ``position`` (whose
    record has hash ``head``), its tables holding ``rows`` rows that add up to ``digest``,
    the digest its catch-ups recorded (see docs/auditing.md)."""

    position: int
    head: str
    digest: str
    rows: int


class VerifyOut(_Answer, frozen=True, kw_only=True):
    """What ``verify --json`` reports when the ledger checks out (a breach exits 1)."""

    schema: str = "compute-ledger/verify/3"
    ok: bool
    checked: int
    head: HeadOut
    root: str
    """The RFC 9162 root hash of the ledger's Merkle tree at the head, base64."""
    tree_size: int
    """How many records the stored tree covers: all of them, but on a ledger written before
    the tree existed and not appended to since (the root is then hashed from the records)."""
    against: HeadOut | None
    extends: ExtendsOut | None
    projection: ProjectionDigestOut | None
    """None when the ledger keeps no projection yet (no question was asked of it)."""


class FactProofOut(_Answer, frozen=True, kw_only=True):
    """A fact an answer stands on, and the proof that it is in the log."""

    id: str
    position: int
    proof: str
    """A C2SP ``tlog-proof@v1``: index (position - 1), the inclusion proof's hashes, and
    the signed checkpoint they lead to."""


class ProvenVerdict(_Answer, frozen=True, kw_only=True):
    """A verdict with the proofs an auditor checks offline (``verdict --proof``): a signed
    checkpoint, and an inclusion proof under it of every fact the verdict names."""

    schema: str = "compute-ledger/proven-verdict/1"
    verdict: Verdict
    checkpoint: str
    facts: list[FactProofOut]


class Bundle(_Answer, frozen=True, kw_only=True):
    """What ``bundle`` writes: a proven verdict and every record the checkpoint covers, as
    ``feed`` prints them, so ``audit`` can check it all without the ledger."""

    schema: str = "compute-ledger/bundle/1"
    proven: ProvenVerdict
    records: list[str]


class AuditReport(_Answer, frozen=True, kw_only=True):
    """What ``audit`` found in a bundle (a failure exits 1 naming what does not hold)."""

    schema: str = "compute-ledger/audit/1"
    ok: bool
    origin: str
    size: int
    root: str
    records: int
    facts_proven: int
    as_of: datetime
    known_at: datetime
    ledger_position: int
    status: Status


class DigestOut(_Answer, frozen=True, kw_only=True):
    """What ``digest --json`` prints: the head to pin."""

    schema: str = "compute-ledger/digest/1"
    position: int
    hash: str


class ProblemOut(_Answer, frozen=True, kw_only=True):
    """One problem of one line: the line, the JSON path and the reason."""

    line: int | None
    path: str
    reason: str


class CheckReport(_Answer, frozen=True, kw_only=True):
    """What ``check FILE`` found: every problem of every line, as ``append`` would refuse
    them, and what ``append`` would then do.  Nothing is written."""

    schema: str = "compute-ledger/check/1"
    ok: bool
    facts: int
    """Lines that passed the door."""
    new: int
    """Facts ``append`` would add (0 while there are problems)."""
    duplicates: int
    problems: list[ProblemOut]
    warnings: list[ProblemOut]
    """Likely typos of a party slug (``append`` warns the same way, and appends)."""
    head: HeadOut


class SideOut(_Answer, frozen=True, kw_only=True):
    """One of the two answers a diff compares."""

    as_of: datetime
    known_at: datetime
    ledger_position: int
    ledger_head: str
    status: Status


class Diff(_Answer, frozen=True, kw_only=True):
    """What differs between two answers (verdict and business), and the facts behind each
    difference."""

    schema: str = "compute-ledger/diff/1"
    from_: SideOut = msgspec.field(name="from")
    to: SideOut
    same: bool
    differences: list[DifferenceOut]


class StepOut(_Answer, frozen=True, kw_only=True):
    """A deal or offering from ``at`` until the next step: as the business and the verdict
    see it then."""

    at: datetime
    status: str
    standing: Standing
    qualifies: bool
    """Whether it counts over this step, as the timeline says: once the clauses let it
    count it stays counted, unless the creator's ruling in force then says otherwise."""
    ruling: str | None
    usd_per_month: Decimal | None
    """The monthly run-rate it adds over this step (an active deal's), else null."""
    facts: list[str]
    """The facts that made the step (those that occurred at ``at``)."""


class FactRefOut(_Answer, frozen=True, kw_only=True):
    """A fact about a deal or offering, and what became of it."""

    id: str
    type: str
    position: int
    occurred_at: datetime
    target: str | None
    """For a correction or retraction: the fact it names."""
    live: bool
    retracted_by: str | None
    corrections: list[str]
    in_force: str | None
    """The correction whose content is in force (null: the fact's own)."""


class DealReport(_Answer, frozen=True, kw_only=True):
    """Everything about one deal or offering as of a valid time, as known at a system time."""

    schema: str = "compute-ledger/deal/1"
    id: str
    kind: Literal["deal", "offering"]
    as_of: datetime
    known_at: datetime
    candidate: CandidateOut | None
    """As the verdict weighs it (its clause checklist); null if nothing about it stands."""
    deal: DealOut | None
    """As the business shows a deal: merged terms with the fact behind each, status."""
    offering: OfferingOut | None
    history: list[StepOut]
    """Its steps along valid time up to ``as_of``."""
    facts: list[FactRefOut]
    """Every fact about it known at ``known_at``, corrections and retractions included."""
    rulings: list[RulingOut]
    """Every ruling of the creator on it known at ``known_at``, in valid-time order."""
    ledger_position: int
    ledger_head: str
    hypothetical: bool = False
    what_if: WhatIfOut | None = None
    """As for the verdict: a what-if answer (``--with FILE``) says so."""


class ShowOut(_Answer, frozen=True, kw_only=True):
    """One stored fact (the stored record's fields) and what became of it."""

    schema: str = "compute-ledger/show/1"
    fact: Fact
    hash: str
    position: int
    prev: str
    recorded_at: str
    subjects: list[str]
    target: str | None
    """For a correction or retraction: the fact it names."""
    retracted_by: FactAt | None
    corrections: list[FactAt]
    correction_in_force: str | None
    in_force: Fact | None
    """The content in force now: the fact itself, the content of the correction in force,
    or null when retracted."""
    ledger_position: int
    ledger_head: str


class RecordOut(msgspec.Struct, frozen=True):
    """A stored record, one per line of ``feed`` and ``log --json``: exactly the bytes the
    ledger holds (keys sorted; the fact in canonical form).  Versioned by its stored topic,
    ``compute-ledger/record@1``."""

    fact: Fact
    hash: str
    position: int
    prev: str
    recorded_at: str


class ProjectionStateOut(_Answer, frozen=True, kw_only=True):
    """How far one piece of derived data is caught up with the records."""

    name: str
    position: int
    """The last record it covers."""
    current: bool
    """Whether it covers every record (else the next command catches it up)."""


class InfoOut(_Answer, frozen=True, kw_only=True):
    """Which ledger a command would use, and its state."""

    schema: str = "compute-ledger/info/1"
    ledger: str
    """The SQLite path, or the PostgreSQL URL without its password."""
    backend: Literal["sqlite", "postgresql"]
    default: bool
    """Whether it is the default ledger (no --db, no COMPUTE_LEDGER_DB)."""
    read_only: bool
    head: HeadOut
    recorded_at: str | None
    """When the head was recorded (null for an empty ledger)."""
    size_bytes: int | None
    """The SQLite file with its write-ahead log (null on PostgreSQL)."""
    projections: list[ProjectionStateOut]


class ErrorBody(_Answer, frozen=True, kw_only=True):
    """What went wrong, for a tool: the same as the ``Error: ...`` line on stderr."""

    code: Literal["bad_input", "file_refused", "bad_configuration", "usage", "not_found",
                  "verification_failed", "signature", "storage", "error"]
    """The kind of error; stable across releases (the message is not)."""
    exit_code: int
    """The command's exit status: 2 bad usage or bad input, 1 any other error."""
    message: str
    line: int | None
    """The input line of the first problem, when the input was refused."""
    path: str | None
    """The JSON path of the first problem (``$.deal.capacity_mw``), when the input was
    refused."""
    problems: list[ProblemOut]
    """Every problem, when the input was refused (else empty)."""


class ErrorOut(_Answer, frozen=True, kw_only=True):
    """With ``--json``, an error is also this object on stdout, with the same exit status."""

    schema: str = "compute-ledger/error/1"
    error: ErrorBody


ANSWERS: dict[str, Any] = {
    "verdict": Verdict,
    "business": Business,
    "timeline": Timeline,
    "replay": ReplayReport,
    "append": AppendOut,
    "verify": VerifyOut,
    "checkpoint": CheckpointOut,
    "proven-verdict": ProvenVerdict,
    "bundle": Bundle,
    "audit": AuditReport,
    "digest": DigestOut,
    "record": RecordOut,
    "check": CheckReport,
    "diff": Diff,
    "deal": DealReport,
    "show": ShowOut,
    "error": ErrorOut,
    "info": InfoOut,
}
"""Every JSON answer the CLI prints, by name (``compute-ledger schema NAME``)."""



def version_of(name: str) -> str:
    """The version an answer declares: its ``schema`` field, or the record's stored topic."""
    if name == "record":
        return RECORD_TOPIC
    [field] = [f for f in msgspec.structs.fields(ANSWERS[name]) if f.name == "schema"]
    return str(field.default)


def answer_schema(name: str) -> dict[str, Any]:
    """JSON Schema of a JSON answer."""
    schema: dict[str, Any] = schema_of(ANSWERS[name])
    schema["title"] = f"compute-ledger {name}"
    return schema
