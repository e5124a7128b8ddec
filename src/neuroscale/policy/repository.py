"""Load policy documents from files: a GitOps repository's `policies/` directory, test suites.

A repository adds to or overrides the bundled set by committing policies under
`policies/` (any depth, `*.yaml` / `*.yml`): a policy with the same
`metadata.name` as a bundled one replaces it (see `policyset.layer`).
Kyverno test manifests and their resource files may live alongside; only
policy kinds are returned. Files are read defensively: size-capped, symlinks
must stay inside the repository, and YAML errors name the file and line.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from neuroscale.errors import InvalidInput
from neuroscale.policy.policyset import is_policy_document
from neuroscale.yamlio import load_all

POLICIES_DIR = "policies"
MAX_FILE_BYTES = 4 * 1024 * 1024
YAML_SUFFIXES = (".yaml", ".yml")


def read_yaml_documents(path: Path, *, root: Path | None = None) -> list[Any]:
    """Every YAML document in `path`; InvalidInput for unreadable, oversized, escaping or invalid files."""
    if root is not None and not path.resolve().is_relative_to(root.resolve()):
        raise InvalidInput("file points outside the repository", where=str(path),
                           fix="replace the symlink with the file itself")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InvalidInput(f"file is {size} bytes, over the {MAX_FILE_BYTES}-byte limit", where=str(path),
                               fix="split the file")
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read file: {exc.strerror}", where=str(path), fix="check the path") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("file is not UTF-8 text", where=str(path), fix="keep YAML files as UTF-8 text") from None
    return load_all(text, where=str(path))


def yaml_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix in YAML_SUFFIXES)


def load_policy_files(paths: list[Path], *, root: Path | None = None) -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    for path in paths:
        for document in read_yaml_documents(path, root=root):
            if is_policy_document(document):
                documents.append(dict(document) if isinstance(document, Mapping) else document)
    return documents


def load_repository_policies(path: Path) -> list[dict[str, Any]]:
    """Policies under `<path>/policies/` (or `path` itself when it is that directory); [] when absent."""
    directory = path if path.name == POLICIES_DIR else path / POLICIES_DIR
    if not directory.is_dir():
        return []
    return load_policy_files(yaml_files(directory), root=path if path.name != POLICIES_DIR else path.parent)
