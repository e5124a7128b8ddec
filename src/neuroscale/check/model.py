"""The values `neuroscale check` passes between its stages.

A `RepoView` is the parsed, read-only picture of a GitOps repository at one
revision: every readable file and every YAML document with its file and line.
Lints, schema validation and policies all read the same view, so a finding
always points at the same place whichever stage produced it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neuroscale.findings import Finding, ObjectRef, Severity, SeverityCounts
from neuroscale.yamlio import DEFAULT_LIMITS, YamlLimits

if TYPE_CHECKING:
    from neuroscale.check.diff import ObjectChange
    from neuroscale.policy.bundled import BundledOptions
    from neuroscale.cost.delta import CostDelta


@dataclass(frozen=True)
class Document:
    """One YAML document of one file; `line`..`end_line` is its 1-based span."""

    path: str
    index: int
    line: int
    end_line: int
    data: Any
    #: The object as written in its file, when `data` is what kustomize rendered from it (else None).
    written: Any = field(default=None, compare=False, repr=False)
    rendered_from: str = ""  # the kustomization whose build produced `data` ('' when read as written)

    @functools.cached_property
    def is_object(self) -> bool:
        data = self.data
        return isinstance(data, dict) and isinstance(data.get("kind"), str) and isinstance(data.get("apiVersion"), str)

    @property
    def filename(self) -> str:
        """The file's name without its directory (`kustomization.yaml`)."""
        return self.path.rpartition("/")[2]

    @functools.cached_property
    def kind(self) -> str:
        """Cached like `is_object`: every stage and lint asks, for every object."""
        return str(self.data.get("kind", "")) if isinstance(self.data, dict) else ""

    @functools.cached_property
    def api_version(self) -> str:
        return str(self.data.get("apiVersion", "")) if isinstance(self.data, dict) else ""

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def metadata(self) -> dict[str, Any]:
        meta = self.data.get("metadata") if isinstance(self.data, dict) else None
        return meta if isinstance(meta, dict) else {}

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))

    @property
    def namespace(self) -> str:
        return str(self.metadata.get("namespace", "") or "")

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef(kind=self.kind, name=self.name, namespace=self.namespace, api_version=self.api_version)

    @property
    def key(self) -> tuple[str, str, str, str]:
        """Identity of the object as the API server sees it: (group, kind, namespace, name)."""
        return (self.group, self.kind, self.namespace, self.name)


class CrdCatalog:
    """CRDs from outside the repository (the CRD cache, `--crd-dir`), read on first use: a lint that never asks
    about a kind the repository does not define does not pay for reading megabytes of CRDs."""

    def __init__(self, load: Callable[[], Sequence[Document]] = tuple) -> None:
        self._load = load

    @functools.cached_property
    def crds(self) -> Sequence[Document]:
        return self._load()


@dataclass(frozen=True)
class RepoView:
    """Files and parsed documents of a repository at one revision (paths are POSIX, repo-relative)."""

    files: Mapping[str, bytes]
    documents: tuple[Document, ...]
    skipped: Mapping[str, str] = field(default_factory=dict)  # path -> why it was not parsed
    #: Files whose objects were replaced by what a kustomize build rendered from them (resources, patches).
    consumed: frozenset[str] = frozenset()
    #: URLs the repository is fetched by (the checked directory's git remotes): which Argo CD sources are its own.
    remotes: tuple[str, ...] = ()
    #: CRDs the check knows from outside the repository (empty unless the runner sets it).
    catalog: CrdCatalog = field(default_factory=CrdCatalog, compare=False, repr=False)
    _lines: dict[str, list[str]] = field(default_factory=dict, compare=False, repr=False)

    def current(self, doc: Document) -> bool:
        """False for an object a kustomize build replaced with what it rendered from it."""
        return bool(doc.rendered_from) or doc.path not in self.consumed or not doc.is_object

    def objects(self) -> Iterator[Document]:
        """Every object as it deploys: rendered where a kustomization was built, else as written."""
        return iter(self._objects)

    @functools.cached_property
    def _objects(self) -> tuple[Document, ...]:
        return tuple(doc for doc in self.documents if doc.is_object and self.current(doc))

    def of_kind(self, *kinds: str) -> list[Document]:
        return [doc for doc in self.objects() if doc.kind in kinds]

    def text(self, path: str) -> str:
        return self.files.get(path, b"").decode("utf-8", errors="replace")

    def line_of(self, doc: Document, needle: str, *, field_path: str = "") -> int:
        """First line inside `doc` containing `needle` (the document's first line if none). With `field_path`
        the search starts below the keys leading to it, so `spec.initContainers[0].image` is not placed at an
        equal image under `spec.containers` (a path the file does not spell, e.g. a rendered one, is ignored)."""
        lines = self._lines.get(doc.path)
        if lines is None:
            lines = self._lines[doc.path] = self.text(doc.path).splitlines()
        last = min(doc.end_line, len(lines))
        start = doc.line
        for key in _parent_keys(field_path):
            start = next((n for n in range(start, last + 1) if f"{key}:" in lines[n - 1]), 0)
            if not start:
                start = doc.line
                break
        for first in dict.fromkeys((start, doc.line)):
            for number in range(first, last + 1):
                if needle in lines[number - 1]:
                    return number
        return doc.line

    def finding(self, doc: Document, *, rule: str, severity: Severity, message: str, fix: str,
                needle: str = "", field_path: str = "") -> Finding:
        """A finding located at `doc` (and at the line holding `needle`, when given)."""
        return Finding(rule=rule, severity=severity, message=message + rendered_note(doc), fix=fix, file=doc.path,
                       line=self.line_of(doc, needle, field_path=field_path) if needle else doc.line,
                       obj=doc.ref if doc.is_object else None, field_path=field_path)


def _parent_keys(field_path: str) -> list[str]:
    """Mapping keys of a field path above its last one: `spec.initContainers[0].image` -> spec, initContainers."""
    keys = [key for key in re.split(r"[.\[\]]+", field_path) if key and not key.isdigit()]
    return keys[:-1]


def rendered_note(doc: Document) -> str:
    """Tells the reader a finding judges the object as a kustomization rendered it, not as the file reads."""
    return f" (as rendered by {doc.rendered_from})" if doc.rendered_from else ""


class OutputFormat(str, Enum):
    TEXT = "text"
    JSON = "json"
    MARKDOWN = "markdown"
    SARIF = "sarif"
    JUNIT = "junit"


@dataclass(frozen=True)
class Limits:
    """Bounds that keep hostile input from hanging or exhausting the check."""

    max_file_bytes: int = 8 * 1024 * 1024  # CRDs run to megabytes
    max_expanded_nodes: int = DEFAULT_LIMITS.max_expanded_nodes
    max_depth: int = DEFAULT_LIMITS.max_depth
    max_files: int = 50_000

    @property
    def yaml(self) -> YamlLimits:
        """The same bounds in the form the shared YAML loader takes."""
        return YamlLimits(max_chars=self.max_file_bytes, max_expanded_nodes=self.max_expanded_nodes,
                          max_depth=self.max_depth)


class BundledScope(str, Enum):
    """What the bundled policies judge: what NeuroScale governs (neuroscale.yaml), or every object."""

    GOVERNED = "governed"
    ALL = "all"


@dataclass(frozen=True)
class CheckOptions:
    """Everything `run_check` needs besides the path and the base ref."""

    kubernetes_version: str | None = None  # None: the newest release kubernetes-validate bundles
    crd_dirs: tuple[Path, ...] = ()
    no_schema_severity: Severity = Severity.WARNING
    price_table: Path | None = None
    cache_dir: Path | None = None  # compiled schema cache; None keeps it in memory only
    all_files: bool = False  # with a base: also report findings in files the change did not touch
    limits: Limits = Limits()
    policy_dirs: tuple[Path, ...] = ()  # --policies: policies deployed from elsewhere
    bundled_scope: BundledScope = BundledScope.GOVERNED
    render: bool = True  # build kustomizations and judge what they render
    crd_cache: Path | None = None  # `neuroscale crds pull` cache read automatically; None: not read
    online: bool = False  # resolve image tags and remote resources over the network
    bundled: BundledOptions | None = None  # the bundled policies' knobs (the embedded platform's model roots)
    fork: bool = False  # schemas in a forked child beside the other stages: only for a single-threaded process


@dataclass(frozen=True)
class CheckReport(SeverityCounts):
    """The outcome of one check: findings plus, against a base, the cost delta and rendered diff."""

    root: str
    findings: tuple[Finding, ...]
    base: str | None = None
    base_sha: str | None = None
    changed_files: tuple[str, ...] = ()
    checked_files: int = 0
    checked_objects: int = 0
    skipped: Mapping[str, str] = field(default_factory=dict)
    cost: CostDelta | None = None  # only against a base
    diff: tuple[ObjectChange, ...] = ()

    @property
    def unevaluable(self) -> bool:
        """True when some input could not be judged at all: the run proves nothing (exit 2)."""
        return any(f.rule in UNEVALUABLE_RULES for f in self.findings)

    @property
    def exit_code(self) -> int:
        if self.unevaluable:
            return 2
        return 1 if self.errors else 0


#: A stage of the check itself failed on some input (the other stages' findings still stand).
UNEVALUABLE = "check/unevaluable"
#: Findings meaning "the tool could not do its job" rather than "the repository is wrong".
UNEVALUABLE_RULES = frozenset({"policy/unevaluable", UNEVALUABLE})
