"""Answers an auditor checks offline: signed checkpoints, proofs of the facts a verdict names,
bundles, and the audit of a bundle without the ledger.

* :func:`signed_checkpoint` gives the tree head of the first ``size`` records as a C2SP
  checkpoint, signed when there is a key.
* :func:`proven` attaches to a verdict an inclusion proof (``c2sp.org/tlog-proof@v1``) of
  every fact it names, under one signed checkpoint.
* :func:`audit` checks a :class:`~projections.answers.Bundle` with nothing but a verifier
  key: the signature, the root recomputed from the bundled records, the chain, each proof,
  and the verdict refolded from the bundled facts.  It reads no database.
"""

from __future__ import annotations

import itertools
from datetime import datetime

import msgspec

from compute_ledger.ledger.errors import Breach, FileRefused, LedgerError, VerificationError
from compute_ledger.ledger.facts import Fact, decode_fact
from compute_ledger.ledger.instants import utc_text
from compute_ledger.ledger.merkle import EMPTY_ROOT, extend, fold, leaf_hash, verify_inclusion
from compute_ledger.ledger.notes import (
    Checkpoint,
    NoteError,
    Signer,
    Verifier,
    b64,
    check_name,
    open_note,
    parse_checkpoint,
    parse_proof,
    proof_text,
)
from compute_ledger.ledger.persistence import RECORD_DECODER, RECORD_TOPIC
from compute_ledger.ledger.store import Ledger
from compute_ledger.ledger.verification import ChainVerifier
from compute_ledger.projections import verdict as verdict_projection
from compute_ledger.projections.answers import (
    AuditReport,
    Bundle,
    CheckpointOut,
    FactProofOut,
    ProvenVerdict,
    Verdict,
)
from compute_ledger.projections.view import fold_knowledge, view_of

DEFAULT_ORIGIN = "compute-ledger"
"""The origin of an unsigned checkpoint when none is given (a signed one takes its key's name)."""


class AuditError(LedgerError):
    """A bundle that does not hold up: the message names what does not."""


def signed_checkpoint(ledger: Ledger, size: int, signer: Signer | None,
                      origin: str | None = None) -> CheckpointOut:
    """The checkpoint of the first ``size`` records: signed by ``signer`` (whose name is
    the origin), else the unsigned body with ``origin``."""
    name = signer.name if signer is not None else origin or DEFAULT_ORIGIN
    check_name(name)  # an origin is a key's name: no space, no +, one line
    checkpoint = Checkpoint(name, size, ledger.tree(size).root())
    body = checkpoint.body()
    note = signer.sign(body) if signer is not None else body
    return CheckpointOut(origin=name, size=size, root=b64(checkpoint.root),
                         signed=signer is not None, note=note)


def cited(answer: Verdict) -> list[str]:
    """Every fact the verdict names (its checks' and its rulings'), in order, once each."""
    ids = [fact for candidate in answer.candidates for check in candidate.checks
           for fact in check.facts]
    ids += [ruling.fact for ruling in answer.rulings]
    return list(dict.fromkeys(ids))


def fact_proofs(ledger: Ledger, ids: list[str], size: int, note: str) -> list[FactProofOut]:
    """An inclusion proof of each of these facts in the tree of ``size`` records, each
    leading to the checkpoint ``note``."""
    found = ledger.lookup(ids, size)
    tree = ledger.tree(size)
    root = tree.root()
    proofs = []
    for fact_id in ids:
        if fact_id not in found:
            raise AuditError(f"fact {fact_id} is not among the first {size} records")
        position = found[fact_id][0]
        hashes = tree.inclusion(position - 1)
        [(_, state)] = ledger.states(position - 1, position)
        if not verify_inclusion(position - 1, size, leaf_hash(state), hashes, root):
            raise VerificationError(Breach(
                position, "the record does not match the Merkle tree (it was altered); "
                          "nothing was signed: run `compute-ledger verify`"))
        proofs.append(FactProofOut(id=fact_id, position=position,
                                   proof=proof_text(position - 1, hashes, note)))
    return proofs


def proven(ledger: Ledger, answer: Verdict, signer: Signer) -> ProvenVerdict:
    """The verdict with a checkpoint of the ledger's head signed by ``signer`` and an
    inclusion proof under it of every fact the verdict names."""
    size = max(ledger.head().position, answer.ledger_position)
    checkpoint = signed_checkpoint(ledger, size, signer)
    return ProvenVerdict(verdict=answer, checkpoint=checkpoint.note,
                         facts=fact_proofs(ledger, cited(answer), size, checkpoint.note))


def bundle(ledger: Ledger, answer: Verdict, signer: Signer) -> Bundle:
    """A proven verdict with every record its checkpoint covers, as ``feed`` prints them."""
    proof = proven(ledger, answer, signer)
    size = parse_checkpoint(proof.checkpoint.split("\n\n")[0] + "\n").size
    records = [state.decode() for _, state in ledger.states(0, size)]
    return Bundle(proven=proof, records=records)


# -- the audit ---------------------------------------------------------------------------------

_BUNDLE = msgspec.json.Decoder(Bundle)
_VERDICT = msgspec.json.Encoder()


def audit(data: bytes, verifier: Verifier) -> AuditReport:
    """Check a bundle with no ledger: raise :class:`AuditError` naming what does not hold."""
    try:
        found = _BUNDLE.decode(data)
    except (msgspec.MsgspecError, ValueError) as exc:
        raise FileRefused(f"not a bundle `bundle` wrote: {exc}") from None
    proof = found.proven
    for name in ("as_of", "known_at"):
        if getattr(proof.verdict, name).utcoffset() is None:
            raise FileRefused(f"not a bundle `bundle` wrote: the verdict's {name} has no UTC "
                              "offset")
    try:
        checkpoint = parse_checkpoint(open_note(proof.checkpoint, verifier))
    except NoteError as exc:
        raise AuditError(f"the checkpoint does not hold: {exc}") from None
    if checkpoint.origin != verifier.name:
        raise AuditError(f"the checkpoint's origin {checkpoint.origin!r} is not the verifier "
                         f"key's name {verifier.name!r}")
    records = [line.encode() for line in found.records]
    if len(records) != checkpoint.size:
        raise AuditError(f"the bundle holds {len(records)} records; its checkpoint covers "
                         f"{checkpoint.size}")
    frontier: list[tuple[tuple[int, int], bytes]] = []
    for _ in extend(frontier, 0, (leaf_hash(r) for r in records)):
        pass
    root = fold([digest for _, digest in frontier]) if records else EMPTY_ROOT
    if root != checkpoint.root:
        raise AuditError("the bundled records do not hash to the checkpoint's root: a record "
                         "was altered, added, removed or reordered")
    chain = ChainVerifier()
    stream: list[tuple[int, str, str, Fact]] = []
    try:
        for position, state in enumerate(records, start=1):
            chain.check(position, RECORD_TOPIC, state)
            record = RECORD_DECODER.decode(state)
            stream.append((position, record.recorded_at, record.hash,
                           decode_fact(bytes(record.fact))))
    except VerificationError as exc:
        raise AuditError(f"the bundled records' chain does not hold: {exc}") from None
    ids = {position: fact.id for position, _, _, fact in stream}
    seen: set[str] = set()
    for fact_proof in proof.facts:
        if fact_proof.id in seen:
            raise AuditError(f"the bundle proves fact {fact_proof.id} twice")
        seen.add(fact_proof.id)
        _check_proof(fact_proof, proof.checkpoint, checkpoint, records, ids)
    answer = proof.verdict
    missing = [fact for fact in cited(answer) if fact not in seen]
    if missing:
        raise AuditError(f"the verdict names facts the bundle does not prove: "
                         f"{', '.join(missing)}")
    recomputed = _refold(stream, answer.as_of, answer.known_at)
    if _VERDICT.encode(recomputed) != _VERDICT.encode(answer):
        raise AuditError(_verdict_difference(recomputed, answer))
    return AuditReport(ok=True, origin=checkpoint.origin, size=checkpoint.size,
                       root=b64(checkpoint.root), records=len(records),
                       facts_proven=len(proof.facts), as_of=answer.as_of,
                       known_at=answer.known_at, ledger_position=answer.ledger_position,
                       status=answer.status)


def _check_proof(fact_proof: FactProofOut, note: str, checkpoint: Checkpoint,
                 records: list[bytes], ids: dict[int, str | None]) -> None:
    what = f"the proof of fact {fact_proof.id}"
    try:
        inclusion = parse_proof(fact_proof.proof)
    except NoteError as exc:
        raise AuditError(f"{what} is malformed: {exc}") from None
    if inclusion.checkpoint != note:
        raise AuditError(f"{what} leads to another checkpoint than the bundle's")
    if inclusion.index != fact_proof.position - 1 or ids.get(fact_proof.position) != fact_proof.id:
        raise AuditError(f"{what} names position {fact_proof.position}, which does not hold "
                         "that fact")
    leaf = leaf_hash(records[inclusion.index])
    if not verify_inclusion(inclusion.index, checkpoint.size, leaf, inclusion.hashes,
                            checkpoint.root):
        raise AuditError(f"{what} does not lead to the checkpoint's root")


def _refold(stream: list[tuple[int, str, str, Fact]], as_of: datetime,
            known_at: datetime) -> Verdict:
    """The verdict as of ``as_of`` from the bundled facts recorded by ``known_at`` (the
    records up to the last one recorded by then, as ``--known-at`` reads the ledger)."""
    limit = utc_text(known_at)
    known = list(itertools.takewhile(lambda entry: entry[1] <= limit, stream))
    knowledge, head, recorded_at = fold_knowledge(known)
    return verdict_projection.verdict(view_of(knowledge, head, recorded_at), as_of, known_at)


def _verdict_difference(recomputed: Verdict, bundled: Verdict) -> str:
    fields = [f for f in recomputed.__struct_fields__
              if getattr(recomputed, f) != getattr(bundled, f)]
    return ("the bundled verdict is not the one its facts give: "
            + ", ".join(f"{f} is {_short(getattr(bundled, f))}, the facts give "
                        f"{_short(getattr(recomputed, f))}" for f in fields[:3]))


def _short(value: object) -> str:
    text = _VERDICT.encode(value).decode()
    return text if len(text) <= 60 else text[:57] + "..."
