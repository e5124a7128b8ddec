"""Start, watch and stop the embedded platform's three long-running processes.

One `Platform` per home, guarded by an exclusive lock so a second `up` on the
same home fails loudly instead of fighting over ports and state. Components
run in their own sessions: Ctrl-C reaches only the supervisor, which then
stops them in order and, last, every model server the reconciler started.
A supervisor that was killed (SIGKILL, OOM) cannot stop them: the next `up`
or `down` on the home finds them by their pid files, checks that each is
still that component of this home, and stops it, saying so.
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

from neuroscale import pidlock
from neuroscale.errors import InvalidInput, NotFound, ToolError
from neuroscale.home import Home
from neuroscale.ports import port_is_free
from neuroscale.supervisor.settings import PlatformSettings, save_settings

STOP_GRACE_S = 5.0
START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Component:
    name: str
    argv: tuple[str, ...]
    health_url: str | None  # None: alive is healthy (the reconciler has no HTTP port)


@dataclass
class Running:
    component: Component
    process: subprocess.Popen[bytes]
    log: IO[bytes]
    restarts: int = 0


def components(home: Home, settings: PlatformSettings) -> list[Component]:
    python = sys.executable
    root = str(home.root)
    return [
        Component("reconciler", (python, "-m", "neuroscale.engine", "--home", root, "--domain", settings.domain,
                                 "--gateway-port", str(settings.gateway_port),
                                 "--max-previews", str(settings.max_previews),
                                 *(() if settings.warm_spares else ("--no-warm-spares",)),
                                 *(("--shared-runtime", "--models-per-process", str(settings.models_per_process))
                                   if settings.shared_runtime else ())), None),
        Component("gateway", (python, "-m", "neuroscale.gateway", "--home", root, "--host", settings.host,
                              "--port", str(settings.gateway_port), "--domain", settings.domain,
                              *(flag for name in settings.allowed_hosts for flag in ("--allowed-host", name))),
                  f"{settings.gateway_url}/healthz"),
        Component("portal", (python, "-m", "neuroscale.portal", "--home", root, "--host", settings.host,
                             "--port", str(settings.portal_port), *settings.portal_args()),
                  f"{settings.portal_url}/healthz"),
    ]


def _healthy(url: str) -> bool:
    # Our own child on this machine: over TLS its certificate may name the public host, not the loopback
    # address probed here, and the answer is only "ok"; so the probe does not verify it.
    context = ssl._create_unverified_context() if url.startswith("https:") else None  # noqa: S323
    try:
        with urllib.request.urlopen(url, timeout=1.0, context=context) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class Platform:
    """The supervisor: owns the home lock and the component processes."""

    home: Home
    settings: PlatformSettings
    log: Callable[[str], None] = print
    running: dict[str, Running] = field(default_factory=dict)
    _lock: IO[str] | None = None
    _scraping: tuple[threading.Thread, threading.Event] | None = None

    def acquire_lock(self) -> None:
        self._lock = pidlock.acquire(
            self.home.platform_lock, what=f"a platform on home {self.home.root}",
            fix=f"use that one, or stop it with `neuroscale down --home {self.home.root}`")

    def start(self) -> None:
        """Start every component and wait until each is healthy; on failure stop what started."""
        self.settings = self.settings.validate().resolved()
        self.acquire_lock()
        try:
            for line in stop_leftovers(self.home):
                self.log(line)
            for port in (self.settings.portal_port, self.settings.gateway_port):
                if not port_is_free(self.settings.host, port):
                    raise InvalidInput(
                        f"port {self.settings.host}:{port} is already in use by another process",
                        fix="stop that process (`ss -ltnp 'sport = :%d'` shows it) or pass "
                        "--portal-port/--gateway-port" % port,
                    )
            save_settings(self.home, self.settings)
            self.home.logs_dir.mkdir(parents=True, exist_ok=True)
            for component in components(self.home, self.settings):
                self._spawn(component)
            deadline = time.monotonic() + START_TIMEOUT_S
            for run in self.running.values():
                self._wait_healthy(run, deadline)
            self._start_scraping()
        except BaseException:
            self.stop(stop_endpoints=False)
            raise

    def _spawn(self, component: Component, restarts: int = 0) -> None:
        log = open(self.home.log_file(component.name), "ab")  # noqa: SIM115 - closed in stop()
        process = subprocess.Popen(
            component.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.home.pid_file(component.name).write_text(str(process.pid))
        self.running[component.name] = Running(component, process, log, restarts)

    def _wait_healthy(self, run: Running, deadline: float) -> None:
        while time.monotonic() < deadline:
            code = run.process.poll()
            if code is not None:
                raise ToolError(
                    f"{run.component.name} exited with code {code} while starting: {self._log_tail(run)}",
                    fix=f"see {self.home.log_file(run.component.name)}",
                )
            if run.component.health_url is None or _healthy(run.component.health_url):
                return
            time.sleep(0.05)
        raise ToolError(f"{run.component.name} did not become healthy within {START_TIMEOUT_S:.0f} s",
                        fix=f"see {self.home.log_file(run.component.name)}")

    def _log_tail(self, run: Running, lines: int = 3) -> str:
        try:
            text = self.home.log_file(run.component.name).read_text(errors="replace")
        except OSError:
            return "(no log)"
        return " | ".join(text.strip().splitlines()[-lines:]) or "(empty log)"

    def watch_once(self) -> None:
        """Restart any component that died; the platform heals its own control plane too."""
        for name, run in list(self.running.items()):
            code = run.process.poll()
            if code is None:
                continue
            run.log.close()
            self.log(f"{name} exited with code {code}; restarting ({self._log_tail(run, 1)})")
            self._spawn(run.component, run.restarts + 1)

    def _start_scraping(self) -> None:
        """Metrics and cost accounting: a thread here, off every request path (see `metrics.scrape`)."""
        from neuroscale.db import connect
        from neuroscale.metrics.scrape import Scraper, scrape_until

        scraper = Scraper(connect(self.home.state_db), f"{self.settings.gateway_url}/metrics")
        stop = threading.Event()
        thread = threading.Thread(target=scrape_until, args=(stop, scraper),
                                  kwargs={"interval": self.settings.metrics_interval_s}, name="metrics", daemon=True)
        thread.start()
        self._scraping = (thread, stop)

    def stop(self, *, stop_endpoints: bool = True) -> None:
        if self._scraping is not None:
            thread, stopping = self._scraping
            stopping.set()
            thread.join(timeout=STOP_GRACE_S)
            self._scraping = None
        for run in reversed(list(self.running.values())):
            if run.process.poll() is None:
                run.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for run in self.running.values():
            try:
                run.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                run.process.kill()
                run.process.wait()
            run.log.close()
            self.home.pid_file(run.component.name).unlink(missing_ok=True)
        self.running.clear()
        if stop_endpoints:
            from neuroscale.engine.runtime import stop_all
            from neuroscale.engine.shutdown import record_platform_stopped

            stopped = stop_all(self.home)
            record_platform_stopped(self.home, domain=self.settings.domain)
            if stopped:
                self.log(f"stopped {stopped} model server(s)")
        if self._lock is not None:
            self._lock.close()
            self._lock = None



def stop_leftovers(home: Home) -> list[str]:
    """Stop the components a killed supervisor left running on `home` (call holding the home lock); one line
    per process stopped. A pid file whose process is gone, or is no longer that component of this home (a
    reused pid), is only removed."""
    from neuroscale.engine.procfs import cmdline, start_time
    from neuroscale.engine.runtime import stop_processes

    found: list[tuple[str, int, int]] = []  # component, pid, start time
    for name, module in (("portal", "neuroscale.portal"), ("gateway", "neuroscale.gateway"),
                         ("reconciler", "neuroscale.engine")):
        path = home.pid_file(name)
        try:
            pid = int(path.read_text())
        except (OSError, ValueError):
            continue
        argv, started = cmdline(pid), start_time(pid)
        if module in argv and str(home.root) in argv and started is not None:
            found.append((name, pid, started))
        path.unlink(missing_ok=True)
    stop_processes([(pid, started) for _, pid, started in found], grace=STOP_GRACE_S)
    return [f"stopped the {name} (pid {pid}) an earlier supervisor left running: it ended without stopping its "
            "processes (killed?)" for name, pid, _ in found]


def stop_orphaned(home: Home) -> list[str]:
    """`neuroscale down` with no supervisor: stop what a killed one left (components, then model servers)."""
    from neuroscale.engine.runtime import stop_all

    if not home.run_dir.is_dir():
        return []  # never ran here (and no directory is made by asking)
    lock = pidlock.acquire(home.platform_lock, what=f"a platform on home {home.root}",
                           fix="it is starting or stopping now: run `neuroscale down` again in a moment")
    try:
        lines = stop_leftovers(home)
        servers = stop_all(home)
        return [*lines, f"stopped {servers} model server(s)"] if servers else lines
    finally:
        lock.close()


def signal_supervisor(home: Home) -> int:
    """`neuroscale down`: ask the supervisor holding the home lock to stop; returns its pid."""
    pid = pidlock.holder_pid(home.platform_lock)
    if not is_running(home) or pid is None:
        raise NotFound(f"no platform is running on home {home.root}", reason="NotRunning",
                       fix="start one with `neuroscale up`")
    os.kill(pid, signal.SIGTERM)
    return pid


def is_running(home: Home) -> bool:
    """True while some supervisor holds the home lock."""
    return pidlock.is_held(home.platform_lock)
