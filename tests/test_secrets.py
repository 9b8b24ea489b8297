"""Secrets hygiene on PostgreSQL (issue 10, item 6).

Before: the README put the password in the URL (where ``/proc/PID/cmdline`` shows it),
``PGPASSWORD`` was ignored, a wrong password read exactly like a server that is down, ten
seconds later, and ``?schema=x;y`` reached SQL unquoted.  The server the tests start uses
scram password authentication, so a wrong or missing password is really refused.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from compute_ledger.cli.main import main
from compute_ledger.ledger.config import resolve
from compute_ledger.ledger.errors import ConfigurationError, StorageError
from compute_ledger.projections.api import ComputeLedger

pytestmark = pytest.mark.postgres


def bare_url(server: Any, name: str) -> str:
    """The ledger's URL with no password in it."""
    return f"postgresql://{server.user}@{server.host}:{server.port}/{name}"


@pytest.fixture
def database(pg_server: Any) -> Any:
    name = pg_server.create_database()
    yield name
    pg_server.drop_database(name)


def test_the_password_may_come_from_pgpassword(pg_server: Any, database: str) -> None:
    with ComputeLedger.open(bare_url(pg_server, database),
                            environ={"PGPASSWORD": pg_server.password}) as ledger:
        assert ledger.head().position == 0
        assert pg_server.password not in ledger.display


def test_the_password_may_come_from_a_file(pg_server: Any, database: str,
                                           tmp_path: Path) -> None:
    secret = tmp_path / "ledger.password"
    secret.write_text(pg_server.password + "\n")
    by_env = {"COMPUTE_LEDGER_PASSWORD_FILE": str(secret)}
    with ComputeLedger.open(bare_url(pg_server, database), environ=by_env) as ledger:
        assert ledger.head().position == 0
    by_option = bare_url(pg_server, database) + f"?password_file={secret}"
    with ComputeLedger.open(by_option, environ={}) as ledger:
        assert ledger.head().position == 0
    missing = bare_url(pg_server, database) + f"?password_file={tmp_path / 'nope'}"
    with pytest.raises(ConfigurationError, match="cannot read the password file"):
        ComputeLedger.open(missing, environ={})


def test_the_password_may_come_from_pgpass(pg_server: Any, database: str, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"{pg_server.host}:{pg_server.port}:*:{pg_server.user}:"
                        f"{pg_server.password}\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))  # libpq reads it, as it reads ~/.pgpass
    with ComputeLedger.open(bare_url(pg_server, database), environ={}) as ledger:
        assert ledger.head().position == 0


def test_the_cli_takes_pgpassword_and_never_prints_it(pg_server: Any, database: str) -> None:
    runner = CliRunner()
    url = bare_url(pg_server, database)
    result = runner.invoke(main, ["append", "--public-record", "--db", url],
                           env={"PGPASSWORD": pg_server.password})
    assert result.exit_code == 0, result.output
    verified = runner.invoke(main, ["verify", "--db", url],
                             env={"PGPASSWORD": pg_server.password})
    assert verified.output.startswith("ok: 8 records")
    wrong = runner.invoke(main, ["verify", "--db", url], env={"PGPASSWORD": "not-it-123"})
    assert wrong.exit_code == 2
    assert "not-it-123" not in wrong.output and pg_server.password not in wrong.output


def test_a_wrong_password_and_an_unreachable_server_are_told_apart_at_once(
    pg_server: Any, database: str
) -> None:
    started = time.monotonic()
    with pytest.raises(ConfigurationError) as refused:
        ComputeLedger.open(bare_url(pg_server, database), environ={"PGPASSWORD": "wrong-pw"})
    wrong_took = time.monotonic() - started
    message = str(refused.value)
    assert "refused the login" in message and "password authentication failed" in message
    assert "wrong-pw" not in message

    with pytest.raises(ConfigurationError, match="refused the login"):
        ComputeLedger.open(bare_url(pg_server, database), environ={})  # no password at all

    started = time.monotonic()
    with pytest.raises(StorageError) as unreachable:
        ComputeLedger.open(f"postgresql://{pg_server.user}@127.0.0.1:1/{database}",
                           environ={"PGPASSWORD": "whatever-pw"})
    down_took = time.monotonic() - started
    assert "cannot reach the PostgreSQL server at 127.0.0.1:1" in str(unreachable.value)
    assert not isinstance(unreachable.value, ConfigurationError)
    # Each is told at the first attempt, not after the pool's 10 s of retries.
    assert wrong_took < 5 and down_took < 5


@pytest.mark.parametrize("option", ["schema=x;y", "schema=public;DROP%20TABLE%20t",
                                    'schema=a"b', "schema=1abc", "connect_timeout=1;2",
                                    "pool_size=two"])
def test_connection_options_are_checked_never_spliced(option: str) -> None:
    with pytest.raises(ConfigurationError, match="in the postgresql:// URL is not"):
        resolve(f"postgresql://u@127.0.0.1/db?{option}", {})


def test_a_plain_schema_is_accepted() -> None:
    config = resolve("postgresql://u@127.0.0.1/db?schema=ledger_2026&connect_timeout=3", {})
    assert config.settings["POSTGRES_SCHEMA"] == "ledger_2026"
    assert config.settings["POSTGRES_CONNECT_TIMEOUT"] == "3"
