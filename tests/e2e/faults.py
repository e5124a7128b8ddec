"""Fault injection on a real running embedded platform: inject, diagnose, repair, and check the silence.

The platform is the one `neuroscale up` runs — reconciler, gateway and portal
started from the supervisor's own component commands, with their pid files —
but without the supervisor, so a killed component stays dead until repaired.
One iris endpoint is created and merged through the CLI. Each `Fault` injects
one failure the way it happens to users (a signal, a plain `git push`, a moved
directory, a squatter on a port...), waits until the platform has observed it,
runs `neuroscale doctor` against the home, applies the fix doctor prints (the
same command a user would run), and waits until doctor is silent again.

Shared by the test suite (`tests/e2e/test_fault_injection.py`, which asserts
the verdicts) and `bench/fault_bench.py` (which reports the timings).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neuroscale.db import connect
from neuroscale.doctor.embedded import DISK_MIN_FREE_ENV, read_embedded_snapshot
from neuroscale.doctor.model import DoctorFinding
from neuroscale.doctor.runner import Diagnosis, diagnose
from neuroscale.engine.runtime import stop_all
from neuroscale.engine.store import StatusStore
from neuroscale.home import Home
from neuroscale.services.context import PlatformContext
from neuroscale.status.exits import parse_exit
from neuroscale.status.model import EndpointStatus, Event
from neuroscale.supervisor.platform import components
from neuroscale.supervisor.settings import PlatformSettings, save_settings
from tests.conftest import wait_for

NAME = "iris"
#: The home's disk threshold while healthy: only a disk with less than this free is "nearly full".
QUIET_DISK = "1Mi"


@dataclass
class Live:
    """A running embedded platform on one home, its processes, and the CLI users would type."""

    home: Home
    settings: PlatformSettings
    model: Path
    env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    others: list[subprocess.Popen[bytes]] = field(default_factory=list)

    # --- processes --------------------------------------------------------------------------------

    def start(self, component: str) -> None:
        command = next(c for c in components(self.home, self.settings) if c.name == component)
        log = self.home.log_file(component).open("ab")
        self.procs[component] = subprocess.Popen(command.argv, stdout=log, stderr=subprocess.STDOUT,
                                                 stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self.home.pid_file(component).write_text(str(self.procs[component].pid))

    def kill(self, component: str) -> None:
        process = self.procs[component]
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def pid(self, component: str) -> int:
        return self.procs[component].pid

    def squat(self, port: int) -> subprocess.Popen[bytes]:
        """Another program holding `port` (an old port-forward, say)."""
        code = ("import socket, time\ns = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
                f"s.bind(('127.0.0.1', {port})); s.listen(); print('ready', flush=True); time.sleep(600)\n")
        squatter = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
        assert squatter.stdout is not None and squatter.stdout.readline().strip() == b"ready"
        self.others.append(squatter)
        return squatter

    # --- what users type --------------------------------------------------------------------------

    def cli(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "neuroscale", *args, "--home", str(self.home.root)],
                              capture_output=True, text=True, timeout=120, env={**os.environ, **self.env})
        assert done.returncode == 0, f"neuroscale {' '.join(args)}: {done.stdout}\n{done.stderr}"
        return done.stdout

    def propose_and_merge(self, *args: str) -> None:
        """`neuroscale endpoint …` then `neuroscale pr merge N`: the fix as a user applies it."""
        number = json.loads(self.cli("endpoint", *args, "-o", "json"))["number"]
        self.cli("pr", "merge", str(number))

    def push(self, files: dict[str, str | None], message: str) -> str:
        """Commit straight to main with plain git (clone, commit, push), bypassing pull requests and checks."""
        work = self.home.root.parent / "clone"
        if not work.exists():
            _git("clone", "--quiet", str(self.home.remote), str(work), cwd=work.parent)
        _git("pull", "--quiet", "--rebase", "origin", "main", cwd=work)
        for path, text in files.items():
            target = work / path
            if text is None:
                target.unlink()
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
        _git("add", "-A", cwd=work)
        _git("-c", "user.name=someone", "-c", "user.email=someone@example.com", "commit", "--quiet", "-m", message,
             cwd=work)
        _git("push", "--quiet", "origin", "HEAD:main", cwd=work)
        return _git("rev-parse", "HEAD", cwd=work)

    def revert_last_push(self) -> None:
        """`git revert HEAD` and push: undo the last commit on main, with plain git."""
        work = self.home.root.parent / "clone"
        _git("pull", "--quiet", "--rebase", "origin", "main", cwd=work)
        _git("-c", "user.name=someone", "-c", "user.email=someone@example.com", "revert", "--no-edit", "HEAD",
             cwd=work)
        _git("push", "--quiet", "origin", "HEAD:main", cwd=work)

    def manifest(self) -> str:
        path = f"apps/{NAME}/inference-service.yaml"
        with PlatformContext.open(self.home) as ctx:
            return ctx.repo.read_files("main", path)[path].decode()

    # --- what the platform says -------------------------------------------------------------------

    def doctor(self) -> tuple[Diagnosis, float]:
        started = time.perf_counter()
        diagnosis = diagnose(read_embedded_snapshot(self.home, environ={**os.environ, **self.env}))
        return diagnosis, time.perf_counter() - started

    def status(self) -> EndpointStatus | None:
        conn = connect(self.home.state_db)
        try:
            return StatusStore(conn).get(NAME)
        finally:
            conn.close()

    def events(self) -> list[Event]:
        conn = connect(self.home.state_db)
        try:
            return StatusStore(conn).events(limit=300)
        finally:
            conn.close()

    def server_pid(self) -> int:
        conn = connect(self.home.state_db)
        try:
            rows = [r for r in StatusStore(conn).processes() if r.endpoint == NAME]
        finally:
            conn.close()
        return max(rows, key=lambda r: r.pid).pid if len(rows) == 1 else 0

    def exits(self, cause: str) -> int:
        """How many exits with `cause` the reconciler recorded (for "since the injection")."""
        return sum(1 for e in self.events() if (record := parse_exit(e.message)) is not None and record.cause == cause)

    def exit_seen(self, pid: int, cause: str) -> bool:
        return any((record := parse_exit(e.message)) is not None and record.pid == pid and record.cause == cause
                   for e in self.events())

    def serving(self) -> EndpointStatus | None:
        status = self.status()
        return status if status is not None and status.ready and self.server_pid() else None

    def silent(self) -> Diagnosis | None:
        """The doctor's verdict once it has no finding at all (None while it still has some)."""
        diagnosis, _ = self.doctor()
        return diagnosis if not diagnosis.findings and self.serving() else None

    def stop(self) -> None:
        for process in [*self.procs.values(), *self.others]:
            if process.poll() is None:
                try:
                    os.kill(process.pid, signal.SIGCONT)
                    process.kill()
                except ProcessLookupError:
                    pass
                process.wait(timeout=30)
        stop_all(self.home, grace=2.0)


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_platform(root: Path, model: Path) -> Iterator[Live]:
    """A platform serving iris (created and merged through the CLI); every process stopped afterwards."""
    home = Home(root / "home")
    PlatformContext.open(home, create=True).close()
    settings = PlatformSettings(portal_port=_free_port(), gateway_port=_free_port())
    save_settings(home, settings)
    home.logs_dir.mkdir(parents=True, exist_ok=True)
    home.run_dir.mkdir(parents=True, exist_ok=True)
    copy = home.models_dir / "model.joblib"  # the home's models/ is always an allowed model root
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(model, copy)
    live = Live(home=home, settings=settings, model=copy, env={DISK_MIN_FREE_ENV: QUIET_DISK})
    try:
        for component in ("reconciler", "gateway", "portal"):
            live.start(component)
        live.propose_and_merge("create", "--name", NAME, "--owner", "team-ml", "--cost-center", "cc-1",
                               "--model-format", "sklearn", "--storage-uri", copy.as_uri())
        wait_for(live.silent, timeout=90, what="a healthy platform serving iris")
        yield live
    finally:
        live.stop()


@dataclass(frozen=True)
class Expected:
    """The verdict a fault must get: the rule, words of its message and of its fix, and what it explains."""

    rule: str
    message: str
    fix: str
    explains: tuple[str, ...] = ()  # rules whose findings this root cause must explain

    def found(self, diagnosis: Diagnosis) -> DoctorFinding | None:
        """The finding naming this cause, when it is the root cause (explained by nothing else)."""
        cause = next((f for f in diagnosis.findings if f.rule == self.rule and self.message in f.message
                      and self.fix in f.fix and not f.explained_by), None)
        if cause is None or any(not any(f.rule == rule and f.explained_by == cause.key for f in diagnosis.findings)
                                for rule in self.explains):
            return None
        return cause


@dataclass
class Fault:
    name: str
    inject: Callable[[Live], Any]
    #: The verdict doctor must give; None when the platform repairs the fault itself (doctor stays silent).
    expected: Expected | None
    repair: Callable[[Live, Any, DoctorFinding], None]
    #: After injecting: what shows the platform has observed the fault (doctor runs from then on).
    observed: Callable[[Live, Any], bool] = lambda live, state: True


@dataclass
class Row:
    """One line of the matrix."""

    fault: str
    named: bool
    cause: str
    fix: str
    detect_s: float  # from the platform observing the fault to doctor naming it
    doctor_s: float  # one doctor run
    repaired_s: float  # from applying the fix to doctor being silent
    silent: bool

    def line(self) -> str:
        return (f"| {self.fault} | {'yes' if self.named else 'NO'} | {self.cause} | {self.fix} | "
                f"{self.detect_s:.2f} | {self.doctor_s:.2f} | {self.repaired_s:.1f} | {'yes' if self.silent else 'NO'} |")


HEADER = ("| fault | named | doctor's cause | doctor's fix (applied) | named after (s) | doctor run (s) | "
          "silent after fix (s) | silent |\n| --- | --- | --- | --- | --- | --- | --- | --- |")


def run_fault(live: Live, fault: Fault, *, observe_timeout: float = 90.0, repair_timeout: float = 120.0) -> Row:
    state = fault.inject(live)
    wait_for(lambda: fault.observed(live, state), timeout=observe_timeout, what=f"{fault.name} to be observed")
    seen = time.monotonic()
    if fault.expected is None:  # the platform repairs it: the right verdict is silence
        diagnosis, doctor_s = live.doctor()
        healed = not diagnosis.findings
        return Row(fault.name, healed, "repaired by the platform itself" if healed else _summary(diagnosis),
                   "(none needed)", time.monotonic() - seen, doctor_s, 0.0, healed)
    found: DoctorFinding | None = None
    doctor_s = 0.0
    while found is None and time.monotonic() - seen < observe_timeout:
        diagnosis, doctor_s = live.doctor()
        found = fault.expected.found(diagnosis)
    detect_s = time.monotonic() - seen
    if found is None:
        return Row(fault.name, False, _summary(diagnosis), "", detect_s, doctor_s, 0.0, False)
    fault.repair(live, state, found)
    fixed = time.monotonic()
    try:
        wait_for(live.silent, timeout=repair_timeout, what=f"silence after repairing {fault.name}", step=0.2)
        silent = True
    except AssertionError:
        silent = False
    return Row(fault.name, True, found.root_cause[:70], found.fix.splitlines()[0][:70], detect_s, doctor_s,
               time.monotonic() - fixed, silent)


def _summary(diagnosis: Diagnosis) -> str:
    return "; ".join(f"{f.rule}: {f.message}" for f in diagnosis.findings)[:200] or "no finding"
