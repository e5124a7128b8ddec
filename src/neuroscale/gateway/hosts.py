"""Which Host names the gateway answers: its defence against DNS rebinding.

A web page the user has open can make the browser send requests to 127.0.0.1 under a name the
attacker controls (DNS rebinding); the browser then lets the page read the answers. The gateway
therefore answers only names that mean "this machine" to the user: loopback names (the portal's
rule, `neuroscale.hosts`: `localhost`, `*.localhost`, 127.0.0.0/8, ::1), the
`<name>.<namespace>.<domain>` names of its routes, the address it is bound to, and names the
operator configured (`--allowed-host`). Anything else gets 421 Misdirected Request.
"""

from __future__ import annotations

from collections.abc import Container, Iterable

from neuroscale.hosts import WILDCARD_HOSTS, is_loopback_name


def host_name(host: str) -> str | None:
    """The name part of a Host header value, lower-cased; None if the value is not a valid authority."""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        if end == -1:
            return None
        name, rest = host[1:end], host[end + 1:]
    else:
        name, colon, port = host.partition(":")
        rest = colon + port
    if rest and not (rest.startswith(":") and rest[1:].isdigit()):
        return None
    return name.rstrip(".") if name else None


class HostGuard:
    """Admits loopback names, the bind address, configured names and the routes' own names."""

    def __init__(self, *, allowed: Iterable[str], bind_host: str) -> None:
        names: set[str] = set()
        for entry in allowed:
            name = host_name(entry)
            if name:
                names.add(name)
        bound = host_name(bind_host if ":" not in bind_host or bind_host.startswith("[") else f"[{bind_host}]")
        if bound and bound not in WILDCARD_HOSTS:
            names.add(bound)
        self.names = frozenset(names)
        self._admitted: set[str] = set()  # Host values seen to name one of `names` (bounded below)

    def admits(self, host: str, route_hosts: Container[str]) -> bool:
        """HTTP/1.0 requests may omit Host (`host == ""`): they can only come from a non-browser client."""
        if not host or host in self._admitted:
            return True
        name = host_name(host)
        if name is None:
            return False
        if name in self.names or is_loopback_name(name):
            if len(self._admitted) < 1024:
                self._admitted.add(host)
            return True
        return name in route_hosts

    def refusal(self, host: str) -> dict[str, object]:
        return {
            "error": f"this gateway does not serve Host {host!r}",
            "reason": "MisdirectedRequest",
            "fix": "call it as localhost or 127.0.0.1, or as <name>.<namespace>.<domain> of an endpoint; "
                   "to reach it under another name, start it with --allowed-host NAME "
                   "(`neuroscale up --allowed-host NAME`)",
        }
