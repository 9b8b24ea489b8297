"""One exception tree for the whole project.

Every error a user can cause or meet derives from :class:`LedgerError`.  The CLI translates
them in one place: :class:`InputError` (and its children), :class:`ConfigurationError` and
:class:`FileRefused` become exit code 2, every other
:class:`LedgerError` exit code 1.  Nothing else in the code base prints or exits.
"""

from __future__ import annotations

import msgspec


class LedgerError(Exception):
    """A known error: the message is meant for the person who ran the command."""


class Problem(msgspec.Struct, frozen=True):
    """One thing wrong with one input: where (line and JSON path) and why."""

    line: int | None
    path: str
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}, " if self.line is not None else ""
        return f"{where}{self.path}: {self.reason}"


class InputError(LedgerError):
    """Input was refused.  Nothing was written."""

    def __init__(self, problems: list[Problem], *, limit: int = 20,
                 head: str = "input refused, nothing was appended") -> None:
        self.problems = problems
        shown = [str(p) for p in problems[:limit]]
        if len(problems) > limit:
            shown.append(f"... and {len(problems) - limit} more")
        if len(shown) == 1:
            message = f"{head}: {shown[0]}"
        else:
            message = head + ":\n  " + "\n  ".join(shown)
        super().__init__(message)


class ConfigurationError(LedgerError):
    """A setting (--db, COMPUTE_LEDGER_DB, a time argument) cannot be used."""


class FileRefused(LedgerError):
    """A file named on the command line (a checkpoint, a bundle) is not one: bad input, so
    the CLI exits 2, as for :class:`InputError`.  A file that is one but does not check out
    (a signature that does not verify, a proof that fails) is a failed check instead."""


NO_LEDGER_HINT = "only `append` creates a ledger; check --db or COMPUTE_LEDGER_DB"
"""What a refusal to open a path or database holding no ledger adds (see ``create`` in
:meth:`ledger.store.Ledger`)."""


class StorageError(LedgerError):
    """The ledger's database could not be opened, read or written."""


class NotFoundError(LedgerError):
    """A fact or position asked for is not in the ledger."""


class Breach(msgspec.Struct, frozen=True):
    """The first place where the stored ledger stops being what was written."""

    position: int
    reason: str

    def __str__(self) -> str:
        return f"position {self.position}: {self.reason}"


class VerificationError(LedgerError):
    """The hash chain, the positions or the index do not check out."""

    def __init__(self, breach: Breach, message: str | None = None) -> None:
        self.breach = breach
        super().__init__(message or f"ledger verification failed at {breach}")


class DerivedDataError(VerificationError):
    """The records check out, but derived data kept beside them (the maintained answers,
    folded to ``breach.position``) does not: no record is blamed."""

    def __init__(self, breach: Breach) -> None:
        super().__init__(breach, f"the records check out, but the maintained answers (folded "
                                 f"to position {breach.position}) do not: {breach.reason}")
