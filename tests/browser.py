"""A page rendered by a real browser: headless Chromium (Debian's ``chromium`` package,
which ``.ci/run`` installs), run once per page with no test library in between.

What the tests read back: the DOM after load (``--dump-dom``), a PNG (``--screenshot``),
every console message (Chromium logs them to stderr as ``CONSOLE``), and every network
request the page made (Chromium's own NetLog, ``--log-net-log``: the requests whose network
isolation key is the page's ``file://`` origin; Chromium's own background requests are
not the page's).  Off CI a missing browser skips; with ``COMPUTE_LEDGER_REQUIRE_BROWSER=1``
(as ``.ci/run`` sets) it fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REQUIRE_BROWSER = os.environ.get("COMPUTE_LEDGER_REQUIRE_BROWSER") == "1"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--enable-logging=stderr", "--v=0",
]
CONSOLE = re.compile(r":CONSOLE(?:\(\d+\)|:\d+)\] (.*)$", re.M)


@dataclass(frozen=True)
class Rendered:
    dom: str
    png: Path
    console: list[str]
    requests: list[str]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if REQUIRE_BROWSER:
            pytest.fail("COMPUTE_LEDGER_REQUIRE_BROWSER=1 but no chromium on PATH")
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    return found


def render(page: Path, workdir: Path, size: tuple[int, int] = (1100, 3000)) -> Rendered:
    """``page`` loaded from disk in a fresh profile, as a PNG and a DOM."""
    workdir.mkdir(parents=True, exist_ok=True)
    png, netlog = workdir / "page.png", workdir / "net.json"
    done = subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={workdir / 'profile'}",
         f"--log-net-log={netlog}", f"--screenshot={png}", "--dump-dom",
         f"--window-size={size[0]},{size[1]}", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert png.stat().st_size > 0
    return Rendered(dom=done.stdout, png=png, console=CONSOLE.findall(done.stderr),
                    requests=_page_requests(netlog))


def _page_requests(netlog: Path) -> list[str]:
    log = json.loads(netlog.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [event["params"]["url"] for event in log["events"]
            if event["type"] == start
            and "file://" in event["params"].get("network_isolation_key", "")
            and not event["params"]["url"].startswith("file:")]
