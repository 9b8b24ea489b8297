"""``compute-ledger``: the command line.  Each command parses, calls one API function, prints."""

from __future__ import annotations

import itertools
import sys
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import click
import msgspec

from compute_ledger.cli import proofs, render
from compute_ledger.cli.export import export
from compute_ledger.cli.options import (
    INSTANT,
    SINCE,
    BadInput,
    KnownAtType,
    LedgerGroup,
    Progress,
    as_of_option,
    db_option,
    echo_lines,
    emit_json,
    emit_json_streaming,
    emit_line,
    json_option,
    known_at_option,
    opened,
    output_width,
    say_if_waiting,
    supposing,
    wide_option,
    with_option,
)
from compute_ledger.ledger.errors import InputError, LedgerError, NotFoundError
from compute_ledger.ledger.facts import FACT_TYPES, fact_schema, read_facts
from compute_ledger.projections.answers import (
    ANSWERS,
    AppendOut,
    DigestOut,
    ExtendsOut,
    HeadOut,
    ProjectionDigestOut,
    VerifyOut,
    answer_schema,
)
from compute_ledger.projections.api import (
    Entry,
    KnownAt,
    b64,
    bundled_record,
    parse_pin,
    record_json,
    replace_file,
)

EXIT_CODES = """
Exit codes: 0 ok; 1 a known error ("Error: ..." on stderr); 2 bad usage or bad input.
"""


@click.group(cls=LedgerGroup, context_settings={"help_option_names": ["-h", "--help"]},
             epilog=EXIT_CODES.strip())
@click.version_option(package_name="compute-ledger", prog_name="compute-ledger")
@click.option("--db", metavar="PATH|URL",
              help="The ledger, for any command that takes --db (the command's own --db, "
              "given after its name, wins).")
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON, for any command that has --json; with it, an error is also "
              "a JSON object on stdout.")
@click.pass_context
def main(ctx: click.Context, db: str | None, as_json: bool) -> None:
    """An event-sourced, bitemporal, tamper-evident ledger of public facts about xAI's compute
    business, and the verdict of the market "Will xAI offer AI compute services to external
    customers by the end of 2026?" rebuilt from them.

    --db and --json may come before the command's name, as with git or kubectl.

    \b
    Example:
      compute-ledger verdict --as-of 2026-05-23 --explain
      compute-ledger --db mine.sqlite3 --json verdict
    """
    given = {name: value for name, value in (("db", db), ("as_json", as_json)) if value}
    if given and ctx.invoked_subcommand is not None:
        command = main.get_command(ctx, ctx.invoked_subcommand)
        assert command is not None  # click resolved it before calling the group
        ctx.default_map = {ctx.invoked_subcommand: _defaults(command, given)}


def _defaults(command: click.Command, given: dict[str, Any]) -> dict[str, Any]:
    """The options given before the command's name, as defaults of ``command`` (of each of
    its subcommands, for a group such as ``export``).  Refused where it has no such option."""
    if isinstance(command, click.Group):
        return {name: _defaults(sub, given) for name, sub in command.commands.items()}
    names = {p.name for p in command.params}
    for name in given:
        if name not in names:
            flag = "--json" if name == "as_json" else f"--{name}"
            raise click.UsageError(f"{command.name} takes no {flag}")
    return dict(given)


# ---------------------------------------------------------------------------------------------
# The answers
# ---------------------------------------------------------------------------------------------


@main.command()
@as_of_option
@known_at_option
@click.option("--explain", is_flag=True,
              help="Print the clause checklist of every deal and offering, with the facts "
              "that decide each clause.")
@with_option
@click.option("--proof", is_flag=True,
              help="Print the answer as JSON with the proofs an auditor checks offline: a "
              "checkpoint signed with --key and an inclusion proof of every fact it names.")
@proofs.key_option(required=False, text="With --proof: the signer key file (from `keygen`).")
@wide_option
@db_option
@json_option
def verdict(*, as_of: datetime | None, known_at: KnownAt | None, explain: bool,
            with_file: IO[bytes] | None, proof: bool, key_file: Path | None, db: str | None,
            as_json: bool) -> None:
    """The market's verdict as of T, as known at K, and why.

    Statuses: OPEN, CRITERIA_MET, CRITERIA_NOT_MET, RESOLVED_YES, RESOLVED_NO, RESOLVED_NA.
    The answer names the instants it resolved, the ledger position and head it stands on
    (so it can be reproduced), the qualifying deals and offerings, and the creator's rulings
    in force.

    \b
    Example:
      compute-ledger verdict --as-of 2026-05-23 --explain
      compute-ledger verdict --as-of 2026-05-10 --known-at 2026-05-10 --json
      compute-ledger verdict --known-at @8
      compute-ledger verdict --with tomorrow.jsonl
      compute-ledger verdict --as-of 2026-11-05 --proof --key ledger.key
    """
    if proof:
        if key_file is None:
            raise click.UsageError("--proof needs --key FILE: the proofs lead to a checkpoint "
                                   "signed with it")
        if with_file is not None:
            raise click.UsageError("--proof proves facts in the ledger; a --with answer stands "
                                   "on facts that are not")
        signer = proofs.load_signer(key_file)
        with opened(db) as ledger:
            emit_json(ledger.proven_verdict(as_of, known_at, signer))
        return
    if key_file is not None:
        raise click.UsageError("--key is for --proof")
    with opened(db) as ledger:
        answer = ledger.verdict(as_of, known_at, hypothesis=supposing(ledger, with_file))
    if as_json:
        emit_json(answer)
    else:
        echo_lines(render.what_if_lines(answer.what_if))
        echo_lines(render.verdict_lines(answer, explain))


@main.command()
@as_of_option
@known_at_option
@with_option
@wide_option
@db_option
@json_option
def business(as_of: datetime | None, known_at: KnownAt | None, with_file: IO[bytes] | None,
             db: str | None, as_json: bool) -> None:
    """The state of xAI's compute business as of T, as known at K.

    Each deal with its merged terms, status (reported, announced, filed, confirmed, active,
    ended, retracted) and the fact behind each term; capacity per facility and customer;
    external customers; monthly run-rate and contracted backlog of active deals.

    \b
    Example:
      compute-ledger business --as-of 2026-05-23
    """
    with opened(db) as ledger:
        answer = ledger.business(as_of, known_at, hypothesis=supposing(ledger, with_file))
    if as_json:
        emit_json(answer)
    else:
        echo_lines(render.what_if_lines(answer.what_if))
        echo_lines(render.business_lines(answer))


@main.command()
@known_at_option
@click.option("--since", type=SINCE, metavar="T",
              help="Only the points at or after T (valid time; a date means the start of "
              "that day in America/Los_Angeles).")
@click.option("--until", type=INSTANT, metavar="T",
              help="Only the points at or before T (valid time; a date means the end of "
              "that day).")
@with_option
@wide_option
@db_option
@json_option
def timeline(*, known_at: KnownAt | None, since: datetime | None, until: datetime | None,
              with_file: IO[bytes] | None, db: str | None, as_json: bool) -> None:
    """Every change point of the verdict and the business along valid time, as known at K.

    Each point names what changed there, and only that: a deal's standing, status, run-rate,
    whether it qualifies, or the creator's ruling on it, the market's status, the deadline
    passing, and the corrections and retractions known at K (at the valid time each was
    issued).  The points are printed as they are found.

    \b
    Example:
      compute-ledger timeline
      compute-ledger timeline --since 2026-05-01 --until 2026-06-30
      compute-ledger timeline --known-at 2026-05-10 --json
    """
    with opened(db) as ledger:
        hypothesis = supposing(ledger, with_file)
        if hypothesis is not None:  # its flips compare whole timelines: not streamed
            answer = ledger.timeline(known_at, since=since, until=until,
                                     hypothesis=hypothesis)
            if as_json:
                emit_json(answer)
            else:
                echo_lines(render.what_if_lines(answer.what_if))
                echo_lines(render.timeline_lines(answer, answer.points), page=True)
            return
        large = not as_json and ledger.head().position >= 5000
        with Progress(1, enabled=large) as progress:  # the reading, before the first point
            head, points = ledger.timeline_points(
                known_at, since=since, until=until,
                progress=progress if progress.shown else None)
            progress.update(1)
        if as_json:
            emit_json_streaming(head, "points", points)
        else:
            echo_lines(render.timeline_lines(head, points), page=True)


@main.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@as_of_option
@known_at_option
@db_option
def report(path: Path, as_of: datetime | None, known_at: KnownAt | None,
           db: str | None) -> None:
    """Write a self-contained HTML report to PATH: the verdict with charts.

    The page holds the verdict as of T as known at K, its status and clause checklist with
    a link to the source of every fact that decides a clause, the deals and the business,
    and charts drawn as inline SVG: the market's status over valid time with the deadline
    marked and the deciding facts as marks, the monthly run-rate, and each deal's capacity
    and monthly price.  Hover a mark to see its fact.  The file opens offline (no script, no
    font, no image, nothing fetched) and is the same bytes for the same ledger, T and K.

    \b
    Example:
      compute-ledger report market.html --as-of 2026-05-23
    """
    from compute_ledger.cli.report import html  # only this command draws

    with opened(db) as ledger:
        made = ledger.report(as_of, known_at)
    data = html(made).encode()
    replace_file(path, data)
    answer = made.verdict
    click.echo(f"wrote {path}: status {render.status_text(answer)} as of "
               f"{render.instant(answer.as_of)}, {len(made.sources)} facts shown, "
               f"{len(data):,} bytes")


@main.command()
@click.argument("deal_id", metavar="ID")
@as_of_option
@known_at_option
@with_option
@wide_option
@db_option
@json_option
def deal(*, deal_id: str, as_of: datetime | None, known_at: KnownAt | None,
         with_file: IO[bytes] | None, db: str | None, as_json: bool) -> None:
    """Everything about one deal or offering as of T, as known at K.

    Its merged terms with the fact behind each, its status and standing along valid time,
    every fact about it (which corrected or retracted which), the creator's rulings on it
    and its clause checklist.  ID is the deal's or offering's id (deal:ID or offering:ID
    when both exist).

    \b
    Example:
      compute-ledger deal xai-anthropic-colossus
      compute-ledger deal xai-anthropic-colossus --as-of 2026-05-10 --json
    """
    with opened(db) as ledger:
        answer = ledger.deal(deal_id, as_of, known_at, hypothesis=supposing(ledger, with_file))
    if as_json:
        emit_json(answer)
    else:
        echo_lines(render.deal_lines(answer))


@main.command()
@as_of_option
@known_at_option
@click.option("--to-as-of", type=INSTANT, metavar="T2",
              help="Valid time of the second answer (default: the same as --as-of).")
@click.option("--to-known-at", type=KnownAtType(), metavar="K2",
              help="System time of the second answer (default: the same as --known-at).")
@wide_option
@db_option
@json_option
def diff(*, as_of: datetime | None, known_at: KnownAt | None, to_as_of: datetime | None,
         to_known_at: KnownAt | None, db: str | None, as_json: bool) -> None:
    """What differs between two answers, and the facts that made each difference.

    Compares the verdict and the business as of T known at K with those as of T2 known at
    K2: the market's status, qualifying and review, each deal's and offering's standing,
    clauses, status and terms, and the business totals.  Each difference names the facts
    (id and position) about it that one answer holds and the other does not.  Exit 0 either
    way; "same" in the JSON says whether they agree.

    \b
    Example:
      compute-ledger diff --known-at @0 --to-known-at @8
      compute-ledger diff --as-of 2026-05-01 --to-as-of 2026-06-01
    """
    with opened(db) as ledger:
        answer = ledger.diff(as_of, known_at, to_as_of, to_known_at)
    if as_json:
        emit_json(answer)
    else:
        echo_lines(render.diff_lines(answer))


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


@main.command()
@click.argument("file", type=click.File("rb"), default="-")
@click.option("--public-record", is_flag=True,
              help="Append the public record bundled with the package instead of FILE "
              "(to start a shared or PostgreSQL ledger from it).")
@db_option
@json_option
def append(file: IO[bytes], public_record: bool, db: str | None, as_json: bool) -> None:
    """Validate and append facts from FILE (one JSON object, or JSON Lines; - for stdin).

    The batch is atomic: every fact is appended, or none is.  A fact already in the ledger
    with the same content is reported as a duplicate, not an error; an id already used with
    other content is refused (append a correction instead).  Bad input exits 2 and names the
    line, the JSON path and the reason.

    \b
    Example:
      compute-ledger append facts.jsonl
      echo '{"type": "retraction", ...}' | compute-ledger append -
      compute-ledger append --public-record --db postgresql://me@db.internal/ledger
    """
    if not public_record:
        say_if_waiting(file)
    data = bundled_record() if public_record else file.read()
    lines = data.count(b"\n") + 1
    # One bar over the whole command: checking each line, appending each fact, indexing.
    with Progress(3 * lines, enabled=lines >= 5000 and not as_json) as progress:
        progress.stage("checking ")
        # Each fact kept as its canonical bytes once through the door (ledger.facts.Lean):
        # a batch of a hundred thousand is held in a quarter of the memory.
        facts, problems = read_facts(data, progress=progress.update, lean=True)
        if problems:  # every problem, those against the ledger too, as check names them
            try:
                with opened(db) as ledger:
                    problems = ledger.problems(data)
            except NotFoundError:
                pass  # no ledger yet, and a refused batch makes none
            raise InputError(problems)
        del data  # the facts hold what it said: a large batch is not kept twice
        with opened(db, create=True) as ledger:
            progress.stage("appending")
            result = ledger.append(facts, progress=progress.update)
            warnings = ledger.party_warnings(facts)
            del facts  # committed: the catch-up reads them from the ledger, a chunk at a time
            # The batch has committed: whatever happens next, it is in the ledger, and the
            # command says so.  Indexing it is derived work that any later append redoes.
            progress.stage("indexing ")
            try:
                ledger.sync_index()
                # The index holds what the ledger knew at this batch's end: the next question,
                # at this or at any later known-at, reads it instead of folding.
                ledger.projection.catch_up()
                # And the timeline stored beside it: the next timeline or export reads it.
                ledger.catch_up_timeline()
            except LedgerError as exc:
                click.echo(
                    f"warning: the batch is committed, but indexing it failed ({exc}); the "
                    "next append or question indexes it", err=True)
            progress.update(3 * lines)
    for line, warning in warnings:
        click.echo(f"warning: line {line}, {warning}", err=True)
    if as_json:
        emit_json(AppendOut(
            appended=result.appended, duplicates=result.duplicates,
            first_position=result.first_position, recorded_at=result.recorded_at,
            head=HeadOut(position=result.head.position, hash=result.head.hash),
        ))
        return
    span = ""
    if result.appended:
        last = result.head.position
        span = f" (position {last})" if result.appended == 1 else \
            f" (positions {result.first_position}-{last})"
    click.echo(
        f"appended {result.appended} fact{'s' * (result.appended != 1)}{span}, "
        f"{result.duplicates} duplicate{'s' * (result.duplicates != 1)}; "
        f"head {result.head.pin}"
    )


@main.command()
@click.argument("file", type=click.File("rb"), default="-")
@wide_option
@db_option
@json_option
def check(file: IO[bytes], db: str | None, as_json: bool) -> None:
    """Check FILE exactly as `append` would, against the ledger, and write nothing.

    Reports every problem of every line (the line, the JSON path and the reason), the
    batch's own and those against the ledger (an id already used with other content, a
    correction naming no fact), and warns about likely typos of party slugs.  Exit 0 when
    append would accept the batch, 2 when it would refuse it.

    \b
    Example:
      compute-ledger check facts.jsonl && compute-ledger append facts.jsonl
    """
    with opened(db) as ledger:
        say_if_waiting(file)
        report = ledger.check(file.read())
    if as_json:
        emit_json(report)
    else:
        echo_lines(render.check_lines(report), err=bool(report.problems))
    if report.problems:
        sys.exit(2)


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


def _entry_json(entry: Entry) -> dict[str, Any]:
    """A stored record as JSON (keys sorted like the stored bytes; the fact canonical)."""
    return {
        "fact": msgspec.Raw(entry.raw),
        "hash": entry.hash,
        "position": entry.position,
        "prev": entry.prev,
        "recorded_at": entry.recorded_at,
    }


@main.command()
@click.option("--after", type=click.IntRange(min=0), default=0, show_default=True,
              help="Start after this position.")
@click.option("--limit", type=click.IntRange(min=1), help="Print at most this many facts.")
@click.option("--type", "fact_type", type=click.Choice(FACT_TYPES), metavar="TYPE",
              help="Only facts of this type: " + ", ".join(FACT_TYPES) + ".")
@wide_option
@db_option
@json_option
def log(after: int, limit: int | None, fact_type: str | None, db: str | None,
        as_json: bool) -> None:
    """The facts in ledger order, with position, recorded_at and hash.

    With --json, one JSON object per line (position, recorded_at, hash, prev, fact).

    \b
    Example:
      compute-ledger log --type creator_ruling
    """
    with opened(db) as ledger:
        entries = (entry for entry in ledger.facts(after=after)
                   if not fact_type or entry.fact.__struct_config__.tag == fact_type)
        chosen = itertools.islice(entries, limit)
        if as_json:
            for entry in chosen:
                emit_line(_entry_json(entry))  # the stored record, as in the feed
            return
        width = output_width()
        echo_lines(render.log_lines(chosen, narrow=width is not None
                                    and width < render.LOG_WIDTH), page=True)


@main.command()
@click.argument("fact_id")
@wide_option
@db_option
@json_option
def show(fact_id: str, db: str | None, as_json: bool) -> None:
    """One fact by its id: its stored record, which facts corrected or retracted it, and
    the content in force now.

    \b
    Example:
      compute-ledger show xai-anthropic-announced-2026-05-06
    """
    with opened(db) as ledger:
        answer = ledger.explain_fact(fact_id)
    if as_json:
        emit_json(answer)
        return
    # The facts are the stored bytes (msgspec.Raw), shown pretty-printed.
    raw: bytes = bytes(answer.fact)  # type: ignore[call-overload]
    in_force: str | None = None
    if answer.in_force is not None:
        stored: bytes = bytes(answer.in_force)  # type: ignore[call-overload]
        in_force = msgspec.json.format(stored, indent=2).decode()
    click.echo(f"id:          {fact_id}")
    click.echo(f"type:        {msgspec.json.decode(raw)['type']}")
    echo_lines(render.show_lines(answer, msgspec.json.format(raw, indent=2).decode(),
                                  in_force))


@main.command()
@click.option("--after", type=click.IntRange(min=0), default=0, show_default=True,
              help="Print the facts after this position (the last one you processed).")
@click.option("--follow", is_flag=True,
              help="Keep running: print each new fact as it is appended, until interrupted "
              "(PostgreSQL notifies; SQLite is polled).")
@click.option("--poll", type=click.FloatRange(min=0.01), default=1.0, show_default=True,
              help="With --follow on SQLite: seconds between looks for new facts.")
@db_option
def feed(after: int, follow: bool, poll: float, db: str | None) -> None:
    """JSON Lines of the stored records after position N, for other tools.

    Each line is a stored record exactly as the ledger holds it: position, recorded_at,
    prev, hash and the fact in canonical form.  Remember the last position you processed and
    resume with --after it: nothing is missed and nothing repeats.  With --follow, new facts
    are printed as they are appended until you interrupt it (Ctrl-C ends it cleanly).

    \b
    Example:
      compute-ledger feed --after 120 | jq .fact.id
      compute-ledger feed --after "$(cat last-position)" --follow
    """
    with opened(db) as ledger:
        records = ledger.follow(after, poll=poll) if follow else ledger.records(after=after)
        try:
            for record in records:
                click.echo(record_json(record))
        except KeyboardInterrupt:
            pass  # following ends when interrupted; everything printed was whole


# ---------------------------------------------------------------------------------------------
# Auditing
# ---------------------------------------------------------------------------------------------


@main.command()
@click.option("--against", "pin", metavar="FILE|POSITION:HASH",
              help="Also check that the ledger still extends what you kept: a checkpoint "
              "`checkpoint` wrote (checked with a consistency proof), a copy of the records "
              "`feed` printed or a bundle (compared byte for byte, naming the first position "
              "that differs), or a head `digest` printed.")
@proofs.verifier_option
@wide_option
@db_option
@json_option
def verify(pin: str | None, vkey: str | None, db: str | None, as_json: bool) -> None:
    """Recompute the hash chain and the Merkle tree; exit 1 naming the first bad position.

    Checks every record's position, link to the one before, hash, recorded_at order, the
    fact index and the Merkle tree's nodes; then that the maintained answers stand on the
    records (the record they were folded to has the hash they tracked) and that each of
    their tables adds up to the digest their catch-ups recorded.  With --against
    CHECKPOINT_FILE, also checks with a consistency proof that the ledger extends that
    checkpoint (and, with --verifier-key, its signature), so nothing it covers was altered,
    removed or reordered, even by someone who rewrote the chain and the tree to match.  A
    checkpoint holds one root, so it can tell that a record it covers differs, not which:
    --against a copy of the records (a saved `feed`, or a bundle) names the first position
    that differs.  With --against POSITION:HASH, that the record at the pinned position
    still carries the pinned hash.

    \b
    Example:
      compute-ledger verify --against checkpoint.txt --verifier-key "$(cat ledger.vkey)"
      compute-ledger verify --against 8:5b1c...e07d
    """
    against, checkpoint, signed, copy = None, None, False, None
    if pin is not None and proofs.is_file(pin):
        checkpoint, signed, copy = proofs.load_against(Path(pin), vkey)
    elif pin is not None:
        try:
            against = parse_pin(pin)
        except ValueError as exc:
            raise click.BadParameter(f"{exc}; nor is it a checkpoint file",
                                     param_hint="--against") from None
    if vkey is not None and checkpoint is None:
        raise click.UsageError("--verifier-key checks the signature of an --against "
                               "CHECKPOINT_FILE")
    with opened(db) as ledger:
        report = ledger.verify(against, checkpoint=checkpoint, copy=copy)
    extends = report.extends
    if as_json:
        emit_json(VerifyOut(
            ok=True, checked=report.checked,
            head=HeadOut(position=report.head.position, hash=report.head.hash),
            root=b64(report.root), tree_size=report.tree_size,
            against=None if against is None else HeadOut(position=against.position,
                                                         hash=against.hash),
            extends=None if extends is None else ExtendsOut(
                origin=extends.checkpoint.origin, size=extends.checkpoint.size,
                root=b64(extends.checkpoint.root), signature_checked=signed,
                proof=[b64(h) for h in extends.proof]),
            projection=None if report.projection is None else ProjectionDigestOut(
                position=report.projection.position, head=report.projection.head,
                digest=report.projection.digest, rows=report.projection.rows),
        ))
        return
    extra = f"; extends the pinned head {against.position}" if against else ""
    if copy is not None:
        extra = f"; holds the {len(copy)} records of {pin} byte for byte"
    if extends is not None:
        signature = "signed by " + extends.checkpoint.origin if signed else "signature not checked"
        hashes = len(extends.proof)
        extra += (f"; extends the checkpoint of {extends.checkpoint.size} records ({signature}; "
                  f"consistency proof of {hashes} hash{'' if hashes == 1 else 'es'})")
    checked = "chain and Merkle tree intact"
    if report.tree_size < report.checked:
        checked = (f"chain intact; the Merkle tree covers {report.tree_size} of "
                   f"{report.checked} records (a ledger written before the tree existed: the "
                   "next append builds the rest)")
    lines = [f"ok: {report.checked} records, {checked}{extra}; head {report.head.pin}"]
    if report.projection is not None:
        held = report.projection
        lines.append(f"ok: the maintained answers, folded to position {held.position}, hold "
                     f"{held.rows} rows that add up to their digest {held.digest[:16]}")
    echo_lines(lines)


@main.command()
@known_at_option
@as_of_option
@click.option("--rebuild", is_flag=True,
              help="If the maintained projection differs from the replay, rebuild it from "
              "the facts.")
@click.option("--export", "exports", multiple=True, metavar="FILE",
              type=click.Path(dir_okay=False, path_type=Path),
              help="Also compare this `export sqlite` file, every table row by row, with a "
              "fresh export of the position and as-of it records (the file is only read). "
              "Repeatable.")
@wide_option
@db_option
@json_option
def replay(*, known_at: KnownAt | None, as_of: datetime | None, rebuild: bool,
           exports: tuple[Path, ...], db: str | None, as_json: bool) -> None:
    """The auditor's replay: verify the chain, rebuild the index from the raw facts (in a
    scratch file, in bounded memory), compare it with the maintained one table by table,
    and reproduce a past answer.

    With --known-at K (an instant, a date, or @N for "when position N was recorded") it
    rebuilds from what had been recorded by K only and prints the verdict the ledger gave then, as
    of K unless --as-of says otherwise, with the position and head hash it stood on.  Exit
    1 if the chain is broken or the maintained projection disagrees with the replay.

    \b
    Example:
      compute-ledger replay
      compute-ledger replay --known-at @8 --json
      compute-ledger replay --export ledger.db
    """
    with opened(db) as ledger:
        size = ledger.head().position
        with Progress(2 * size + 1, enabled=size >= 5000 and not as_json) as progress:
            report = ledger.replay(known_at, as_of, rebuild=rebuild,
                                   progress=progress if progress.shown else None)
            progress.update(2 * size + 1)
        if exports:
            from compute_ledger.projections.export import check_export  # sqlite-utils: only here

            checked = [check_export(ledger, path) for path in exports]
            report = msgspec.structs.replace(
                report, exports=checked, ok=report.ok and not any(c.differs for c in checked))
    if as_json:
        emit_json(report)  # one document, whose ok says it all: exit 1 without a second one
        if not report.ok:
            raise SystemExit(1)
        return
    echo_lines(render.replay_lines(report))
    if report.projection_differs:
        raise click.ClickException(
            "the maintained projection differs from the replay ("
            f"{'; '.join(report.projection_differs)}); run `compute-ledger replay --rebuild`"
        )
    for check in report.exports:
        if check.differs:
            raise click.ClickException(
                f"the export {check.path} differs from the replay: {check.differs[0]}; "
                f"remove it and run `compute-ledger export sqlite {check.path}` to write it anew")


@main.command()
@wide_option
@db_option
@json_option
def info(db: str | None, as_json: bool) -> None:
    """Which ledger commands use, its head, its size and its derived data.

    The ledger is --db, else $COMPUTE_LEDGER_DB, else the default ledger in your data
    directory; a PostgreSQL URL is shown without its password.  For each piece of derived
    data (the fact index, the Merkle tree's nodes, the maintained answers) it says how far
    it is caught up.  It reads only: nothing is caught up or created.

    \b
    Example:
      compute-ledger info
      compute-ledger info --db mine.sqlite3 --json
    """
    with opened(db) as ledger:
        answer = ledger.info()
    if as_json:
        emit_json(answer)
        return
    echo_lines(render.info_lines(answer))


@main.command()
@db_option
@json_option
def digest(db: str | None, as_json: bool) -> None:
    """Print the head as POSITION:HASH, to pin now and verify against later.

    \b
    Example:
      compute-ledger digest > pinned.txt
      compute-ledger verify --against "$(cat pinned.txt)"
    """
    with opened(db) as ledger:
        head = ledger.head()
    if as_json:
        emit_json(DigestOut(position=head.position, hash=head.hash))
    else:
        click.echo(head.pin)


@main.command()
@click.argument("name", type=click.Choice(["fact", *ANSWERS]), default="fact")
def schema(name: str) -> None:
    """Print the JSON Schema of the fact format, or of a JSON answer.

    NAME is fact (the input format, default), or one of the JSON answers: verdict,
    business, timeline, deal, diff, check, show, replay, append, verify, digest, record (a
    line of feed or log --json), info, error (what --json prints on stdout when a command
    fails).  Every answer carries its version in "schema" (a record, in its stored topic);
    the version changes whenever the answer's shape does.

    \b
    Example:
      compute-ledger schema fact > fact.schema.json
      compute-ledger schema verdict
    """
    emit_json(fact_schema() if name == "fact" else answer_schema(name))


__all__ = ["BadInput", "main"]
main.add_command(export)
for _command in (proofs.keygen, proofs.checkpoint, proofs.prove, proofs.consistency,
                 proofs.bundle, proofs.audit_command):
    main.add_command(_command)


if __name__ == "__main__":  # python -m compute_ledger.cli.main
    main()
