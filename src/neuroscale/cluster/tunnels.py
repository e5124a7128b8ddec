"""`neuroscale cluster tunnels`: supervised port-forwards on 127.0.0.1.

Port-forwards die silently when the cluster or a laptop sleeps (FM-13), and a
stale one holds its port so the next attempt fails with "unable to listen"
(FM-12). So: every local port is checked before anything starts (and its
holder named when /proc tells us), each tunnel is a `kubectl port-forward`
child process whose liveness is a real TCP connect to its local port, a dead
tunnel is restarted with backoff, and Ctrl-C stops every child.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from neuroscale.errors import Conflict
from neuroscale.ports import listener_pid, port_is_free, process_name

STOP_GRACE_S = 3.0
START_TIMEOUT_S = 15.0
MAX_BACKOFF_S = 30.0


@dataclass(frozen=True)
class Tunnel:
    name: str
    namespace: str
    service: str
    local_port: int
    remote_port: int

    @property
    def url(self) -> str:
        scheme = "https" if self.remote_port == 443 else "http"
        return f"{scheme}://127.0.0.1:{self.local_port}"


def default_tunnels(ingress: str = "kourier") -> list[Tunnel]:
    from neuroscale.platform.backstage import (
        BACKSTAGE_NAMESPACE,
        CONTAINER_PORT,
        LOCAL_PORT,
        RELEASE,
    )
    from neuroscale.platform.components import OPENCOST_NAMESPACE, OPENCOST_RELEASE
    from neuroscale.platform.serving import INGRESS_SERVICE

    ns, svc, port = INGRESS_SERVICE[ingress]
    return [
        Tunnel("argocd", "argocd", "argocd-server", 8081, 443),
        Tunnel("backstage", BACKSTAGE_NAMESPACE, RELEASE, LOCAL_PORT, CONTAINER_PORT),
        Tunnel("opencost", OPENCOST_NAMESPACE, OPENCOST_RELEASE, 9090, 9090),
        Tunnel("ingress", ns, svc, 8082, port),
    ]


def kubectl_command(*, kubeconfig: Path | None, context: str | None) -> Callable[[Tunnel], list[str]]:
    def build(tunnel: Tunnel) -> list[str]:
        cmd = ["kubectl"]
        if kubeconfig:
            cmd += ["--kubeconfig", str(kubeconfig)]
        if context:
            cmd += ["--context", context]
        return cmd + ["-n", tunnel.namespace, "port-forward", "--address", "127.0.0.1", f"svc/{tunnel.service}",
                      f"{tunnel.local_port}:{tunnel.remote_port}"]
    return build


def port_open(port: int, *, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def port_holder(port: int) -> str:
    """`pid NNN (command)` of the process listening on 127.0.0.1:port, if /proc can tell."""
    pid = listener_pid(port)
    return f"pid {pid} ({process_name(pid)})" if pid is not None else ""


def check_ports(tunnels: list[Tunnel]) -> None:
    """Refuse to start when a local port is taken, naming the holder (FM-12)."""
    taken = []
    for tunnel in tunnels:
        if not port_is_free("127.0.0.1", tunnel.local_port):
            holder = port_holder(tunnel.local_port)
            taken.append(f"{tunnel.local_port} ({tunnel.name}){' held by ' + holder if holder else ''}")
    if taken:
        raise Conflict(f"local port(s) already in use: {', '.join(taken)}", where="127.0.0.1",
                       fix="stop the stale port-forward (kill the pid shown) or choose another port with --port NAME=PORT")


@dataclass
class _Child:
    tunnel: Tunnel
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    alive_since: float = 0.0


@dataclass
class TunnelSupervisor:
    """Starts, watches and restarts tunnels; `stop()` always cleans up every child."""

    tunnels: list[Tunnel]
    command: Callable[[Tunnel], list[str]]
    on_event: Callable[[str], None] = lambda message: None
    clock: Callable[[], float] = time.monotonic
    children: list[_Child] = field(default_factory=list)

    def start(self) -> None:
        check_ports(self.tunnels)
        self.children = [_Child(t) for t in self.tunnels]
        for child in self.children:
            self._spawn(child)

    def _spawn(self, child: _Child) -> None:
        child.process = subprocess.Popen(self.command(child.tunnel), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                         start_new_session=True)
        child.alive_since = self.clock()

    def alive(self, child: _Child) -> bool:
        return child.process is not None and child.process.poll() is None and port_open(child.tunnel.local_port)

    def tick(self) -> None:
        """One supervision pass: restart dead tunnels (after their start grace period), with backoff."""
        now = self.clock()
        for child in self.children:
            running = child.process is not None and child.process.poll() is None
            if running and (port_open(child.tunnel.local_port) or now - child.alive_since < START_TIMEOUT_S):
                continue
            if now < child.next_start:
                continue
            self._terminate(child)
            child.restarts += 1
            child.next_start = now + min(MAX_BACKOFF_S, 2.0 ** min(child.restarts, 5))
            self.on_event(f"tunnel {child.tunnel.name} on :{child.tunnel.local_port} died; restarting "
                          f"(restart {child.restarts})")
            self._spawn(child)

    def wait_ready(self, *, timeout_s: float = START_TIMEOUT_S, poll_s: float = 0.2) -> list[Tunnel]:
        """Tunnels whose local port accepts connections within `timeout_s`."""
        deadline = self.clock() + timeout_s
        while self.clock() < deadline and not all(self.alive(c) for c in self.children):
            time.sleep(poll_s)
        return [c.tunnel for c in self.children if self.alive(c)]

    def run(self, *, interval_s: float = 2.0, should_stop: Callable[[], bool] = lambda: False) -> None:
        """Supervise until `should_stop()` or Ctrl-C; children are always stopped."""
        try:
            while not should_stop():
                self.tick()
                time.sleep(interval_s)
        except KeyboardInterrupt:
            self.on_event("stopping tunnels")
        finally:
            self.stop()

    @staticmethod
    def _terminate(child: _Child) -> None:
        process = child.process
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=STOP_GRACE_S)
        except (ProcessLookupError, PermissionError):
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_GRACE_S)

    def stop(self) -> None:
        for child in self.children:
            self._terminate(child)
