"""Files the project writes beside the ledger (reports, bundles, export metadata)."""

from __future__ import annotations

import os
from pathlib import Path

from compute_ledger.ledger.errors import StorageError


def replace_file(target: Path, data: bytes | str) -> None:
    """Replace ``target`` whole with ``data`` (text as UTF-8): written beside it, then
    renamed, so a reader never sees half a file and a failure leaves the old one as it was."""
    partial = target.with_name(target.name + ".partial")
    try:
        partial.write_bytes(data.encode() if isinstance(data, str) else data)
        os.replace(partial, target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise StorageError(f"cannot write {target}: {exc.strerror or exc}") from None
