"""The Applications an ApplicationSet generates, as far as the repository itself can say.

Ownership checks (which Application syncs a directory, two syncing one) must count the Applications an
ApplicationSet stamps out, or an endpoint directory that `neuroscale init`'s own ApplicationSet syncs looks
unowned, and a hand-written Application syncing it too looks harmless. Argo CD runs the generators; here
only those whose parameters the checkout holds are followed, as Argo CD reads them:

* `git` with `directories`: every directory of this repository (when the generator's `repoURL` names it,
  `argo.ThisRepository`) matched by a pattern with Go's `path.Match` (`*` stops at `/`), less those an
  `exclude: true` pattern matches; its parameters are `path`, `path.basename`, `path.basenameNormalized`,
  `path[n]` (Go templates: `.path.path`, `.path.basename`, `.path.segments`), under `pathParamPrefix`;
* `list`: its `elements`;
* `matrix` of two of these (every pair's parameters together).

Anything else (cluster, pull-request, SCM, plugin, merge generators, a git `files` generator, a generator
with its own `template` or a `selector`, `values:`) is not followed: the ApplicationSet generates nothing
here, as before, rather than something guessed. The template is rendered by substitution only: `{{key}}`
(fasttemplate, `goTemplate` unset) and `{{ .a.b }}` / `{{ index .a.segments N }}` (`goTemplate: true`);
any other expression stays as written, so a path or destination holding one reads as unknown
(`argo.is_placeholder`).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from neuroscale.check.lints.base import dig
from neuroscale.check.model import Document, RepoView

if TYPE_CHECKING:
    from neuroscale.check.lints.argo import ThisRepository

Params = dict[str, Any]
_GO_FIELD = re.compile(r"\{\{-?\s*\.([A-Za-z_][\w.]*)\s*-?\}\}")
_GO_INDEX = re.compile(r"\{\{-?\s*index\s+\.([A-Za-z_][\w.]*)\s+(\d+)\s*-?\}\}")
_FAST_TAG = re.compile(r"\{\{([^{}]*)\}\}")
_UNNORMALIZED = re.compile(r"[^a-z0-9.-]+")
_MAX_GENERATED = 10_000  # per ApplicationSet: a matrix of two long lists must not stall the check


def generated_applications(view: RepoView, this: ThisRepository) -> list[Document]:
    """Application documents the repository's ApplicationSets generate (located at the ApplicationSet);
    `this` is the `argo.ThisRepository` that says which git generators read this repository."""
    found: list[Document] = []
    directories: list[str] | None = None
    for appset in view.of_kind("ApplicationSet"):
        spec = dig(appset.data, "spec")
        template, generators = dig(spec, "template"), dig(spec, "generators")
        if appset.group != "argoproj.io" or not isinstance(template, dict) or not isinstance(generators, list):
            continue
        go = dig(spec, "goTemplate") is True
        for generator in generators:
            if directories is None:
                directories = _directories(view)
            for params in itertools.islice(_params(generator, go=go, this=this, directories=directories),
                                           _MAX_GENERATED):
                rendered = _render(template, params, go=go)
                found.append(Document(path=appset.path, index=appset.index, line=appset.line,
                                      end_line=appset.end_line, data={
                                          "apiVersion": appset.api_version, "kind": "Application",
                                          "metadata": {**(rendered.get("metadata") or {}),
                                                       "namespace": appset.metadata.get("namespace", "")},
                                          "spec": rendered.get("spec")}))
    return found


def _params(generator: Any, *, go: bool, this: ThisRepository, directories: list[str]) -> Iterator[Params]:
    if not isinstance(generator, dict) or len(generator) != 1:
        return
    (kind, body), = generator.items()
    if not isinstance(body, dict) or {"template", "selector", "values"} & body.keys():
        return
    if kind == "list" and isinstance(body.get("elements"), list):
        yield from (_element(e, go=go) for e in body["elements"] if isinstance(e, dict))
    elif kind == "git" and isinstance(body.get("directories"), list) and this.names(str(body.get("repoURL", ""))):
        yield from (_directory(d, go=go, prefix=str(body.get("pathParamPrefix") or ""))
                    for d in _matched(body["directories"], directories))
    elif kind == "matrix" and isinstance(body.get("generators"), list) and len(body["generators"]) == 2:
        first, second = ([*_params(g, go=go, this=this, directories=directories)] for g in body["generators"])
        yield from ({**a, **b} for a in first for b in second)


def _directories(view: RepoView) -> list[str]:
    """Every directory holding a file of the checkout (Argo CD's repo server lists the tree likewise)."""
    found = {str(parent) for path in view.files for parent in PurePosixPath(path).parents if str(parent) != "."}
    return sorted(d for d in found if not any(part == ".git" for part in d.split("/")))


def _matched(items: list[Any], directories: list[str]) -> list[str]:
    """Directories a pattern includes and no `exclude: true` pattern matches (Argo CD's filterApps)."""
    include = [_go_match(str(i.get("path", ""))) for i in items if isinstance(i, dict) and i.get("exclude") is not True]
    exclude = [_go_match(str(i.get("path", ""))) for i in items if isinstance(i, dict) and i.get("exclude") is True]
    return [d for d in directories
            if any(p is not None and p.fullmatch(d) for p in include)
            and not any(p is not None and p.fullmatch(d) for p in exclude)]


def _go_match(pattern: str) -> re.Pattern[str] | None:
    """Go's `path.Match` as a regular expression: `*` and `?` never cross `/`; None for a malformed pattern
    (Go reports ErrBadPattern, and Argo CD then matches nothing with it)."""
    out, index = [], 0
    while index < len(pattern):
        char = pattern[index]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "\\" and index + 1 < len(pattern):
            index += 1
            out.append(re.escape(pattern[index]))
        elif char == "[":
            end = pattern.find("]", index + 1)
            if end <= index + 1 or pattern[index + 1:end] == "^":
                return None
            body = pattern[index + 1:end]
            negated = body.startswith("^")
            out.append("[" + ("^" if negated else "") + re.escape(body[1:] if negated else body).replace(r"\-", "-")
                       + "]")
            index = end
        else:
            out.append(re.escape(char))
        index += 1
    try:
        return re.compile("".join(out))
    except re.error:
        return None


def _directory(directory: str, *, go: bool, prefix: str) -> Params:
    basename = PurePosixPath(directory).name
    normalized = _UNNORMALIZED.sub("-", basename.lower()).strip("-.")[:63]
    if go:
        path = {"path": directory, "basename": basename, "basenameNormalized": normalized,
                "segments": directory.split("/")}
        return {prefix: {"path": path}} if prefix else {"path": path}
    name = f"{prefix}.path" if prefix else "path"
    flat = {name: directory, f"{name}.basename": basename, f"{name}.basenameNormalized": normalized}
    flat.update({f"{name}[{n}]": part for n, part in enumerate(directory.split("/")) if part})
    return flat


def _element(element: dict[str, Any], *, go: bool) -> Params:
    return element if go else {key: str(value) for key, value in _flattened(element)}


def _flattened(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _flattened(item, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, value


def _render(value: Any, params: Params, *, go: bool) -> Any:
    if isinstance(value, str):
        return _go_text(value, params) if go else _fast_text(value, params)
    if isinstance(value, dict):
        return {key: _render(item, params, go=go) for key, item in value.items()}
    if isinstance(value, list):
        return [_render(item, params, go=go) for item in value]
    return value


def _fast_text(text: str, params: Params) -> str:
    """fasttemplate as Argo CD calls it: a known key (spaces trimmed) is replaced, any other tag stays."""
    return _FAST_TAG.sub(lambda m: str(params[m.group(1).strip()]) if m.group(1).strip() in params
                         else m.group(0), text)


def _go_text(text: str, params: Params) -> str:
    def field(match: re.Match[str]) -> str:
        found = _lookup(params, match.group(1))
        return match.group(0) if found is None or isinstance(found, dict | list) else str(found)

    def index(match: re.Match[str]) -> str:
        found = _lookup(params, match.group(1))
        at = int(match.group(2))
        return str(found[at]) if isinstance(found, list) and at < len(found) else match.group(0)

    return _GO_FIELD.sub(field, _GO_INDEX.sub(index, text))


def _lookup(params: Params, dotted: str) -> Any:
    found: Any = params
    for key in dotted.split("."):
        if not isinstance(found, dict) or key not in found:
            return None
        found = found[key]
    return found
