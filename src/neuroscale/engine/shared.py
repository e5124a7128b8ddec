"""Shared runtime processes: many models of one kind served by one process (`neuroscale.serving.shared`).

A dedicated server forked from a warm spare still costs ~26 MiB of its own; a model in a shared process
costs its model and one small app. With `EngineSettings.shared_runtime` on, `LocalRuntime.start` sends
a shareable revision (`shareable`) to a shared process of its kind with room (`capacity` models each),
which binds the revision's port at once and serves it once loaded, so a model is still a (pid, port)
to every probe, route and balancer. A shared process is launched like a spare (own session, the
minimal environment of its storage scheme) and announces its imports the same way; a start of a
shareable kind waits while it imports (`importing`), as for a spare.

The pipe: orders and their answers in turn, plus `gone` notices the process writes unprompted when a
model ends (unloaded, or its load failed). A process that does not answer an order in time is hung and
is killed: one bounded wait, then every model in it reads as exited. Notices are read without blocking whenever the engine asks
about a model (`exit_code`), from the raw pipe: a buffered reader could hold a notice where `select`
no longer sees it. A process that dies takes its models: each reads as exited with the process's code.
Processes end with the engine: their stdin is the engine's pipe, so at EOF they unload and exit.
"""

from __future__ import annotations

import json
import logging
import os
import select
import subprocess
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neuroscale.engine.spares import Launch, SpareKind, close_pipes

log = logging.getLogger("neuroscale.engine")

#: What may share a process: the command line is the engine's contract with the server, so this repeats
#: `neuroscale.serving.shared.SHAREABLE_FORMATS` (a test holds them equal) instead of importing the server.
SHAREABLE_FORMATS = ("sklearn", "xgboost", "lightgbm", "onnx")
#: How long an order waits for its answer: the process answers before loading, so this only bounds a hang.
ORDER_TIMEOUT = 5.0
#: How long a kind whose shared process died (or hung) sends its revisions to dedicated servers instead.
RETRY = 30.0


@dataclass
class SharedProcess:
    """The engine's side of one shared process: its pipe, and which of its ports still hold a model."""

    kind: SpareKind
    popen: subprocess.Popen[bytes]
    started: float
    label: str
    ready: bool = False
    ports: set[int] = field(default_factory=set)
    gone: dict[int, int] = field(default_factory=dict)
    _buffer: bytes = b""
    _answers: list[dict[str, Any]] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def poll_ready(self) -> bool:
        """Has it said its imports are done? Never blocks."""
        if not self.ready and self.running():
            self._pump(0.0)
        return self.ready

    def load(self, flags: Sequence[str], *, log_path: Path) -> int:
        """Ask it to serve a model with these server flags; the port, or OSError when it cannot answer.

        A refused load (a busy port, bad flags) still answers its port: the model reads as gone with the
        exit code a dedicated server would have had, and the revision's log says why."""
        port = int(flags[list(flags).index("--port") + 1])
        answer = self._order({"load": {"argv": list(flags), "log": str(log_path)}})
        if "port" in answer:  # a notice for this port read before the answer was about an earlier model
            self.gone.pop(port, None)
        else:
            self.gone[port] = int(answer.get("code", 1))
        self.ports.add(port)
        return port

    def unload(self, port: int, *, drain: bool) -> None:
        """Stop serving `port` (drained unless `drain` is False); a dead process has nothing to unload."""
        if port in self.ports and port not in self.gone and self.running():
            try:
                self._order({"unload": port, "drain": drain})
            except OSError as exc:
                log.warning("shared process %s (pid %d) did not answer an unload: %s", self.label, self.pid, exc)

    def exit_code(self, port: int) -> int | None:
        """None while `port` serves (or loads); else how its model ended, as a dedicated server's exit code."""
        if self.running():
            self._pump(0.0)
        code = self.gone.get(port)
        if code is None and not self.running():
            code = self.popen.returncode
        if code is not None:
            self.ports.discard(port)
        return code

    def _order(self, order: dict[str, Any]) -> dict[str, Any]:
        if self.popen.stdin is None or not self.running():
            raise OSError(f"the shared process {self.label} has exited")
        self.popen.stdin.write(json.dumps(order).encode() + b"\n")
        self.popen.stdin.flush()
        deadline = time.monotonic() + ORDER_TIMEOUT
        while not self._answers:
            left = deadline - time.monotonic()
            if left <= 0 or not self._pump(left):
                # Hung (or gone): killed, so its models read as exited at once instead of each order waiting.
                self.popen.kill()
                raise OSError(f"no answer from the shared process {self.label} within {ORDER_TIMEOUT:g}s")
        return self._answers.pop(0)

    def _pump(self, timeout: float) -> bool:
        """Read what the pipe holds (waiting up to `timeout` for something); False at EOF or nothing."""
        out = self.popen.stdout
        if out is None or not select.select([out], [], [], timeout)[0]:
            return False
        chunk = os.read(out.fileno(), 65536)
        if not chunk:
            return False
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            self._note(line)
        return True

    def _note(self, line: bytes) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        if "gone" in message:
            self.gone[int(message["gone"])] = int(message.get("code", 0))
        elif message.get("ready") is True:
            self.ready = True
        else:
            self._answers.append(message)


class SharedProcesses:
    """The shared processes of each kind in play; every call is non-blocking except a load or unload order."""

    def __init__(self, logs_dir: Path, launch: Launch, *, capacity: int, import_timeout: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logs_dir = logs_dir
        self.launch = launch
        self.capacity = capacity
        self.import_timeout = import_timeout
        self.clock = clock
        self._processes: dict[SpareKind, list[SharedProcess]] = {}
        self._dedicated_until: dict[SpareKind, float] = {}
        self._stopping: list[SharedProcess] = []
        self._launched = 0

    def importing(self, kind: SpareKind) -> bool:
        """Should a start of `kind` wait? Yes while the process it will load into imports (launched now if
        every process of the kind is full). No once one is ready, or while the kind goes to dedicated servers."""
        process = self._with_room(kind)
        if process is None or process.poll_ready():
            return False
        if self.clock() - process.started > self.import_timeout:
            self._give_up(process, f"its imports took more than {self.import_timeout:g}s")
            return False
        return True

    def ready(self, kind: SpareKind) -> SharedProcess | None:
        """A ready process of `kind` with room, or None (start a dedicated server)."""
        process = self._with_room(kind)
        return process if process is not None and process.poll_ready() else None

    def failed(self, process: SharedProcess, error: OSError) -> None:
        """A process that did not answer an order is killed (its models with it, as a crash would)."""
        self._give_up(process, str(error))

    def keep(self, kinds: Collection[SpareKind]) -> None:
        """Stop the empty processes of kinds no longer in play; the others keep their models."""
        self._stopping = [p for p in self._stopping if p.running()]
        for kind, processes in self._processes.items():
            if kind not in kinds:
                for process in [p for p in processes if not p.ports]:
                    self._stop(process)

    def close(self, *, grace: float = 10.0) -> None:
        """Stop every shared process: EOF makes it unload its models (drained) and exit."""
        stopping = [*self._stopping, *(p for processes in self._processes.values() for p in processes)]
        for process in stopping:
            close_pipes(process.popen)
        deadline = time.monotonic() + grace
        for process in stopping:
            try:
                process.popen.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.popen.kill()
                process.popen.wait()
        self._processes.clear()

    def _with_room(self, kind: SpareKind) -> SharedProcess | None:
        if self.clock() < self._dedicated_until.get(kind, 0.0):
            return None
        processes = self._processes.setdefault(kind, [])
        for process in list(processes):
            if not process.running():
                processes.remove(process)
                close_pipes(process.popen)
                if not process.ready:  # one that served had models: their handles report its exit, they restart
                    self._hold(kind, f"exited with code {process.popen.returncode} before its imports were done",
                               process)
                    return None
        for process in processes:
            if len(process.ports) < self.capacity:
                return process
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self._launched += 1
        label = f"{kind.label}-{self._launched}"
        with (self.logs_dir / f"{label}.log").open("ab") as output:
            process = SharedProcess(kind, self.launch(kind, output), self.clock(), label)
        processes.append(process)
        return process

    def _give_up(self, process: SharedProcess, why: str) -> None:
        self._processes.get(process.kind, []).remove(process)
        process.popen.kill()
        close_pipes(process.popen)
        self._hold(process.kind, why, process)

    def _hold(self, kind: SpareKind, why: str, process: SharedProcess) -> None:
        self._dedicated_until[kind] = self.clock() + RETRY
        log.warning("shared process %s (pid %d) given up: %s; see %s. Its kind starts dedicated servers for %gs",
                    process.label, process.pid, why, self.logs_dir / f"{process.label}.log", RETRY)

    def _stop(self, process: SharedProcess) -> None:
        self._processes[process.kind].remove(process)
        close_pipes(process.popen)  # EOF: it exits (reaped by `keep` or `close`)
        self._stopping.append(process)
