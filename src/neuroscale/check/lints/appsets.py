"""The Applications an ApplicationSet generates, as far as the repository itself can say.

Ownership checks (which Application syncs a directory, two syncing one) must count the Applications an
ApplicationSet stamps out, or an endpoint directory that `neuroscale init`'s own ApplicationSet syncs looks
unowned, and a hand-written Application syncing it too looks harmless. Argo CD runs the generators; here
only those whose parameters the checkout holds are followed, as Argo CD reads them:

* `git` with `directories`: every directory of this repository (when the generator's `repoURL` names it,
  `argo.ThisRepository`) but those under a directory whose name starts with `.` (Argo CD's repo server skips
  them), matched by a pattern with Go's `path.Match` (`*` stops at `/`), less those an `exclude: true`
  pattern matches; its parameters are `path`, `path.basename`, `path.basenameNormalized`, `path[n]` (Go
  templates: `.path.path`, `.path.basename`, `.path.segments`), under `pathParamPrefix`, and its `values`
  rendered with them (`values.k`, Go templates `.values.k`);
* `git` with `files`: every file of this repository its patterns match (as Argo CD lists them: see
  `appset_files`), each object of each file one parameter set, with `path` (the file's directory),
  `path.basename`, `path.filename`, their normalized forms and `path[n]` beside the file's own keys, under
  `pathParamPrefix`, and `values`; only patterns that end in `.json`, `.yaml` or `.yml` are followed (other
  files are not read here). A matched file Argo CD cannot read stops the ApplicationSet: it generates
  nothing, and `Generated.unreadable` says which file and line (NS-L013 reports it, so the check is not
  green while ownership is unknown);
* `list`: its `elements` (without `goTemplate`, only string values and a `values` map of strings, as Argo
  CD takes them);
* `matrix` of two of these: the second generator rendered with each parameter set of the first (Argo CD's
  interpolation), every pair's parameters together (with Go templates the first's win; without, two
  different values of one key fail).

Anything else (cluster, pull-request, SCM, plugin, merge generators, a git `files` pattern that may match
files `check` does not read, a generator with its own `template` or a `selector`) is not followed: the
ApplicationSet generates nothing here from it, as before, rather than something guessed. An ApplicationSet
with a `templatePatch` (applied after rendering, a Go template of its own) generates nothing here. Where Argo
CD would stop an ApplicationSet with an error (a list value that is not a string without `goTemplate`, a
matrix key with two values, two Applications of one name, a Go template that does not parse such as
`{{path.basename}}` with `goTemplate: true`), it generates nothing here either. The template is rendered by
substitution only: `{{key}}` (fasttemplate, `goTemplate` unset) and `{{ .a.b }}` / `{{ index .a.segments N }}`
(`goTemplate: true`, with `{{-`/`-}}` trimming); a Go-template field holding any other action stays as
written, whole, so a path, destination or name holding one reads as unknown (`argo.is_placeholder`).
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from neuroscale.check.lints.appset_files import (UnreadableConfig, config_objects, flattened, glob_regex, go_string,
                                                 listable, matched_files, new_globbing)
from neuroscale.check.lints.base import dig
from neuroscale.check.model import Document, RepoView

if TYPE_CHECKING:
    from neuroscale.check.lints.argo import ThisRepository

Params = dict[str, Any]
#: A Go-template action with the whitespace around it: `{{- ` trims what precedes, ` -}}` what follows.
_GO_ACTION = re.compile(r"(\s*)\{\{(-\s)?\s*(.*?)\s*(\s-)?\}\}(\s*)", re.DOTALL)
_GO_FIELD = re.compile(r"\.([A-Za-z_][\w.]*)")
_GO_INDEX = re.compile(r"index\s+\.([A-Za-z_][\w.]*)\s+(\d+)")
#: fasttemplate's `{{path.basename}}` / `{{path[0]}}` in a Go template: Go reports "function not defined".
_GO_UNPARSABLE = re.compile(r"\{\{-?\s*[A-Za-z_]\w*(?:\.\w+|\[\d+\])+\s*-?\}\}")
_FAST_TAG = re.compile(r"\{\{([^{}]*)\}\}")
_INVALID_DNS = re.compile(r"[^-a-z0-9.]")
_MAX_GENERATED = 10_000  # per generator: a matrix of two long lists must not stall the check


class _Refused(Exception):
    """Argo CD would stop the ApplicationSet with an error: it generates no Application at all."""


@dataclass(frozen=True)
class Unreadable:
    """An ApplicationSet Argo CD stops because a file its git `files` generator matched cannot be read."""

    appset: Document
    path: str
    line: int | None
    reason: str


@dataclass(frozen=True)
class Generated:
    applications: list[Document]
    #: sets that generate nothing for a file they read: the Applications they own are unknown here
    unreadable: list[Unreadable]


def generated_applications(view: RepoView, this: ThisRepository) -> Generated:
    """Application documents the repository's ApplicationSets generate (located at the ApplicationSet);
    `this` is the `argo.ThisRepository` that says which git generators read this repository."""
    found: list[Document] = []
    unreadable: list[Unreadable] = []
    context = _Context(view=view, this=this)
    for appset in view.of_kind("ApplicationSet"):
        spec = dig(appset.data, "spec")
        template, generators = dig(spec, "template"), dig(spec, "generators")
        if (appset.group != "argoproj.io" or not isinstance(template, dict) or not isinstance(generators, list)
                or "templatePatch" in spec):
            continue
        try:
            rendered = _rendered(template, generators, go=dig(spec, "goTemplate") is True, context=context)
        except UnreadableConfig as problem:
            unreadable.append(Unreadable(appset=appset, path=problem.path, line=problem.line, reason=problem.reason))
            continue
        except _Refused:
            continue
        found.extend(Document(path=appset.path, index=appset.index, line=appset.line, end_line=appset.end_line,
                              data={"apiVersion": appset.api_version, "kind": "Application",
                                    "metadata": {**(app.get("metadata") or {}),
                                                 "namespace": appset.metadata.get("namespace", "")},
                                    "spec": app.get("spec")})
                     for app in rendered)
    return Generated(applications=found, unreadable=unreadable)


class _Context:
    """What a git generator reads: which repository is this one, its directories and its files' parameters
    (each read once, however many generators and matrix rows ask)."""

    def __init__(self, *, view: RepoView, this: ThisRepository) -> None:
        self.view, self.this = view, this
        self.configs: dict[str, list[dict[str, Any]]] = {}

    @functools.cached_property
    def directories(self) -> list[str]:
        return _directories(self.view)

    @functools.cached_property
    def doublestar(self) -> bool:
        return new_globbing(self.view)

    def objects(self, path: str) -> list[dict[str, Any]]:
        if path not in self.configs:
            self.configs[path] = config_objects(path, self.view.files[path])
        return self.configs[path]


def _rendered(template: dict[str, Any], generators: list[Any], *, go: bool, context: _Context) -> list[Any]:
    if go and _GO_UNPARSABLE.search(repr(template)):
        raise _Refused
    apps = [_render(template, params, go=go) for generator in generators
            for params in itertools.islice(_params(generator, go=go, context=context), _MAX_GENERATED)]
    names = [str(dig(app, "metadata", "name") or "") for app in apps]
    known = [name for name in names if "{{" not in name]
    if len(set(known)) != len(known):
        raise _Refused  # Argo CD refuses an ApplicationSet that generates two Applications of one name
    return [app for app in apps if isinstance(app, dict)]


def _params(generator: Any, *, go: bool, context: _Context) -> Iterator[Params]:
    if not isinstance(generator, dict) or len(generator) != 1:
        return
    (kind, body), = generator.items()
    if not isinstance(body, dict) or {"template", "selector"} & body.keys():
        return
    if kind == "list" and isinstance(body.get("elements"), list):
        yield from (_element(e, go=go) for e in body["elements"] if isinstance(e, dict))
    elif kind == "git" and context.this.names(str(body.get("repoURL", ""))):
        values, prefix = body.get("values"), str(body.get("pathParamPrefix") or "")
        for params in _git_params(body, go=go, prefix=prefix, context=context):
            yield {**params, **_values(values, params, go=go)} if isinstance(values, dict) and values else params
    elif kind == "matrix" and isinstance(body.get("generators"), list) and len(body["generators"]) == 2:
        first, second = body["generators"]
        templated = "{{" in repr(second)
        fixed = None if templated else [*_params(second, go=go, context=context)]
        for a in [*_params(first, go=go, context=context)]:
            for b in fixed if fixed is not None else _params(_render(second, a, go=go), go=go, context=context):
                yield _combined(a, b, go=go)


def _git_params(body: dict[str, Any], *, go: bool, prefix: str, context: _Context) -> Iterator[Params]:
    """A git generator's own parameters: one set per matched directory, or per object of each matched file
    (directories win when both are given, as in Argo CD)."""
    directories, files = body.get("directories"), body.get("files")
    if isinstance(directories, list) and directories:
        for directory in _matched(directories, context.directories):
            yield _path_params(directory, go=go, prefix=prefix)
    elif isinstance(files, list) and files and all(
            isinstance(i, dict) and listable(str(i.get("path", ""))) for i in files if not dig(i, "exclude")):
        for path in matched_files(files, context.view.files, doublestar=context.doublestar):
            for data in context.objects(path):
                yield _file_params(path, data, go=go, prefix=prefix)


def _file_params(path: str, data: dict[str, Any], *, go: bool, prefix: str) -> Params:
    """One object of a matched file with the file's path parameters (which win over the file's own `path`)."""
    directory, _, filename = path.rpartition("/")
    own = _path_params(directory or ".", go=go, prefix=prefix, filename=filename)
    return {**data, **own} if go else {**flattened(data), **own}


def _combined(first: Params, second: Params, *, go: bool) -> Params:
    """One matrix parameter set, as Argo CD merges the two."""
    if go:
        return _deep_merged(second, first)
    if any(key in first and first[key] != value for key, value in second.items()):
        raise _Refused  # "found duplicate key ... with different value"
    return {**first, **second}


def _deep_merged(base: Params, over: Params) -> Params:
    merged = dict(base)
    for key, value in over.items():
        merged[key] = (_deep_merged(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict)
                       else value)
    return merged


def _values(values: dict[str, Any], params: Params, *, go: bool) -> Params:
    """A git generator's `values`, each rendered with the generator's own parameters."""
    rendered = {str(key): _render(str(value), params, go=go) for key, value in values.items()}
    if go:
        return {"values": rendered} if rendered else {}
    return {f"values.{key}": value for key, value in rendered.items()}


def _directories(view: RepoView) -> list[str]:
    """Every directory holding a file of the checkout, but hidden ones and all under them (Argo CD's repo
    server walks the tree likewise)."""
    found = {str(parent) for path in view.files for parent in PurePosixPath(path).parents if str(parent) != "."}
    return sorted(d for d in found if not any(part.startswith(".") for part in d.split("/")))


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
    return glob_regex(pattern, star="[^/]*", one="[^/]", negators="^")


def _normalized(name: str) -> str:
    """Argo CD's SanitizeName: lower case, each character outside `[-a-z0-9.]` a `-`, at most 253
    characters, then `-` and `.` trimmed from both ends."""
    return _INVALID_DNS.sub("-", name.lower())[:253].strip("-.")


def _path_params(directory: str, *, go: bool, prefix: str, filename: str | None = None) -> Params:
    """`path` and its parts for a matched directory, or for the directory of a matched file (`filename`)."""
    basename = directory.rsplit("/", 1)[-1]
    names = {"basename": basename, "basenameNormalized": _normalized(basename)}
    if filename is not None:
        names.update(filename=filename, filenameNormalized=_normalized(filename))
    if go:
        path = {"path": directory, **names, "segments": directory.split("/")}
        return {prefix: {"path": path}} if prefix else {"path": path}
    name = f"{prefix}.path" if prefix else "path"
    flat = {name: directory, **{f"{name}.{key}": value for key, value in names.items()}}
    flat.update({f"{name}[{n}]": part for n, part in enumerate(directory.split("/")) if part})
    return flat


def _element(element: dict[str, Any], *, go: bool) -> Params:
    """A list element's parameters; without Go templates Argo CD takes only strings (and a `values` map of
    strings, as `values.k`), and fails the ApplicationSet on anything else."""
    if go:
        return element
    params: Params = {}
    for key, value in element.items():
        if key == "values" and isinstance(value, dict):
            params.update({f"values.{k}": v for k, v in value.items()})
        else:
            params[str(key)] = value
    if not all(isinstance(value, str) for value in params.values()):
        raise _Refused
    return params


def _render(value: Any, params: Params, *, go: bool) -> Any:
    if isinstance(value, str):
        if "{{" not in value:
            return value
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
    """A Go-template field rendered when every action in it is a field or an `index` of one; else as written."""
    unknown = False

    def action(match: re.Match[str]) -> str:
        nonlocal unknown
        lead, trim_left, body, trim_right, trail = match.groups()
        value = _go_value(body, params)
        if value is None:
            unknown = True
            return match.group(0)
        return ("" if trim_left else lead) + value + ("" if trim_right else trail)

    rendered = _GO_ACTION.sub(action, text)
    return text if unknown else rendered


def _go_value(body: str, params: Params) -> str | None:
    if field := _GO_FIELD.fullmatch(body):
        found = _lookup(params, field.group(1))
    elif index := _GO_INDEX.fullmatch(body):
        items, at = _lookup(params, index.group(1)), int(index.group(2))
        found = items[at] if isinstance(items, list) and at < len(items) else None
    else:
        return None
    if found is None or isinstance(found, dict | list):
        return None
    return go_string(found)


def _lookup(params: Params, dotted: str) -> Any:
    found: Any = params
    for key in dotted.split("."):
        if not isinstance(found, dict) or key not in found:
            return None
        found = found[key]
    return found
