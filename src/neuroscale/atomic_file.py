"""Files replaced atomically: the one way a file another process reads while it changes is written.

Routes, demand, shadow comparisons, recorded samples, settings, check caches and the run files with
secrets or orders are all read by other processes (or by the next run) while they are rewritten. Each
reader must see the old file or the new one, never half of it: the content goes to a temp file beside
the target (same filesystem, so `os.replace` is a rename), named so two writers — processes or threads —
never share one, and removed when the write fails. Private files (tokens, key hashes, orders) are 0600
from the moment they exist, never chmod-ed afterwards. No database or web framework here: the gateway
writes with it.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

_PRIVATE_MODE = 0o600
_SHARED_MODE = 0o666  # less the umask, as any file the process creates


def replace_file(path: Path, data: bytes | str, *, private: bool = False) -> None:
    """Replace `path` with `data` atomically (text is written as UTF-8)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _PRIVATE_MODE if private else _SHARED_MODE)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_private(path: Path, content: str) -> None:
    """Write `content` (one line of text) so only the owner can read it."""
    replace_file(path, f"{content}\n", private=True)
