"""NS-L011: label keys that almost match a required key (FM-23, FM-40).

Label keys are exact-match: a template writing `costCenter` passed review
while the policy required `cost-center`, and admission denied every endpoint
after merge. Required keys come from the one definition (neuroscale.spec.fields)
plus label patterns in the repository's own Kyverno policies; manifests and
template files (Helm, Backstage skeletons) are both searched.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from neuroscale.check.lints.base import Lint, authored_data, dig
from neuroscale.check.loader import TEMPLATE_SUFFIXES
from neuroscale.check.model import RepoView
from neuroscale.findings import Finding, Severity
from neuroscale.spec.fields import REQUIRED_LABELS

ID = "NS-L011"
_KEY_LINE = re.compile(r"^(?P<indent>\s*)(?:-\s+)?[\"']?(?P<key>[A-Za-z0-9_.\-/]+)[\"']?\s*:")


def normalise(key: str) -> str:
    return re.sub(r"[-_.\s]", "", key.rsplit("/", 1)[-1]).lower()


def required_keys(view: RepoView) -> set[str]:
    keys = set(REQUIRED_LABELS)
    for doc in view.of_kind("ClusterPolicy", "Policy"):
        for rule in dig(doc.data, "spec", "rules") or []:
            labels = dig(rule, "validate", "pattern", "metadata", "labels")
            if isinstance(labels, dict):
                keys.update(str(k).strip("?=()^X") for k in labels)
    return keys


def near_miss(key: str, required: set[str]) -> str:
    """The required key `key` was probably meant to be, or ''."""
    if key in required:
        return ""
    return next((want for want in sorted(required) if normalise(want) == normalise(key)), "")


def _label_maps(data: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(data, dict):
        for key, value in data.items():
            sub = f"{path}.{key}" if path else str(key)
            if key == "labels" and isinstance(value, dict):
                yield sub, value
            else:
                yield from _label_maps(value, sub)
    elif isinstance(data, list):
        for index, item in enumerate(data):
            yield from _label_maps(item, f"{path}[{index}]")


def _template_lines(text: str, required: set[str]) -> Iterator[tuple[int, str, str]]:
    """(line, key, meant) for near-miss keys directly inside a `labels:` block of a template."""
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        match = _KEY_LINE.match(line)
        meant = near_miss(match["key"], required) if match else ""
        if not match or not meant:
            continue
        indent = len(match["indent"])
        for previous in reversed(lines[: number - 1]):
            if previous.strip() and len(previous) - len(previous.lstrip()) < indent:
                if previous.strip().rstrip(":").endswith("labels"):
                    yield number, match["key"], meant
                break


def check(view: RepoView) -> list[Finding]:
    required = required_keys(view)
    findings = []
    for doc in view.documents:
        if not view.current(doc):
            continue
        for path, labels in _label_maps(authored_data(doc)):
            for key in labels:
                meant = near_miss(str(key), required)
                if meant:
                    findings.append(view.finding(
                        doc, rule=ID, severity=Severity.ERROR, needle=f"{key}:", field_path=f"{path}.{key}",
                        message=f"label key {key!r} is a near miss of the required {meant!r}: policies will not see it",
                        fix=f"rename the label to {meant!r}"))
    for path in sorted(view.skipped) + sorted(p for p in view.files if p.endswith(TEMPLATE_SUFFIXES)):
        for line, key, meant in _template_lines(view.text(path), required):
            findings.append(Finding(
                rule=ID, severity=Severity.ERROR, file=path, line=line,
                message=f"template writes label key {key!r}, a near miss of the required {meant!r}",
                fix=f"rename the label to {meant!r} in the template"))
    return findings


LINT = Lint(id=ID, title="Near-miss label keys (costCenter vs cost-center)", failure_modes=("FM-23", "FM-40"),
            severity=Severity.ERROR, check=check)
