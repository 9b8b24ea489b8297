"""The Python API: open a ledger, append, read, verify, and ask the projections.

>>> from compute_ledger.projections.api import ComputeLedger                  # doctest: +SKIP
>>> with ComputeLedger.open("ledger.sqlite3") as cl:           # doctest: +SKIP
...     cl.append_text(open("facts.jsonl", "rb").read())
...     print(cl.verdict().status)

Everything here returns typed values (msgspec Structs or frozen dataclasses); the CLI is a thin
layer that prints them.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import msgspec

from compute_ledger.contracts.parties import (
    PartyWarning,
    known_names,
    named_by,
    party_warnings,
)
from compute_ledger.ledger import config as store_config
from compute_ledger.ledger.admission import Prepared, target
from compute_ledger.ledger.bulk import counted, paused_gc
from compute_ledger.ledger.clock import Clock
from compute_ledger.ledger.errors import (
    Breach,
    ConfigurationError,
    DerivedDataError,
    InputError,
    NotFoundError,
    Problem,
    StorageError,
)
from compute_ledger.ledger.facts import (
    Checked,
    CorporateEvent,
    Correction,
    Fact,
    Lean,
    Retraction,
    canonical_bytes,
    ids_on_lines,
    parse_facts,
    read_facts,
    stored_id,
)
from compute_ledger.ledger.files import replace_file
from compute_ledger.ledger.instants import (
    LATEST,
    ONE_MICROSECOND,
    InstantSyntaxError,
    end_of_day,
    from_utc_text,
    in_range,
    parse_instant,
    range_problem,
    start_of_day,
    utc_text,
)
from compute_ledger.ledger.notes import (
    Checkpoint,
    NoteError,
    SignatureError,
    Signer,
    Verifier,
    b64,
    check_name,
    read_checkpoint,
)
from compute_ledger.ledger.store import (
    AppendResult,
    DerivedDigest,
    Entry,
    Extension,
    Head,
    Ledger,
    Record,
    VerifyReport,
    parse_pin,
    record_json,
)
from compute_ledger.projections import business as business_projection
from compute_ledger.projections import deal as deal_projection
from compute_ledger.projections import diff as diffing
from compute_ledger.projections import proofs
from compute_ledger.projections import rebuilt as rebuilt_projection
from compute_ledger.projections import report as report_projection
from compute_ledger.projections import timeline as timeline_projection
from compute_ledger.projections import verdict as verdict_projection
from compute_ledger.projections.answers import (
    Bundle,
    Business,
    CheckpointOut,
    CheckReport,
    DealReport,
    Diff,
    DifferenceOut,
    FactAt,
    HeadOut,
    InfoOut,
    PointOut,
    ProblemOut,
    ProjectionStateOut,
    ProvenVerdict,
    ReplayReport,
    ShowOut,
    Timeline,
    Verdict,
    WhatIfOut,
)
from compute_ledger.projections.knowledge import Knowledge
from compute_ledger.projections.provenance import AMENDMENTS, FactRef, Provenance
from compute_ledger.projections.runner import SPILL, PointsMoved, Projection, ProjectionError
from compute_ledger.projections.subjects import GROUPS, MARKET
from compute_ledger.projections.view import Histories, View, fold_knowledge, view_of

PUBLIC_RECORD = "public-record.jsonl"
AMENDMENT_PAGE = 2000
"""How many corrections and retractions a timeline reads at a time."""
A = TypeVar("A", Verdict, Business, Timeline, DealReport)
T = TypeVar("T")
"""An answer that can be hypothetical."""
Instant = datetime | date | str
"""A valid or system time as the API takes it: an aware datetime, a date (the end of that day
in the market's time zone), or text as the CLI takes it (``"2026-05-23"``,
``"2026-05-06T10:00:00Z"``)."""
KnownAt = Instant | int
"""A system time: an instant, or a ledger position (as known when it was recorded; as text,
``"@8"``)."""

__all__ = [
    "AppendResult",
    "Business",
    "Checkpoint",
    "ComputeLedger",
    "Entry",
    "Head",
    "Hypothesis",
    "KnownAt",
    "NoteError",
    "Record",
    "ReplayReport",
    "SignatureError",
    "Signer",
    "Stages",
    "Timeline",
    "Verdict",
    "Verifier",
    "VerifyReport",
    "View",
    "b64",
    "bundled_record",
    "check_name",
    "counted",
    "parse_pin",
    "read_checkpoint",
    "record_json",
    "replace_file",
]


def _not_blaming_bad_lines(found: list[Problem], data: bytes, bad: list[Problem]
                           ) -> list[Problem]:
    """The problems against the ledger of the lines that passed the door, where a
    correction or retraction naming a fact on a line that did not pass says so, rather than
    that there is no such fact (fix that line, and the name is found)."""
    lines = {p.line for p in bad if p.line is not None}
    if not lines:
        return found
    failed = ids_on_lines(data, lines)
    out: list[Problem] = []
    for problem in found:
        named = next((fid for fid in failed
                      if problem.reason.startswith(f"no fact {fid!r} ")), None)
        if problem.path in ("$.corrects", "$.retracts") and named is not None:
            out.append(Problem(problem.line, problem.path,
                               f"names {named!r}, whose line {failed[named]} has problems "
                               "of its own"))
        else:
            out.append(problem)
    return out


class Hypothesis(msgspec.Struct, frozen=True):
    """Facts laid on the ledger without being written (see :meth:`ComputeLedger.hypothesis`):
    the new ones, decided against ``base``, as if recorded at ``known_at``."""

    base: Head
    facts: tuple[Prepared, ...]
    duplicates: int
    known_at: datetime


class Stages(Protocol):
    """What a long operation reports its progress to (the CLI's progress bar)."""

    def stage(self, label: str) -> None: ...

    def update(self, done: int) -> None: ...


def _text(value: object, name: str) -> None:
    """Refuse, with the project's own error, an argument that should be a string."""
    if not isinstance(value, str):
        raise ConfigurationError(f"{name} must be a string; got {type(value).__name__} "
                                 f"{value!r}")


def _positions(after: object, until: object) -> None:
    """Refuse, with the project's own error, ledger positions that are not whole numbers."""
    for name, value in (("after", after), ("until", until)):
        if value is None and name == "until":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigurationError(f"{name} must be a ledger position (an int, 0 or more); "
                                     f"got {type(value).__name__} {value!r}")


def aware(instant: object, name: str, *, day_start: bool = False) -> datetime:
    """``instant`` (see :data:`Instant`) in UTC; a naive datetime is refused rather than read
    as local time, and so is one outside the range the ledger speaks of, or anything else,
    with the project's own error naming the argument.  A date is the end of that day in the
    market's time zone (with ``day_start``, its start)."""
    if isinstance(instant, str):
        try:
            instant = parse_instant(instant, day_start=day_start)
        except InstantSyntaxError as exc:
            raise ConfigurationError(f"{name}: {exc}") from None
    elif isinstance(instant, date) and not isinstance(instant, datetime):
        if not in_range(instant):
            raise ConfigurationError(f"{name} {range_problem(instant)}")
        instant = start_of_day(instant) if day_start else end_of_day(instant)
    if not isinstance(instant, datetime):
        raise ConfigurationError(
            f"{name} must be a datetime with an offset, a date, or an instant as text such as "
            f"'2026-05-23' or '2026-05-06T10:00:00Z'; got {type(instant).__name__} "
            f"{instant!r}")
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ConfigurationError(
            f"{name} {instant.isoformat()} has no UTC offset: pass an aware datetime"
        )
    if not in_range(instant):
        raise ConfigurationError(f"{name} {range_problem(instant)}")
    return instant.astimezone(UTC)


def bundled_record() -> bytes:
    """The public record shipped with the package (JSON Lines, one fact per line)."""
    from compute_ledger.ledger import data

    beside = Path(data.__file__).with_name(PUBLIC_RECORD)  # an unzipped install: every pip one
    if beside.is_file():
        return beside.read_bytes()
    from importlib import resources  # pragma: no cover - slow to import, for zipped packages

    return resources.files(data).joinpath(PUBLIC_RECORD).read_bytes()  # pragma: no cover


def _bundled_ids(record: bytes) -> list[str]:
    """The ids of the bundled facts, read without the door (they all carry one)."""
    return [stored_id(line) for line in record.splitlines() if line.strip()]


class ComputeLedger:
    """A ledger and its projections, ready to answer."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.projection = Projection(ledger)

    @classmethod
    def open(
        cls,
        db: str | None = None,
        *,
        clock: Clock | None = None,
        environ: Mapping[str, str] | None = None,
        create: bool = True,
    ) -> ComputeLedger:
        """Open the ledger at ``db`` (a SQLite path or a ``postgresql://`` URL).

        With no ``db``, ``COMPUTE_LEDGER_DB`` is used, else the default ledger in the user's
        data directory, which is created and loaded with the bundled public record on first
        use (and tops itself up when a newer package ships more of the record).  With
        ``create=False`` (every CLI command but ``append``), a path or database holding no
        ledger is refused with :class:`~ledger.errors.NotFoundError` and left as it was.
        """
        config = store_config.resolve(db, os.environ if environ is None else environ)
        instance = cls(Ledger(config, clock, create=create))
        if config.is_default:
            instance._load_bundled_record()
        return instance

    def _load_bundled_record(self) -> None:
        """Append the bundled facts the default ledger lacks (all of them on first use; a
        newer package may ship more).  A question on a ledger that has them all reads their
        ids and writes nothing."""
        record = bundled_record()
        ids = _bundled_ids(record)
        head = self.ledger.head().position
        if head and len(self.ledger.lookup(ids, head)) == len(ids):
            return
        self.append(parse_facts(record))

    def close(self) -> None:
        self.ledger.close()

    def __enter__(self) -> ComputeLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def display(self) -> str:
        """Where the ledger lives, safe to print (no password)."""
        return self.ledger.config.display

    def info(self) -> InfoOut:
        """Which ledger this is (no password), its head, its size and how far each piece of
        derived data is caught up.  Reads only: nothing is caught up or created."""
        head = self.head()
        config = self.ledger.config
        size = None
        if config.path is not None:
            size = sum(p.stat().st_size for p in (config.path, Path(f"{config.path}-wal"))
                       if p.exists())
        states = [("fact index", self.ledger.recorder.index_position()),
                  ("merkle tree", self.ledger.recorder.tree_size() or 0)]
        tracked = self.projection.tracked_if_any()
        states.append(("answers", 0 if tracked is None else tracked[0]))
        return InfoOut(
            ledger=config.display, backend=config.backend, default=config.is_default,
            read_only=self.ledger.read_only,
            head=HeadOut(position=head.position, hash=head.hash), recorded_at=head.recorded_at,
            size_bytes=size,
            projections=[ProjectionStateOut(name=name, position=position,
                                            current=position >= head.position)
                         for name, position in states])

    # -- the ledger -------------------------------------------------------------------------

    def append(
        self,
        facts: Iterable[Fact | tuple[int, Fact] | Lean],
        *,
        progress: Callable[[int], None] | None = None,
    ) -> AppendResult:
        """Append facts atomically (see :meth:`ledger.store.Ledger.append`)."""
        return self.ledger.append(facts, progress=progress)

    def party_warnings(self, facts: Iterable[Checked | Lean]
                       ) -> list[tuple[int, PartyWarning]]:
        """(line, warning) for each party slug in a role where it matters that the rules
        do not know but that is close to one they do: a likely typo (see
        :func:`contracts.parties.party_warnings`).  Parties the ledger's corporate events
        have brought into the groups, and every party the batch's own corporate events name,
        count as known."""
        batch = list(facts)
        known: set[str] = set()
        for checked in batch:  # a Lean fact keeps its corporate event: nothing decoded
            event = checked.kept if isinstance(checked, Lean) else checked.fact
            if isinstance(event, CorporateEvent):
                known |= {*event.parties, event.result}
        names = known_names(known)
        found = [(checked.line, warning) for checked in batch
                 for warning in party_warnings(checked.fact, names)]
        if found:  # rare: only then ask what the ledger's corporate events taught the rules
            known |= named_by(self.histories().groups_at(end_of_day(LATEST)))
            found = [(line, w) for line, w in found if w.slug not in known]
        return found

    def sync_index(self) -> int:
        """Bring the fact index up to the head (an append does it for the facts before it;
        the CLI does it after each append, so a command leaves the ledger fully indexed)."""
        return self.ledger.sync_index()

    def append_text(self, data: bytes | str) -> AppendResult:
        """Parse one JSON object or JSON Lines, then append atomically."""
        return self.append(parse_facts(data))

    def head(self) -> Head:
        return self.ledger.head()

    def facts(self, after: int = 0, until: int | None = None) -> Iterator[Entry]:
        """Stored facts in ledger order, positions in ``(after, until]``."""
        _positions(after, until)
        return self.ledger.entries(after, until)

    def records(self, after: int = 0, until: int | None = None) -> Iterator[Record]:
        """Stored records (canonical fact bytes with their chain links), in ledger order."""
        _positions(after, until)
        return self.ledger.records(after, until)

    def follow(
        self, after: int = 0, *, poll: float = 1.0, stop: threading.Event | None = None
    ) -> Iterator[Record]:
        """The records after ``after``, then each new one as it is appended, until ``stop``
        is set (see :meth:`ledger.store.Ledger.follow`)."""
        return self.ledger.follow(after, poll=poll, stop=stop)

    def show(self, fact_id: str) -> Entry:
        """The stored fact with this id."""
        _text(fact_id, "fact_id")
        entry = self.ledger.find(fact_id)
        if entry is None:
            raise NotFoundError(f"no fact with id {fact_id!r} in ledger {self.display}")
        return entry

    def explain_fact(self, fact_id: str) -> ShowOut:
        """The stored fact with this id, what corrected or retracted it, and the content in
        force now (for a correction or retraction: that of the fact it names)."""
        entry = self.show(fact_id)
        provenance = self._scoped([], self.ledger.head().position, seeds=[entry.position])
        ref = provenance.get(entry.fact_id)
        assert ref is not None
        base = provenance.get(ref.target) if ref.target is not None else ref
        if base is not None and base.target is not None:  # a retraction of a correction
            base = provenance.get(base.target)
        assert base is not None

        def at(name: str | None) -> FactAt | None:
            found = None if name is None else provenance.get(name)
            return None if found is None else FactAt(id=found.id, position=found.position)

        content = provenance.content(base.id) if base.live else None
        head = self.ledger.head()
        return ShowOut(
            fact=msgspec.Raw(entry.raw),  # type: ignore[arg-type]  # the stored bytes
            hash=entry.hash, position=entry.position, prev=entry.prev,
            recorded_at=entry.recorded_at, subjects=list(ref.subjects), target=ref.target,
            retracted_by=at(ref.retracted_by),
            corrections=[a for a in map(at, ref.corrections) if a is not None],
            correction_in_force=ref.in_force,
            in_force=None if content is None  # type: ignore[arg-type]
            else msgspec.Raw(canonical_bytes(content)),
            ledger_position=head.position, ledger_head=head.hash,
        )

    def verify(self, against: Head | str | None = None, *,
               checkpoint: Checkpoint | None = None,
               copy: list[bytes] | None = None) -> VerifyReport:
        """Check the chain, the fact index and the Merkle tree against every record (see
        :meth:`ledger.store.Ledger.verify`); with ``against`` (a :class:`Head`, or a pin
        ``POSITION:HASH`` as ``digest`` prints it, the hash or a prefix of 12 or more hex
        digits), also that the record there still carries that hash; with ``checkpoint``,
        also that the ledger extends it (a consistency proof); with ``copy`` (records as
        ``feed`` printed them), that it still holds them, naming the first position that
        differs.  Then the maintained projection: that the record at the position it was
        folded to has the hash it tracked, and that each of its tables still adds up to the
        digest its catch-ups recorded (:mod:`projections.digest`)."""
        if isinstance(against, str):
            try:
                against = parse_pin(against)
            except ValueError as exc:
                raise ConfigurationError(str(exc)) from None
        report = self.ledger.verify(against, checkpoint=checkpoint, copy=copy)
        audit = self.projection.audit()
        if audit is None:
            return report
        if audit.position:
            try:
                self.projection.check_history(audit.position, audit.head,
                                              self.ledger.head().position)
            except ProjectionError as exc:
                raise DerivedDataError(Breach(audit.position, str(exc))) from None
        if audit.differs:
            raise DerivedDataError(Breach(audit.position, "; ".join(audit.differs) + (
                ". Derived data was altered by something other than a catch-up: `compute-"
                "ledger replay` names the first row that differs, and `compute-ledger replay "
                "--rebuild` rebuilds the projection from the records")))
        return msgspec.structs.replace(report, projection=DerivedDigest(
            audit.position, audit.head, audit.digest, audit.rows))

    # -- the verifiable log -----------------------------------------------------------------

    def checkpoint(self, signer: Signer | None = None, origin: str | None = None
                   ) -> CheckpointOut:
        """The tree head of the ledger as it stands, as a C2SP checkpoint signed by
        ``signer`` (its name is the origin), or unsigned with ``origin``."""
        return proofs.signed_checkpoint(self.ledger, self.ledger.head().position, signer,
                                        origin)

    def prove(self, fact_id: str, signer: Signer) -> str:
        """A ``c2sp.org/tlog-proof@v1`` that the fact is in the log: its index (position
        minus one), the inclusion proof, and a checkpoint of the head signed by ``signer``."""
        self.show(fact_id)  # a clear error for an unknown id
        checkpoint = self.checkpoint(signer)
        [proof] = proofs.fact_proofs(self.ledger, [fact_id], checkpoint.size, checkpoint.note)
        return proof.proof

    def consistency(self, checkpoint: Checkpoint) -> Extension:
        """The consistency proof that the ledger extends ``checkpoint``, from the stored
        tree (the records are not re-read; :meth:`verify` re-reads them)."""
        return self.ledger.extension(checkpoint)

    def proven_verdict(self, as_of: Instant | None, known_at: KnownAt | None,
                       signer: Signer) -> ProvenVerdict:
        """The verdict with a signed checkpoint and a proof of every fact it names."""
        return proofs.proven(self.ledger, self.verdict(as_of, known_at), signer)

    def bundle(self, as_of: Instant | None, known_at: KnownAt | None,
               signer: Signer) -> Bundle:
        """A proven verdict and the records its checkpoint covers: all an auditor needs."""
        return proofs.bundle(self.ledger, self.verdict(as_of, known_at), signer)

    # -- the projections --------------------------------------------------------------------

    def now(self) -> datetime:
        """The current instant, from the ledger's clock."""
        return self.ledger.clock.now().astimezone(UTC)

    def known_instant(self, known_at: KnownAt | None = None) -> datetime:
        """The system time a ``known_at`` stands for: an instant, or a position N meaning
        "when position N was recorded" (its whole batch was recorded at that instant).
        Position 0 is the instant before the first record."""
        if known_at is None:
            return self.ledger.now().astimezone(UTC)  # never before the head
        if isinstance(known_at, str) and known_at.strip().startswith("@"):
            number = known_at.strip()[1:]
            if not number.isdigit():
                raise ConfigurationError(
                    f"known_at {known_at!r}: after @ comes a ledger position, such as @12")
            known_at = int(number)
        if isinstance(known_at, (datetime, date, str)):
            return aware(known_at, "known_at")
        if isinstance(known_at, bool) or not isinstance(known_at, int):
            raise ConfigurationError(
                f"known_at must be an instant (see as_of) or a position (an int, or '@N'); "
                f"got {type(known_at).__name__} {known_at!r}")
        if known_at < 0:
            raise NotFoundError(f"no position {known_at}: positions start at 1")
        if known_at == 0:
            head = self.ledger.head()
            if head.position == 0:
                return self.now()
            return self.ledger.entry_at(1).recorded_instant - ONE_MICROSECOND
        return self.ledger.entry_at(known_at).recorded_instant

    def moments(
        self, as_of: Instant | None = None, known_at: KnownAt | None = None
    ) -> tuple[datetime, datetime]:
        """Resolve ``as_of`` (valid time) and ``known_at`` (system time); both default to now.
        Instants must carry their offset: a naive datetime is refused, never guessed."""
        resolved = self.now() if as_of is None else aware(as_of, "as_of")
        return resolved, self.known_instant(known_at)

    # -- what the ledger knows about each fact --------------------------------------------

    def _folded(self, position: int, extra: Iterable[tuple[int, str, str, Fact]] = (),
                progress: Callable[[int], None] | None = None) -> tuple[View, Knowledge]:
        """The histories and the knowledge folded from the stored facts up to ``position``,
        then ``extra`` entries (hypothetical ones), the cyclic collector paused;
        ``progress`` is told of every thousand facts read."""
        stream: Iterable[tuple[int, str, str, Fact]] = self.ledger.stream(until=position)
        if progress is not None:
            stream = counted(stream, progress)
        with paused_gc():
            knowledge, head, recorded_at = fold_knowledge(itertools.chain(stream, extra))
            return view_of(knowledge, head, recorded_at), knowledge

    def provenance(self, known_at: KnownAt | None = None) -> Provenance:
        """Every fact known at ``known_at`` (default: now) and what became of it: which
        subjects it is about, its corrections and retraction."""
        position = self.ledger.position_known_at(self.known_instant(known_at))
        return Provenance(self._folded(position)[1])

    # -- what if ----------------------------------------------------------------------------

    def hypothesis(self, facts: Iterable[Fact | tuple[int, Fact]]) -> Hypothesis:
        """Facts to lay on the ledger without writing them (``--with FILE``): they pass the
        same door as :meth:`append` against the head as it stands (an :class:`InputError`
        names every problem), and are never written or hashed into the ledger."""
        admitted = self.ledger.admit(facts)
        return Hypothesis(admitted.head, tuple(admitted.new), admitted.duplicates,
                          self.ledger.now(admitted.head))

    def _supposed(self, hypothesis: Hypothesis) -> tuple[View, Provenance]:
        """The histories as they would be were the hypothesis appended after its head (the
        view keeps the head's position and hash: nothing was appended)."""
        base = hypothesis.base
        recorded = utc_text(hypothesis.known_at)
        extra = [(base.position + n, recorded, base.hash, p.fact)
                 for n, p in enumerate(hypothesis.facts, start=1)]
        view, knowledge = self._folded(base.position, extra)
        view = msgspec.structs.replace(view, position=base.position, head=base.hash)
        return view, Provenance(knowledge)

    def _both(self, histories: Histories, as_of: datetime, known: datetime
              ) -> diffing.Answer:
        return (verdict_projection.verdict(histories, as_of, known),
                business_projection.business(histories, as_of, known))

    def _supposing(self, hypothesis: Hypothesis, as_of: Instant | None,
                   known_at: KnownAt | None) -> tuple[datetime, View, Provenance]:
        """The valid time a hypothetical answer is asked as of, and the view and provenance
        with the hypothesis laid on (``--with`` is about now: a ``known_at`` is refused)."""
        if known_at is not None:
            raise ConfigurationError(
                "--with answers as if FILE were appended now, after the head: it cannot be "
                "combined with --known-at")
        when = hypothesis.known_at if as_of is None else aware(as_of, "as_of")
        return (when, *self._supposed(hypothesis))

    def _flips(self, hypothesis: Hypothesis, when: datetime, view: View,
               provenance: Provenance, keep: Callable[[diffing.Raw], bool]
               ) -> tuple[diffing.Answer, list[DifferenceOut]]:
        """Both answers as of ``when`` with the hypothesis laid on, and what differs (the
        fields ``keep`` selects) from the answers without it, with the facts behind each."""
        base = hypothesis.base
        moment = hypothesis.known_at
        without = self._both(self._read(base.position), when, moment)
        supposed = self._both(view, when, moment)
        raw = [r for r in diffing.compare(without, supposed) if keep(r)]
        return supposed, diffing.explain(
            raw, provenance, (base.position, base.position + len(hypothesis.facts)), None,
            (without, supposed))

    @staticmethod
    def _marked(answer: A, hypothesis: Hypothesis, flips: list[DifferenceOut]) -> A:
        """``answer`` marked hypothetical, with what it stands on and what it flips."""
        base = hypothesis.base
        return msgspec.structs.replace(answer, hypothetical=True, what_if=WhatIfOut(
            base_position=base.position, base_head=base.hash,
            facts=[FactAt(id=p.fact_id, position=base.position + n)
                   for n, p in enumerate(hypothesis.facts, start=1)],
            duplicates=hypothesis.duplicates, flips=flips))

    # -- the projections, read ----------------------------------------------------------------

    def view(self, known_at: KnownAt | None = None) -> View:
        """Everything the ledger knew at ``known_at`` (default: now), folded from the stored
        facts: the reference computation, independent of the maintained projection."""
        known = self.known_instant(known_at)
        return self.replayed(self.ledger.position_known_at(known))

    def replayed(self, position: int) -> View:
        """The histories folded from the stored facts up to ``position`` (the cyclic
        collector paused: the fold builds many objects and no cycles)."""
        return self._folded(position)[0]

    def histories(self, known_at: KnownAt | None = None) -> Histories:
        """What the answers read at ``known_at``: the maintained projection when the
        question is about the ledger's latest knowledge (it is caught up first), else the
        facts recorded by then, folded afresh."""
        known = self.known_instant(known_at)
        return self._read(self.ledger.position_known_at(known))

    def _read(self, position: int) -> Histories:
        """The histories at ``position`` (see :meth:`histories`): read from the index when
        it holds ``position`` (caught up first), else folded from the facts."""
        if not self.ledger.read_only:
            try:
                tracked, _ = self.projection.catch_up(until=position)
            except StorageError:
                tracked = -1  # it cannot be written now (a full disk): fold instead
            if tracked >= position and self.projection.holds(position):
                return self.projection.view(position)
        return self._folded(position)[0]

    def _scoped(self, lists: Iterable[str], position: int, seeds: Iterable[int] = ()
                ) -> Provenance:
        """What became of the facts in the index's ``lists`` (``deal:ID``, ``market``, ...,
        ``fact:ID``, :data:`~projections.provenance.AMENDMENTS`) and of the facts at the
        ``seeds`` positions, as known at ``position``: those facts, the facts they name and
        those naming them, read and folded on their own; where the index does not hold
        ``position``, the whole ledger folded."""
        listed = None if self.ledger.read_only else self.projection.listing(position)
        if listed is None:
            return Provenance(self._folded(position)[1])
        loaded: dict[int, Fact] = {}
        wanted = {*listed(lists), *seeds}
        while wanted - loaded.keys():
            new = sorted(wanted - loaded.keys())
            loaded.update(self.ledger.facts_at(new))
            facts = [loaded[at] for at in new]
            wanted |= set(listed(f"fact:{f.id}" for f in facts))
            named = {name for f in facts if (name := target(f)) is not None}
            wanted |= {at for at, _ in self.ledger.lookup(named, position).values()}
        knowledge = Knowledge()
        for at in sorted(loaded):
            knowledge.add(at, loaded[at])
        return Provenance(knowledge)

    def verdict(self, as_of: Instant | None = None, known_at: KnownAt | None = None, *,
                hypothesis: Hypothesis | None = None) -> Verdict:
        """The market's verdict as of ``as_of``, as known at ``known_at``; with a
        ``hypothesis``, as if its facts were appended now (``"hypothetical": true``, and
        what they flip)."""
        if hypothesis is not None:
            when, view, provenance = self._supposing(hypothesis, as_of, known_at)
            (answer, _), flips = self._flips(hypothesis, when, view, provenance,
                                             diffing.of_verdict)
            return self._marked(answer, hypothesis, flips)
        as_of, known_at = self.moments(as_of, known_at)
        return verdict_projection.verdict(self.histories(known_at), as_of, known_at)

    def business(
        self, as_of: Instant | None = None, known_at: KnownAt | None = None, *,
        hypothesis: Hypothesis | None = None,
    ) -> Business:
        """The state of xAI's compute business as of ``as_of``, as known at ``known_at``
        (with a ``hypothesis``: as for :meth:`verdict`)."""
        if hypothesis is not None:
            when, view, provenance = self._supposing(hypothesis, as_of, known_at)
            (_, answer), flips = self._flips(hypothesis, when, view, provenance,
                                             diffing.of_business)
            return self._marked(answer, hypothesis, flips)
        as_of, known_at = self.moments(as_of, known_at)
        return business_projection.business(self.histories(known_at), as_of, known_at)

    def timeline(self, known_at: KnownAt | None = None, *,
                 since: Instant | None = None, until: Instant | None = None,
                 hypothesis: Hypothesis | None = None,
                 progress: Stages | None = None) -> Timeline:
        """Every change point of the verdict and the business, as known at ``known_at``,
        corrections and retractions included, from ``since`` up to ``until`` (valid time; a
        date is from the start of that day, or up to its end; each point names what
        changed since the one before it, in the window or not).  With a ``hypothesis``: as
        if its facts were appended now; its flips are the points that differ."""
        if hypothesis is not None:
            _, view, provenance = self._supposing(hypothesis, None, known_at)
            moment = hypothesis.known_at
            answer = timeline_projection.timeline(view, moment, provenance.amendments(),
                                                  window=self._window(since, until))
            flips = timeline_projection.compare(
                self.timeline(moment, since=since, until=until), answer, provenance,
                (hypothesis.base.position, hypothesis.base.position + len(hypothesis.facts)))
            return self._marked(answer, hypothesis, flips)
        head, points = self.timeline_points(known_at, since=since, until=until,
                                            progress=progress)
        return msgspec.structs.replace(head, points=list(points))

    def timeline_points(self, known_at: KnownAt | None = None, *,
                        since: Instant | None = None, until: Instant | None = None,
                        progress: Stages | None = None) -> tuple[Timeline, Iterator[PointOut]]:
        """:meth:`timeline` as it is walked, for an output that streams: the answer without
        its points, and the points, each computed when it is asked for (iterate them while
        the ledger is open).  At the index's tracked position they are read from the
        stored timeline (:meth:`catch_up_timeline`) instead.  ``progress`` hears of the
        reading (the walk is heard of by its points arriving)."""
        head, rows, walk = self._timeline(known_at, self._window(since, until),
                                          progress=progress)
        return head, walk() if rows is None else map(timeline_projection.point_of, rows)

    def timeline_rows(self, known_at: KnownAt | None = None, *, since: Instant | None = None,
                      stored: bool = True) -> tuple[Timeline, Iterator[tuple[Any, ...]]]:
        """:meth:`timeline_points` as rows of :data:`projections.timeline.ROW` (what an
        export's ``timeline`` table holds): the stored ones as they are, when the timeline
        is read from the index; walked afresh whatever is stored when not ``stored`` (what
        an export is checked against)."""
        head, rows, walk = self._timeline(known_at, self._window(since, None), stored=stored)
        return head, map(timeline_projection.row_of, walk()) if rows is None else rows

    def _timeline(self, known_at: KnownAt | None, window: timeline_projection.Window, *,
                  stored: bool = True, progress: Stages | None = None
                  ) -> tuple[Timeline, Iterator[tuple[Any, ...]] | None,
                             Callable[[], Iterator[PointOut]]]:
        """The timeline as known at ``known_at``, in ``window``: the answer without its
        points, the stored timeline's rows when they answer (:meth:`_stored_rows`; None
        else, or when not ``stored``), and the walk of its points."""
        _, known = self.moments(None, known_at)
        position = self.ledger.position_known_at(known)
        if progress is not None:
            progress.stage("reading ")
        histories = self._read(position)
        head = Timeline(known_at=known, points=[], ledger_position=histories.position,
                        ledger_head=histories.head)
        rows = self._stored_rows(histories, window) if stored else None
        return head, rows, lambda: timeline_projection.points(
            histories, self._amendments_from(position), window=window)

    def _stored_rows(self, histories: Histories, window: timeline_projection.Window
                     ) -> Iterator[tuple[Any, ...]] | None:
        """The stored timeline's rows in ``window`` when it answers for ``histories`` (see
        :meth:`_timeline_stored`), else None."""
        if not self._timeline_stored(histories.position, histories.head):
            return None
        low, high = (None if bound is None else utc_text(bound) for bound in window)
        return self._read_on(histories, window, self.projection.stored_points(
            histories.position, histories.head, (low, high)))

    def _read_on(self, histories: Histories, window: timeline_projection.Window,
                 stored: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
        """The ``stored`` rows; and if another process catches the stored timeline up past
        ``histories`` while they are read (a reader between two pages, behind a slow
        pipe), the rest walked at the position they were asked at, from the instant after
        the last row given: the index keeps what every position knew, so the answer is
        the one the stored rows would have gone on to give, never an error half way."""
        last: str | None = None
        try:
            for row in stored:
                last = str(row[0])
                yield row
        except PointsMoved:
            since = window[0] if last is None else from_utc_text(last)
            rest = timeline_projection.points(histories, self._amendments_from(
                histories.position), window=(since, window[1]))
            for point in rest:
                row = timeline_projection.row_of(point)
                if last is None or str(row[0]) > last:
                    yield row

    def catch_up_timeline(self) -> int:
        """Bring the stored timeline (the change points at the index's tracked position,
        which ``timeline`` and ``export`` read instead of walking) up to the index: walk it
        from the earliest valid time the facts since its own position can change
        (:meth:`changed_from`), and replace the points from there, in one transaction.
        Returns the position it stands at.  The ``append`` command does this after catching
        up the index, so the first timeline or export after an append reads; a question
        that finds it behind does it first.  A read-only ledger is left as it is.

        Raises :class:`~projections.runner.ProjectionError` if the record at the position
        it was walked at no longer has the hash it was walked with (as the index does)."""
        if self.ledger.read_only:
            return self.projection.points_tracked()[0]
        while True:
            position, head = self.projection.tracked()
            walked = self.projection.points_tracked()
            if walked == (position, head):
                return position
            if walked[0] > position and self.projection.tracked()[0] > position:
                continue  # another process caught both up meanwhile: look again
            if walked[0]:
                self.projection.check_history(*walked, self.ledger.head().position)
            start = None if not 0 < walked[0] < position else \
                self.changed_from(walked[0], position)
            histories = self.projection.view(position)
            points = timeline_projection.points(histories, self._amendments_from(position),
                                                window=(start, None))
            rows = [timeline_projection.row_of(p) for p in points]
            if self.projection.write_points(walked, position, head,
                                            None if start is None else utc_text(start), rows):
                return position

    def _timeline_stored(self, position: int, head: str) -> bool:
        """Whether the timeline at ``(position, head)`` is read from the stored points:
        when it is the index's tracked position, the stored timeline caught up to it first
        (never on a read-only ledger, where the walk answers)."""
        if self.ledger.read_only or not position:
            return False  # nothing is stored for an empty ledger (its timeline has a point)
        if self.projection.tracked() != (position, head):
            return False
        try:
            return self.catch_up_timeline() == position
        except StorageError:
            return False  # it cannot be written now (a full disk): walk instead

    def _amendments_from(self, position: int) -> timeline_projection.AmendmentsFrom:
        """A reader of the corrections and retractions known at ``position`` issued from an
        instant on, in the order they were issued: those the index lists as issued then
        (``cl_amendments``), :data:`AMENDMENT_PAGE` at a time, each page read with what it
        names on its own, as the walk reaches it; every one, folded, when the index cannot
        say."""

        def issued(since: datetime | None) -> Iterable[FactRef]:
            if self.ledger.read_only or self.projection.listing(position) is None:
                folded = self._scoped([AMENDMENTS], position).amendments()
                return timeline_projection.reader(folded)(since)
            return self._issued_pages(position, since)

        return issued

    def _issued_pages(self, position: int, since: datetime | None) -> Iterator[FactRef]:
        after: tuple[str, int] | None = None
        while True:
            page = self.projection.amendments_issued(position, since, after=after,
                                                     limit=AMENDMENT_PAGE)
            if not page:
                return
            scope = self._scoped([], position, seeds=list(page))
            yield from sorted((ref for ref in scope.amendments() if ref.position in page),
                              key=lambda ref: (ref.occurred_at, ref.position))
            if len(page) < AMENDMENT_PAGE:
                return
            at, when = list(page.items())[-1]
            after = (when, at)

    def changed_from(self, after: int, position: int) -> datetime | None:
        """The earliest valid time from which the facts recorded in ``(after, position]``
        can change the timeline known at ``position``: its points before it are those known
        at ``after`` (None: from the first; what an export refresh rewrites).  The index
        says which steps of which histories they changed: the earliest instant the walk
        reads from any of those (where it starts, its dates, from when it is available),
        or where any of the new facts occurred (a correction or retraction is a point
        where it was issued), or where an earlier correction or retraction was issued of a
        fact a new one amends, or about a deal or offering known at one of the two
        positions and not at the other (the timeline names amendments only about those it
        knows).  A new instant earlier than every point can move the first
        one (the market's status is first named at the first instant walked).  More than
        :data:`~projections.runner.SPILL` facts apart, None: a walk from the first costs
        no more than a bulk append's catch-up, and what they changed is not held in
        memory."""
        if not 0 <= after < position:
            raise ValueError(f"positions {after} and {position} are not in order")
        try:
            if self.ledger.read_only or self.projection.catch_up(until=position)[0] < position:
                return None
        except StorageError:
            return None  # the index cannot be written now (a full disk): from the first
        if position - after > SPILL:
            return None  # as costly as a walk from the first, and its memory is not bounded
        earliest, appeared = self.projection.changed(after, position)
        new = self.ledger.facts_at(range(after + 1, position + 1))
        # A correction or retraction names, as its change point, the subjects of the fact it
        # amends, which every correction of that fact adds to: the earlier amendments of
        # the facts the new ones amend are points that can change too, and so are those
        # about a deal or offering that the timeline names only from now, or no longer.
        amending = [at for at, fact in new.items() if isinstance(fact, (Correction, Retraction))]
        amended = self._scoped(appeared, position, seeds=amending).amendments() \
            if amending or appeared else []
        instants: list[datetime] = [*(fact.occurred_at for fact in new.values()),
                                    *(ref.occurred_at for ref in amended)]
        return min(instants if earliest is None else [earliest, *instants])

    @staticmethod
    def _window(since: Instant | None, until: Instant | None) -> timeline_projection.Window:
        low = None if since is None else aware(since, "since", day_start=True)
        high = None if until is None else aware(until, "until")
        if low is not None and high is not None and low > high:
            raise ConfigurationError(f"since ({low.isoformat()}) is after until "
                                     f"({high.isoformat()}): no point could be in between")
        return low, high

    def report(self, as_of: Instant | None = None,
               known_at: KnownAt | None = None) -> report_projection.Report:
        """What ``compute-ledger report`` draws as of ``as_of``, as known at ``known_at``:
        the verdict, the business and the timeline, the market's status as bands, each
        deal's terms over valid time, and the source of every fact shown."""
        as_of, known = self.moments(as_of, known_at)
        position = self.ledger.position_known_at(known)
        histories = self._read(position)
        provenance = self._scoped([MARKET, GROUPS, AMENDMENTS, *histories.full().subjects],
                                  position)
        amendments = provenance.amendments()
        stored = self.ledger.facts_at([ref.position for ref in amendments])
        return report_projection.report(
            histories, provenance,
            report_projection.Answers(
                verdict_projection.verdict(histories, as_of, known),
                business_projection.business(histories, as_of, known),
                timeline_projection.timeline(histories, known, amendments)),
            {fact.id: fact for fact in stored.values()  # type: ignore[misc]
             if isinstance(fact, (Correction, Retraction))})

    def deal(self, name: str, as_of: Instant | None = None,
             known_at: KnownAt | None = None, *,
             hypothesis: Hypothesis | None = None) -> DealReport:
        """Everything about one deal or offering (``name``: its id, or ``deal:ID`` /
        ``offering:ID``) as of ``as_of``, as known at ``known_at``."""
        _text(name, "name")
        if hypothesis is not None:
            when, view, provenance = self._supposing(hypothesis, as_of, known_at)
            key = deal_projection.subject_key(name, view, provenance)
            report = deal_projection.deal_report(view, provenance, key, when,
                                                 hypothesis.known_at)
            _, flips = self._flips(hypothesis, when, view, provenance,
                                   lambda raw: raw[0] == key)
            return self._marked(report, hypothesis, flips)
        as_of, known = self.moments(as_of, known_at)
        position = self.ledger.position_known_at(known)
        histories = self._read(position)
        subject_id = name.split(":", 1)[1] if name.startswith(("deal:", "offering:")) else name
        provenance = self._scoped([f"deal:{subject_id}", f"offering:{subject_id}", GROUPS],
                                  position)
        key = deal_projection.subject_key(name, histories, provenance)
        return deal_projection.deal_report(histories, provenance, key, as_of, known)

    def diff(self, as_of: Instant | None = None, known_at: KnownAt | None = None,
             to_as_of: Instant | None = None, to_known_at: KnownAt | None = None) -> Diff:
        """What differs between the answers at (``as_of``, ``known_at``) and at
        (``to_as_of``, ``to_known_at``), each ``to_*`` defaulting to its counterpart, and
        the facts that made each difference."""
        first = self.moments(as_of, known_at)  # "now" is resolved once, for both sides
        second = (first[0] if to_as_of is None else aware(to_as_of, "to_as_of"),
                  first[1] if to_known_at is None else self.known_instant(to_known_at))
        low, high = (self.ledger.position_known_at(known) for _, known in (first, second))
        before, after = (self._both(self._read(position), when, known)
                         for (when, known), position in ((first, low), (second, high)))
        raw = diffing.compare(before, after)
        subjects = {r[0] for r in raw if r[0].startswith(("deal:", "offering:"))}
        provenance = self._scoped([MARKET, *subjects], max(low, high))
        differences = diffing.explain(raw, provenance, (low, high), (first[0], second[0]),
                                      (before, after))
        return Diff(
            from_=diffing.side(before), to=diffing.side(after), same=not differences,
            differences=differences,
        )

    def check(self, data: bytes) -> CheckReport:
        """Validate a batch exactly as :meth:`append` would, against the ledger as it
        stands, and report every problem of every line; nothing is written."""
        try:
            checked, problems = read_facts(data)
        except InputError as exc:  # no facts at all
            checked, problems = [], exc.problems
        new = duplicates = 0
        head = self.ledger.head()
        if checked:
            try:
                admitted = self.ledger.admit(checked)
            except InputError as exc:
                problems = [*problems, *_not_blaming_bad_lines(exc.problems, data, problems)]
            else:
                head, new, duplicates = admitted.head, len(admitted.new), admitted.duplicates
        warnings = [ProblemOut(line=line, path=w.path, reason=w.reason)
                    for line, w in self.party_warnings(checked)]
        problems = sorted(problems, key=lambda p: p.line or 0)  # stable: in field order
        return CheckReport(
            ok=not problems, facts=len(checked), new=0 if problems else new,
            duplicates=duplicates, warnings=warnings,
            problems=[ProblemOut(line=p.line, path=p.path, reason=p.reason) for p in problems],
            head=HeadOut(position=head.position, hash=head.hash),
        )

    def problems(self, data: bytes) -> list[Problem]:
        """Every problem :meth:`check` finds in a batch (what ``append`` refuses it with)."""
        return [Problem(p.line, p.path, p.reason) for p in self.check(data).problems]

    # -- the auditor's replay -----------------------------------------------------------------

    def _differences(self, rebuilt: Projection, position: int) -> list[str]:
        """What the index holds at ``position`` that the one rebuilt from the raw facts does
        not (:func:`projections.rebuilt.differences`), then every table whose rows do not
        add up to its digest (what the comparison does not read: a closed row, a gap)."""
        found = rebuilt_projection.differences(self.projection, rebuilt, position)
        found += self._points_differences(rebuilt, position)
        audit = self.projection.audit()
        if audit is not None:
            found += audit.differs
        return found

    def _points_differences(self, rebuilt: Projection, position: int) -> list[str]:
        """Where the stored timeline, when it stands at ``position``, is not the walk over
        the rebuilt histories (its corrections and retractions read from the index's lists,
        which :func:`projections.rebuilt.differences` compares): the first point that
        differs, or is on one side only."""
        walked_at = self.projection.points_tracked()
        if walked_at[0] != position or not position:
            return []
        stored = self.projection.stored_points(*walked_at)
        walk = map(timeline_projection.row_of, timeline_projection.points(
            rebuilt.view(position), self._amendments_from(position)))
        return rebuilt_projection.points_difference(stored, walk)

    def replay(
        self,
        known_at: KnownAt | None = None,
        as_of: Instant | None = None,
        *,
        rebuild: bool = False,
        progress: Stages | None = None,
    ) -> ReplayReport:
        """Verify the chain, rebuild the index from the raw facts recorded by ``known_at``
        (in a scratch file, through the bounded fold every catch-up uses), compare it with
        the maintained index a page at a time, and give the verdict the ledger would have
        given then (as of ``as_of``, default ``known_at``), read from the rebuild.

        Raises :class:`~ledger.errors.VerificationError` if the chain does not check out.
        With ``rebuild``, a maintained projection that differs is rebuilt from the facts.
        ``progress`` hears of each stage (verifying, folding, comparing) and of the records
        each has done.
        """
        known = self.known_instant(known_at)
        if progress is not None:
            progress.stage("verifying")
        verified = self.ledger.verify(progress=None if progress is None else progress.update)
        position = self.ledger.position_known_at(known)
        if progress is not None:
            progress.stage("folding  ")
        with self.ledger.scratch() as scratch:
            rebuilt = Projection(scratch)
            rebuilt.catch_up(until=position,
                             progress=None if progress is None else progress.update)
            if progress is not None:
                progress.stage("comparing")
            compared, differing, rebuilt_now = False, [], False
            # The index holds every batch end it has folded, so the rebuild is compared
            # with it at exactly the replayed position, whatever a writer appends meanwhile.
            if not self.ledger.read_only:
                try:
                    tracked = self.projection.catch_up(until=position)[0]
                except ProjectionError:
                    if not rebuild:
                        raise  # folded from another history: say so, never rebuild silently
                    self.projection.reset()
                    tracked, rebuilt_now = self.projection.catch_up(until=position)[0], True
                if tracked >= position and self.projection.holds(position):
                    compared = True
                    try:
                        self.catch_up_timeline()  # at the tracked position, compared too
                    except ProjectionError:
                        if not rebuild:
                            raise  # walked on another history: say so, never re-walk silently
                        self.projection.reset()  # the stored timeline with the rest
                        tracked, rebuilt_now = self.projection.catch_up(until=tracked)[0], True
                        self.catch_up_timeline()
                    differing = self._differences(rebuilt, position)
                    if differing and rebuild:
                        self.projection.reset()
                        self.projection.catch_up(until=tracked)
                        self.catch_up_timeline()
                        differing = self._differences(rebuilt, position)
                        rebuilt_now = True
            moment = known if as_of is None else aware(as_of, "as_of")
            answer = verdict_projection.verdict(rebuilt.view(position), moment, known)
            subjects, steps = rebuilt.sizes(position)
        return ReplayReport(
            ok=not differing,
            verified=verified.checked,
            head=HeadOut(position=verified.head.position, hash=verified.head.hash),
            position=position,
            known_at=known,
            subjects=subjects,
            steps=steps,
            projection_compared=compared,
            projection_differs=differing,
            projection_rebuilt=rebuilt_now,
            answer=answer,
        )
