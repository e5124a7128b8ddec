"""Local runtime: one `python -m neuroscale.serving` process per endpoint revision.

Processes run in their own session so they outlive the reconciler (a restart
adopts them) and a Ctrl-C on its terminal. Their output goes to
`logs/servers/<revision>.log`; when one exits, the cause is classified from
what was observed, never guessed: the server's own load record in the tail of
its run (`ModelLoaded:` / `ModelLoadFailed:` exit 3 / `PortUnavailable:` exit 4),
the signal that ended it, the kernel's OOM count of its cgroup, or its exit
code, and whether it had loaded its model by then. Kills the platform itself
makes (liveness, memory limit) are attributed by the steps that make them.
Every call here is non-blocking except `stop_all`, which the supervisor uses
for a full shutdown.

A model server unpickles user-supplied files, so it gets only what it needs:
the allowed model roots (`--model-root`, from `Home.model_roots()`) and a
minimal environment — what Python needs to run, plus the AWS_* variables for
an s3:// model and nothing else (never `NEUROSCALE_GITHUB_TOKEN`).

A server is forked by the warm spare of its kind when one is ready (`engine.spares`),
with the same command-line flags, environment, session, log and limits as a
cold start — except where a delegated cgroup enforces a memory limit: a spare's
imports were charged to the spare's cgroup, which `memory.max` would not see,
so such a server always starts cold. A forked server is our child only while
this process is a child subreaper (`engine.subreaper`, the engine's process);
elsewhere it is watched through /proc like an adopted one.

With `shared_capacity` set (`neuroscale up --shared-runtime`), a revision of a shareable kind (a
format in `serving.shared.SHAREABLE_FORMATS`, HTTP only, no custom classes, no cgroup memory limit)
is loaded into a shared process of its kind instead (`engine.shared`): its handle is the shared
process's pid and the model's own port, SIGTERM unloads it (drained), SIGKILL unloads it at once,
and it exits when it is unloaded, its load fails or the process dies. Its `memory` is the process's
resident memory divided among its models (a shared process is not forked, so that is close to its
PSS), which is what the memory watchdog compares with the revision's limit. Shared models are not
adopted after an engine restart: their process unloads them when the engine's pipe closes.
"""

from __future__ import annotations

import functools
import http.client
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol
from urllib.parse import urlparse

from neuroscale.engine import limits, procfs, subreaper
from neuroscale.engine.shared import SHAREABLE_FORMATS, SharedProcess, SharedProcesses
from neuroscale.engine.spares import SpareKind, Spares
from neuroscale.engine.subreaper import ForkedChild
from neuroscale.home import DEFAULT_HOST, Home
from neuroscale.ports import free_port, free_port_pair, grpc_port_of
from neuroscale.redact import redact_text
from neuroscale.spec.serving import ServingSpec
from neuroscale.status.reasons import Reason

log = logging.getLogger("neuroscale.engine")

LOAD_FAILED_PREFIX = "ModelLoadFailed:"
LOADED_PREFIX = "ModelLoaded:"
PORT_UNAVAILABLE_PREFIX = "PortUnavailable:"
READY_PATH = "/v2/health/ready"
LIVE_PATH = "/v2/health/live"
_TAIL_BYTES = 8192
#: What any model server may inherit: enough to run Python and find its packages, nothing else.
_RUN_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ")
_PYTHON_ENV_PREFIX = "PYTHON"
#: What an s3:// model server may inherit besides: boto3's settings and credentials.
_STORAGE_ENV_PREFIXES = {"s3": ("AWS_",)}


class Child(Protocol):
    """A server process we can wait for: a `subprocess.Popen`, or a `ForkedChild` reparented to us."""

    pid: int

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...


@dataclass
class ServerHandle:
    """One model-server process (a replica of a revision), started by us (`popen`) or adopted after a restart."""

    endpoint: str
    revision: str
    pid: int
    port: int
    start_time: int
    log_path: Path
    log_offset: int = 0
    popen: Child | None = None  # our child: started by us, or forked by a spare while we are the subreaper
    replica: int = 0
    warm: bool = False  # forked by a warm spare
    host: SharedProcess | None = None  # the shared process serving it (`engine.shared`), None when dedicated

    @property
    def upstream(self) -> str:
        return f"{DEFAULT_HOST}:{self.port}"


@dataclass(frozen=True)
class ExitInfo:
    reason: Reason
    message: str


def server_flags(home: Home, *, spec: ServingSpec, revision: str, port: int,
                 model_roots: Sequence[Path] = ()) -> list[str]:
    """What the spec asks of the model server, as `neuroscale.serving` flags (a warm spare forks its server with them)."""
    flags = [
        "--model-name", spec.name,
        "--model-format", spec.model_format,
        "--storage-uri", spec.storage_uri,
        "--port", str(port),
        "--host", DEFAULT_HOST,
        "--cache-dir", str(home.model_cache),
        "--revision", revision,
        "--home", str(home.root),
        *(arg for root in model_roots for arg in ("--model-root", str(root))),
    ]
    if spec.batcher is not None:
        flags += ["--max-batch-size", str(spec.batcher.max_batch_size),
                  "--max-latency-ms", str(spec.batcher.max_latency_ms)]
    if spec.protocol_version == "grpc-v2":
        flags += ["--grpc-port", str(grpc_port_of(port))]
    if spec.model_class:
        flags += ["--model-class", spec.model_class]
    if spec.transformer_class:
        flags += ["--transformer-class", spec.transformer_class]
    return flags


def spare_command(home: Home, model_format: str) -> list[str]:
    """A warm spare's command line: its format and the home marker."""
    return _serving([procfs.SPARE_FLAG, model_format, "--home", str(home.root)])


def _serving(flags: list[str]) -> list[str]:
    return [sys.executable, "-m", procfs.SERVING_MODULE, *flags]


@functools.lru_cache(maxsize=4096)  # asked per revision per tick (`keep_warm`): urlparse is the cost
def storage_scheme(storage_uri: str) -> str:
    """The scheme of `storage_uri` when it changes a server's environment (s3), else ""."""
    scheme = urlparse(storage_uri).scheme.lower()
    return scheme if scheme in _STORAGE_ENV_PREFIXES else ""


def server_environment(scheme: str, *, parent: Mapping[str, str]) -> dict[str, str]:
    """The minimal environment of a model server for a `storage_scheme` (see the module docstring)."""
    prefixes = (_PYTHON_ENV_PREFIX, *_STORAGE_ENV_PREFIXES.get(scheme, ()))
    kept = {k: v for k, v in parent.items() if k in _RUN_ENV or k.startswith(prefixes)}
    return {**kept, "PYTHONUNBUFFERED": "1"}


class LocalRuntime:
    """Starts, probes, and stops model-server processes of one platform home."""

    def __init__(self, home: Home, *, model_roots: Sequence[Path] = (), probe_timeout: float = 0.5,
                 enforcement: limits.Enforcement | None = None, warm_spares: bool = True,
                 shared_capacity: int = 0) -> None:
        self.home = home
        self.model_roots = tuple(model_roots)
        self.probe_timeout = probe_timeout
        self.enforcement = enforcement or limits.detect()
        self.warm_spares = warm_spares
        self.spares = Spares(home.server_logs_dir / "spares", self._launch_spare)
        self.shared = SharedProcesses(home.server_logs_dir / "shared", self._launch_shared, capacity=shared_capacity)

    def close(self) -> None:
        self.spares.close()
        self.shared.close()

    def keep_warm(self, specs: Sequence[ServingSpec]) -> None:
        """Keep one warm spare per dedicated kind of `specs` and shared processes of their shared kinds only."""
        shared: set[SpareKind] = set()
        dedicated: set[SpareKind] = set()
        for spec in specs:  # every revision in play, every tick: each spec's kind is worked out once
            if (kind := self._shared_kind(spec)) is not None:
                shared.add(kind)
            elif self.warm_spares and (kind := self._spare_kind(spec)) is not None:
                dedicated.add(kind)
        self.shared.keep(shared)
        self.spares.keep(dedicated)

    def warming(self, spec: ServingSpec) -> bool:
        """Should a start of `spec` wait for the process it will come from, which is importing (a shared
        process of its kind, else its kind's spare: `Spares.importing`)?"""
        shared = self._shared_kind(spec)
        if shared is not None:
            if self.shared.importing(shared):
                return True
            if self.shared.ready(shared) is not None:
                return False
        kind = self._spare_kind(spec) if self.warm_spares else None
        return kind is not None and self.spares.importing(kind)

    def _shared_kind(self, spec: ServingSpec) -> SpareKind | None:
        """The shared processes `spec` may load into, or None (a dedicated server; see the module docstring)."""
        if (not self.shared.capacity or spec.model_format not in SHAREABLE_FORMATS
                or spec.protocol_version == "grpc-v2" or spec.model_class or spec.transformer_class):
            return None
        return self._spare_kind(spec)

    def _launch_shared(self, kind: SpareKind, output: IO[bytes]) -> subprocess.Popen[bytes]:
        return _spawn(_serving([procfs.SHARED_FLAG, kind.model_format, "--home", str(self.home.root)]),
                      scheme=kind.storage_scheme, output=output, stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def _spare_kind(self, spec: ServingSpec) -> SpareKind | None:
        """The spare `spec`'s server may fork from (also the shared process it may load into), or None (cold)."""
        if self.enforcement.cgroup is not None and spec.resources.memory_limit_bytes is not None:
            return None  # see the module docstring: the cgroup must see all of the server's memory
        return SpareKind(spec.model_format, storage_scheme(spec.storage_uri))

    def _launch_spare(self, kind: SpareKind, output: IO[bytes]) -> subprocess.Popen[bytes]:
        return _spawn(spare_command(self.home, kind.model_format), scheme=kind.storage_scheme, output=output,
                      stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def start(self, spec: ServingSpec, *, revision: str, replica: int = 0) -> ServerHandle:
        """Start a server of `revision`: forked by the warm spare of its kind if one is ready, else cold."""
        port = free_port_pair() if spec.protocol_version == "grpc-v2" else free_port()
        self.home.server_logs_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.home.server_logs_dir / procfs.log_name(revision, replica)
        memory = spec.resources.memory_limit_bytes
        flags = server_flags(self.home, spec=spec, revision=revision, port=port, model_roots=self.model_roots)
        offset = log_path.stat().st_size if log_path.exists() else 0
        shared = self._load(spec, flags, log_path=log_path)
        if shared is not None:
            return ServerHandle(endpoint=spec.name, revision=revision, pid=shared.pid, port=port,
                                start_time=procfs.start_time(shared.pid) or 0, log_path=log_path, log_offset=offset,
                                replica=replica, warm=True, host=shared)
        forked = self._fork(spec, flags, log_path=log_path)
        popen: Child | None
        if forked is not None:
            pid, popen = forked, ForkedChild(forked) if subreaper.active() else None
        else:
            with log_path.open("ab") as output:
                popen = _spawn(_serving(flags), scheme=storage_scheme(spec.storage_uri), output=output,
                               memory=memory)
            pid = popen.pid
        if self.enforcement.cgroup is not None:
            try:
                limits.join_cgroup(self.enforcement.cgroup, f"{revision}.r{replica}", pid=pid,
                                   memory_limit=memory, cpu_limit=spec.resources.cpu_limit_cores)
            except OSError as exc:  # the watchdog still enforces memory
                log.warning("%s replica %d: cgroup limits not applied: %s", revision, replica, exc)
        started = procfs.start_time(pid) or 0
        return ServerHandle(endpoint=spec.name, revision=revision, pid=pid, port=port,
                            start_time=started, log_path=log_path, log_offset=offset, popen=popen, replica=replica,
                            warm=forked is not None)

    def _load(self, spec: ServingSpec, flags: list[str], *, log_path: Path) -> SharedProcess | None:
        """The shared process that took `spec`'s model, or None (a dedicated server)."""
        kind = self._shared_kind(spec)
        process = self.shared.ready(kind) if kind is not None else None
        if process is None:
            return None
        try:
            process.load(flags, log_path=log_path)
        except OSError as exc:
            self.shared.failed(process, exc)
            return None
        return process

    def _fork(self, spec: ServingSpec, flags: list[str], *, log_path: Path) -> int | None:
        """The pid of a server the ready spare of `spec`'s kind forked, or None (start cold)."""
        kind = self._spare_kind(spec)
        spare = self.spares.ready(kind) if kind is not None else None
        if spare is None:
            return None
        try:
            return spare.fork(flags, log_path=log_path, data_limit=limits.data_backstop(spec.resources.memory_limit_bytes))
        except OSError as exc:
            self.spares.failed(spare, exc)
            return None

    def adopt(self, *, endpoint: str, revision: str, replica: int = 0, pid: int, port: int,
              start_time: int) -> ServerHandle:
        log_path = self.home.server_logs_dir / procfs.log_name(revision, replica)
        offset = log_path.stat().st_size if log_path.exists() else 0
        return ServerHandle(endpoint=endpoint, revision=revision, pid=pid, port=port,
                            start_time=start_time, log_path=log_path, log_offset=offset, replica=replica)

    def memory(self, handle: ServerHandle) -> int | None:
        """Resident memory of the server (what the watchdog compares with its limit); a shared model's share."""
        used = limits.rss_bytes(handle.pid)
        if used is None or handle.host is None:
            return used
        return used // max(1, len(handle.host.ports))

    def ready(self, handle: ServerHandle) -> bool:
        """One readiness probe: `GET /v2/health/ready` answers 200."""
        return self._probe(handle, READY_PATH)

    def live(self, handle: ServerHandle) -> bool:
        """One liveness probe: `GET /v2/health/live` answers 200 within the probe timeout."""
        return self._probe(handle, LIVE_PATH)

    def _probe(self, handle: ServerHandle, path: str) -> bool:
        return probe(handle.upstream, path, timeout=self.probe_timeout)

    def exited(self, handle: ServerHandle) -> ExitInfo | None:
        """Why the process ended, or None while it runs (waitpid WNOHANG for children, /proc otherwise)."""
        if handle.host is not None:
            code = handle.host.exit_code(handle.port)
            return None if code is None else exit_info(code, log_tail(handle.log_path, handle.log_offset))
        running, code = _state(handle)
        if running:
            return None
        info = exit_info(code, log_tail(handle.log_path, handle.log_offset))
        if code == -signal.SIGKILL and self._cgroup_oom_killed(handle):
            return ExitInfo(Reason.OOMKilled, "the kernel killed it at its cgroup memory.max (the memory limit); "
                            "raise resources.limits.memory or make the model smaller")
        return info

    def _cgroup_oom_killed(self, handle: ServerHandle) -> bool:
        """Did the kernel's OOM killer end this replica inside its own cgroup (memory.events `oom_kill`)?"""
        if self.enforcement.cgroup is None:
            return False
        events = self.enforcement.cgroup / f"{handle.revision}.r{handle.replica}" / "memory.events"
        try:
            counts = dict(line.split() for line in events.read_text().splitlines() if line.count(" ") == 1)
        except (OSError, ValueError):
            return False
        return counts.get("oom_kill", "0") not in ("", "0")

    def signal(self, handle: ServerHandle, sig: signal.Signals) -> None:
        """Signal the server's process group, only if it is still the process we started; a shared model is
        unloaded instead (drained unless the signal is SIGKILL)."""
        if handle.host is not None:
            handle.host.unload(handle.port, drain=sig != signal.SIGKILL)
        elif _state(handle)[0]:
            _signal_group(handle.pid, sig)


def _state(handle: ServerHandle) -> tuple[bool, int | None]:
    """(running, exit code): from waitpid for our children, from /proc (code unknown) for the others."""
    if handle.popen is not None:
        try:
            code = handle.popen.poll()
        except ChildProcessError:  # reaped by someone else: only /proc can tell
            handle.popen = None
        else:
            return code is None, code
    return procfs.is_alive(handle.pid, handle.start_time), None


def probe(upstream: str, path: str, *, timeout: float) -> bool:
    """`GET path` answers 200 within `timeout`. The engine probes every ready server every liveness period, so
    this is its hottest call with many endpoints: stdlib `http.client` costs under a third of httpx's CPU per
    probe (measured round-robin over 50 servers: 0.46 vs 1.5-1.8 ms), which is why it is not httpx here."""
    host, _, port = upstream.rpartition(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        connection.request("GET", path)
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def _spawn(command: list[str], *, scheme: str, output: IO[bytes], stdin: int = subprocess.DEVNULL,
           stdout: int | None = None, memory: int | None = None) -> subprocess.Popen[bytes]:
    """Start a model server (or a spare, which answers on a pipe): own session, no inherited fds, the
    minimal environment; diagnostics go to `output`."""
    return subprocess.Popen(command, stdin=stdin, stdout=output if stdout is None else stdout,
                            stderr=output if stdout is not None else subprocess.STDOUT, start_new_session=True,
                            close_fds=True, env=server_environment(scheme, parent=os.environ),
                            preexec_fn=limits.preexec(memory))


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def log_tail(path: Path, offset: int) -> list[str]:
    """Non-empty lines the current run wrote (at most the last 8 KiB)."""
    try:
        with path.open("rb") as log:
            size = log.seek(0, os.SEEK_END)
            log.seek(max(offset, size - _TAIL_BYTES))
            text = log.read().decode("utf-8", "replace")
    except OSError:
        return []
    return [line.strip() for line in text.splitlines() if line.strip()]


def last_output(tail: Sequence[str], *, lines: int = 3) -> str:
    """The last `lines` lines a run wrote, each cut to 300 characters and redacted, on one line ("" when none):
    what a failure message quotes of the server's log (the model's own libraries may print a credential)."""
    return " | ".join(redact_text(line[:300]) for line in tail[-lines:])


def exit_info(code: int | None, tail: list[str]) -> ExitInfo:
    """Why a server ended, from its exit code and its own run's output (the load record wins).

    `code` is the `Popen` return code (negative: the signal that ended it), None when the process
    was not our child (adopted after a restart), so only its output can tell.
    """
    for index in range(len(tail) - 1, -1, -1):
        line = tail[index]
        if line.startswith(LOAD_FAILED_PREFIX):
            before = last_output(tail[:index])
            return ExitInfo(Reason.ModelLoadFailed, redact_text(line[len(LOAD_FAILED_PREFIX):].strip()) + (
                f"; its output before: {before}" if before else ""))
        if line.startswith(PORT_UNAVAILABLE_PREFIX):
            return ExitInfo(Reason.PortUnavailable, line[len(PORT_UNAVAILABLE_PREFIX):].strip())
    loaded = next((line for line in tail if line.startswith(LOADED_PREFIX)), "")
    stage = "after loading its model" if loaded else "while loading its model"
    last = f"; last output: {last_output(tail, lines=1)}" if tail else ""
    if code is not None and code < 0:
        return ExitInfo(Reason.KilledBySignal, f"model server was killed by {_signal_name(-code)} {stage}, "
                        f"a signal the platform did not send{last}")
    if any("MemoryError" in line for line in tail):
        return ExitInfo(Reason.OOMKilled, f"model server ran out of memory {stage} (an allocation failed at the "
                        f"RLIMIT_DATA backstop of its memory limit){last}")
    how = "exited (not started by this reconciler run: no exit status)" if code is None else f"exited with code {code}"
    return ExitInfo(Reason.ProcessExited, f"model server {how} {stage}{last}")


def not_ready_info(handle: ServerHandle, *, timeout: float) -> str:
    """Why a server that never answered ready is stopped: where it stood by its own log, and that log's last
    lines (a hang inside the model's load writes no record of its own)."""
    tail = log_tail(handle.log_path, handle.log_offset)
    stage = ("its model loaded but it never answered ready" if any(line.startswith(LOADED_PREFIX) for line in tail)
             else "the model never finished loading")
    said = f"last output: {last_output(tail)}" if tail else "it wrote nothing since it started"
    return f"not ready {timeout:g}s after start: {stage}; {said}; log {handle.log_path}"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def stop_all(home: Home, *, grace: float = 5.0) -> int:
    """Stop every model-server process of `home` (recorded or orphaned); returns how many.

    SIGTERM first, SIGKILL after `grace` seconds. Stop the reconciler before
    calling this, or it will restart what it sees die.
    """
    found = list(procfs.serving_processes(home.root))
    stop_processes([(proc.pid, proc.start_time) for proc in found], grace=grace)
    return len(found)


def stop_processes(found: Sequence[tuple[int, int]], *, grace: float) -> None:
    """SIGTERM to each (pid, start time) (its group when it leads one), SIGKILL to what is still that process
    after `grace`."""
    for pid, _ in found:
        _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    pending = list(found)
    while pending and time.monotonic() < deadline:
        pending = [(pid, started) for pid, started in pending if procfs.is_alive(pid, started)]
        if pending:
            time.sleep(0.05)
    for pid, _ in pending:
        _signal_group(pid, signal.SIGKILL)
    for pid, _ in found:
        _reap(pid)


def _reap(pid: int) -> None:
    """Collect `pid` if it is the caller's child, so it does not linger as a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
