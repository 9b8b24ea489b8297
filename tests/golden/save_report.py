"""Write ``report.html``: the report of the bundled public record as of 2026-05-23, as known
at 2026-07-01, in a ledger recorded by the tests' fixed clock (``tests/test_report.py``
compares the page with it byte for byte).  Run after a deliberate change to the report, and
read the diff before committing it:

    python -m tests.golden.save_report
"""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent


def main() -> None:
    sys.path.insert(0, str(TESTS))
    from test_report import GOLDEN, public_report

    GOLDEN.write_text(public_report(), encoding="utf-8")
    print(f"wrote {GOLDEN}")


if __name__ == "__main__":
    main()
