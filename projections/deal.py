"""One deal or offering, everything about it: ``compute-ledger deal ID``.  Pure.

Built from the pieces the other answers use, so it agrees with them by construction: the
clause checklist is the verdict's (:func:`projections.verdict.judged`), the terms and status
are the business's (:func:`projections.business.deal_out`, ``offering_out``), the history is
the timeline's walk over this subject alone (:func:`projections.timeline.subject_history`),
and the facts come from :class:`projections.provenance.Provenance`.
"""

from __future__ import annotations

import difflib
from datetime import datetime
from decimal import Decimal

from compute_ledger.contracts.state import SubjectKind
from compute_ledger.ledger.errors import ConfigurationError, NotFoundError
from compute_ledger.ledger.facts import CreatorRuling
from compute_ledger.projections.answers import (
    DealOut,
    DealReport,
    FactRefOut,
    OfferingOut,
    RulingOut,
    StepOut,
    utc,
)
from compute_ledger.projections.business import (
    deal_out,
    offering_out,
    retracted_deal,
    retracted_offering,
)
from compute_ledger.projections.provenance import Provenance
from compute_ledger.projections.timeline import subject_history
from compute_ledger.projections.verdict import assess_subject, candidate_out, judged
from compute_ledger.projections.view import Histories


def subject_key(name: str, histories: Histories, provenance: Provenance) -> str:
    """The subject ``name`` stands for: ``deal:ID`` or ``offering:ID`` as given, else the
    deal or offering with that id.  Unknown names are refused with the nearest ids."""
    if name.startswith(("deal:", "offering:")):
        keys = [name]
    else:
        keys = [f"deal:{name}", f"offering:{name}"]
    known = [k for k in keys if k in provenance.subjects] \
        or [k for k in keys if provenance.about(k)][:1]
    if len(known) > 1:
        raise ConfigurationError(
            f"{name!r} is both a deal and an offering: say deal:{name} or offering:{name}")
    if known:
        return known[0]
    prefixed = name.startswith(("deal:", "offering:"))
    everything = histories.full()  # only when refusing: the ids to suggest
    ids = sorted({k if prefixed else k.split(":", 1)[1]
                  for k in (*everything.subjects, *everything.retracted)})
    near = difflib.get_close_matches(name, ids, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(near)}?" if near else \
        " (`compute-ledger business` lists the deals and offerings)"
    raise NotFoundError(f"no deal or offering {name!r} is known at position "
                        f"{histories.position}{hint}")


def deal_report(histories: Histories, provenance: Provenance, key: str, as_of: datetime,
                known_at: datetime) -> DealReport:
    """Everything about the deal or offering ``key`` as of ``as_of`` (known at
    ``known_at``, which ``histories`` and ``provenance`` hold)."""
    kind: SubjectKind
    kind, subject_id = key.split(":", 1)  # type: ignore[assignment]
    steps, when, assessed = judged(histories, as_of)
    step = steps.get(key)
    candidate = None if key not in assessed else candidate_out(assessed[key], when.get(key))
    deal: DealOut | None = None
    offering: OfferingOut | None = None
    gone = key in histories.retracted_at(as_of)
    if step is not None:
        groups = histories.groups_at(as_of)
        if kind == "deal":
            deal = deal_out(step.state, as_of, groups, key in when)
        else:
            offering = offering_out(step.state, assess_subject(step.state, as_of, groups),
                                    key in when)
    elif gone:
        deal, offering = (retracted_deal(subject_id), None) if kind == "deal" \
            else (None, retracted_offering(subject_id))
    history = [
        StepOut(at=point.at, status=str(summary.get("status")),
                standing=summary.get("standing") or "candidate",
                qualifies=bool(summary.get("qualifies")), ruling=summary.get("ruling"),
                usd_per_month=None if summary.get("usd_per_month") is None
                else Decimal(summary["usd_per_month"]),
                facts=point.facts)
        for point, summary in subject_history(histories, key, known_at,
                                              provenance.amendments())
        if point.at <= as_of
    ]
    refs = provenance.about(key)
    # The facts its checklist cites that are about something else (a merger that made the
    # customer a Musk company) are facts about it too.
    cited = {f for check in (candidate.checks if candidate else ()) for f in check.facts}
    refs += [ref for ref in (provenance.get(f) for f in sorted(cited - {r.id for r in refs}))
             if ref is not None]
    refs.sort(key=lambda r: r.position)
    rulings = []
    for ref in refs:
        content = provenance.content(ref.id)
        if isinstance(content, CreatorRuling) and ref.live:
            rulings.append(RulingOut(fact=ref.id, ruling=content.ruling,
                                     subject=content.deal_id, at=utc(content.occurred_at),
                                     clauses=list(content.clauses or ()),
                                     summary=content.summary))
    return DealReport(
        id=subject_id, kind=kind, as_of=utc(as_of), known_at=utc(known_at),
        candidate=candidate, deal=deal, offering=offering, history=history,
        facts=[FactRefOut(id=r.id, type=r.type, position=r.position,
                          occurred_at=utc(r.occurred_at), target=r.target, live=r.live,
                          retracted_by=r.retracted_by, corrections=list(r.corrections),
                          in_force=r.in_force) for r in refs],
        rulings=sorted(rulings, key=lambda r: (r.at, r.fact)),
        ledger_position=histories.position, ledger_head=histories.head,
    )

