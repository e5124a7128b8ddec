"""The local CRD cache: `<cache>/<project>/<release>/crds.json` plus a manifest with its digest.

`neuroscale crds pull` writes an entry; `neuroscale check` reads the entries of
the releases the repository pins, automatically. An entry is written to a
temporary directory and renamed into place, so a crash never leaves half an
entry; the manifest's SHA-256 catches an entry changed or truncated since.
The CRDs are stored as JSON: loading a 2 MB CRD that way costs milliseconds,
where parsing its YAML costs a second (the check reads them on every run). A
missing or corrupt entry is reported with the command that fills it — never
read as "no CRDs".
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from neuroscale.check.crds.pins import Pin

CRDS_FILE = "crds.json"
MANIFEST_FILE = "manifest.json"
FORMAT = 1


def default_cache() -> Path:
    """`$XDG_CACHE_HOME/neuroscale/crds` (`~/.cache/neuroscale/crds`): what CI caches between runs."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "neuroscale" / "crds"


def entry_dir(cache: Path, pin: Pin) -> Path:
    return cache / pin.project / pin.key


@dataclass(frozen=True)
class Entry:
    """What the cache holds for one pin: the CRDs' bytes, or why it cannot be used."""

    pin: Pin
    path: Path
    crds: list[dict[str, Any]] | None = None
    problem: str = ""  # '' when usable; 'missing' or a corruption description
    source: str = ""

    @property
    def missing(self) -> bool:
        return self.problem == "missing"


def read(cache: Path, pin: Pin) -> Entry:
    directory = entry_dir(cache, pin)
    manifest_path = directory / MANIFEST_FILE
    if not manifest_path.is_file():
        return Entry(pin, directory, problem="missing")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        raw = (directory / CRDS_FILE).read_bytes()
    except (OSError, ValueError) as exc:
        return Entry(pin, directory, problem=f"unreadable ({type(exc).__name__}: {exc})")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return Entry(pin, directory, problem="manifest of an unknown format")
    if hashlib.sha256(raw).hexdigest() != manifest.get("sha256"):
        return Entry(pin, directory, problem=f"{CRDS_FILE} does not match the digest in {MANIFEST_FILE}")
    try:
        crds = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Entry(pin, directory, problem=f"{CRDS_FILE} is not JSON ({exc})")
    if not isinstance(crds, list) or not all(isinstance(c, dict) for c in crds):
        return Entry(pin, directory, problem=f"{CRDS_FILE} is not a list of objects")
    return Entry(pin, directory, crds=crds, source=str(manifest.get("source", "")))


def write(cache: Path, pin: Pin, crds: list[dict[str, Any]], *, source: str) -> Path:
    """Store `crds` for `pin` atomically (replacing an older entry)."""
    directory = entry_dir(cache, pin)
    directory.parent.mkdir(parents=True, exist_ok=True)
    raw = orjson.dumps(crds)
    manifest = {"format": FORMAT, "project": pin.project, "release": pin.key, "source": source,
                "sha256": hashlib.sha256(raw).hexdigest(),
                "crds": sorted(str((c.get("metadata") or {}).get("name", "")) for c in crds)}
    staging = Path(tempfile.mkdtemp(prefix=f".{pin.key}.", dir=directory.parent))
    try:
        (staging / CRDS_FILE).write_bytes(raw)
        (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        if directory.exists():
            shutil.rmtree(directory)
        staging.rename(directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory
