"""Shared fixtures: a ledger on every backend, a clock the tests control."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pg
import pytest

from compute_ledger.ledger.clock import ManualClock
from compute_ledger.projections.api import ComputeLedger

REQUIRE_PG = os.environ.get("COMPUTE_LEDGER_REQUIRE_PG") == "1"
ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    """The suite tests the working tree, never a copy installed earlier: with a plain
    ``pip install .`` every edit after it would go untested (and the docs' commands would
    run the old code).  The README's test command installs the project editable."""
    import compute_ledger.cli.main as probe

    where = Path(probe.__file__).resolve()
    if not where.is_relative_to(ROOT):
        raise pytest.UsageError(
            f"compute_ledger is imported from {where.parent.parent}, not from this working tree "
            f"({ROOT}): install it editable, `pip install -e '.[test]'`, then run pytest again"
        )
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test ever touches the real default ledger or a stray COMPUTE_LEDGER_DB, and no
    test's output depends on the width of the terminal that ran the suite (COLUMNS)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.delenv("COMPUTE_LEDGER_DB", raising=False)
    monkeypatch.delenv("COLUMNS", raising=False)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[pg.Server]:
    try:
        server = pg.start()
    except Exception as exc:  # pragma: no cover - depends on the machine
        if REQUIRE_PG:
            raise
        pytest.skip(f"could not start PostgreSQL: {exc}")
    if server is None:
        if REQUIRE_PG:
            pytest.fail("COMPUTE_LEDGER_REQUIRE_PG=1 but no PostgreSQL server binaries were found")
        pytest.skip("no PostgreSQL server binaries found and COMPUTE_LEDGER_TEST_PG not set")
    yield server
    if callable(server.stop):
        server.stop()


@pytest.fixture
def pg_url(pg_server: pg.Server) -> Iterator[str]:
    name = pg_server.create_database()
    yield pg_server.url(name)
    pg_server.drop_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty ledger location on each backend (a path or a URL)."""
    if request.param == "sqlite":
        return str(tmp_path / "ledger.sqlite3")
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def clock() -> ManualClock:
    """Starts at 2026-06-01T12:00Z and moves one second per reading."""
    return ManualClock(T0, step=timedelta(seconds=1))


@pytest.fixture
def ledger(db: str, clock: ManualClock) -> Iterator[ComputeLedger]:
    with ComputeLedger.open(db, clock=clock, environ={}) as opened:
        yield opened
