"""Files the project writes beside the ledger (reports, bundles, export metadata)."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from compute_ledger.ledger.errors import StorageError


def replace_file(target: Path, data: bytes | str) -> None:
    """Replace ``target`` whole with ``data`` (text as UTF-8): written to a new file of its
    own beside it, then renamed over it, so a reader never sees half a file, a failure
    leaves the old one as it was, and two writers never share a half-written file.  A file
    replaced keeps its permissions; a new one gets the usual ones (0666 less the umask)."""
    partial = target.with_name(f".{target.name}.{secrets.token_hex(6)}.partial")
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except OSError:
        mode = None
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data.encode() if isinstance(data, str) else data)
            if mode is not None:
                os.chmod(partial, mode)
            os.replace(partial, target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise StorageError(f"cannot write {target}: {exc.strerror or exc}") from None
