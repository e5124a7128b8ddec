"""Warm spares: model-server processes that did their imports before a replica was asked for.

A model server's start is mostly imports (see `neuroscale.serving.spare` for the numbers), and
that is what a request held at scale-from-zero and a new replica under load wait for. A spare is
`python -m neuroscale.serving --spare FORMAT --home HOME`, started the way a cold server of that
format and storage scheme is (own session, no inherited fds, the same minimal environment). When
a replica must start, `LocalRuntime.start` hands a spare the server's flags, the revision's log and
the RLIMIT_DATA backstop over its stdin instead of starting a process. From then on it is that
revision's server in every way the engine looks: our child (exit status for `exit_info`), the same
log and offset, the same limits, adopted after a restart by pid, start time and `--home`
(`procfs` reads its revision from the log its output goes to).

Which spares, and when: one per kind (format, storage scheme) the loop asks for
(`Reconciler._keep_warm`), started only while no model server is starting, so a spare's imports
never slow the start someone waits for; only starts that requests wait for take one
(`steps.ensure_running`). A spare that dies before its hand-over is logged and its kind stays
cold for `retry` seconds. Spares end with the engine: `close` stops them, and the stdin
they wait on is the engine's pipe, so even a killed engine's spares read EOF and exit.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

log = logging.getLogger("neuroscale.engine")


@dataclass(frozen=True)
class SpareKind:
    """What a spare must share with the server it becomes: the imports (format) and the environment (scheme)."""

    model_format: str
    storage_scheme: str  # a scheme that changes the server's environment ("s3"), else ""

    @property
    def label(self) -> str:
        return f"{self.model_format}-{self.storage_scheme}" if self.storage_scheme else self.model_format


@dataclass
class Spare:
    kind: SpareKind
    popen: subprocess.Popen[bytes]

    def hand_over(self, flags: Sequence[str], *, log_path: Path, data_limit: int | None) -> bool:
        """Give the spare its server's flags; False when it is gone (the caller starts a cold server)."""
        order = {"argv": list(flags), "log": str(log_path), "data_limit": data_limit}
        if self.popen.stdin is None or self.popen.poll() is not None:
            return False
        try:
            self.popen.stdin.write(json.dumps(order).encode() + b"\n")
            self.popen.stdin.close()
        except OSError:  # it died since the poll: the pipe is broken
            return False
        return True


#: Starts a spare of a kind with its output going to the open file.
Launch = Callable[[SpareKind, IO[bytes]], subprocess.Popen[bytes]]


class Spares:
    """At most one idle spare per kind; every call is non-blocking except `close`."""

    def __init__(self, logs_dir: Path, launch: Launch, *, retry: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logs_dir = logs_dir
        self.launch = launch
        self.retry = retry
        self.clock = clock
        self._idle: dict[SpareKind, Spare] = {}
        self._stopping: list[Spare] = []
        self._cold_until: dict[SpareKind, float] = {}

    def take(self, kind: SpareKind) -> Spare | None:
        """The idle spare of `kind`, now the caller's, or None (start cold)."""
        spare = self._idle.pop(kind, None)
        if spare is not None and spare.popen.poll() is not None:
            self._died(spare)
            return None
        return spare

    def keep(self, kinds: Collection[SpareKind], *, spawn: bool) -> None:
        """Stop spares of kinds no longer wanted; start missing ones when `spawn` (nothing else is starting)."""
        self._stopping = [s for s in self._stopping if s.popen.poll() is None]
        for kind, spare in list(self._idle.items()):
            if spare.popen.poll() is not None:
                del self._idle[kind]
                self._died(spare)
            elif kind not in kinds:
                del self._idle[kind]
                self._stop(spare)
        if not spawn:
            return
        now = self.clock()
        for kind in kinds:
            if kind not in self._idle and now >= self._cold_until.get(kind, 0.0):
                self._idle[kind] = self._start(kind)

    def close(self, *, grace: float = 2.0) -> None:
        """Stop every idle spare and wait for them (the engine is shutting down)."""
        for spare in self._idle.values():
            self._stop(spare)
        self._idle.clear()
        for spare in self._stopping:
            try:
                spare.popen.wait(grace)
            except subprocess.TimeoutExpired:
                spare.popen.kill()
                spare.popen.wait()
        self._stopping.clear()

    def log_path(self, kind: SpareKind) -> Path:
        return self.logs_dir / f"{kind.label}.log"

    def _start(self, kind: SpareKind) -> Spare:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path(kind).open("ab") as output:
            return Spare(kind, self.launch(kind, output))

    def _stop(self, spare: Spare) -> None:
        if spare.popen.stdin is not None:
            spare.popen.stdin.close()
        spare.popen.send_signal(signal.SIGTERM)
        self._stopping.append(spare)

    def _died(self, spare: Spare) -> None:
        self._cold_until[spare.kind] = self.clock() + self.retry
        if spare.popen.stdin is not None:
            spare.popen.stdin.close()
        log.warning("warm spare for %s (pid %d) exited with code %s before it was needed; see %s. Its servers "
                    "start cold for %gs", spare.kind.label, spare.popen.pid, spare.popen.returncode,
                    self.log_path(spare.kind), self.retry)
