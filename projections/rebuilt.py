"""The maintained index against one rebuilt from the raw facts: what ``replay`` compares.

``replay`` rebuilds the index from the records into a scratch file of its own
(:meth:`ledger.store.Ledger.scratch`), through the same bounded fold every catch-up uses,
then reads both a page at a time in key order and names what differs, so that neither the
rebuild nor the comparison holds more than a page of either in memory, however long the
ledger.  Both sides are read as known at the replayed position (``pos_from <= P < pos_to``,
or recorded by ``P``):

* the histories (``cl_steps``), the retracted subjects (``cl_retracted``) and the creator's
  clarifications (``cl_clarifications``): every subject whose rows differ, by name;
* the subjects the index lists (``cl_subjects``): any the rebuild knows and the index does
  not;
* the lists (``cl_about``) and the corrections and retractions (``cl_amendments``): the
  first entry that differs, and on which side it is;
* when the replayed position is the tracked one, the latest-knowledge tables every
  catch-up folds from (``cl_facts``, ``cl_fixes``, ``cl_bucket_facts``): the first row that
  differs; and the stored timeline (``cl_points``) against the timeline walked over the
  rebuild (:func:`points_difference`): the first point that differs.

Whatever these do not read (a closed row, a gap, a column of a past batch end) is covered by
each table's digest (:meth:`projections.runner.Projection.audit`), which ``replay`` checks
too.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from compute_ledger.ledger.persistence import SideCursor
from compute_ledger.projections import digest as digests
from compute_ledger.projections.runner import KEYS, LATEST, VIEW, VISIBLE, Projection, pages
from compute_ledger.projections.subjects import GROUPS, MARKET

Row = tuple[Any, ...]

STEP_COLUMNS = ("subject", "valid_from", "qualifies", "rules_qualify", "earliest", "state")
"""What a step row says (its ``pos_from`` and ``pos_to`` are when it was known, which a
rebuild in one pass does not share with catch-ups batch by batch)."""
RETRACTED_COLUMNS = ("subject", "first_at", "facts")
CLARIFICATION_COLUMNS = ("subject", "occurred_at", "fact_id", "ref")


def apart(held: Iterator[Row], rebuilt: Iterator[Row], size: int
          ) -> Iterator[tuple[Row, str]]:
    """Merge two sides' rows, each in the order of its first ``size`` columns (a key
    neither repeats), into every row where they part: ``(row, where)``, ``where`` being
    ``"differs from the replay"`` (the same key, other values: the index's row),
    ``"only in the index"`` or ``"missing from the index"``."""
    mine, theirs = next(held, None), next(rebuilt, None)
    while mine is not None or theirs is not None:
        if theirs is None or (mine is not None and mine[:size] < theirs[:size]):
            assert mine is not None
            yield mine, "only in the index"
            mine = next(held, None)
        elif mine is None or theirs[:size] < mine[:size]:
            yield theirs, "missing from the index"
            theirs = next(rebuilt, None)
        else:
            if mine != theirs:
                yield mine, "differs from the replay"
            mine, theirs = next(held, None), next(rebuilt, None)


def _both(held: SideCursor, rebuilt: SideCursor, table: str, columns: Sequence[str],
          key: Sequence[str], *, where: str = "", params: Sequence[Any] = ()
          ) -> Iterator[tuple[Row, str]]:
    """:func:`apart` over one table of both sides, ``columns`` read in the order of ``key``
    (a unique key of the rows ``where`` selects) a page at a time."""
    return apart(pages(held, table, columns, key, where=where, params=params),
                 pages(rebuilt, table, columns, key, where=where, params=params), len(key))


def differences(held: Projection, rebuilt: Projection, position: int) -> list[str]:
    """What the maintained index (``held``) says at ``position`` that the one rebuilt from
    the raw facts up to ``position`` does not (see the module docstring): empty when they
    agree."""
    visible = (position, position)
    with held.ledger.side_tables(write=False, snapshot=True) as mine, \
            rebuilt.ledger.side_tables(write=False) as theirs:
        found: list[str] = []
        # Steps in force at the position have one row per (subject, valid_from).
        for table, columns, key in (
                ("cl_steps", STEP_COLUMNS, ("subject", "valid_from")),
                ("cl_retracted", RETRACTED_COLUMNS, ("subject",)),
                ("cl_clarifications", CLARIFICATION_COLUMNS,
                 ("subject", "occurred_at", "fact_id"))):
            for row, _ in _both(mine, theirs, table, columns, key, where=VISIBLE,
                                    params=visible):
                if row[0] not in found:
                    found.append(str(row[0]))
        found.sort(key=lambda name: (name in (MARKET, GROUPS), name))
        for row, where in _both(mine, theirs, "cl_subjects", ("subject",), ("subject",),
                                where="kind IN ('deal', 'offering')"):
            if where == "missing from the index" and row[0] not in found:
                found.append(f"{row[0]} (missing from the index's subjects)")
        for row, where in _first(_both(mine, theirs, "cl_about", ("subject", "position"),
                                       ("subject", "position"),
                                       where="position <= ?", params=(position,))):
            found.append(f"the list {row[0]} at position {row[1]} ({where})")
        for row, where in _first(_both(mine, theirs, "cl_amendments",
                                       ("position", "occurred_at"), ("position",),
                                       where="position <= ?", params=(position,))):
            found.append(f"the correction or retraction at position {row[0]}, issued "
                         f"{row[1]} ({where})")
        # The tables every catch-up folds from hold the tracked position's knowledge only.
        mine.execute("SELECT position FROM cl_tracking WHERE view = ?", (VIEW,))
        if int(mine.fetchone()["position"]) == position:
            found += latest_difference(mine, theirs)
    return found


def points_difference(held: Iterator[Row], walked: Iterator[Row]) -> list[str]:
    """The first of the stored timeline's rows (``cl_points``) that is not the walk's over
    the rebuilt histories, both in valid-time order (:data:`projections.timeline.ROW`)."""
    return [f"the stored timeline's point at {row[0]} ({where})"
            for row, where in _first(apart(held, walked, 1))]


def latest_difference(held: SideCursor, rebuilt: SideCursor) -> list[str]:
    """The first row of the latest-knowledge tables (:data:`projections.runner.LATEST`)
    that is not what the rebuild gives them: named by its table and key, with the side it
    is on."""
    for table in LATEST:
        columns = digests.COLUMNS[table]
        key = columns[:KEYS[table]]
        for row, where in _first(_both(held, rebuilt, table, columns, key)):
            named = ", ".join(f"{c}={v!r}" for c, v in zip(key, row, strict=False))
            return [f"{table} row {named} ({where})"]
    return []


def _first(found: Iterator[tuple[Row, str]]) -> list[tuple[Row, str]]:
    """The first of ``found``, if any (the rest is never read)."""
    for first in found:
        return [first]
    return []
