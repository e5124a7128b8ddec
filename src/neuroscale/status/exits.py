"""How a model-server exit is written into an event, and read back, in one place.

The reconciler records every unexpected exit as one event whose message is
`<revision> (pid <pid>): <Cause>: <what happened>`, the cause being a reason
from the catalogue (`KilledBySignal`, `ModelLoadFailed`, `OOMKilled`, ...).
`neuroscale doctor` reads those events to name the cause, so the format is
defined here and both sides use it rather than each guessing the other's words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_EXIT = re.compile(r"^(?P<revision>\S+) \(pid (?P<pid>\d+)\): (?P<cause>[A-Z][A-Za-z]+): (?P<detail>.*)$", re.S)


@dataclass(frozen=True)
class ExitRecord:
    """One observed exit: which replica process, why (a catalogue reason) and the details."""

    revision: str
    pid: int
    cause: str
    detail: str

    def message(self) -> str:
        return f"{self.revision} (pid {self.pid}): {self.cause}: {self.detail}"


def parse_exit(message: str) -> ExitRecord | None:
    """The exit an event message records, or None for any other message."""
    found = _EXIT.match(message)
    if found is None:
        return None
    return ExitRecord(found["revision"], int(found["pid"]), found["cause"], found["detail"])
