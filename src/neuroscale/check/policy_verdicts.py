"""Policy verdicts per object, kept by content (see `verdicts`): a warm check admits only what changed.

What admission lets a policy read decides the key. An object's policy
findings depend on the object itself, on the policy documents (PolicyExceptions
and bindings included), on the engine's code, and on what the engine lets a
rule read of the *other* objects: Namespaces (namespaceSelector,
namespaceObject), ConfigMaps (Kyverno context entries) and objects of any kind
a policy names as its `paramKind`. All of these go into the key, so an edit to
a namespace's labels or a context ConfigMap judges every object again, while
an edited Deployment is the only object judged again when it alone changed.
Namespace-wide quotas and limit ranges read every object at once and are
never cached (`admit` evaluates them each run). The policy set's own findings
(what compiling it reported) depend on the documents and on which kinds of
object are present (the CEL of a policy that selects none is not compiled), so
those kinds are part of their key.

Findings are stored as JSON; a subject is stored only when its findings
survive that round trip unchanged, and an entry read back must have exactly
the shape of a `Finding` — anything else is judged again.
"""

from __future__ import annotations

import hashlib
import marshal
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from neuroscale.check.verdicts import MARSHAL_VERSION, VerdictCache, code_salt
from neuroscale.findings import Finding, ObjectRef, Severity
from neuroscale.policy.subject import Subject

#: Kinds a policy may read of the other objects: Namespaces (namespaceSelector, namespaceObject) always,
#: ConfigMaps when some Kyverno context entry reads one (a `configMap` key anywhere in the documents).
_NAMESPACES = frozenset({"Namespace"})
_CONFIG_MAPS = frozenset({"ConfigMap"})
_TEXT_FIELDS = ("rule", "message", "fix", "file", "field_path")
_REF_FIELDS = ("kind", "name", "namespace", "api_version")


class PolicyVerdicts:
    """The `admit` verdict hook: findings per subject, by content (see module docstring)."""

    def __init__(self, cache_dir: Path | None, *, documents: Sequence[Mapping[str, Any]],
                 objects: Sequence[Any]) -> None:
        self._judge = _judge(documents, objects)
        self._kinds = sorted({(str(o.get("apiVersion")), str(o.get("kind"))) for o in objects if isinstance(o, Mapping)})
        self._cache = VerdictCache(cache_dir, stage="policies", salt=_salt(), valid=_valid)

    def _key(self, subject: Subject | None) -> str | None:
        """The key of a subject's findings, or (None) of the policy set's own."""
        if self._judge is None:
            return None
        return self._cache.key(self._judge, subject.obj) if subject is not None else self._cache.key(
            f"{self._judge}/policy-set", self._kinds)

    def get(self, subject: Subject) -> list[Finding] | None:
        """The findings stored for an equal object under equal policies and context, placed at `subject`."""
        return self._read(self._key(subject), index=subject.index)

    def put(self, subject: Subject, findings: list[Finding]) -> None:
        self._write(self._key(subject), findings, index=subject.index)

    def problems(self) -> list[Finding] | None:
        """The policy set's own findings (what compiling it reported), when stored."""
        return self._read(self._key(None), index=None)

    def put_problems(self, findings: list[Finding]) -> None:
        self._write(self._key(None), findings, index=None)

    def _read(self, key: str | None, *, index: int | None) -> list[Finding] | None:
        stored = self._cache.get(key)
        return None if stored is None else [_with_index(_from_json(item), index) for item in stored]

    def _write(self, key: str | None, findings: list[Finding], *, index: int | None) -> None:
        encoded = [_to_json(f) for f in findings]
        if all(_with_index(_from_json(e), index) == f for e, f in zip(encoded, findings)):
            self._cache.put(key, encoded)

    def save(self) -> None:
        self._cache.save()


def _salt() -> str:
    """The engine's code: every module of `neuroscale.policy`, the CEL and RE2 bindings."""
    import re2

    import neuroscale.policy
    from neuroscale.policy.celbinding import binding

    package = Path(str(neuroscale.policy.__file__)).parent
    return code_salt([*(str(p) for p in sorted(package.glob("*.py"))), re2, binding])


def _judge(documents: Sequence[Mapping[str, Any]], objects: Sequence[Any]) -> str | None:
    """Digest of the policy documents and of the other objects a rule may read; None when not plain data."""
    kinds = _NAMESPACES | _param_kinds(documents) | (_CONFIG_MAPS if _has_key(documents, "configMap") else frozenset())
    context = [o for o in objects if isinstance(o, Mapping) and o.get("kind") in kinds]
    try:
        return hashlib.sha256(marshal.dumps([list(documents), context], MARSHAL_VERSION)).hexdigest()
    except ValueError:
        return None


def _param_kinds(node: Any) -> frozenset[str]:
    """Every `paramKind.kind` anywhere in the policy documents (VAP, Kyverno CEL rules, ValidatingPolicy)."""
    if isinstance(node, Mapping):
        found = {str(node["paramKind"].get("kind"))} if isinstance(node.get("paramKind"), Mapping) else set()
        return frozenset(found.union(*(_param_kinds(v) for v in node.values())))
    if isinstance(node, (list, tuple)):
        return frozenset().union(*(_param_kinds(v) for v in node))
    return frozenset()


def _has_key(node: Any, key: str) -> bool:
    if isinstance(node, Mapping):
        return key in node or any(_has_key(v, key) for v in node.values())
    return isinstance(node, (list, tuple)) and any(_has_key(v, key) for v in node)


def _with_index(finding: Finding, index: int | None) -> Finding:
    """`finding` about the subject at `index` (findings of the policy set itself carry none)."""
    if index is None or "index" not in finding.extra:
        return finding
    return replace(finding, extra={**finding.extra, "index": index})


def _to_json(finding: Finding) -> dict[str, Any]:
    ref = finding.obj
    return {**{name: getattr(finding, name) for name in _TEXT_FIELDS}, "severity": finding.severity.value,
            "line": finding.line, "obj": None if ref is None else [getattr(ref, n) for n in _REF_FIELDS],
            "extra": finding.extra}


def _from_json(data: dict[str, Any]) -> Finding:
    ref = data["obj"]
    return Finding(**{name: data[name] for name in _TEXT_FIELDS}, severity=Severity(data["severity"]),
                   line=data["line"], obj=None if ref is None else ObjectRef(*ref), extra=dict(data["extra"]))


def _valid(value: Any) -> bool:
    """An entry read back is a list of findings of exactly the shape `_to_json` writes."""
    return isinstance(value, list) and all(_valid_finding(item) for item in value)


def _valid_finding(item: Any) -> bool:
    if not isinstance(item, dict) or set(item) != {*_TEXT_FIELDS, "severity", "line", "obj", "extra"}:
        return False
    ref = item["obj"]
    return (all(isinstance(item[name], str) for name in _TEXT_FIELDS)
            and item["severity"] in {s.value for s in Severity}
            and (item["line"] is None or type(item["line"]) is int)
            and (ref is None or (isinstance(ref, list) and len(ref) == len(_REF_FIELDS)
                                 and all(isinstance(p, str) for p in ref)))
            and isinstance(item["extra"], dict))
