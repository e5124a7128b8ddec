"""The storage-URI shape rules of `neuroscale.spec.storage_uri`, written as CEL a cluster can run.

`storage_uri_problem` refused `file://../x` at embedded admission and in the pull-request checks, while
`neuroscale check` and a cluster (the exported ValidatingAdmissionPolicy or Kyverno ClusterPolicy) let
it through: two verdicts for one manifest. The bundled policy is where guardrails are enforced, so each
`UriRule` is a CEL predicate here, over an entry `e` of `isvc_cel.STORAGE_URIS` (`e.uri`), true when the
URI keeps the rule.

Kubernetes CEL has no percent-decoding, so decoding is spelled as RE2 patterns over the URI as written:
a `%XX` escape decodes wherever it appears (Python's `unquote` too), so a decoded `.` is `.` or `%2e`, a
decoded `/` is `/` or `%2f`, and a decoded control character is one written raw or as `%00`-`%1f`/`%7f`
(an escape of a byte past ASCII never decodes to one of these). As in the reader, the path rules apply
once a `file://` URI's host or a `pvc://` URI's claim is fine, so one mistake is one finding; they then
read the whole URI rather than split the path off, which gives the same verdict, because a scheme, an
allowed host (`''`, `localhost`) and a claim name hold no `%`, no control character and no segment of
dots alone.

Only `matches`, `contains`, `string` and boolean logic are used: every Kubernetes release with
ValidatingAdmissionPolicy (and Kyverno) has them. Scheme names are matched letter by letter (`[fF]`):
what the reader's `lower()` accepts for these letters, where `(?i)` would fold by Unicode's rules.
"""

from __future__ import annotations

from string import Formatter

from neuroscale.policy.isvc_cel import literal
from neuroscale.spec.storage_uri import (
    CLAIM_MAX_LENGTH,
    CLAIM_PATTERN,
    CONTROL_CHARACTER,
    DOT_SEGMENT,
    FILE_HOST,
    INSIDE_CLAIM,
    INSIDE_DIRECTORY,
    PVC_CLAIM,
    UriRule,
)

_URI = "string(e.uri)"
_FILE = "^[fF][iI][lL][eE]://"
_PVC = "^[pP][vV][cC]://"
#: A path segment that decodes to `..`, between decoded slashes or the ends of the URI.
_DOT_SEGMENT = r"(^|/|%2[fF])(\.|%2[eE])(\.|%2[eE])($|/|%2[fF])"
_CONTROL = r"[\x00-\x1f\x7f]|%[01][0-9a-fA-F]|%7[fF]"


def _matches(pattern: str) -> str:
    return f"{_URI}.matches({literal(pattern)})"


def _local() -> str:
    """CEL: the URI names local storage or a claim (no scheme, `file://` or `pvc://`), the reader's path cases."""
    return f"(!{_URI}.contains('://') || {_matches(f'{_FILE}|{_PVC}')})"


_FILE_HOST_OK = f"!{_matches(_FILE)} || {_matches(_FILE + '(localhost)?(/|$)')}"
_PVC_CLAIM_OK = (f"!{_matches(_PVC)} || ({_matches(f'{_PVC}[^/]{{1,{CLAIM_MAX_LENGTH}}}(/|$)')} && "
                 f"{_matches(f'{_PVC}{CLAIM_PATTERN}(/|$)')})")


def _path_keeps(refused: str) -> str:
    """CEL: a local path, once its host or claim is fine (the reader judges those first), matches no `refused`."""
    return f"!{_local()} || !({_FILE_HOST_OK}) || !({_PVC_CLAIM_OK}) || !{_matches(refused)}"


_PREDICATES = {
    FILE_HOST.name: _FILE_HOST_OK,
    PVC_CLAIM.name: _PVC_CLAIM_OK,
    DOT_SEGMENT.name: _path_keeps(_DOT_SEGMENT),
    CONTROL_CHARACTER.name: _path_keeps(_CONTROL),
}


def keeps(rule: UriRule) -> str:
    """CEL over a storage-URI entry `e`: true when its URI keeps `rule`."""
    return _PREDICATES[rule.name]


def _quoted(value: str) -> str:
    return f"\"'\" + {value} + \"'\""


def _filled(template: str, values: dict[str, str]) -> str:
    """CEL concatenating `template`'s text and the CEL of each `{name}` in it (`str.format` syntax)."""
    parts = []
    for text, name, _, _ in Formatter().parse(template):
        if text:
            parts.append(literal(text))
        if name is not None:
            parts.append(values[name])
    return " + ".join(parts)


def describes(rule: UriRule) -> str | None:
    """CEL over a storage-URI entry `e` breaking `rule`: the reader's message for it, the same words. None for
    control characters: CEL cannot escape them, so the message names the field without the URI."""
    if rule is CONTROL_CHARACTER:
        return None
    authority = f"{_URI}.substring({{}}).find('^[^/]*')"
    claim = _quoted(authority.format(len("pvc://")))
    inside = f"({_matches(_PVC)} ? {_filled(INSIDE_CLAIM, {'claim': claim})} : {literal(INSIDE_DIRECTORY)})"
    return _filled(rule.detail, {"uri": _quoted(_URI), "host": _quoted(authority.format(len("file://"))),
                                 "claim": claim, "inside": inside})
