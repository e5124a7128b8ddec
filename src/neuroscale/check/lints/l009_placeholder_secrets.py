"""NS-L009: placeholder credentials committed as if real (FM-34).

The reference's GitHub token was the literal `<YOUR_TOKEN_HERE>`: the pod
started, and pull requests failed with 401 much later. Credential-looking keys
and Secret values holding placeholders are reported (values are never shown,
only their key and length).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from typing import Any

from neuroscale.check.lints.base import Lint, authored_data
from neuroscale.check.model import Document, RepoView
from neuroscale.findings import Finding, Severity

ID = "NS-L009"
PLACEHOLDER = re.compile(
    r"^(<[^<>]{2,}>|.*YOUR[_-][A-Z_-]*|change[-_]?me|replace[-_]?me|your[-_](token|secret|password|key)"
    r"|xxx+|todo|placeholder|dummy|secret|password)$", re.IGNORECASE)
CREDENTIAL_KEY = re.compile(r"(token|secret|password|passwd|apikey|api_key|credential|private_?key)", re.IGNORECASE)


def is_placeholder(value: str) -> bool:
    return bool(PLACEHOLDER.match(value.strip()))


def _leaves(data: Any, path: str = "") -> Iterator[tuple[str, str, str]]:
    """(dotted path, key, string value) of every string leaf; env entries use their `name`."""
    if isinstance(data, dict):
        if isinstance(data.get("name"), str) and isinstance(data.get("value"), str):
            yield f"{path}.value", data["name"], data["value"]
        for key, value in data.items():
            sub = f"{path}.{key}" if path else str(key)
            if isinstance(value, str):
                yield sub, str(key), value
            else:
                yield from _leaves(value, sub)
    elif isinstance(data, list):
        for index, item in enumerate(data):
            yield from _leaves(item, f"{path}[{index}]")


def _secret_values(doc: Document) -> Iterator[tuple[str, str, str]]:
    for field in ("stringData", "data"):
        entries = doc.data.get(field)
        for key, value in (entries.items() if isinstance(entries, dict) else []):
            text = str(value)
            if field == "data":
                try:
                    text = base64.b64decode(text, validate=True).decode("utf-8", errors="replace")
                except (binascii.Error, ValueError):
                    continue
            yield f"{field}.{key}", str(key), text


def check(view: RepoView) -> list[Finding]:
    findings = []
    for doc in view.documents:
        if not view.current(doc):
            continue
        is_secret = doc.kind == "Secret"
        leaves = _secret_values(doc) if is_secret else _leaves(authored_data(doc))
        for path, key, value in leaves:
            if (is_secret or CREDENTIAL_KEY.search(key)) and is_placeholder(value):
                findings.append(view.finding(
                    doc, rule=ID, severity=Severity.ERROR, needle=f"{key}", field_path=path,
                    message=f"{path} holds a placeholder, not a credential ({len(value)} characters)",
                    fix="provide the real value from a secret store (External Secrets, Sealed Secrets, "
                        "`kubectl create secret`), never committed; restart pods that read it"))
    return findings


LINT = Lint(id=ID, title="Placeholder secrets and tokens", failure_modes=("FM-34",), severity=Severity.ERROR,
            check=check)
