"""Read a repository (from disk or from a git revision) into a `RepoView`.

The same `build_view` turns a path->bytes mapping into documents whether the
bytes came from the working tree or from `--base`, so head and base are parsed
identically. Reading the working tree is where hostile layouts are handled:
symlinks leaving the repository are reported and not followed, oversized files
are reported and not read, and Helm chart `templates/` (Go templates, not YAML)
are skipped with a note saying so.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from neuroscale.check.jsonshape import json_shape
from neuroscale.check.kustomization import KUSTOMIZATION_NAMES, kustomizations
from neuroscale.check.model import Document, Limits, RepoView
from neuroscale.check.yamldocs import RULE_PARSE, parse_file
from neuroscale.errors import ToolError
from neuroscale.findings import Finding, Severity

YAML_SUFFIXES = (".yaml", ".yml")
#: Files kept in the view: YAML, JSON (chart schemas), Go and Nunjucks templates, packaged charts.
KEPT_SUFFIXES = (*YAML_SUFFIXES, ".json", ".tpl", ".njk", ".tgz", ".txt")
TEMPLATE_SUFFIXES = (".tpl", ".njk")
SKIPPED_DIRS = frozenset({".git", ".hg", ".svn", "node_modules", ".venv", "__pycache__"})

RULE_TOO_LARGE = "NS-P004"
RULE_SYMLINK = "NS-P005"
RULE_SKIPPED = "NS-P006"


def read_tree(root: Path, *, limits: Limits) -> tuple[dict[str, bytes], list[Finding]]:
    """Bytes of every kept file under `root`, plus findings for what could not be read."""
    if not root.is_dir():
        raise ToolError(f"{root} is not a readable directory", where=str(root),
                        fix="pass the path of a GitOps repository checkout")
    real_root = root.resolve()
    files: dict[str, bytes] = {}
    findings: list[Finding] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        current = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS and _inside(current / d, real_root, findings, root))
        for name in sorted(filenames):
            path = current / name
            rel = path.relative_to(root).as_posix()
            if not (name.endswith(KEPT_SUFFIXES) or name in KUSTOMIZATION_NAMES) or not _inside(path, real_root, findings, root):
                continue
            if len(files) >= limits.max_files:
                raise ToolError(f"more than {limits.max_files:,} files to check", where=str(root),
                                fix="check a smaller directory")
            raw = _read(path, rel, limits=limits, findings=findings)
            if raw is not None:
                files[rel] = raw
    return files, findings


def read_extra(root: Path, paths: set[str], *, limits: Limits) -> tuple[dict[str, bytes], list[Finding]]:
    """Files outside the kept suffixes that something asked for by name (kustomize generator inputs, ...)."""
    real_root = root.resolve()
    files: dict[str, bytes] = {}
    findings: list[Finding] = []
    for rel in sorted(paths):
        path = root / rel
        if not path.is_file() or not _inside(path, real_root, findings, root):
            continue
        raw = _read(path, rel, limits=limits, findings=findings)
        if raw is not None:
            files[rel] = raw
    return files, findings


def _inside(path: Path, real_root: Path, findings: list[Finding], root: Path) -> bool:
    """False (with a finding) for a symlink that leaves the repository."""
    if not path.is_symlink():
        return True
    target = path.resolve()
    if target == real_root or real_root in target.parents:
        return True
    findings.append(Finding(
        rule=RULE_SYMLINK, severity=Severity.WARNING, file=path.relative_to(root).as_posix(),
        message="symlink points outside the repository; not followed",
        fix="replace the symlink with the file itself, or remove it"))
    return False


def _read(path: Path, rel: str, *, limits: Limits, findings: list[Finding]) -> bytes | None:
    try:
        size = path.stat().st_size
        if size > limits.max_file_bytes:
            findings.append(Finding(
                rule=RULE_TOO_LARGE, severity=Severity.ERROR, file=rel,
                message=f"file is {size:,} bytes, above the {limits.max_file_bytes:,}-byte limit; not checked",
                fix="split the file, or raise the limit with --max-file-size"))
            return None
        with path.open("rb") as handle:
            return handle.read(limits.max_file_bytes + 1)
    except OSError as exc:
        raise ToolError(f"cannot read {rel}: {exc.strerror}", where=rel,
                        fix="check the file's permissions") from None


def chart_template_dirs(files: Mapping[str, bytes]) -> list[str]:
    """`<chart>/templates/` prefixes of every Helm chart directory in the tree."""
    return sorted(f"{p[: -len('Chart.yaml')]}templates/" for p in files if PurePosixPath(p).name == "Chart.yaml")


def skeleton_dirs(files: Mapping[str, bytes]) -> list[str]:
    """Backstage scaffolder `skeleton/` prefixes: Nunjucks templates, not YAML."""
    found = set()
    for path in files:
        head, sep, _ = f"/{path}".partition("/skeleton/")
        if sep:
            found.add(f"{head}/skeleton/".lstrip("/"))
    return sorted(found)


def _as_read_by_kubernetes(doc: Document) -> Document:
    """The document with YAML dates as the strings the API server keeps (see `jsonshape`)."""
    data, _ = json_shape(doc.data)
    return doc if data is doc.data else replace(doc, data=data)


_SEPARATOR = re.compile(rb"^---(?:[ \t]|\r?$)", re.MULTILINE)


def _document_by_document(path: str, raw: bytes, *, limits: Limits,
                          fallback: tuple[list[Document], list[Finding]]) -> tuple[list[Document], list[Finding]]:
    """A multi-document file with a syntax error, parsed one `---` document at a time: the broken document
    is the finding, the others are still checked (line numbers stay those of the whole file)."""
    starts = [0, *(m.start() for m in _SEPARATOR.finditer(raw) if m.start() > 0)]
    if len(starts) < 2:
        return fallback
    documents: list[Document] = []
    findings: list[Finding] = []
    for start, end in zip(starts, [*starts[1:], len(raw)]):
        offset = raw.count(b"\n", 0, start)
        docs, problems = parse_file(path, raw[start:end], limits=limits)
        documents += [replace(doc, index=len(documents) + i, line=doc.line + offset, end_line=doc.end_line + offset)
                      for i, doc in enumerate(docs)]
        findings += [replace(p, line=p.line + offset) if p.line else p for p in problems]
    return documents, findings


def build_view(files: Mapping[str, bytes], *, limits: Limits,
               cache_dir: Path | None = None) -> tuple[RepoView, list[Finding]]:
    """Parse every YAML file in `files` (except Helm and Backstage templates) into a view."""
    templates = chart_template_dirs(files) + skeleton_dirs(files)
    documents: list[Document] = []
    findings: list[Finding] = []
    skipped: dict[str, str] = {}
    for path in sorted(files):
        if not (path.endswith(YAML_SUFFIXES) or PurePosixPath(path).name in KUSTOMIZATION_NAMES):
            continue
        if any(path.startswith(prefix) for prefix in templates):
            skipped[path] = "template (rendered by Helm or the Backstage scaffolder, not plain YAML)"
            continue
        docs, problems = parse_file(path, files[path], limits=limits, cache_dir=cache_dir)
        if not docs and any(p.rule == RULE_PARSE for p in problems):
            docs, problems = _document_by_document(path, files[path], limits=limits, fallback=(docs, problems))
        documents.extend(_as_read_by_kubernetes(doc) for doc in docs)
        findings.extend(problems)
    for prefix in templates:
        count = sum(1 for path in skipped if path.startswith(prefix))
        if count:
            findings.append(Finding(
                rule=RULE_SKIPPED, severity=Severity.INFO, file=prefix.rstrip("/"),
                message=f"skipped {count} template file(s): rendered by Helm or the scaffolder, not parsed as YAML "
                        "(label keys in them are still linted)",
                fix="render them (`helm template`) and check the output to cover them fully"))
    return RepoView(files=dict(files), documents=tuple(documents), skipped=skipped), findings


def with_inputs(path: Path, view: RepoView, *, limits: Limits) -> tuple[RepoView, list[Finding]]:
    """`view` plus the files its kustomizations read that the walk of YAML files skipped (env files, ...)."""
    wanted = {p for kust in kustomizations(view).values() for p in kust.inputs} - view.files.keys()
    if not wanted:
        return view, []
    extra, unreadable = read_extra(path, wanted, limits=limits)
    return replace(view, files={**view.files, **extra}), unreadable
