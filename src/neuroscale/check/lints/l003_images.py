"""NS-L003: images that will not pull or will not stay the same (FM-16, FM-30, FM-33).

Registries go away (`gcr.io/kubebuilder` began answering 403 and took KServe's
webhook down with it); `:latest` and untagged images change under you and made
a rollout irreproducible. Containers of every workload kind and of
InferenceServices are checked, and `image:` blocks of Helm values files
(`registry`/`repository`/`tag`; an empty tag means the chart's appVersion and
is fine, an explicit `latest` is not).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from neuroscale.check.lints.base import Lint, containers, values_documents
from neuroscale.check.model import Document, RepoView
from neuroscale.findings import Finding, Severity

ID = "NS-L003"
#: Registry prefixes known to have stopped serving images.
DEAD_REGISTRIES = ("gcr.io/kubebuilder/", "k8s.gcr.io/")


def image_problem(image: str) -> tuple[Severity, str, str] | None:
    """(severity, message, fix) for a bad image reference, or None."""
    for prefix in DEAD_REGISTRIES:
        if image.startswith(prefix):
            return (Severity.ERROR, f"image {image} comes from {prefix.rstrip('/')}, which no longer serves it",
                    "use a maintained mirror (e.g. registry.k8s.io or quay.io/brancz for kube-rbac-proxy) "
                    "after checking the tag exists, or remove the container")
    if "@" in image:
        return None
    name = image.rsplit("/", 1)[-1]
    if ":" not in name:
        return (Severity.ERROR, f"image {image} has no tag (it means :latest)", "pin a version tag or a digest")
    if name.endswith(":latest"):
        return (Severity.ERROR, f"image {image} uses the floating :latest tag", "pin a version tag or a digest")
    return None


def _values_images(values: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(field path, image reference) of every `image: {repository, tag}` block in a values tree."""
    if not isinstance(values, dict):
        return
    for key, sub in values.items():
        sub_path = f"{path}.{key}" if path else str(key)
        if key == "image" and isinstance(sub, dict) and isinstance(sub.get("repository"), str):
            if sub.get("digest"):
                continue
            registry = f"{sub['registry']}/" if isinstance(sub.get("registry"), str) and sub["registry"] else ""
            tag = str(sub.get("tag") or "")
            if tag or registry.startswith(DEAD_REGISTRIES) or f"{registry}{sub['repository']}/".startswith(DEAD_REGISTRIES):
                yield sub_path, f"{registry}{sub['repository']}:{tag or 'appVersion'}"
        else:
            yield from _values_images(sub, sub_path)


def check(view: RepoView) -> list[Finding]:
    found: list[tuple[Document, str, str, str]] = []  # (document, field path, image, line needle)
    for doc in values_documents(view):
        found.extend((doc, path, image, "image:") for path, image in _values_images(doc.data))
    for doc in view.objects():
        for path, container in containers(doc):
            if isinstance(container.get("image"), str):
                found.append((doc, f"{path}.image", container["image"], container["image"]))
    findings = []
    for doc, path, image, needle in found:
        problem = image_problem(image)
        if problem:
            severity, message, fix = problem
            findings.append(view.finding(doc, rule=ID, severity=severity, message=message, fix=fix,
                                         needle=needle, field_path=path))
    return findings


LINT = Lint(id=ID, title="Dead registries, :latest and untagged images", failure_modes=("FM-16", "FM-30", "FM-33"),
            severity=Severity.ERROR, check=check)
