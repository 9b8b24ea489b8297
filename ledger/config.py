"""Where the ledger lives: the one place that turns ``--db`` into eventsourcing settings.

``--db`` (or ``COMPUTE_LEDGER_DB``) is a SQLite path or a ``postgresql://`` URL.  With
neither, the default ledger is a SQLite file in the user's data directory.  The result is an
eventsourcing environment dict (``PERSISTENCE_MODULE``, ``SQLITE_DBNAME`` or the
``POSTGRES_*`` keys, ``MAPPER_TOPIC`` ...) and a display form that never contains a password.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

import msgspec

from compute_ledger.ledger.errors import ConfigurationError

ENV_VAR = "COMPUTE_LEDGER_DB"
PASSWORD_FILE_VAR = "COMPUTE_LEDGER_PASSWORD_FILE"
APP_NAME = "compute-ledger"
_PG_OPTIONS = {
    "schema": "POSTGRES_SCHEMA",
    "connect_timeout": "POSTGRES_CONNECT_TIMEOUT",
    "lock_timeout": "POSTGRES_LOCK_TIMEOUT",
    "pool_size": "POSTGRES_POOL_SIZE",
}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}\Z")
_COUNT = re.compile(r"[0-9]{1,6}\Z")


class StoreConfig(msgspec.Struct, frozen=True):
    backend: Literal["sqlite", "postgresql"]
    display: str
    settings: dict[str, str]
    path: Path | None = None
    is_default: bool = False
    secrets: tuple[str, ...] = ()

    def scrub(self, text: str) -> str:
        """Remove every secret (a password) from a message before anyone sees it."""
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, "***")
        return text

    def __repr__(self) -> str:
        return f"StoreConfig({self.backend}, {self.display})"


def default_path() -> Path:
    """The default ledger: ``ledger.sqlite3`` in the user's data directory.

    On Linux that is ``$XDG_DATA_HOME/compute-ledger`` (``~/.local/share/compute-ledger``
    when unset), as platformdirs says; elsewhere platformdirs decides (imported only there:
    it costs a tenth of a small question's start-up).
    """
    if sys.platform.startswith("linux"):
        base = os.environ.get("XDG_DATA_HOME", "").strip()
        root = Path(base) if base else Path.home() / ".local" / "share"
        return root / APP_NAME / "ledger.sqlite3"
    import platformdirs  # pragma: no cover - not Linux

    return platformdirs.user_data_path(APP_NAME) / "ledger.sqlite3"  # pragma: no cover


def resolve(db: str | None, environ: Mapping[str, str]) -> StoreConfig:
    """The store configuration for ``--db`` (or the environment, or the default)."""
    target = db if db else environ.get(ENV_VAR) or None
    if target is None:
        path = default_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        return _sqlite(path, is_default=True)
    if target.startswith(("postgresql://", "postgres://")):
        return _postgres(target, environ)
    if "://" in target:
        scheme = target.split("://", 1)[0]
        raise ConfigurationError(
            f"unsupported ledger URL scheme {scheme!r}: give a SQLite file path "
            "or a postgresql:// URL"
        )
    path = Path(target).expanduser()
    if path.exists() and path.is_dir():
        raise ConfigurationError(f"{path} is a directory; give a SQLite file path")
    if not path.parent.exists():
        raise ConfigurationError(
            f"cannot use ledger {path}: directory {path.parent} does not exist"
        )
    return _sqlite(path.resolve(), is_default=False)


def _sqlite(path: Path, *, is_default: bool) -> StoreConfig:
    return StoreConfig(
        backend="sqlite",
        display=str(path),
        path=path,
        is_default=is_default,
        settings={
            "PERSISTENCE_MODULE": "compute_ledger.ledger.sqlite",
            "SQLITE_DBNAME": str(path),
            "SQLITE_LOCK_TIMEOUT": "60",
        },
    )


def _postgres(url: str, environ: Mapping[str, str]) -> StoreConfig:
    """A ``postgresql://USER@HOST[:PORT]/DB[?OPTIONS]`` URL as eventsourcing settings.

    The password is best kept out of the URL (where ``ps`` and ``/proc/PID/cmdline`` show it):
    it is taken, in this order, from the URL, from the file that ``COMPUTE_LEDGER_PASSWORD_FILE``
    or the URL's ``password_file`` option names (its first line), from ``PGPASSWORD``, and
    else libpq looks in ``~/.pgpass`` (or ``PGPASSFILE``).  Options are checked here, never
    spliced into SQL: a schema is a plain identifier, the numbers are numbers.
    """
    parts = urlsplit(url)
    user = unquote(parts.username or "")
    password = unquote(parts.password or "")
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        raise ConfigurationError("the port in the postgresql:// URL is not a number") from None
    dbname = unquote(parts.path.lstrip("/"))
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    host = query.pop("host", host)
    password_file = query.pop("password_file", None) or environ.get(PASSWORD_FILE_VAR) or None
    shown_user = f"{user}:***@" if password else (f"{user}@" if user else "")
    shown_host = host + (f":{port}" if port else "")
    display = f"postgresql://{shown_user}{shown_host}/{dbname}"
    if not dbname:
        raise ConfigurationError(f"the URL {display} names no database (postgresql://.../DBNAME)")
    if not host:
        raise ConfigurationError(f"the URL {display} names no host")
    if not user:
        raise ConfigurationError(f"the URL {display} names no user (postgresql://USER@...)")
    if not password and password_file:
        password = _read_password(password_file)
    if not password:
        password = environ.get("PGPASSWORD", "")
    settings = {
        "PERSISTENCE_MODULE": "compute_ledger.ledger.postgres",
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": host,
        "POSTGRES_PORT": str(port or 5432),
        "POSTGRES_USER": user,
        "POSTGRES_PASSWORD": password,
        "POSTGRES_CONNECT_TIMEOUT": "10",
        "POSTGRES_POOL_SIZE": "2",
        "POSTGRES_MAX_OVERFLOW": "4",
    }
    for option, value in query.items():
        key = _PG_OPTIONS.get(option)
        if key is None:
            raise ConfigurationError(
                f"unknown option {option!r} in the postgresql:// URL; "
                f"known: {', '.join(sorted(_PG_OPTIONS))}, host, password_file"
            )
        pattern = _IDENTIFIER if option == "schema" else _COUNT
        if not pattern.match(value):
            shown = value if len(value) <= 40 else value[:40] + "..."
            raise ConfigurationError(
                f"option {option}={shown!r} in the postgresql:// URL is not "
                + ("a plain identifier (letters, digits and _, not starting with a digit, "
                   "at most 63)" if option == "schema" else "a whole number")
            )
        settings[key] = value
    return StoreConfig(
        backend="postgresql",
        display=display,
        settings=settings,
        secrets=(password,) if password else (),
    )


def _read_password(name: str) -> str:
    """The first line of a password file (the rest, and a final newline, ignored)."""
    path = Path(name).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigurationError(f"cannot read the password file {path}: {reason}") from None
    lines = text.splitlines()
    if not lines or not lines[0]:
        raise ConfigurationError(f"the password file {path} is empty; put the password on "
                                 "its first line")
    return lines[0]
