"""Build failing snapshots from the healthy recording plus a case file of recorded-style objects."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"
CASES = sorted((FIXTURES / "cases").glob("*.json"))


def healthy() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "healthy.json").read_text())
    return data


def load_case(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    md = obj.get("metadata") or {}
    return str(md.get("namespace", "")), str(md.get("name", ""))


def apply_case(base: dict[str, Any], case: dict[str, Any]) -> dict[str, Any]:
    """Upsert the case's objects by (kind, namespace, name), delete listed ones, merge logs and meta."""
    snap = copy.deepcopy(base)
    objects = snap["objects"]
    if case.get("clearObjects"):
        objects.clear()
    for kind, items in case.get("upsert", {}).items():
        current = objects.setdefault(kind, [])
        for obj in items:
            keys = [_key(o) for o in current]
            if _key(obj) in keys:
                current[keys.index(_key(obj))] = obj
            else:
                current.append(obj)
    for kind, namespace, name in case.get("delete", []):
        objects[kind] = [o for o in objects.get(kind, []) if _key(o) != (namespace, name)]
    snap["logs"].update(case.get("logs", {}))
    snap["meta"].update(case.get("meta", {}))
    return snap
