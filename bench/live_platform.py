"""One embedded platform as `neuroscale up` runs it, in a scratch home, for a benchmark's duration."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from neuroscale.home import Home
from neuroscale.services.context import PlatformContext
from neuroscale.supervisor.platform import Platform
from neuroscale.supervisor.settings import PlatformSettings

TICKS = os.sysconf("SC_CLK_TCK")


@contextmanager
def live_platform(settings: PlatformSettings, *, prefix: str = "neuroscale-bench-") -> Iterator[Home]:
    """Start the supervisor, reconciler, gateway and portal over a new home; stop everything at the end."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        home = Home.resolve(Path(tmp) / "home")
        PlatformContext.open(home, create=True).close()
        platform = Platform(home=home, settings=settings)
        platform.start()
        try:
            yield home
        finally:
            platform.stop()


def cpu_seconds(pid: int) -> float:
    """User + system CPU `pid` has used so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS

