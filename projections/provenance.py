"""Where each fact stands in what the ledger knows at a position.  Pure.

For every fact folded into a :class:`~projections.knowledge.Knowledge`: its position, the
subjects it is about (``deal:ID``, ``offering:ID``, ``market``, ``groups``), whether it is
retracted and by which fact, which corrections name it and which of them is in force.  A
correction or a retraction is about the subjects of the fact it names.  ``show``, ``deal``,
``diff`` and the timeline read this to say which facts made what they show.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

import msgspec

from compute_ledger.ledger.facts import SourcedFact
from compute_ledger.projections.knowledge import Knowledge
from compute_ledger.projections.subjects import buckets, subjects_of_bucket


class FactRef(msgspec.Struct, frozen=True, kw_only=True):
    """One fact as known at a position."""

    id: str
    type: str
    position: int
    occurred_at: datetime
    """When it occurred (for a corrected fact, as its content in force says)."""
    subjects: tuple[str, ...]
    target: str | None = None
    """The fact a correction or retraction names."""
    retracted_by: str | None = None
    corrections: tuple[str, ...] = ()
    """The corrections naming this fact, in ledger order (retracted ones included)."""
    in_force: str | None = None
    """The correction whose content is in force (None: the fact's own content)."""

    @property
    def live(self) -> bool:
        return self.retracted_by is None


def _subjects(*facts: SourcedFact) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for fact in facts:
        for bucket in buckets(fact):
            for subject in subjects_of_bucket(bucket):
                found[subject] = None
    return tuple(found)


AMENDMENTS = "*amendments"
"""The list, in the index, of every correction and retraction (see :func:`listed_under`)."""


def listed_under(original: SourcedFact, replacement: SourcedFact | None = None,
                 target: str | None = None) -> list[str]:
    """The lists of the index (:mod:`projections.runner`, ``cl_about``) a stored fact is
    entered in, from the position it is recorded at, for good: a fact about ``deal:ID``
    under that subject; a correction or retraction (naming ``target``) under the subjects of
    the fact it names (``original``, as first recorded) and of the correction's content
    (``replacement``), under ``fact:TARGET`` and under :data:`AMENDMENTS`.  Reading a list,
    then the lists of the facts read (``fact:ID``), and the facts they name, gives every fact
    a :class:`Provenance` needs to say what became of those facts."""
    listed = list(_subjects(original, *(() if replacement is None else (replacement,))))
    if target is not None:
        listed += [f"fact:{target}", AMENDMENTS]
    return listed


class Provenance:
    """Every fact known at a position, and the facts about each subject."""

    def __init__(self, knowledge: Knowledge) -> None:
        self._knowledge = knowledge
        refs: dict[str, FactRef] = {}
        fixes_of: dict[str, list[str]] = defaultdict(list)
        for fix in sorted(knowledge.fix_by_id.values(), key=lambda f: f.position):
            fixes_of[fix.target].append(fix.fact_id)
        for fact_id, (position, original) in knowledge.base.items():
            known = knowledge.would_be(fact_id)
            assert known is not None
            replacements = [knowledge.fix_by_id[f].replacement for f in fixes_of[fact_id]]
            refs[fact_id] = FactRef(
                id=fact_id, type=str(original.__struct_config__.tag), position=position,
                occurred_at=known.fact.occurred_at,
                subjects=_subjects(original, *replacements),
                retracted_by=knowledge.retracted.get(fact_id),
                corrections=tuple(fixes_of[fact_id]), in_force=known.corrected_by,
            )
        for fix in knowledge.fix_by_id.values():
            refs[fix.fact_id] = FactRef(
                id=fix.fact_id, type="correction", position=fix.position, occurred_at=fix.at,
                subjects=refs[fix.target].subjects, target=fix.target,
                retracted_by=knowledge.retracted.get(fix.fact_id),
            )
        for withdrawal in knowledge.withdrawals.values():
            named = refs[withdrawal.target]
            refs[withdrawal.fact_id] = FactRef(
                id=withdrawal.fact_id, type="retraction", position=withdrawal.position,
                occurred_at=withdrawal.at, subjects=named.subjects, target=withdrawal.target,
            )
        self.refs = dict(sorted(refs.items(), key=lambda item: item[1].position))
        about: dict[str, list[FactRef]] = defaultdict(list)
        for ref in self.refs.values():
            for subject in ref.subjects:
                about[subject].append(ref)
        self._about = dict(about)
        self.subjects: frozenset[str] = frozenset(
            subject for _, fact, _ in knowledge.contents() for bucket in buckets(fact)
            if not bucket.startswith("ruling:") for subject in subjects_of_bucket(bucket))
        """The deals, offerings, market and groups that facts of their own are about (a
        ruling naming an id is about the deal and the offering of that id, either of
        which may not exist)."""

    def content(self, fact_id: str) -> SourcedFact | None:
        """The content in force of a fact (its winning correction's, or its own); None for
        a correction, a retraction or an unknown id."""
        known = self._knowledge.would_be(fact_id)
        return None if known is None else known.fact

    def get(self, fact_id: str) -> FactRef | None:
        return self.refs.get(fact_id)

    def about(self, subject: str) -> list[FactRef]:
        """Every fact about ``subject``, in ledger order (corrections and retractions of its
        facts, and retracted facts, included)."""
        return list(self._about.get(subject, ()))

    def amendments(self) -> list[FactRef]:
        """Every correction and retraction, in ledger order."""
        return [ref for ref in self.refs.values() if ref.target is not None]

    def between(
        self,
        subjects: Iterable[str],
        positions: tuple[int, int],
        times: tuple[datetime, datetime] | None = None,
    ) -> list[FactRef]:
        """The facts about any of ``subjects`` that one answer holds and the other does
        not: recorded in ``(positions[0], positions[1]]``, or (facts other than corrections
        and retractions, recorded by ``positions[1]``) occurred in ``(times[0], times[1]]``."""
        low, high = positions
        found: dict[str, FactRef] = {}
        for subject in subjects:
            for ref in self._about.get(subject, ()):
                if ref.position > high:
                    continue
                recorded = ref.position > low
                occurred = times is not None and ref.target is None \
                    and times[0] < ref.occurred_at <= times[1]
                if recorded or occurred:
                    found[ref.id] = ref
        return sorted(found.values(), key=lambda r: r.position)
