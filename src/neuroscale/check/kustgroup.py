"""Several kustomizations built by one kustomize process: starting kustomize costs more than a small build.

`kubectl kustomize` spends about 0.2 s of CPU starting up before it reads a
file, and a team's overlay of a dozen objects builds in a fraction of that;
a cold check of a repository with five overlays spent most of its rendering
starting kustomize. A wrapper kustomization that lists several top-level
kustomizations renders them all in one process. Its output is split back per
kustomization by the origin annotation kustomize puts on every object (its
source file, under exactly one member's directories), rewritten relative to
that kustomization as its own build writes it, so each part is what building
it alone gives, and is cached under that build's own key.

Only kustomizations whose wrapped output is provably the concatenation of
their own are grouped: no directory shared within a group (a shared base
would make an origin ambiguous and its objects collide), nothing at the
repository root, and only fields kustomize applies inside the kustomization
that declares them — no generators (hash suffixes), name prefixes or
namespaces (fixed up in references across the whole build), vars, sort
options, plugins, Helm or components. When the wrapper fails or an object has
no local origin, the group's kustomizations are built one by one, so an error
still names its own kustomization.
"""

from __future__ import annotations

import json
import posixpath
import re
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from neuroscale.check.kustomization import normalise

if TYPE_CHECKING:
    from neuroscale.check.render import Build

#: Kustomization fields whose effect stays inside the kustomization that declares them.
GROUPABLE_FIELDS = frozenset({"apiVersion", "kind", "metadata", "resources", "bases", "patches",
                              "patchesStrategicMerge", "patchesJson6902", "commonLabels", "labels",
                              "commonAnnotations", "images", "replicas", "buildMetadata"})
_SEPARATOR = re.compile(rb"^---\n", re.M)
_ORIGIN = re.compile(rb"^(?P<indent> +)config\.kubernetes\.io/origin: \|\n(?P<body>(?:(?P=indent) .*\n)+)", re.M)
_ORIGIN_PATH = re.compile(rb"^ +path: (?P<path>\S+)$", re.M)
_ORIGIN_REPO = re.compile(rb"^ +repo: ", re.M)


def _groupable(build: Build) -> bool:
    return all(member.directory and set(member.data) <= GROUPABLE_FIELDS and not member.remote
               for member in build.closure)


def _directories(build: Build) -> list[str]:
    return [member.directory for member in build.closure]


def _overlap(first: Build, second: Build) -> bool:
    return any(a == b or a.startswith(f"{b}/") or b.startswith(f"{a}/")
               for a in _directories(first) for b in _directories(second))


def groups(builds: list[Build]) -> list[list[Build]]:
    """The builds in groups to build together (disjoint directories, groupable fields); others alone."""
    together: list[list[Build]] = []
    alone: list[list[Build]] = []
    for build in builds:
        if not _groupable(build):
            alone.append([build])
            continue
        group = next((g for g in together if not any(_overlap(build, other) for other in g)), None)
        if group is None:
            together.append([build])
        else:
            group.append(build)
    return together + alone


def _owner(path: str, group: list[Build]) -> Build | None:
    owners = [b for b in group if any(path.startswith(f"{d}/") for d in _directories(b))]
    return owners[0] if len(owners) == 1 else None


def split(output: bytes, group: list[Build], *, wrapper: str) -> dict[int, bytes] | None:
    """Each build's part of the wrapper's output (by `id`), origins relative to it; None when an object
    cannot be attributed to exactly one build."""
    parts: dict[int, list[bytes]] = {id(build): [] for build in group}
    for doc in _SEPARATOR.split(output):
        if not doc.strip():
            continue
        origins = list(_ORIGIN.finditer(doc))
        if len(origins) != 1:
            return None
        origin = origins[0]
        paths = list(_ORIGIN_PATH.finditer(origin["body"]))
        if len(paths) != 1 or _ORIGIN_REPO.search(origin["body"]):
            return None
        source = normalise(posixpath.join(wrapper, paths[0]["path"].decode("utf-8", errors="replace")))
        owner = _owner(source, group) if source else None
        if owner is None or source is None:
            return None
        relative = posixpath.relpath(source, owner.kust.directory).encode()
        start = origin.start("body") + paths[0].start("path")
        parts[id(owner)].append(doc[:start] + relative + doc[start + len(paths[0]["path"]):])
    return {key: b"---\n".join(docs) for key, docs in parts.items()}


def build_group(group: list[Build], *, argv: tuple[str, ...], tree: Path, env: Mapping[str, str],
                timeout: float) -> dict[int, bytes] | None:
    """Each build's output (by `id`) from one kustomize run over a wrapper in `tree`; None when it fails."""
    wrapper = Path(tempfile.mkdtemp(prefix=".neuroscale-group-", dir=tree))
    listing = {"buildMetadata": ["originAnnotations"], "resources": [f"../{b.kust.directory}" for b in group]}
    (wrapper / "kustomization.yaml").write_text(json.dumps(listing), encoding="utf-8")
    try:
        done = subprocess.run([*argv, str(wrapper)], capture_output=True, timeout=timeout, env=dict(env), cwd=tree,
                              check=False)
    except (subprocess.TimeoutExpired, OSError):
        return None
    if done.returncode != 0:
        return None
    return split(done.stdout, group, wrapper=wrapper.name)
