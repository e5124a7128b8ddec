"""The gateway's acknowledgement: which routes document it serves now (`run/routes.applied`).

`IngressReady` turns True only once the gateway has loaded a routes document
at least as new as the one that carried the endpoint's route, and an old
revision is stopped only once the gateway moved its traffic away. When no
gateway runs (its recorded pid is gone, or it never wrote the file) there is
nobody to wait for, and the route counts as published.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class GatewayAck:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self.updated = ""
        self.pid: int | None = None
        self.live = False  # the gateway's process runs (as of the last `refresh`)

    def refresh(self) -> None:
        """Re-read the file when it changed (one stat per call otherwise), and whether the gateway runs."""
        self._read()
        self.live = self.pid is not None and _alive(self.pid)  # once per refresh, not per endpoint asked

    def _read(self) -> None:
        try:
            stat = os.stat(self.path)
            stamp = (stat.st_mtime_ns, stat.st_size)
            if stamp == self._stamp:
                return
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.updated, self.pid, self._stamp = "", None, None
            return
        self._stamp = stamp
        self.updated = str(data.get("updated") or "") if isinstance(data, dict) else ""
        pid = data.get("pid") if isinstance(data, dict) else None
        self.pid = pid if isinstance(pid, int) else None

    def applied(self, routes_updated: str) -> bool:
        """Does the gateway serve the routes document stamped `routes_updated` (or a newer one)?"""
        if not routes_updated or not self.live:
            return True
        return self.updated >= routes_updated
