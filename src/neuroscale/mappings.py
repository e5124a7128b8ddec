"""Layering nested mappings the way Helm values and Backstage app-config files layer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def deep_merged(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`: mappings merge key by key, anything else replaces; neither input changes."""
    out = dict(base)
    for key, value in over.items():
        below = out.get(key)
        if isinstance(value, Mapping) and isinstance(below, Mapping):
            out[key] = deep_merged(below, value)
        else:
            out[key] = value
    return out
