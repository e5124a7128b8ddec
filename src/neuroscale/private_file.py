"""Files only their owner may read, replaced atomically: the one way every run file with secrets or orders is written.

Why one function: the admin token, the hashes of API keys and admin tokens, and the admins' model
orders are read by other processes while they are rewritten; each reader must see an old file or a
new one (temp file + `os.replace`), and none may be readable by other local users (0600 from the
start, never chmod-ed afterwards). No database or web framework here: the gateway writes with it.
"""

from __future__ import annotations

import os
from pathlib import Path


def write_private(path: Path, content: str) -> None:
    """Write `content` so only the owner can read it, replacing any earlier file atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, f"{content}\n".encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)
