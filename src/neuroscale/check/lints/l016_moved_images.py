"""NS-L016: images from registries or repositories that moved or stopped serving (FM-16, FM-41).

`gcr.io/kubebuilder` began answering 403 and took KServe's webhook down with
it; `k8s.gcr.io` is frozen; Bitnami moved its versioned images out of
`docker.io/bitnami` in 2025. Which prefixes moved, since when and to where is
a maintained, dated data file (`check/data/moved-images.yaml`), so the list is
reviewed like code. A stopped registry is an error (the pull fails); a frozen
or moved one a warning (it still pulls today, with no updates).
`neuroscale check --online` goes further and asks each registry about each tag.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

from ruamel.yaml import YAML

from neuroscale.check.lints.base import Lint
from neuroscale.check.lints.images import image_uses, parse_reference
from neuroscale.check.model import RepoView
from neuroscale.findings import Finding, Severity

ID = "NS-L016"
DATA_FILE = "data/moved-images.yaml"


@dataclass(frozen=True)
class Move:
    prefix: str
    status: str  # stopped | frozen | moved
    since: str
    replacement: str
    source: str


@functools.cache
def moves() -> tuple[Move, ...]:
    text = resources.files("neuroscale.check").joinpath(DATA_FILE).read_text(encoding="utf-8")
    return tuple(Move(prefix=str(e["prefix"]), status=str(e["status"]), since=str(e["since"]),
                      replacement=str(e["replacement"]), source=str(e["source"]))
                 for e in YAML(typ="safe").load(text))


def moved(image: str) -> Move | None:
    """The entry covering `image` (matched on the normalised name, so `bitnami/redis` is Docker Hub's)."""
    name = parse_reference(image).name + "/"
    return next((m for m in moves() if name.startswith(m.prefix) or image.startswith(m.prefix)), None)


def check(view: RepoView) -> list[Finding]:
    findings = []
    for use in image_uses(view):
        move = moved(use.image)
        if move is None:
            continue
        stopped = move.status == "stopped"
        what = {"stopped": "stopped serving images", "frozen": "is frozen (no new tags; old ones may go)",
                "moved": "moved its images"}.get(move.status, move.status)
        findings.append(view.finding(
            use.doc, rule=ID, severity=Severity.ERROR if stopped else Severity.WARNING, needle=use.needle,
            field_path=use.field_path,
            message=f"image {use.image}: {move.prefix.rstrip('/')} {what} on {move.since}"
                    + (": pulls fail" if stopped else ""),
            fix=f"use {move.replacement} after checking the tag exists there (see {move.source})"))
    return findings


LINT = Lint(id=ID, title="Images from registries that moved or stopped serving", failure_modes=("FM-16", "FM-41"),
            severity=Severity.ERROR, check=check)
