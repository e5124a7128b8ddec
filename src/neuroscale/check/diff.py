"""The rendered diff: which objects a merge adds, changes (field by field) and removes.

Argo CD shows this only after merge; computing it from the two revisions'
parsed objects gives the reviewer the preview. Secret values are never shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from neuroscale.check.applied import applied_objects
from neuroscale.check.model import Document, RepoView

MAX_FIELDS = 50
MAX_VALUE = 80
_HIDDEN = "(hidden)"
SECRET_FIELDS = frozenset({"data", "stringData"})


@dataclass(frozen=True)
class FieldChange:
    path: str
    before: str | None  # None: the field did not exist
    after: str | None


@dataclass(frozen=True)
class ObjectChange:
    change: str  # added | changed | removed
    kind: str
    name: str
    namespace: str
    file: str
    fields: tuple[FieldChange, ...] = ()
    truncated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"change": self.change, "kind": self.kind, "name": self.name, "namespace": self.namespace,
                "file": self.file, "truncated": self.truncated,
                "fields": [{"path": f.path, "before": f.before, "after": f.after} for f in self.fields]}


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value).replace("'", '"')
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def field_changes(before: Any, after: Any, path: str = "", *, secret: bool = False,
                  hidden: frozenset[str] = frozenset()) -> list[FieldChange]:
    """Leaf-level differences between two parsed objects (lists compared by position).

    Values under a top-level key in `hidden` (a Secret's data) are shown as "(hidden)".
    """
    if isinstance(before, dict) and isinstance(after, dict):
        changes: list[FieldChange] = []
        for key in list(before) + [k for k in after if k not in before]:
            sub = f"{path}.{key}" if path else str(key)
            hide = secret or (path == "" and key in hidden)
            if key not in after:
                changes.append(FieldChange(sub, _HIDDEN if hide else _show(before[key]), None))
            elif key not in before:
                changes.append(FieldChange(sub, None, _HIDDEN if hide else _show(after[key])))
            else:
                changes.extend(field_changes(before[key], after[key], sub, secret=hide))
        return changes
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [c for i, (b, a) in enumerate(zip(before, after)) for c in field_changes(b, a, f"{path}[{i}]", secret=secret)]
    if before == after:
        return []
    return [FieldChange(path, _HIDDEN if secret else _show(before), _HIDDEN if secret else _show(after))]


def _index(view: RepoView) -> dict[tuple[str, str, str, str], Document]:
    return {doc.key: doc for doc in applied_objects(view)}


def rendered_diff(base: RepoView, head: RepoView) -> list[ObjectChange]:
    """Objects added, changed and removed going from `base` to `head`."""
    old, new = _index(base), _index(head)
    changes = []
    for key in sorted(old.keys() | new.keys()):
        group, kind, namespace, name = key
        a, b = old.get(key), new.get(key)
        if a is None and b is not None:
            changes.append(ObjectChange("added", kind, name, namespace, b.path))
        elif b is None and a is not None:
            changes.append(ObjectChange("removed", kind, name, namespace, a.path))
        elif a is not None and b is not None and a.data != b.data:
            fields = field_changes(a.data, b.data, hidden=SECRET_FIELDS if kind == "Secret" else frozenset())
            changes.append(ObjectChange("changed", kind, name, namespace, b.path, tuple(fields[:MAX_FIELDS]),
                                        truncated=len(fields) > MAX_FIELDS))
    return changes
