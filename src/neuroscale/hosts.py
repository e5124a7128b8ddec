"""Which host names are loopback: shared by the portal's Host check and `neuroscale up`'s exposure rule.

`localhost` and every `*.localhost` name resolve to loopback by definition
(RFC 6761; browsers never ask DNS for them), as do 127.0.0.0/8 and ::1, so a
page cannot rebind them to another machine. Any other name may be DNS that
an attacker controls.
"""

from __future__ import annotations

import ipaddress

#: Bind addresses that listen on every interface.
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})


def is_loopback_name(host: str) -> bool:
    """`localhost`, `*.localhost` or a loopback address (brackets around IPv6 allowed)."""
    name = host.strip().lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def connect_host(bind_host: str) -> str:
    """The address a local client uses to reach a server bound to `bind_host`."""
    if bind_host in WILDCARD_HOSTS:
        return "[::1]" if bind_host == "::" else "127.0.0.1"
    return f"[{bind_host}]" if ":" in bind_host and not bind_host.startswith("[") else bind_host
