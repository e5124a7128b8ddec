"""The InferenceService reading of `neuroscale.spec.isvc`, written as CEL for admission policies.

A cluster's API server (ValidatingAdmissionPolicy) and Kyverno evaluate CEL on
the raw object, not our Python reader. So the same field tables — components,
framework keys, container lists, `workerSpec`, `spec.canary[]` — generate CEL
variables that flatten an InferenceService into every container (with its
field path and its pod-level spec), every storage URI and every component.
Policies then say `variables.containers.all(g, g.all(e, …))` and cannot miss a
shape the CRD allows.

Shapes of the variables (all values `dyn`, so the expressions also type-check
on a real API server, where each framework key is a distinct object type):
- `containers`: a list of groups, each a list of `{path, model, init, c, pod}`
  (`c` the container, `pod` the component or `workerSpec` holding it). Groups
  instead of one flat list because canary predictors are a list of lists and
  `flatten()` is not in every Kubernetes release's CEL.
- `storageUris`: a list of groups of `{path, uri}`.
- `components`: a flat list of `{path, kind, c}`.
Every selection is guarded level by level with `has()`: selecting a missing
field is an error in CEL.
"""

from __future__ import annotations

from collections.abc import Callable

from neuroscale.spec.isvc import COMPONENTS, CONTAINER_LISTS, MODEL_KEYS, WORKER_CONTAINER_LISTS

CONTAINERS = "containers"
STORAGE_URIS = "storageUris"
COMPONENT_SPECS = "components"

_CANARY_PREDICTORS = "object.spec.canary.filter(k, has(k.predictor)).map(k, k.predictor)"
_CANARY_GUARD = "has(object.spec) && has(object.spec.canary)"
_CANARY_LABEL = "spec.canary[].predictor"

#: Builds the group expressions of one component: (CEL base, kind, label for paths, guard) → list expressions.
GroupBuilder = Callable[[str, str, str, str], list[str]]


def _has(base: str, *keys: str) -> str:
    """`has(base.a) && has(base.a.b) …`: each level guarded, since selecting a missing field is an error."""
    parts, path = [], base
    for key in keys:
        path = f"{path}.{key}"
        parts.append(f"has({path})")
    return " && ".join(parts)


def _when(guard: str, value: str) -> str:
    return f"({guard} ? {value} : [])" if guard else value


def _join(guard: str, more: str) -> str:
    return f"{guard} && {more}" if guard else more


def _container_groups(base: str, kind: str, label: str, guard: str) -> list[str]:
    groups = []
    for key in MODEL_KEYS[kind]:
        entry = (f"{{'path': '{label}.{key}', 'model': true, 'init': false, "
                 f"'c': dyn({base}.{key}), 'pod': dyn({base})}}")
        groups.append(_when(_join(guard, _has(base, key)), f"[{entry}]"))
    for owner_keys, lists in (((), CONTAINER_LISTS), (("workerSpec",), WORKER_CONTAINER_LISTS)):
        owner = ".".join((base, *owner_keys))
        where = ".".join((label, *owner_keys))
        for key in lists:
            name = f"'{where}.{key}[' + (has(c.name) ? string(c.name) : '?') + ']'"
            entry = (f"{{'path': {name}, 'model': false, 'init': {str(key != 'containers').lower()}, "
                     f"'c': dyn(c), 'pod': dyn({owner})}}")
            groups.append(_when(_join(guard, _has(base, *owner_keys, key)), f"{owner}.{key}.map(c, {entry})"))
    return groups


def _uri_groups(base: str, kind: str, label: str, guard: str) -> list[str]:
    groups = []
    for key in MODEL_KEYS[kind]:
        entry = f"{{'path': '{label}.{key}.storageUri', 'uri': dyn({base}.{key}.storageUri)}}"
        groups.append(_when(_join(guard, _has(base, key, "storageUri")), f"[{entry}]"))
    entry = f"{{'path': '{label}.storageUris[].uri', 'uri': dyn(s.uri)}}"
    groups.append(_when(_join(guard, _has(base, "storageUris")),
                        f"{base}.storageUris.filter(s, has(s.uri)).map(s, {entry})"))
    return groups


def _grouped(build: GroupBuilder) -> str:
    """`[group, …] + canary groups…` over every component, the canary predictors last."""
    groups = []
    for kind in COMPONENTS:
        groups += build(f"object.spec.{kind}", kind, f"spec.{kind}", _has("object", "spec", kind))
    canary = [_when(_CANARY_GUARD, f"{_CANARY_PREDICTORS}.map(p, {group})")
              for group in build("p", "predictor", _CANARY_LABEL, "")]
    return " + ".join(["[" + ", ".join(groups) + "]", *canary])


def containers_variable() -> str:
    return _grouped(_container_groups)


def storage_uris_variable() -> str:
    return _grouped(_uri_groups)


def components_variable() -> str:
    parts = []
    for kind in COMPONENTS:
        entry = f"{{'path': 'spec.{kind}', 'kind': '{kind}', 'c': dyn(object.spec.{kind})}}"
        parts.append(_when(_has("object", "spec", kind), f"[{entry}]"))
    entry = f"{{'path': '{_CANARY_LABEL}', 'kind': 'predictor', 'c': dyn(p)}}"
    parts.append(_when(_CANARY_GUARD, f"{_CANARY_PREDICTORS}.map(p, {entry})"))
    return " + ".join(parts)


def variables() -> tuple[tuple[str, str], ...]:
    """The three VAP variables, in declaration order."""
    return ((CONTAINERS, containers_variable()), (STORAGE_URIS, storage_uris_variable()),
            (COMPONENT_SPECS, components_variable()))


def literal(text: str) -> str:
    """A CEL string literal holding `text` (single quotes, backslashes and quotes escaped)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def every(variable: str, predicate: str) -> str:
    """CEL: `predicate` (over entry `e`) holds for every entry of a grouped variable."""
    return f"variables.{variable}.all(g, g.all(e, {predicate}))"


def failing_paths(variable: str, predicate: str, *, shown: str = "e.path") -> str:
    """CEL string: the comma-separated paths (or `shown`, over entry `e`) of the entries of a grouped variable
    failing `predicate`."""
    return (f"variables.{variable}.map(g, g.filter(e, !({predicate})).map(e, {shown}).join(', '))"
            f".filter(s, s != '').join(', ')")


def first_failing_path(variable: str, predicate: str, *, suffix: str = "") -> str:
    """CEL string: the path of the first entry of a grouped variable failing `predicate`, plus `suffix`."""
    expression = f"variables.{variable}.map(g, g.filter(e, !({predicate})).map(e, e.path)).filter(l, size(l) > 0)[0][0]"
    return f"{expression} + {suffix!r}" if suffix else expression
