"""Keep secrets out of what is shown or shared: environment values and token-shaped strings are redacted.

A snapshot is made to be shared (`neuroscale doctor --save-snapshot`), and the
places a secret hides in are known: container `env` values written straight
into Pod, Deployment or InferenceService specs, and log lines or event
messages that echo a credential (a GitHub token in a clone URL, an AWS access
key, an `Authorization: Bearer …` header, `password=…`, NeuroScale's own
`nst_`/`nsl_`/`nsk_` tokens, login links and endpoint API keys). Every string in the
snapshot passes through `redact_text`; every `env` list keeps its variable
names and references (`valueFrom`) but loses its values. Only the length of
what was removed is kept, so a rule can still tell "empty" from "set". The
engine passes a model server's last log lines through `redact_text` too before
an event or a pull-request check quotes them. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_MARK = "<redacted"


def _whole(kind: str) -> Callable[[re.Match[str]], str]:
    return lambda match: f"<redacted {kind} len={len(match[0])}>"


def _value(kind: str) -> Callable[[re.Match[str]], str]:
    """Keep what names the secret (`password=`, `Bearer `), drop the secret itself."""
    return lambda match: f"{match['keep']}<redacted {kind} len={len(match['secret'])}>"


_PATTERNS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,255}|github_pat_[A-Za-z0-9_]{20,255})\b"),
     _whole("github-token")),
    (re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA|AROA|AIDA)[A-Z0-9]{16}\b"), _whole("aws-access-key")),
    (re.compile(r"\bns[tlk]_[A-Za-z0-9_-]{40,}"), _whole("neuroscale-secret")),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), _whole("jwt")),
    (re.compile(r"(?P<keep>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:)(?P<secret>[^@\s/]+)(?=@)"),
     _value("password")),
    (re.compile(r"(?P<keep>(?i:\bauthorization)[\"']?[ \t]*[=:][ \t]*(?>(?i:(?:bearer|basic|token)[ \t]+)?))"
                r"(?P<secret>(?!<redacted)[^\s\"',;]+)"), _value("credential")),
    (re.compile(r"(?P<keep>\b[Bb]earer[ \t]+)(?P<secret>(?!<redacted)[A-Za-z0-9._~+/=-]{8,})"), _value("credential")),
    (re.compile(
        r"(?P<keep>(?i:\b[\w.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key"
        r"|credential)s?)[\"']?[ \t]*[=:][ \t]*[\"']?)(?P<secret>(?!<redacted)[^\s\"'&,;}]+)"),
     _value("secret")),
)


def redact_text(text: str) -> str:
    """`text` with every token-shaped string and `key=secret` value replaced by a length-only marker."""
    for pattern, replace in _PATTERNS:
        text = pattern.sub(replace, text)
    return text


def _redact_env(items: list[Any]) -> list[Any]:
    out = []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("value"), str) and not item["value"].startswith(_MARK):
            item = {**item, "value": f"<redacted env len={len(item['value'])}>"}
        out.append(item)
    return out


def redact(value: Any) -> Any:
    """A copy of `value` (JSON-like data) with env values and token-shaped strings redacted."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, list):
        return [redact(item) for item in value]
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if key == "env" and isinstance(item, list):
                item = _redact_env(item)
            out[key] = redact(item)
        return out
    return value
