"""Tunnel supervision with stand-in port-forward processes: conflicts, restarts, clean stop."""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator

import pytest

from neuroscale.cluster.tunnels import Tunnel, TunnelSupervisor, check_ports, port_open
from neuroscale.errors import Conflict

from tests.conftest import free_port


def stand_in(tunnel: Tunnel) -> list[str]:
    """Plays `kubectl port-forward`: listens on the tunnel's local port until killed."""
    return [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(tunnel.local_port)]


@pytest.fixture
def supervisor() -> Iterator[TunnelSupervisor]:
    tunnels = [Tunnel("backstage", "backstage", "neuroscale-backstage", free_port(), 7007),
               Tunnel("ingress", "knative-serving", "kourier", free_port(), 80)]
    events: list[str] = []
    sup = TunnelSupervisor(tunnels, stand_in, on_event=events.append)
    sup.events = events  # type: ignore[attr-defined]
    yield sup
    sup.stop()


def test_port_conflict_is_detected_and_names_the_holder() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(Conflict) as caught:
            check_ports([Tunnel("argocd", "argocd", "argocd-server", port, 443)])
    assert str(port) in caught.value.message and "pid" in caught.value.message
    assert "--port" in caught.value.fix


def test_dead_tunnel_is_restarted_and_stop_cleans_up(supervisor: TunnelSupervisor) -> None:
    supervisor.start()
    assert {t.name for t in supervisor.wait_ready(timeout_s=20)} == {"backstage", "ingress"}
    victim = supervisor.children[0]
    assert victim.process is not None
    victim.process.kill()
    victim.process.wait()
    assert not port_open(victim.tunnel.local_port)
    supervisor.tick()
    assert victim.restarts == 1 and "died" in supervisor.events[0]  # type: ignore[attr-defined]
    assert {t.name for t in supervisor.wait_ready(timeout_s=20)} == {"backstage", "ingress"}
    processes = [c.process for c in supervisor.children]
    supervisor.stop()
    assert all(p is not None and p.poll() is not None for p in processes)
    deadline = time.monotonic() + 5
    while any(port_open(c.tunnel.local_port) for c in supervisor.children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(port_open(c.tunnel.local_port) for c in supervisor.children)


def test_run_stops_children_when_told_to(supervisor: TunnelSupervisor) -> None:
    supervisor.start()
    supervisor.wait_ready(timeout_s=20)
    calls = iter([False, True])
    supervisor.run(interval_s=0.01, should_stop=lambda: next(calls))
    assert all(c.process is not None and c.process.poll() is not None for c in supervisor.children)
