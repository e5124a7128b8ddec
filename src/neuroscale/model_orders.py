"""Admins' load and unload orders: the gateway records them, the engine carries them out.

Why files in a spool directory (`<home>/run/model-orders/`, one file per order): the gateway never
opens the database, and the engine decides what runs. The gateway writes each order it admitted
(`submit`, owner-only, atomically, named by time so they sort in the order given); the engine reads
them every tick (`pending`), oldest first, applies each to its own store, then deletes it (`done`). An order
given while the engine is down waits for it; none is lost when either process restarts, and two
orders in quick succession (unload, then load) are applied in that order. Orders and their reader
live here, so the two processes can never disagree about the format.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path

from neuroscale.atomic_file import write_private

log = logging.getLogger("neuroscale.orders")


class Action(StrEnum):
    load = "load"
    unload = "unload"


@dataclass(frozen=True)
class Order:
    endpoint: str
    action: Action
    by: str  # the admin's user name
    at: str  # when the gateway admitted it (ISO 8601, UTC)


def submit(spool: Path, order: Order) -> Path:
    """Record `order` for the engine; the file it was written to."""
    path = spool / f"{time.time_ns():020d}-{secrets.token_hex(4)}.json"
    write_private(path, json.dumps(asdict(order)))
    return path


@dataclass(frozen=True)
class Pending:
    """An order not yet carried out, and its file."""

    path: Path
    order: Order

    def done(self) -> None:
        self.path.unlink(missing_ok=True)


def pending(spool: Path) -> list[Pending]:
    """Every recorded order, oldest first; an unreadable file is logged and removed."""
    try:
        names = sorted(name for name in os.listdir(spool) if not name.startswith("."))
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        path = spool / name
        try:
            data = json.loads(path.read_text())
            found.append(Pending(path, Order(str(data["endpoint"]), Action(data["action"]), str(data["by"]),
                                             str(data["at"]))))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("dropping unreadable model order %s: %s", path, exc)
            path.unlink(missing_ok=True)
    return found
