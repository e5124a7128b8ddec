"""Where a repository names container images, and what an image reference means.

Containers of every workload kind, of InferenceServices and of KServe
serving runtimes, and `image:` blocks of Helm values files
(`registry`/`repository`/`tag`, an empty tag meaning the chart's appVersion). `parse_reference` reads a reference the way
the container runtime does: `nginx` is `docker.io/library/nginx:latest`, the
registry is the first component only when it looks like a host (a dot, a
port or `localhost`), and a colon after the last slash starts the tag.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from neuroscale.check.lints.base import containers, values_documents
from neuroscale.check.model import Document, RepoView

DOCKER_HUB = "docker.io"
_HUB_ALIASES = ("index.docker.io", "registry-1.docker.io", "registry.hub.docker.com")


@dataclass(frozen=True)
class ImageUse:
    doc: Document
    field_path: str
    image: str
    needle: str  # text of the line to point at
    from_values: bool = False  # a Helm values block: an empty tag means the chart's appVersion


@dataclass(frozen=True)
class Reference:
    """`registry/repository[:tag][@digest]`, with Docker Hub's defaults filled in."""

    registry: str
    repository: str
    tag: str
    digest: str

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"


def parse_reference(image: str) -> Reference:
    rest, _, digest = image.partition("@")
    head, _, tail = rest.rpartition("/")
    name, _, tag = tail.partition(":")
    path = f"{head}/{name}" if head else name
    first, sep, remainder = path.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, remainder
    else:
        registry, repository = DOCKER_HUB, path
    if registry in _HUB_ALIASES:
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    return Reference(registry=registry, repository=repository, tag=tag, digest=digest)


def _values_images(values: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(field path, image reference) of every `image: {repository, tag}` block in a values tree."""
    if not isinstance(values, dict):
        return
    for key, sub in values.items():
        sub_path = f"{path}.{key}" if path else str(key)
        if key == "image" and isinstance(sub, dict) and isinstance(sub.get("repository"), str):
            registry = f"{sub['registry']}/" if isinstance(sub.get("registry"), str) and sub["registry"] else ""
            tag = str(sub.get("tag") or "")
            digest = str(sub.get("digest") or "")
            yield sub_path, f"{registry}{sub['repository']}" + (f":{tag}" if tag else "") + (
                f"@{digest}" if digest else "")
        else:
            yield from _values_images(sub, sub_path)


def image_uses(view: RepoView) -> list[ImageUse]:
    """Every image the repository runs: workload and endpoint containers, Helm values image blocks."""
    found = [ImageUse(doc, path, image, "image:", from_values=True)
             for doc in values_documents(view) for path, image in _values_images(doc.data)]
    for doc in view.objects():
        for path, container in containers(doc):
            if isinstance(container.get("image"), str):
                found.append(ImageUse(doc, f"{path}.image", container["image"], container["image"]))
    return found
