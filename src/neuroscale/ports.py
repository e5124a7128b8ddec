"""Local TCP ports: is one free, pick a free one, who listens on one.

Shared by `up` (refuse a taken port before starting anything), the reconciler
(a port per model server), `cluster tunnels` (FM-12) and doctor (name the
process holding a port). Linux only for the holder: read from /proc.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from neuroscale.home import DEFAULT_HOST


def port_is_free(host: str, port: int) -> bool:
    """True when nothing listens on host:port (sockets in TIME_WAIT do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = DEFAULT_HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def grpc_port_of(http_port: int) -> int:
    """A model server's gRPC port is the one after its HTTP port (the gateway's gRPC listener relies on it)."""
    return http_port + 1


def free_port_pair(host: str = DEFAULT_HOST) -> int:
    """A free port whose gRPC neighbour (`grpc_port_of`) is free too."""
    for _ in range(64):
        port = free_port(host)
        if port < 65535 and port_is_free(host, grpc_port_of(port)):
            return port
    return free_port(host)  # practically unreachable; the server then reports PortUnavailable


def listener_pid(port: int) -> int | None:
    """The pid listening on TCP `port`, from /proc/net/tcp{,6} socket inodes and /proc/*/fd."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{cols[9]}]")
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    return int(proc.name)
        except OSError:
            continue
    return None


def process_command(pid: int, *, limit: int = 120) -> str:
    """The command line of `pid` (truncated), or "" when it is gone or unreadable."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()[:limit]


def process_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""
