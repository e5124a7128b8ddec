"""NS-L003: images that will not stay the same (FM-30, FM-33).

`:latest` and untagged images change under you and made a rollout
irreproducible. Containers of every workload kind, of InferenceServices and
of serving runtimes are checked, and `image:` blocks of Helm values files (an
empty tag there means the chart's appVersion and is fine, an explicit `latest` is not).
Registries that moved or stopped serving are NS-L016's job.
"""

from __future__ import annotations

from neuroscale.check.lints.base import Lint
from neuroscale.check.lints.images import image_uses, parse_reference
from neuroscale.check.model import RepoView
from neuroscale.findings import Finding, Severity

ID = "NS-L003"


def image_problem(image: str, *, from_values: bool = False) -> tuple[str, str] | None:
    """(message, fix) for a floating image reference, or None."""
    reference = parse_reference(image)
    if reference.digest:
        return None
    if not reference.tag and not from_values:
        return f"image {image} has no tag (it means :latest)", "pin a version tag or a digest"
    if reference.tag == "latest":
        return f"image {image} uses the floating :latest tag", "pin a version tag or a digest"
    return None


def check(view: RepoView) -> list[Finding]:
    findings = []
    for use in image_uses(view):
        problem = image_problem(use.image, from_values=use.from_values)
        if problem:
            message, fix = problem
            findings.append(view.finding(use.doc, rule=ID, severity=Severity.ERROR, message=message, fix=fix,
                                         needle=use.needle, field_path=use.field_path))
    return findings


LINT = Lint(id=ID, title=":latest and untagged images", failure_modes=("FM-30", "FM-33"),
            severity=Severity.ERROR, check=check)
