"""The files the gateway learns from without a restart: the routes table, the API keys and the admin tokens.

Their writers (the reconciler, the key service) replace them atomically, so a
reader sees an old file or a new one, never half of one. The gateway polls:
one `stat` per tick, and the file is read and parsed only when its mtime or
size changed. A missing, unreadable or half-written file keeps the last good
document (the gateway keeps serving while a writer restarts).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class WatchedJson:
    """One JSON file, re-read when its mtime or size changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None

    def changed(self) -> dict[str, Any] | None:
        """The new document when the file changed since the last read, else None.

        A document that is not a JSON object reads as an empty one.
        """
        try:
            stat = os.stat(self.path)
            stamp = (stat.st_mtime_ns, stat.st_size)
            if stamp == self._stamp:
                return None
            document = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        self._stamp = stamp
        return document if isinstance(document, dict) else {}


class WatchedValue(Generic[T]):
    """What a watched file says, parsed by `parse`: the last good value (`empty` before one, or with no file)."""

    def __init__(self, path: Path | None, *, parse: Callable[[dict[str, Any]], T], empty: T) -> None:
        self.file = WatchedJson(path) if path is not None else None
        self.value = empty
        self._parse = parse

    def refresh(self) -> bool:
        """Re-read the file if it changed; True when the value was replaced."""
        document = self.file.changed() if self.file is not None else None
        if document is None:
            return False
        self.value = self._parse(document)
        return True
