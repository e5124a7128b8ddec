"""Per-object verdicts cached by content, so a warm `check` judges only what changed.

As ruff and mypy do, a verdict that is a pure function of its inputs is stored
under a digest of those inputs: the object (its data, marshalled), what judges
it (a schema's or policy set's digest) and the code that judges (`salt`: a
digest of the judging modules' sources and the libraries' install stamps). An
edit to any of them changes the key, so the verdict is computed again; nothing
is ever invalidated by hand.

One JSON file per stage holds the verdicts, rewritten only when a run
computed a new one: the entries the run used come last, and of the others
only the most recent are kept (`KEEP_UNUSED`), so alternating between two
configurations (a rendered and an unrendered run, two branches) does not
judge everything again, and the file stays near the repository's size.
The file is read as untrusted
input: a file that does not parse, or an entry of the wrong shape, is ignored
and its verdicts are computed again — a corrupt or foreign cache can cost
time, never change a result. Data that `marshal` cannot represent (a YAML
timestamp) has no key and is judged every run; marshal writes the same value as
the same bytes only in its format 2 (later formats share repeated objects by
reference, as they happen to be shared in memory).
"""

from __future__ import annotations

import hashlib
import json
import marshal
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

from neuroscale.atomic_file import replace_file

_FORMAT = 1
#: marshal's format 2: no back-references, whose bytes would depend on how objects happen to be shared.
MARSHAL_VERSION = 2
#: Entries a run did not use that are kept: up to this many, plus as many as the run used.
KEEP_UNUSED = 1000


def code_salt(modules: Iterable[ModuleType | str], *, extra: str = "") -> str:
    """Digest naming the code that computes a verdict: our modules' sources, libraries' install stamps.

    A `str` is a module file of ours (read whole); a module is a library, stamped by its file's path,
    size and modification time (an upgrade rewrites it) — cheaper than reading package metadata.
    """
    digest = hashlib.sha256(extra.encode())
    for module in modules:
        if isinstance(module, str):
            digest.update(Path(module).read_bytes())
        else:
            stat = os.stat(str(module.__file__))
            digest.update(f"{module.__file__}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


class VerdictCache:
    """Verdicts of one stage, loaded from `cache_dir` (if any) and written back by `save()`."""

    def __init__(self, cache_dir: Path | None, *, stage: str, salt: str, valid: Callable[[Any], bool]) -> None:
        self._path = cache_dir / f"verdicts-{stage}.json" if cache_dir is not None else None
        self._salt = salt.encode()
        self._valid = valid
        self._stored = self._read()
        self._used: dict[str, Any] = {}
        self._computed = False

    def _read(self) -> dict[str, Any]:
        if self._path is None:
            return {}
        try:
            data = json.loads(self._path.read_bytes())
        except (OSError, ValueError):
            return {}  # missing, unreadable or not JSON: start empty
        if not isinstance(data, dict) or data.get("format") != _FORMAT or not isinstance(data.get("entries"), dict):
            return {}
        return data["entries"]  # type: ignore[no-any-return]

    def key(self, judge: str, data: Any) -> str | None:
        """Key of `data`'s verdict by `judge` (a digest of what judges it), or None when `data` is not plain."""
        try:
            blob = marshal.dumps(data, MARSHAL_VERSION)
        except ValueError:
            return None
        return hashlib.sha256(self._salt + judge.encode() + b"\0" + blob).hexdigest()

    def get(self, key: str | None) -> Any | None:
        """The stored verdict under `key`, or None when there is none or it is not of the expected shape."""
        if key is None:
            return None
        value = self._stored.get(key)
        if value is None or not self._valid(value):
            return None
        self._used[key] = value
        return value

    def put(self, key: str | None, value: Any) -> None:
        if key is not None:
            self._used[key] = value
            self._computed = True

    def save(self) -> None:
        """Write the verdicts back when this run computed any (see module docstring for what is kept)."""
        if self._path is None or not self._computed:
            return
        unused = [(key, value) for key, value in self._stored.items() if key not in self._used]
        entries = dict(unused[max(0, len(unused) - KEEP_UNUSED - len(self._used)):])
        entries.update(self._used)
        try:
            replace_file(self._path, json.dumps({"format": _FORMAT, "entries": entries}, separators=(",", ":")))
        except OSError:
            pass  # a read-only or full cache costs the next run time, never this run's result
