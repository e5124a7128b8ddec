"""Embedded: a model file replaced (or removed) under a running model server.

A server keeps the bytes it loaded, as a KServe pod keeps what its storage
initializer downloaded; the next restart or the next replica loads whatever
the file holds then. So a file changed in place leaves replicas of one
revision answering with different models, and a broken file only shows at the
next restart. Judged from the server's own `ModelLoaded:` record (the file's
size and mtime when it loaded) against the file now.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from neuroscale.doctor.embedded_view import engine
from neuroscale.doctor.index import SnapshotIndex
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.findings import ObjectRef, Severity


def _change(model: Mapping[str, Any]) -> tuple[str, str]:
    """What happened to the file since the server loaded it ("was replaced", "is gone"), and the facts."""
    loaded = f"{model['loaded_size']} bytes (mtime_ns {model['loaded_mtime_ns']}) when loaded"
    if model.get("mtime_ns") is None:
        return "is gone", f"{loaded}, missing now"
    if (model["size"], model["mtime_ns"]) == (model["loaded_size"], model["loaded_mtime_ns"]):
        return "", ""
    return "was replaced", f"{loaded}, {model['size']} bytes (mtime_ns {model['mtime_ns']}) now"


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    found = []
    for server in engine(index).get("servers") or []:
        model = server.get("model_file")
        what, facts = _change(model) if isinstance(model, Mapping) else ("", "")
        if not what:
            continue
        name, path = str(server.get("endpoint", "")), str(model.get("path"))
        found.append(RULE.finding(
            obj=ObjectRef(kind="Endpoint", name=name),
            message=f"the model file of {server.get('revision')} {what} since its server (pid {server.get('pid')}) "
            f"loaded it: {path}",
            evidence=f"{path}: {facts}; the server's record: {server.get('loaded')}",
            root_cause="a running server keeps the bytes it loaded; its restarts and new replicas load the file as "
            "it is now, so replicas of one revision can answer with different models, and a broken file only "
            "shows at the next restart",
            fix=f"kill {server.get('pid')}  # after putting the file back: the reconciler restarts it from the file\n"
            f"# to serve a new model instead, save it under a new path and roll it out (a new revision, checked "
            f"first): neuroscale endpoint update {name} --storage-uri <new uri>",
        ))
    return found


RULE = Rule(
    id="model-file-changed", title="Model files are what servers loaded", covers=("EMB-MODEL-FILE",),
    category=Category.WORKLOADS, severity=Severity.WARNING, check=check, targets=("embedded",),
)
