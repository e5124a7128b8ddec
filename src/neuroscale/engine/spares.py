"""Warm spares: one process per kind that did a model server's imports and forks servers on demand.

A model server's start is mostly imports (see `neuroscale.serving.spare` for the numbers), and
that is what a merge, a request held at scale-from-zero, a new replica under load and a healed crash
wait for. A spare is `python -m neuroscale.serving --spare FORMAT --home HOME`, started the way a
cold server of that format and storage scheme is (own session, no inherited fds, the same minimal
environment). When a server must start, `LocalRuntime.start` sends the spare the server's flags, the
revision's log and the RLIMIT_DATA backstop; the spare forks the server and answers its pid. Forking
leaves the spare as it was, so back-to-back starts all find it, and servers share the pages of its
imports until they write them. The server is reparented to the engine (a child subreaper,
`engine.subreaper`), so it is the engine's child in every way the engine looks: exit status for
`exit_info`, the revision's log and offset, the same limits, adopted after a restart by pid, start
time and `--home` (`procfs` reads its revision from the log its output goes to).

Which spares, and when: one per kind (format, storage scheme) in play (`Reconciler._keep_warm`).
A start of a kind whose spare is still importing waits for it (`importing`, which also launches a
missing one): a single import and then a fork per server beats importing in every server, most of
all when many endpoints start at once. A spare that dies, hangs or fails to fork is logged and its
kind starts cold for `retry` seconds. Spares end with the engine: `close` stops them, and the stdin they read is the engine's
pipe, so even a killed engine's spares read EOF and exit; their servers live on, as cold ones do.
"""

from __future__ import annotations

import json
import logging
import select
import signal
import subprocess
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

log = logging.getLogger("neuroscale.engine")


@dataclass(frozen=True)
class SpareKind:
    """What a spare shares with the servers it forks: the imports (format) and the environment (scheme)."""

    model_format: str
    storage_scheme: str  # a scheme that changes the server's environment ("s3"), else ""

    @property
    def label(self) -> str:
        return f"{self.model_format}-{self.storage_scheme}" if self.storage_scheme else self.model_format


#: How long a start waits for a ready spare's answer: a fork takes milliseconds, so this only bounds a hang.
FORK_TIMEOUT = 5.0


@dataclass
class Spare:
    kind: SpareKind
    popen: subprocess.Popen[bytes]
    started: float  # `Spares.clock` when it was launched
    ready: bool = False

    def poll_ready(self) -> bool:
        """Has it said its imports are done? Never blocks."""
        if not self.ready and self.popen.poll() is None:
            answer = self._answer(timeout=0.0)
            self.ready = answer is not None and answer.get("ready") is True
        return self.ready

    def fork(self, flags: Sequence[str], *, log_path: Path, data_limit: int | None) -> int:
        """The pid of a server forked with these flags; OSError when the spare cannot (start cold)."""
        order = {"argv": list(flags), "log": str(log_path), "data_limit": data_limit}
        if self.popen.stdin is None or self.popen.poll() is not None:
            raise OSError("the spare has exited")
        self.popen.stdin.write(json.dumps(order).encode() + b"\n")
        self.popen.stdin.flush()
        answer = self._answer(timeout=FORK_TIMEOUT)
        if answer is None or not isinstance(answer.get("pid"), int):
            raise OSError((answer or {}).get("error") or f"no answer within {FORK_TIMEOUT:g}s")
        pid: int = answer["pid"]
        return pid

    def _answer(self, *, timeout: float) -> dict[str, Any] | None:
        """One JSON line from the spare, or None if none came within `timeout` (or it is not JSON)."""
        out = self.popen.stdout
        if out is None or not select.select([out], [], [], timeout)[0]:
            return None
        line = out.readline()
        try:
            answer = json.loads(line)
        except ValueError:
            return None
        return answer if isinstance(answer, dict) else None


#: Starts a spare of a kind with its diagnostics going to the open file.
Launch = Callable[[SpareKind, IO[bytes]], subprocess.Popen[bytes]]


class Spares:
    """At most one spare per kind; every call is non-blocking except `close` and a ready spare's fork."""

    def __init__(self, logs_dir: Path, launch: Launch, *, retry: float = 30.0, import_timeout: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logs_dir = logs_dir
        self.launch = launch
        self.retry = retry
        self.import_timeout = import_timeout
        self.clock = clock
        self._spares: dict[SpareKind, Spare] = {}
        self._stopping: list[Spare] = []
        self._cold_until: dict[SpareKind, float] = {}

    def ready(self, kind: SpareKind) -> Spare | None:
        """The spare of `kind` if it is ready to fork, or None (start cold)."""
        spare = self._alive(kind)
        return spare if spare is not None and spare.poll_ready() else None

    def importing(self, kind: SpareKind) -> bool:
        """Should a start of `kind` wait? Yes while its spare imports (launched now if the kind has none):
        one import then a fork per server beats an import in every server. No once it is ready, or when
        the kind is cold (its spare died, hung or took longer than `import_timeout`)."""
        if self.clock() < self._cold_until.get(kind, 0.0):
            return False
        if kind not in self._spares:
            self._spares[kind] = self._start(kind)
        spare = self._alive(kind)
        if spare is None or spare.poll_ready():
            return False
        if self.clock() - spare.started > self.import_timeout:
            self.failed(spare, OSError(f"its imports took more than {self.import_timeout:g}s"))
            return False
        return True

    def failed(self, spare: Spare, error: OSError) -> None:
        """A spare that hung or could not fork is killed, and its kind starts cold for a while."""
        if self._spares.get(spare.kind) is spare:
            del self._spares[spare.kind]
        self._stop(spare, signal.SIGKILL)
        self._cold_until[spare.kind] = self.clock() + self.retry
        log.warning("warm spare for %s (pid %d) given up: %s; see %s. Its servers start cold for %gs",
                    spare.kind.label, spare.popen.pid, error, self.log_path(spare.kind), self.retry)

    def keep(self, kinds: Collection[SpareKind]) -> None:
        """Stop spares of kinds no longer wanted; start missing ones (unless their kind is cold)."""
        self._stopping = [s for s in self._stopping if s.popen.poll() is None]
        for kind in list(self._spares):
            if self._alive(kind) is not None and kind not in kinds:
                self._stop(self._spares.pop(kind))
        now = self.clock()
        for kind in kinds:
            if kind not in self._spares and now >= self._cold_until.get(kind, 0.0):
                self._spares[kind] = self._start(kind)

    def close(self, *, grace: float = 2.0) -> None:
        """Stop every spare and wait for them (the engine is shutting down)."""
        for spare in self._spares.values():
            self._stop(spare)
        self._spares.clear()
        for spare in self._stopping:
            try:
                spare.popen.wait(grace)
            except subprocess.TimeoutExpired:
                spare.popen.kill()
                spare.popen.wait()
        self._stopping.clear()

    def _alive(self, kind: SpareKind) -> Spare | None:
        """The spare of `kind` while it runs; one that exited is forgotten (and its kind goes cold)."""
        spare = self._spares.get(kind)
        if spare is not None and spare.popen.poll() is not None:
            del self._spares[kind]
            self._died(spare)
            return None
        return spare

    def log_path(self, kind: SpareKind) -> Path:
        return self.logs_dir / f"{kind.label}.log"

    def _start(self, kind: SpareKind) -> Spare:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path(kind).open("ab") as output:
            return Spare(kind, self.launch(kind, output), self.clock())

    def _stop(self, spare: Spare, sig: signal.Signals = signal.SIGTERM) -> None:
        close_pipes(spare.popen)
        spare.popen.send_signal(sig)
        self._stopping.append(spare)

    def _died(self, spare: Spare) -> None:
        self._cold_until[spare.kind] = self.clock() + self.retry
        close_pipes(spare.popen)
        log.warning("warm spare for %s (pid %d) exited with code %s; see %s. Its servers start cold for %gs",
                    spare.kind.label, spare.popen.pid, spare.popen.returncode, self.log_path(spare.kind), self.retry)


def close_pipes(popen: subprocess.Popen[bytes]) -> None:
    """Close the order and answer pipes of a spare or shared process (EOF makes it exit)."""
    for pipe in (popen.stdin, popen.stdout):
        if pipe is not None:
            try:
                pipe.close()
            except OSError:  # a broken pipe's buffered order cannot be flushed: it is dropped with the spare
                pass
