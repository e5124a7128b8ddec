"""Kyverno rule `context` entries, loaded offline from what the repository or test suite provides.

A `variable` entry is computed as Kyverno does (its `value` substituted, then
its `jmesPath`, then its `default` when nothing is found). A `configMap` entry
reads a ConfigMap among the objects under evaluation (the repository's
manifests or a test suite's resources). Values that `kyverno test` takes from
a values file (`policies[].rules[].values`, `globalValues`, per-resource
values) replace an entry of the same name, as in the Kyverno CLI. Anything
else - an API call, an image registry lookup, a global context reference, a
ConfigMap that is not there - raises `ConditionUnsupported`, so the rule is
reported as not evaluable offline instead of being guessed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from neuroscale.policy.subject import as_mapping
from neuroscale.policy.kyverno_variables import (
    ConditionError, ConditionUnsupported, compiled, resolve, substitute,
)

_CLUSTER_ENTRIES = {"apiCall": "an API call", "imageRegistry": "an image registry lookup",
                    "globalReference": "a global context entry"}


@dataclass(frozen=True)
class ContextSources:
    """What context entries may read offline: ConfigMaps by (namespace, name), and given values."""

    config_maps: Mapping[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)
    #: Variable name -> value, from a `kyverno test` values file (per policy/rule and resource).
    values: Mapping[str, Any] = field(default_factory=dict)


def config_map_index(objects: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], Mapping[str, Any]]:
    """ConfigMaps among `objects`, keyed by (namespace, name); namespace defaults to `default`."""
    index = {}
    for obj in objects:
        if isinstance(obj, Mapping) and obj.get("kind") == "ConfigMap" and obj.get("apiVersion") == "v1":
            metadata = as_mapping(obj.get("metadata"))
            index[(str(metadata.get("namespace") or "default"), str(metadata.get("name") or ""))] = obj
    return index


def _given(name: str, values: Mapping[str, Any]) -> bool:
    """A values file gives entry `name` by its name or by a dotted path inside it (`dictionary.data.env`)."""
    return any(key == name or str(key).startswith(name + ".") for key in values)


def check_entries(entries: Any, *, given: Mapping[str, Any] | None = None) -> None:
    """Refuse, at load time, entries offline evaluation can never provide (unless values give them)."""
    if entries is None:
        return
    if not isinstance(entries, list):
        raise ConditionUnsupported("context must be a list of entries")
    for entry in entries:
        if not isinstance(entry, Mapping) or not entry.get("name"):
            raise ConditionUnsupported("a context entry needs a name")
        if given is not None and _given(str(entry["name"]), given):
            continue
        for key, what in _CLUSTER_ENTRIES.items():
            if key in entry:
                raise ConditionUnsupported(f"context entry {entry['name']!r} is {what} (needs a cluster; "
                                           "give its value in a kyverno test values file)")
        if not isinstance(entry.get("variable"), Mapping) and not isinstance(entry.get("configMap"), Mapping):
            raise ConditionUnsupported(f"context entry {entry['name']!r} is an unknown entry type")
        variable = entry.get("variable")
        if isinstance(variable, Mapping) and isinstance(variable.get("jmesPath"), str) and \
                "{{" not in variable["jmesPath"]:
            compiled(variable["jmesPath"])


def _variable(spec: Mapping[str, Any], data: Mapping[str, Any]) -> Any:
    has_value = "value" in spec
    value = substitute(spec.get("value"), data) if has_value else None
    path = spec.get("jmesPath")
    result = value
    if isinstance(path, str) and path.strip():
        expression = str(substitute(path, data))
        try:
            result = resolve(expression, value if has_value else data)
        except ConditionError:
            result = None
    if result is None and "default" in spec:
        result = substitute(spec.get("default"), data)
    if result is None:
        raise ConditionError("context variable has no value (add `default`)")
    return result


def _config_map(spec: Mapping[str, Any], data: Mapping[str, Any], sources: ContextSources, name: str) -> Any:
    map_name = str(substitute(spec.get("name", ""), data))
    namespace = str(substitute(spec.get("namespace") or "default", data))
    found = sources.config_maps.get((namespace, map_name))
    if found is None:
        raise ConditionUnsupported(f"context entry {name!r} reads ConfigMap {namespace}/{map_name}, which is "
                                   "not among the objects checked (add it, or give the value in a values file)")
    return {**found, "data": dict(found.get("data") or {})}


def load_entries(entries: Any, data: dict[str, Any], sources: ContextSources) -> None:
    """Add each entry's value to `data`, in order (later entries may use earlier ones)."""
    for entry in entries or []:
        name = str(entry.get("name"))
        if _given(name, sources.values):
            continue  # the request data already holds the given values (see `kyverno_request.request_data`)
        if isinstance(entry.get("variable"), Mapping):
            data[name] = _variable(entry["variable"], data)
        elif isinstance(entry.get("configMap"), Mapping):
            data[name] = _config_map(entry["configMap"], data, sources, name)
        else:
            kind = next((what for key, what in _CLUSTER_ENTRIES.items() if key in entry), "an unknown entry type")
            raise ConditionUnsupported(f"context entry {name!r} is {kind} (needs a cluster)")
