"""A throwaway PostgreSQL server for the test session.

Order of preference:

1. ``COMPUTE_LEDGER_TEST_PG``: a ``postgresql://`` URL of a server you provide (a database
   per test is created in it);
2. the server binaries on this machine (``initdb``/``pg_ctl`` on PATH or under
   ``/usr/lib/postgresql/*/bin``), started on a free loopback port in a temporary directory.
   ``initdb`` refuses to run as root, so as root the server runs as the ``postgres`` user
   through ``runuser``.

Password authentication (scram) is on, so tests can check that the password never leaks.
When neither is available the PostgreSQL tests are skipped, unless
``COMPUTE_LEDGER_REQUIRE_PG=1`` (set by ``.ci/run``), which turns that into a failure.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote


@dataclass
class Server:
    host: str
    port: int
    user: str
    password: str
    stop: object = None

    def url(self, dbname: str) -> str:
        return (
            f"postgresql://{quote(self.user)}:{quote(self.password, safe='')}"
            f"@{self.host}:{self.port}/{dbname}"
        )

    def admin_url(self) -> str:
        return self.url("postgres")

    def create_database(self) -> str:
        import psycopg

        name = "t_" + secrets.token_hex(6)
        with psycopg.connect(self.admin_url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _binaries() -> Path | None:
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start() -> Server | None:
    """Start (or connect to) a server; ``None`` when there is no way to have one."""
    given = os.environ.get("COMPUTE_LEDGER_TEST_PG")
    if given:
        from urllib.parse import unquote, urlsplit

        parts = urlsplit(given)
        return Server(parts.hostname or "127.0.0.1", parts.port or 5432,
                      unquote(parts.username or ""), unquote(parts.password or ""))
    bindir = _binaries()
    if bindir is None:
        return None
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    base = Path(tempfile.mkdtemp(prefix="compute-ledger-pg-"))
    data, sockets, log = base / "data", base / "sock", base / "server.log"
    sockets.mkdir()
    user, password = "ledger", "pw-" + secrets.token_urlsafe(12)
    pwfile = base / "pw"
    pwfile.write_text(password + "\n")
    if as_root:
        shutil.chown(base, "postgres")
        for path in (sockets, pwfile):
            shutil.chown(path, "postgres")
    subprocess.run(
        [*prefix, str(bindir / "initdb"), "-D", str(data), "-U", user, "--auth=scram-sha-256",
         f"--pwfile={pwfile}", "--no-sync", "-E", "UTF8", "--locale=C"],
        check=True, capture_output=True,
    )
    port = _free_port()
    options = (f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets} -c fsync=off "
               "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
    subprocess.run(
        [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options,
         "-w", "-t", "60", "start"],
        check=True, capture_output=True,
    )

    def stop() -> None:
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                        "stop"], check=False, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)

    server = Server("127.0.0.1", port, user, password, stop)
    deadline = time.monotonic() + 30
    while True:
        try:
            import psycopg

            psycopg.connect(server.admin_url(), connect_timeout=3).close()
            return server
        except Exception:
            if time.monotonic() > deadline:
                stop()
                raise
            time.sleep(0.2)
