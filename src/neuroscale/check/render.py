"""Judge what is applied: build every kustomization and put what it renders in place of what it includes.

A patched Deployment deploys as patched, so schema, policies and lints must
see it that way. Each top-level kustomization (one no other kustomization
includes) is built with `kustomize build` or `kubectl kustomize` over a
private copy of the repository whose kustomizations ask for
`buildMetadata: [originAnnotations]`; kustomize then names, on every object,
the file it came from. A rendered object replaces the objects of that file
and keeps its file and line, so a finding points where the author must edit.

Never silent: no kustomize on PATH, a remote resource offline (fetching needs
`--online`), a chart that needs Helm, or a build error is a finding on the
kustomization, and its files are then judged as written. Offline, the build
runs with proxies pointing nowhere and git limited to local files, so a
hostile kustomization cannot reach the network either. Builds are cached by
the content of the files they read — failures too, when kustomize itself said
no offline (the same files give the same error; a broken overlay was rebuilt,
over a fresh copy of the repository, on every warm run). A timeout, a tool that
cannot start, or a failure with `--online` (the network may answer next time)
is never kept.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from ruamel.yaml import YAML

from neuroscale.atomic_file import replace_file
from neuroscale.check.kustgroup import build_group, groups
from neuroscale.check.kustomization import KUSTOMIZATION_NAMES, Kustomization, kustomizations, normalise
from neuroscale.check.model import CheckOptions, Document, RepoView
from neuroscale.check.yamldocs import parse_file
from neuroscale.findings import Finding, Severity

RULE_NOT_RENDERED = "NS-K001"
RULE_BUILD_FAILED = "NS-K002"
ORIGIN = "config.kubernetes.io/origin"
BUILD_TIMEOUT_S = 120
#: The header kubectl (klog) puts before each log line: severity, date, time, thread, source line.
_KLOG_HEADER = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ [\w.-]+:\d+\] ", re.MULTILINE)
_OFFLINE_ENV = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
                "ALL_PROXY": "http://127.0.0.1:9", "NO_PROXY": "", "GIT_ALLOW_PROTOCOL": "file",
                "GIT_TERMINAL_PROMPT": "0"}


@dataclass(frozen=True)
class Tool:
    """The kustomize command line found on PATH, and its version (part of the cache key)."""

    argv: tuple[str, ...]
    version: str


def find_tool() -> Tool | None:
    """`kustomize build` when installed, else `kubectl kustomize`; None when neither is on PATH.

    The binary's identity (resolved path, size, mtime) stands for its version: asking it costs a process.
    """
    for binary, argv in (("kustomize", ("build",)), ("kubectl", ("kustomize",))):
        path = shutil.which(binary)
        if path:
            real = Path(path).resolve()
            stat = real.stat()
            return Tool((path, *argv), f"{real}:{stat.st_size}:{stat.st_mtime_ns}")
    return None


#: A build lasts a fraction of a second: Go's collector would only spend CPU (a third of kustomize's); the
#: memory limit brings it back for a huge build. A user's own settings win.
_GO_ENV = {"GOGC": "off", "GOMEMLIMIT": "512MiB"}


def _env(*, online: bool) -> dict[str, str]:
    env = {**_GO_ENV, **{k: v for k, v in os.environ.items() if k.upper() not in _OFFLINE_ENV}}
    return env if online else {**env, **_OFFLINE_ENV}


@dataclass
class Build:
    """One top-level kustomization: what it includes, and (once built) what it rendered."""

    kust: Kustomization
    closure: list[Kustomization] = field(default_factory=list)
    blocked: list[tuple[Severity, str, str]] = field(default_factory=list)  # (severity, why, fix): not built
    output: bytes | None = None
    error: str = ""


def _closure(root: Kustomization, index: dict[str, Kustomization]) -> list[Kustomization]:
    seen: dict[str, Kustomization] = {}
    pending = [root]
    while pending:
        kust = pending.pop()
        if kust.directory in seen:
            continue
        seen[kust.directory] = kust
        pending += [index[path] for path in kust.includes if path in index]
    return list(seen.values())


def plan(view: RepoView, *, online: bool, helm: bool) -> list[Build]:
    """The top-level kustomizations and, for each, why it cannot be built here (if it cannot)."""
    index = kustomizations(view)
    included = {path for kust in index.values() for path in kust.includes}
    builds = []
    for directory, kust in sorted(index.items()):
        renders_as_written = kust.lists_only and set(kust.includes) <= view.files.keys()
        if directory in included or kust.is_component or renders_as_written:
            continue  # built by what includes it, or building would change nothing (and cost a process)
        build = Build(kust, _closure(kust, index))
        for member in build.closure:
            build.blocked += _blockers(member, view, index, online=online, helm=helm)
        builds.append(build)
    return builds


def _blockers(kust: Kustomization, view: RepoView, index: dict[str, Kustomization], *,
              online: bool, helm: bool) -> list[tuple[Severity, str, str]]:
    where = kust.doc.path
    found = []
    if kust.remote and not online:
        found.append((Severity.WARNING, f"{where} includes remote resources ({', '.join(kust.remote[:3])}) that "
                      "are not fetched offline", "run `neuroscale check --online` (as CI can) to fetch and render "
                      "them, or vendor them into the repository"))
    if kust.escaping:
        found.append((Severity.ERROR, f"{where} includes paths outside the repository: {', '.join(kust.escaping)}",
                      "keep every resource inside the repository"))
    missing = [p for p in kust.includes if p not in index and p not in view.files
               and not any(f.startswith(f"{p}/") for f in view.files)]
    if missing:
        found.append((Severity.ERROR, f"{where} includes {', '.join(missing)}, which does not exist",
                      "fix the path, or add the missing file"))
    if kust.helm_charts and not helm:
        found.append((Severity.INFO, f"{where} inflates Helm charts (helmCharts) and helm is not on PATH",
                      "install helm where the check runs to render and judge the charts' objects"))
    return found


def materialise(view: RepoView, root: Path, *, builds: list[Build] | None = None) -> None:
    """The repository's files under `root` (with `builds`, only those they can read), every kustomization
    asking kustomize for origin annotations."""
    yaml = YAML(typ="safe")
    yaml.default_flow_style = False
    kust_paths = {kust.doc.path: kust for kust in kustomizations(view).values()}
    readable = _readable(builds) if builds is not None else None
    for rel, raw in view.files.items():
        if readable is not None and not f"{rel}/".startswith(readable):
            continue
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        kust = kust_paths.get(rel)
        if kust is None:
            target.write_bytes(raw)
            continue
        metadata = kust.data.get("buildMetadata")
        wanted = [*metadata] if isinstance(metadata, list) else []
        with target.open("w", encoding="utf-8") as handle:
            yaml.dump({**kust.data, "buildMetadata": [*wanted, *(["originAnnotations"]
                                                                   if "originAnnotations" not in wanted else [])]},
                      handle)


def _readable(builds: list[Build]) -> tuple[str, ...] | None:
    """`path/` for every file or directory `builds` can read: kustomize reads nothing outside the directories
    of a build's kustomizations but the files they name. None (all) for a build at the root or one
    inflating Helm charts (a chart home may lie anywhere)."""
    paths: list[str] = []
    for member in (member for build in builds for member in build.closure):
        if not member.directory or member.helm_charts or "helmGlobals" in member.data:
            return None
        for path in (member.directory, *member.includes, *member.patches, *member.inputs):
            paths.append(f"{path}/")
    return tuple(paths)


def _cache_key(build: Build, view: RepoView, tool: Tool) -> str:
    digest = hashlib.sha256(tool.version.encode())
    prefixes = tuple(f"{k.directory}/" if k.directory else "" for k in build.closure)
    for path in sorted(view.files):
        if path.startswith(prefixes):
            digest.update(path.encode() + b"\0" + hashlib.sha256(view.files[path]).digest())
    return digest.hexdigest()


def _run(build: Build, *, tool: Tool, tree: Path, online: bool, cache: Path | None, key: str) -> None:
    argv = [*tool.argv, str(tree / build.kust.directory) if build.kust.directory else str(tree)]
    if build.kust.helm_charts:
        argv.append("--enable-helm")
    try:
        done = subprocess.run(argv, capture_output=True, timeout=BUILD_TIMEOUT_S, env=_env(online=online), cwd=tree)
    except subprocess.TimeoutExpired:
        build.error = f"kustomize did not finish within {BUILD_TIMEOUT_S} s"
        return
    except OSError as exc:
        build.error = f"{tool.argv[0]} could not run: {exc.strerror}"
        return
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", errors="replace").replace(f"{tree}/", "").replace(str(tree), ".")
        message = _KLOG_HEADER.sub("", message)  # kubectl's log header: a timestamp and a thread id, no news
        build.error = " ".join(message.split())[:1000] or f"exit status {done.returncode}"
        if not online:
            _store(cache, f"{key}.error", build.error.encode())
        return
    _keep(build, done.stdout, cache=cache, key=key)


def _keep(build: Build, output: bytes, *, cache: Path | None, key: str) -> None:
    build.output = output
    _store(cache, f"{key}.yaml", output)


def _store(cache: Path | None, name: str, data: bytes) -> None:
    """Keep a build's result; a read-only or full cache costs the next run a build, never this run's result."""
    if cache is None:
        return
    try:
        replace_file(cache / name, data)
    except OSError:
        pass


def render_view(view: RepoView, options: CheckOptions) -> tuple[RepoView, list[Finding]]:
    """The view with every buildable kustomization's and vendored chart's objects as rendered, plus findings
    for what was not."""
    if not options.render:
        return view, []
    from neuroscale.check.helmrender import render_charts  # with the lints it reads: not needed to build ahead

    charts, chart_findings = render_charts(view, options, materialise=materialise)
    if charts:
        view = replace(view, documents=(*view.documents, *charts))
    rendered, findings = _render_kustomizations(view, options)
    return rendered, chart_findings + findings


def _render_kustomizations(view: RepoView, options: CheckOptions) -> tuple[RepoView, list[Finding]]:
    builds = plan(view, online=options.online, helm=shutil.which("helm") is not None)
    if not builds:
        return view, []
    findings: list[Finding] = []
    ready = []
    for build in builds:
        for severity, why, fix in build.blocked:
            findings.append(view.finding(build.kust.doc, rule=RULE_NOT_RENDERED, severity=severity,
                                         message=f"not rendered: {why}; its files are judged as written", fix=fix))
        if not build.blocked:
            ready.append(build)
    tool = find_tool() if ready else None
    if ready and tool is None:
        return view, findings + [view.finding(
            build.kust.doc, rule=RULE_NOT_RENDERED, severity=Severity.WARNING,
            message="not rendered: neither kustomize nor kubectl is on PATH; its files are judged as written, "
                    "patches unapplied", fix="install kubectl (or kustomize) where the check runs")
            for build in ready]
    if tool is None:
        return view, findings
    _build(view, ready, tool=tool, options=options)
    return _merge(view, ready, findings, options)


def _build(view: RepoView, ready: list[Build], *, tool: Tool, options: CheckOptions) -> None:
    """Every build of `ready` from the cache, or run (and cached) over a private copy of the repository."""
    cache = options.cache_dir / "kustomize" if options.cache_dir is not None else None
    keys = {id(build): _cache_key(build, view, tool) for build in ready}
    missing = [b for b in ready if not _from_cache(b, cache, keys[id(b)], online=options.online)]
    if not missing:
        return
    todo = groups(missing)

    def run(group: list[Build]) -> None:
        outputs = build_group(group, argv=tool.argv, tree=tree, env=_env(online=options.online),
                              timeout=BUILD_TIMEOUT_S) if len(group) > 1 else None
        for build in group:
            if outputs is None:
                _run(build, tool=tool, tree=tree, online=options.online, cache=cache, key=keys[id(build)])
            else:
                _keep(build, outputs[id(build)], cache=cache, key=keys[id(build)])

    with tempfile.TemporaryDirectory(prefix="neuroscale-kustomize-") as tmp:  # only for what the cache lacks
        tree = Path(tmp)
        materialise(view, tree, builds=missing)
        with ThreadPoolExecutor(max_workers=min(4, len(todo))) as pool:
            list(pool.map(run, todo))


def build_ahead(root: Path, files: Mapping[str, bytes], options: CheckOptions) -> threading.Thread | None:
    """Start the kustomize builds while the caller parses the repository; join the thread before rendering.

    A build needs only the files and the kustomizations (parsed here on their own, with the inputs they
    read from `root`), so the external
    processes run while Python parses everything else. They only fill the build cache, under the same
    content keys `render_view` looks up, so what is rendered is what `render_view` alone would render;
    anything that differs by then (a file read on demand) is simply a miss and built again. Nothing is
    started without a cache to fill, with rendering off, or without a kustomization.
    """
    names = {p for p in files if PurePosixPath(p).name in KUSTOMIZATION_NAMES}
    tool = find_tool()
    if not options.render or options.cache_dir is None or not names or tool is None:
        return None

    def work() -> None:
        from neuroscale.check.loader import build_view, with_inputs  # read as the loader reads them

        try:
            view, _ = build_view({p: files[p] for p in names}, limits=options.limits)
            view, _ = with_inputs(root, replace(view, files=files), limits=options.limits)
            ready = [b for b in plan(view, online=options.online, helm=shutil.which("helm") is not None)
                     if not b.blocked]
            _build(view, ready, tool=tool, options=options)
        except Exception:  # noqa: BLE001 - ahead of time only: render_view builds and reports it again
            return

    thread = threading.Thread(target=work, name="kustomize-ahead")
    thread.start()
    return thread


def _from_cache(build: Build, cache: Path | None, key: str, *, online: bool) -> bool:
    """Whether the build's output, or its offline failure, was cached (then it is set on `build`)."""
    if cache is None:
        return False
    try:
        build.output = (cache / f"{key}.yaml").read_bytes()
        return True
    except OSError:
        pass
    if online:
        return False
    try:
        build.error = (cache / f"{key}.error").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return bool(build.error)


def _merge(view: RepoView, builds: list[Build], findings: list[Finding],
           options: CheckOptions) -> tuple[RepoView, list[Finding]]:
    rendered: list[Document] = []
    consumed: set[str] = set()
    by_path: dict[str, list[Document]] = {}
    for doc in view.documents:
        by_path.setdefault(doc.path, []).append(doc)
    for build in builds:
        if build.output is None:
            findings.append(view.finding(build.kust.doc, rule=RULE_BUILD_FAILED, severity=Severity.ERROR,
                                         message=f"kustomize build failed: {build.error}",
                                         fix="fix the kustomization (run `kubectl kustomize "
                                             f"{build.kust.directory or '.'}` to reproduce)"))
            continue
        docs, problems = parse_file(f"{build.kust.doc.path} (rendered)", build.output, limits=options.limits)
        findings += problems
        for kust in build.closure:
            consumed.update(p for p in (*kust.includes, *kust.patches) if p in view.files)
        rendered += [_place(doc.data, build.kust, by_path) for doc in docs if isinstance(doc.data, dict)]
    if not rendered and not consumed:
        return view, findings
    return replace(view, documents=(*view.documents, *rendered), consumed=frozenset(consumed)), findings


def _origin(data: dict[str, Any]) -> dict[str, Any]:
    """The origin annotation, removed from the object (it is kustomize's, not the author's)."""
    metadata: Any = data.get("metadata")
    annotations: Any = metadata.get("annotations") if isinstance(metadata, dict) else None
    if not isinstance(annotations, dict):
        return {}
    raw = annotations.pop(ORIGIN, None)
    if not annotations:
        del metadata["annotations"]
    if not isinstance(raw, str):
        return {}
    # kustomize writes a flat block (`path: ...`, `repo: ...`, `ref: ...`, `configuredIn: ...`, then an indented
    # `configuredBy`); only its top-level scalars are needed, so it is read line by line, not by a YAML parser.
    origin = {}
    for line in raw.splitlines():
        key, sep, value = line.partition(": ")
        if sep and not line[:1].isspace():
            origin[key] = value.strip().strip("'\"")
    return origin


def _place(data: dict[str, Any], root: Kustomization, by_path: dict[str, list[Document]]) -> Document:
    """A rendered object, at the file (and document) it came from."""
    origin = _origin(data)
    base = PurePosixPath(root.directory) if root.directory else PurePosixPath(".")
    source = origin.get("path") if not origin.get("repo") else None
    path = normalise(base / source) if isinstance(source, str) else None
    configured = origin.get("configuredIn")
    if path is None and isinstance(configured, str):
        path = normalise(base / configured)
    candidates = by_path.get(path, []) if path else []
    name = str((data.get("metadata") or {}).get("name", ""))
    match = next((d for d in candidates if d.kind == data.get("kind") and d.name and d.name in name), None) or \
        next((d for d in candidates if d.kind == data.get("kind")), None) or \
        next(iter(candidates), None)
    if match is None:
        return Document(path=root.doc.path, index=root.doc.index, line=root.doc.line, end_line=root.doc.end_line,
                        data=data, rendered_from=root.doc.path)
    return Document(path=match.path, index=match.index, line=match.line, end_line=match.end_line, data=data,
                    written=match.data if match.is_object else None, rendered_from=root.doc.path)

