"""NS-L003: images that will not pull or will not stay the same (FM-16, FM-30, FM-33).

Registries go away (`gcr.io/kubebuilder` began answering 403 and took KServe's
webhook down with it); `:latest` and untagged images change under you and made
a rollout irreproducible. Containers of every workload kind and of
InferenceServices are checked.
"""

from __future__ import annotations

from neuroscale.check.lints.base import Lint, containers
from neuroscale.check.model import RepoView
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


def check(view: RepoView) -> list[Finding]:
    findings = []
    for doc in view.objects():
        for path, container in containers(doc):
            image = container.get("image")
            if not isinstance(image, str):
                continue
            problem = image_problem(image)
            if problem:
                severity, message, fix = problem
                findings.append(view.finding(doc, rule=ID, severity=severity, message=message, fix=fix,
                                             needle=image, field_path=f"{path}.image"))
    return findings


LINT = Lint(id=ID, title="Dead registries, :latest and untagged images", failure_modes=("FM-16", "FM-30", "FM-33"),
            severity=Severity.ERROR, check=check)
