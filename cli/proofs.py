"""The verifiable log on the command line: keys, checkpoints, proofs, bundles and audits.

``keygen`` writes a signer key; ``checkpoint`` prints the tree head as a C2SP signed note;
``prove`` an inclusion proof of one fact; ``consistency`` the proof that the ledger extends
an earlier checkpoint; ``bundle`` a file with everything needed to check a verdict offline;
``audit`` checks such a file with no ledger at all.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click
import msgspec

from compute_ledger.cli.options import (
    as_of_option,
    db_option,
    emit_json,
    json_option,
    known_at_option,
    opened,
)
from compute_ledger.ledger.errors import ConfigurationError, FileRefused
from compute_ledger.projections.api import (
    Checkpoint,
    KnownAt,
    NoteError,
    SignatureError,
    Signer,
    Verifier,
    b64,
    check_name,
    read_checkpoint,
    replace_file,
)
from compute_ledger.projections.proofs import AuditError, audit

F = TypeVar("F", bound=Callable[..., Any])


def key_option(*, required: bool = True, text: str | None = None) -> Callable[[F], F]:
    return click.option(
        "--key", "key_file", required=required, metavar="FILE",
        type=click.Path(dir_okay=False, path_type=Path),
        help=text or "The signer key file written by `keygen` (the checkpoint's origin is its "
        "name).",
    )


def verifier_option(func: F) -> F:
    return click.option(
        "--verifier-key", "vkey", metavar="VKEY",
        help="The log's verifier key, NAME+KEYID+KEY as `keygen` prints it, or a file "
        "holding it.",
    )(func)


def load_signer(path: Path) -> Signer:
    """The signer key in ``path``; errors name the file, never the key.

    A key file others can read is refused, as ssh refuses one: whoever reads it can sign
    checkpoints in the log's name."""
    try:
        text = path.read_text(encoding="utf-8")
        mode = path.stat().st_mode
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigurationError(f"cannot read key file {path}: {reason}") from None
    if os.name == "posix" and mode & 0o077:
        raise ConfigurationError(
            f"key file {path} can be read by others (mode {mode & 0o777:o}): whoever reads "
            f"it can sign in the log's name; make it yours alone with `chmod 600 {path}`")
    try:
        return Signer.parse(text)
    except NoteError as exc:
        raise ConfigurationError(f"key file {path}: {exc}") from None


def is_file(text: str) -> bool:
    """Whether ``text`` names a file (a name too long for one, or otherwise unusable as a
    path, names none)."""
    try:
        return Path(text).is_file()
    except (OSError, ValueError):
        return False


def load_verifier(value: str) -> Verifier:
    """A verifier key given as text or as a file holding it."""
    path = Path(value)
    text = value
    if "+" not in value or is_file(value):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, ValueError):
            raise ConfigurationError(
                f"--verifier-key {value!r} is neither a verifier key (NAME+KEYID+KEY) nor a "
                "readable file holding one") from None
    try:
        return Verifier.parse(text)
    except NoteError as exc:
        raise ConfigurationError(f"--verifier-key: {exc}") from None


def load_against(path: Path, vkey: str | None
                 ) -> tuple[Checkpoint | None, bool, list[bytes] | None]:
    """What ``verify --against FILE`` checks the ledger against: a checkpoint (a signed note
    or its body), a copy of the records as ``feed`` printed them (JSON Lines), or a bundle
    (its checkpoint and its records).  Returns the checkpoint, whether its signature was
    checked, and the copy."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror}") from None
    if not data.lstrip().startswith(b"{"):
        return (*load_checkpoint(path, vkey), None)
    lines = data.splitlines()
    try:
        whole = msgspec.json.decode(data) if len(lines) == 1 else None
    except msgspec.DecodeError:
        whole = None
    if isinstance(whole, dict) and str(whole.get("schema", "")).startswith(
            "compute-ledger/bundle/"):
        try:
            records = [str(r).encode() for r in whole["records"]]
            note = str(whole["proven"]["checkpoint"])
        except (KeyError, TypeError):
            raise FileRefused(f"{path} is not a bundle `bundle` wrote") from None
        verifier = None if vkey is None else load_verifier(vkey)
        checkpoint, signed = _read(note, verifier, f"the checkpoint of bundle {path}")
        return checkpoint, signed, records
    if vkey is not None:
        raise click.UsageError("--verifier-key checks a checkpoint's signature; a feed has none")
    return None, False, [line for line in lines if line.strip()]


def load_checkpoint(path: Path, vkey: str | None) -> tuple[Checkpoint, bool]:
    """The checkpoint in ``path`` (a signed note or its unsigned body), its signature
    checked when a verifier key is given; and whether it was."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigurationError(f"cannot read checkpoint {path}: {reason}") from None
    verifier = None if vkey is None else load_verifier(vkey)
    return _read(text, verifier, f"checkpoint {path}")


def _read(text: str, verifier: Verifier | None, what: str) -> tuple[Checkpoint, bool]:
    """:func:`read_checkpoint`, its errors naming ``what``: a signature that does not
    verify is a failed check (exit 1), a text that is no checkpoint is bad input (exit 2)."""
    try:
        return read_checkpoint(text, verifier)
    except SignatureError as exc:
        raise SignatureError(f"{what}: {exc}") from None
    except NoteError as exc:
        raise FileRefused(f"{what}: {exc}") from None


@click.command()
@click.option("--name", required=True, metavar="ORIGIN",
              help="The key's name, which is the origin of the checkpoints it signs: a "
              "schema-less URL naming this log, e.g. example.org/compute-ledger.")
@click.option("--out", required=True, metavar="FILE",
              type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the signer key (mode 0600; an existing file is never "
              "overwritten).")
def keygen(name: str, out: Path) -> None:
    """Make an Ed25519 signer key for checkpoints; print its verifier key.

    The signer key is written to FILE, readable by you alone, and never printed.  Give the
    verifier key it prints (NAME+KEYID+KEY, the C2SP signed-note format) to auditors: with
    it they check the checkpoints, proofs and bundles the key signs.

    \b
    Example:
      compute-ledger keygen --name example.org/compute-ledger --out ledger.key
    """
    try:
        signer = Signer.generate(name)
    except NoteError as exc:
        raise click.BadParameter(str(exc), param_hint="--name") from None
    try:
        descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigurationError(f"{out} exists: a key file is never overwritten (remove it "
                                 "first if you mean to replace that key)") from None
    except OSError as exc:
        raise ConfigurationError(f"cannot write key file {out}: {exc.strerror}") from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(signer.text() + "\n")
    click.echo(signer.verifier.text())


@click.command()
@key_option(required=False, text="Sign the checkpoint with this key file (from `keygen`); "
            "without it the unsigned body is printed, and the command says so on stderr.")
@click.option("--origin", metavar="ORIGIN",
              help="The origin line of an unsigned checkpoint (default: compute-ledger); a "
              "signed one takes its key's name.")
@db_option
@json_option
def checkpoint(key_file: Path | None, origin: str | None, db: str | None,
               as_json: bool) -> None:
    """Print the tree head: a C2SP checkpoint of the ledger's Merkle tree, signed.

    The checkpoint names the origin, the number of records and the RFC 9162 root hash over
    them (leaf i is the SHA-256 of 0x00 and the line `feed` prints for position i+1).  Keep
    it: later, `verify --against FILE` proves the ledger still extends it.

    \b
    Example:
      compute-ledger checkpoint --key ledger.key > checkpoint.txt
    """
    signer = None if key_file is None else load_signer(key_file)
    if signer is not None and origin is not None and origin != signer.name:
        raise ConfigurationError(f"--origin {origin!r} is not the key's name {signer.name!r}: "
                                 "a signed checkpoint's origin is its key's name")
    if origin is not None:
        try:
            check_name(origin)
        except NoteError as exc:
            raise click.BadParameter(str(exc), param_hint="--origin") from None
    with opened(db) as ledger:
        answer = ledger.checkpoint(signer, origin)
    if as_json:
        emit_json(answer)
        return
    if signer is None:
        click.echo("unsigned checkpoint (give --key FILE to sign it)", err=True)
    click.echo(answer.note, nl=False)


@click.command()
@click.argument("fact_id")
@key_option()
@db_option
def prove(fact_id: str, key_file: Path, db: str | None) -> None:
    """Print an inclusion proof of one fact (C2SP tlog-proof@v1).

    The proof holds the fact's index in the log (its position minus one), the hashes from
    its leaf up to the root, and a checkpoint of the ledger's head signed with the key.
    Checking it needs the fact's record (a line of `feed`) and the verifier key.

    \b
    Example:
      compute-ledger prove xai-anthropic-announced-2026-05-06 --key ledger.key
    """
    signer = load_signer(key_file)
    with opened(db) as ledger:
        click.echo(ledger.prove(fact_id, signer), nl=False)


@click.command()
@click.option("--from", "from_file", required=True, metavar="CHECKPOINT_FILE",
              type=click.Path(dir_okay=False, path_type=Path),
              help="The earlier checkpoint (as `checkpoint` printed it).")
@verifier_option
@db_option
@json_option
def consistency(from_file: Path, vkey: str | None, db: str | None, as_json: bool) -> None:
    """Print the proof that the ledger extends an earlier checkpoint.

    One base64 hash a line: the RFC 9162 consistency proof from the checkpoint's size to the
    ledger's, read from the stored tree.  A verifier elsewhere checks it against the old
    checkpoint and a new one (`checkpoint --key`).  Exit 1 if the ledger does not extend the
    checkpoint.

    \b
    Example:
      compute-ledger consistency --from checkpoint.txt
    """
    old, _ = load_checkpoint(from_file, vkey)
    with opened(db) as ledger:
        extension = ledger.consistency(old)
    if as_json:
        emit_json({"schema": "compute-ledger/consistency/1", "from_size": old.size,
                   "to_size": extension.size, "to_root": b64(extension.root),
                   "proof": [b64(h) for h in extension.proof]})
        return
    for digest in extension.proof:
        click.echo(b64(digest))


@click.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@key_option()
@as_of_option
@known_at_option
@db_option
def bundle(path: Path, key_file: Path, as_of: datetime | None, known_at: KnownAt | None,
           db: str | None) -> None:
    """Write one JSON file an auditor checks offline with `audit`.

    It holds every record (as `feed` prints them), a checkpoint of them signed with the key,
    the verdict as of --as-of as known at --known-at, and an inclusion proof of every fact
    the verdict names.

    \b
    Example:
      compute-ledger bundle verdict-bundle.json --key ledger.key --as-of 2026-11-05
    """
    signer = load_signer(key_file)
    with opened(db) as ledger:
        made = ledger.bundle(as_of, known_at, signer)
    replace_file(path, msgspec.json.encode(made) + b"\n")
    answer = made.proven.verdict
    click.echo(f"wrote {path}: {len(made.records)} records, {len(made.proven.facts)} facts "
               f"proven; verdict {answer.status} as of {answer.as_of.isoformat()}, position "
               f"{answer.ledger_position}")


@click.command("audit")
@click.argument("path", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--verifier-key", "vkey", required=True, metavar="VKEY",
              help="The log's verifier key, NAME+KEYID+KEY as `keygen` printed it, or a file "
              "holding it.")
@json_option
def audit_command(path: Path, vkey: str, as_json: bool) -> None:
    """Check a bundle with no ledger: exit 1 naming what does not hold.

    Checks the checkpoint's signature, that the bundled records hash to its root and form
    an intact chain, every fact's inclusion proof, and that the verdict refolded from the
    bundled facts equals the bundled verdict.  No database is opened.

    \b
    Example:
      compute-ledger audit verdict-bundle.json --verifier-key "$(cat ledger.vkey)"
    """
    verifier = load_verifier(vkey)
    try:
        report = audit(path.read_bytes(), verifier)
    except AuditError as exc:
        raise AuditError(f"audit of {path} failed: {exc}") from None
    except FileRefused as exc:
        raise FileRefused(f"{path}: {exc}") from None
    if as_json:
        emit_json(report)
        return
    click.echo(f"ok: signed by {report.origin}; {report.records} records hash to the root; "
               f"{report.facts_proven} facts proven; the verdict ({report.status} as of "
               f"{report.as_of.isoformat()}, known at {report.known_at.isoformat()}) is the one "
               "the facts give")
