"""Reading kustomization files: what each one includes, patches, generates and fetches.

Kustomize's own format, read in one place: which local files and directories
a kustomization pulls in (`resources`, `bases`, `components`, ...), which
files it reads as patches or generator inputs, what its secret generators put
in a Secret, which entries are remote (a URL or a `github.com/...` path
kustomize would fetch) and whether it needs Helm.
The renderer, the applied-object filter and the loader (generator inputs are
not YAML, so they are read on demand) all ask this module.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from neuroscale.check.model import Document, RepoView

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
PATCH_KEYS = ("patches", "patchesStrategicMerge", "patchesJson6902")
#: Fields whose entries are other kustomizations or manifests (files or directories, local or remote).
INCLUDE_KEYS = ("resources", "bases", "components")
PLUGIN_KEYS = ("transformers", "generators", "validators")
_REMOTE = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|git@|github\.com/|gitlab\.com/|bitbucket\.org/)|\?ref=|//", re.I)


def normalise(path: PurePosixPath | str) -> str | None:
    """`a/./b/../c` -> `a/c`; None for a path that leaves the repository or is absolute."""
    text = str(path)
    if text.startswith("/"):
        return None
    parts: list[str] = []
    for part in PurePosixPath(text).parts:
        if part == "..":
            if not parts:
                return None
            parts.pop()
        elif part not in (".", ""):
            parts.append(part)
    return "/".join(parts)


def is_remote(entry: str) -> bool:
    """An entry kustomize would fetch over the network (URL, git address, `host/org/repo//path`)."""
    return bool(_REMOTE.search(entry))


@dataclass(frozen=True)
class SecretGenerator:
    """One `secretGenerator` entry: the Secret's name and where each of its values is written."""

    name: str
    literals: tuple[tuple[str, str], ...]  # (key, value) of `literals: [key=value]`
    envs: tuple[str, ...]  # env files (`KEY=value` lines), as written
    files: tuple[tuple[str, str], ...]  # (key, file as written) of `files: [key=path]` / `[path]`


@dataclass(frozen=True)
class Kustomization:
    """One kustomization file, as far as building and judging it needs."""

    doc: Document
    directory: str  # '' for the repository root, else 'a/b'
    data: dict[str, Any]
    includes: tuple[str, ...] = ()  # local entries of resources/bases/components, repository-relative
    remote: tuple[str, ...] = ()  # entries kustomize would fetch
    escaping: tuple[str, ...] = ()  # entries that leave the repository
    patches: tuple[str, ...] = ()  # repository paths of patch files
    inputs: tuple[str, ...] = field(default=())  # files read by generators, replacements, openapi, ...

    @property
    def is_component(self) -> bool:
        return self.data.get("kind") == "Component"

    @property
    def lists_only(self) -> bool:
        """Names local resources and transforms nothing (an endpoint directory's): it renders them as written."""
        return (set(self.data) <= {"apiVersion", "kind", "resources"} and not self.is_component
                and not self.remote and not self.escaping)

    @property
    def secret_generators(self) -> list[SecretGenerator]:
        return [SecretGenerator(
            name=str(entry.get("name") or ""),
            literals=tuple(_literal(item) for item in _strings(entry.get("literals"))),
            envs=(*_strings(entry.get("envs")), *_strings(entry.get("env"))),
            files=tuple(_file_entry(item) for item in _strings(entry.get("files"))),
        ) for entry in _dicts(self.data.get("secretGenerator"))]

    @property
    def helm_charts(self) -> list[dict[str, Any]]:
        charts = self.data.get("helmCharts")
        return [c for c in charts if isinstance(c, dict)] if isinstance(charts, list) else []

    def local(self, entry: str) -> str | None:
        base = PurePosixPath(self.directory) if self.directory else PurePosixPath(".")
        return normalise(base / entry)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _literal(item: str) -> tuple[str, str]:
    """`key=value` as kustomize reads it: one pair of quotes around the value is not part of it."""
    key, _, value = item.partition("=")
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return key.strip(), value


def _file_entry(item: str) -> tuple[str, str]:
    """(key, file) of a generator's `files` entry: `key=path`, or `path` keyed by its file name."""
    key, sep, path = item.partition("=")
    return (key, path) if sep else (PurePosixPath(item).name, item)


def env_entries(text: str) -> Iterator[tuple[str, str]]:
    """(key, value) of an env file as kustomize reads it: `KEY=value` lines; comments, blank lines and bare
    names (taken from the environment of the build) carry no value here."""
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key and not key.startswith("#"):
            yield key, value


def _generator_files(data: dict[str, Any]) -> Iterator[str]:
    for key in ("configMapGenerator", "secretGenerator"):
        for generator in _dicts(data.get(key)):
            for item in _strings(generator.get("files")):
                yield _file_entry(item)[1]
            yield from _strings(generator.get("envs"))
            yield from _strings(generator.get("env"))


def _patch_entries(data: dict[str, Any]) -> Iterator[str]:
    for key in PATCH_KEYS:
        for entry in data.get(key) or [] if isinstance(data.get(key), list) else []:
            target = entry.get("path") if isinstance(entry, dict) else entry
            if isinstance(target, str) and "\n" not in target:  # an inline patch is YAML text, not a path
                yield target


def _other_inputs(data: dict[str, Any]) -> Iterator[str]:
    yield from _generator_files(data)
    yield from _strings(data.get("configurations"))
    yield from _strings(data.get("crds"))
    openapi = data.get("openapi")
    if isinstance(openapi, dict):
        yield from _strings(openapi.get("path"))
    for item in data.get("replacements") or [] if isinstance(data.get("replacements"), list) else []:
        if isinstance(item, dict):
            yield from _strings(item.get("path"))


def read(doc: Document) -> Kustomization:
    data = doc.data if isinstance(doc.data, dict) else {}
    directory = directory_of(doc.path)
    kust = Kustomization(doc=doc, directory=directory, data=data)
    includes, remote, escaping = [], [], []
    for key in (*INCLUDE_KEYS, *PLUGIN_KEYS):
        for entry in _strings(data.get(key)):
            if is_remote(entry):
                remote.append(entry)
            elif (path := kust.local(entry)) is None:
                escaping.append(entry)
            else:
                includes.append(path)
    patches = [p for e in _patch_entries(data) if (p := kust.local(e)) is not None]
    inputs = [p for e in _other_inputs(data) if (p := kust.local(e)) is not None]
    return Kustomization(doc=doc, directory=directory, data=data, includes=tuple(includes), remote=tuple(remote),
                         escaping=tuple(escaping), patches=tuple(patches), inputs=tuple(inputs))


def kustomizations(view: RepoView) -> dict[str, Kustomization]:
    """Every kustomization of the view, by directory."""
    found: dict[str, Kustomization] = {}
    for doc in view.documents:
        if (doc.filename in KUSTOMIZATION_NAMES and doc.index == 0 and isinstance(doc.data, dict)
                and not doc.rendered_from):
            kust = read(doc)
            found.setdefault(kust.directory, kust)
    return found


def directory_of(path: str) -> str:
    """'' for a file at the repository root, else its directory."""
    parent = str(PurePosixPath(path).parent)
    return "" if parent == "." else parent
