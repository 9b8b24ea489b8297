"""Shared pieces of the CLI: options defined once, the error translation, JSON output."""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import IO, Any, TypeVar

import click
import msgspec

from compute_ledger.cli.layout import Rows, lay_out
from compute_ledger.cli.render import printable
from compute_ledger.ledger.errors import (
    ConfigurationError,
    FileRefused,
    InputError,
    LedgerError,
    NotFoundError,
    StorageError,
    VerificationError,
)
from compute_ledger.ledger.facts import read_facts
from compute_ledger.ledger.instants import InstantSyntaxError, parse_instant
from compute_ledger.projections.answers import ErrorBody, ErrorOut, ProblemOut
from compute_ledger.projections.api import ComputeLedger, Hypothesis, NoteError

F = TypeVar("F", bound=Callable[..., Any])

_JSON = msgspec.json.Encoder(enc_hook=str)  # answers keep their declared field order


class BadInput(click.ClickException):
    """Input that was refused: ``Error: ...`` on stderr and exit code 2, as for bad usage."""

    exit_code = 2


class LedgerGroup(click.Group):
    """A click group that turns the project's errors into exit codes, in one place.

    :class:`~ledger.errors.InputError` and :class:`~ledger.errors.ConfigurationError` exit 2;
    every other :class:`~ledger.errors.LedgerError` exits 1 with ``Error: ...``.  When the
    command line asks for ``--json`` (before or after the command name), the error is also
    printed on stdout as an :class:`~projections.answers.ErrorOut` object, usage errors
    included.
    """

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        wants = wants_json(args)
        try:
            ctx = super().make_context(info_name, args, parent=parent, **extra)
        except click.ClickException as exc:  # a usage error before any command ran
            if wants:
                emit_error(exc)
            raise
        ctx.meta[_JSON_ERRORS] = wants
        return ctx

    def invoke(self, ctx: click.Context) -> Any:
        try:
            try:
                return super().invoke(ctx)
            except (InputError, ConfigurationError, FileRefused) as exc:
                raise _Failed(BadInput(_safe(str(exc))), exc) from None
            except LedgerError as exc:
                raise _Failed(click.ClickException(_safe(str(exc))), exc) from None
            except click.ClickException as exc:  # click's own usage errors quote arguments too
                setattr(exc, "message", _safe(exc.message))  # noqa: B010 (typed Final in click)
                raise
        except _Failed as failed:
            if ctx.meta.get(_JSON_ERRORS):
                emit_error(failed.shown, failed.cause)
            raise failed.shown from None
        except click.ClickException as exc:
            if ctx.meta.get(_JSON_ERRORS):
                emit_error(exc)
            raise


_JSON_ERRORS = "compute_ledger.json_errors"


class _Failed(Exception):
    """A project error on its way out: what click shows, and the error it came from."""

    def __init__(self, shown: click.ClickException, cause: LedgerError) -> None:
        super().__init__(shown.message)
        self.shown, self.cause = shown, cause


def wants_json(args: list[str]) -> bool:
    """Whether a command line asks for JSON: ``--json`` anywhere before a ``--``."""
    return "--json" in (args[:args.index("--")] if "--" in args else args)


_CODES: list[tuple[type[Exception], str]] = [
    (InputError, "bad_input"), (FileRefused, "file_refused"),
    (ConfigurationError, "bad_configuration"), (NotFoundError, "not_found"),
    (VerificationError, "verification_failed"), (NoteError, "signature"),
    (StorageError, "storage"), (click.UsageError, "usage"),
]


def emit_error(shown: click.ClickException, cause: LedgerError | None = None) -> None:
    """The error as a JSON object on stdout (what ``Error: ...`` on stderr says)."""
    problems = getattr(cause, "problems", None) or []
    first = problems[0] if problems else None
    code = next((name for kind, name in _CODES if isinstance(cause or shown, kind)), "error")
    emit_json(ErrorOut(error=ErrorBody(
        code=code,  # type: ignore[arg-type]  # one of the literal's names, from _CODES
        exit_code=shown.exit_code, message=shown.format_message(),
        line=None if first is None else first.line, path=None if first is None else first.path,
        problems=[ProblemOut(line=p.line, path=p.path, reason=_safe(p.reason))
                  for p in problems])))


_SECRET = re.compile(r"PRIVATE\+KEY\+[^\s'\"]*", re.IGNORECASE)


def _safe(message: str) -> str:
    """An error message safe on a terminal: it may quote input (a field name, a value), so
    control characters and bidirectional overrides are escaped, line by line, and a signer
    key pasted where something else was expected is never echoed."""
    message = _SECRET.sub("PRIVATE+KEY+(a signer key, not shown)", message)
    return "\n".join(printable(line) for line in message.split("\n"))


def db_option(func: F) -> F:
    return click.option(
        "--db",
        metavar="PATH|URL",
        help="The ledger: a SQLite file path or a postgresql://user:password@host/db URL. "
        "Default: $COMPUTE_LEDGER_DB, else the default ledger in your data directory "
        "(created with the bundled public record on first use).",
    )(func)


class InstantType(click.ParamType):  # type: ignore[type-arg]
    """An RFC 3339 instant with an offset, or a date (the end of that day, Pacific time; with
    ``day_start``, its start)."""

    name = "INSTANT"

    def __init__(self, *, day_start: bool = False) -> None:
        self.day_start = day_start

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, datetime):
            return value
        try:
            return parse_instant(str(value), day_start=self.day_start)
        except InstantSyntaxError as exc:
            self.fail(str(exc), param, ctx)


INSTANT = InstantType()
SINCE = InstantType(day_start=True)
"""An instant opening a range: a date is the start of that day."""


class KnownAtType(InstantType):
    """An instant or date as for --as-of, or @N: as known when position N was recorded."""

    name = "K"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        text = str(value).strip()
        if text.startswith("@"):
            if not text[1:].isdigit():
                self.fail(f"{text!r}: after @ comes a ledger position, such as @12", param, ctx)
            return int(text[1:])
        return super().convert(value, param, ctx)


def as_of_option(func: F) -> F:
    return click.option(
        "--as-of", type=INSTANT, metavar="T",
        help="Valid time: count facts that occurred at or before T (default: now). A date "
        "means the end of that day in America/Los_Angeles; an instant needs Z or an offset.",
    )(func)


def known_at_option(func: F) -> F:
    return click.option(
        "--known-at", type=KnownAtType(), metavar="K",
        help="System time: use only what the ledger had recorded at K (default: now), to "
        "see what it said then. K is an instant or date as for --as-of, or @N: as known when "
        "position N was recorded.",
    )(func)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for tools.")(func)


@contextmanager
def opened(db: str | None, *, create: bool = False) -> Iterator[ComputeLedger]:
    """The ledger a command uses.  Only ``append`` passes ``create``: every other command
    refuses a path that holds no ledger rather than make an empty one and answer from it."""
    with ComputeLedger.open(db, create=create) as ledger:
        yield ledger


_WIDE = "compute_ledger.wide"


def _remember_wide(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.meta[_WIDE] = True
    return value


def wide_option(func: F) -> F:
    return click.option(
        "--wide", is_flag=True, expose_value=False, callback=_remember_wide,
        help="Print every line whole, however wide (else lines fit the terminal; output "
        "that is not a terminal is never wrapped unless COLUMNS is set).",
    )(func)


def output_width() -> int | None:
    """The width human output is laid out for: None with --wide; else $COLUMNS when set,
    else the terminal's width, and None when stdout is no terminal (a pipe, a file: lines
    stay whole for grep and for tools)."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.meta.get(_WIDE):
        return None
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if not sys.stdout.isatty():
        return None
    return shutil.get_terminal_size().columns


def echo_lines(lines: Iterable[str | Rows], *, err: bool = False, page: bool = False) -> None:
    """Human output, laid out for :func:`output_width`; with ``page``, through a pager when
    stdout is a terminal (never when piped)."""
    laid = lay_out(lines, output_width())
    if page and not err and sys.stdout.isatty():
        click.echo_via_pager(f"{line}\n" for line in laid)
        return
    for line in laid:
        click.echo(line, err=err)


class Progress:
    """One progress bar over the whole of a long command, on stderr and only on a terminal
    (never in a pipe, a log file or a test): its stages relabel the bar as the work moves
    from one to the next."""

    def __init__(self, total: int, *, enabled: bool = True) -> None:
        self._bar = click.progressbar(length=max(total, 1), label="", file=sys.stderr) \
            if enabled and sys.stderr.isatty() else None

    def __enter__(self) -> Progress:
        if self._bar is not None:
            self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)  # type: ignore[arg-type]

    @property
    def shown(self) -> bool:
        return self._bar is not None

    def stage(self, label: str) -> None:
        if self._bar is not None:
            self._bar.label = label
            self._bar.render_progress()

    def update(self, done: int) -> None:
        if self._bar is not None:
            self._bar.update(done)


def say_if_waiting(file: IO[bytes]) -> None:
    """When facts are to be read from a terminal (no FILE given, or ``-``), say so on
    stderr rather than wait without a word."""
    if file is sys.stdin.buffer and sys.stdin.isatty():
        click.echo("Reading facts from standard input (one JSON object, or JSON Lines); end "
                   "with Ctrl-D, or give a FILE.", err=True)


def emit_json(value: object, *, indent: int = 2) -> None:
    data = _JSON.encode(value)
    if indent:
        data = msgspec.json.format(data, indent=indent)
    click.echo(data.decode())


def emit_json_streaming(head: object, field: str, items: Iterable[object],
                        *, every: int = 256) -> None:
    """What :func:`emit_json` prints for ``head`` with its (empty) list ``field`` holding
    ``items``, byte for byte, each item written as it comes (a few hundred at a time), so
    the output starts at once and the items are never all held at once."""
    text = msgspec.json.format(_JSON.encode(head), indent=2).decode()
    marker = f'\n  "{field}": []'
    at = text.index(marker) + len(marker) - 1  # just before the closing bracket
    click.echo(text[:at], nl=False)
    chunk: list[str] = []
    written = False
    for item in items:
        body = msgspec.json.format(_JSON.encode(item), indent=2).decode()
        chunk.append((",\n    " if written else "\n    ") + body.replace("\n", "\n    "))
        written = True
        if len(chunk) >= every:
            click.echo("".join(chunk), nl=False)
            chunk.clear()
    if written:
        chunk.append("\n  ")
    click.echo("".join(chunk) + text[at:])


def emit_line(value: object) -> None:
    """One compact JSON value per line (JSON Lines)."""
    click.echo(_JSON.encode(value))


def with_option(func: F) -> F:
    return click.option(
        "--with", "with_file", type=click.File("rb"), metavar="FILE",
        help="What if: answer as if the facts in FILE (JSON Lines, - for stdin) were appended "
        "now, after the head. They pass the same checks as `append`, are never written, and "
        "the answer says it is hypothetical and what they flip.",
    )(func)


def supposing(ledger: ComputeLedger, with_file: IO[bytes] | None) -> Hypothesis | None:
    """The hypothesis of ``--with FILE`` (None without it)."""
    if with_file is None:
        return None
    data = with_file.read()
    checked, problems = read_facts(data)
    if problems:  # every problem, those against the ledger too, as check names them
        raise InputError(ledger.problems(data),
                         head="--with FILE refused, nothing was laid on the ledger")
    try:
        return ledger.hypothesis(checked)
    except InputError as exc:
        raise InputError(exc.problems,
                         head="--with FILE refused, nothing was laid on the ledger") from None
