"""The prediction diff between two commits, without a platform: what CI runs on a pull request.

Every endpoint whose model changes between `base` and `head` (`prediction_diff.model_changed`) has
its committed sample replayed against the model serving now and the proposed one, and is judged as
the embedded check judges it (`prediction_diff.verdict`, with the endpoint's own gate annotations).
Each side is a running endpoint when both answer (in a cluster: the endpoint and its pull-request
preview, by URL templates), else the model files themselves, served by the platform's own model
server, started here on loopback and stopped afterwards. What cannot be evaluated — a storage scheme
this machine cannot read, a serving model that does not load, a commit that is not there — is an
error, never a pass; a proposed model that does not load fails with the server's own reason.
"""

from __future__ import annotations

import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from string import Formatter
from types import FrameType
from urllib.parse import urlparse

import httpx

from neuroscale.engine.previews import preview_name
from neuroscale.engine.runtime import LocalRuntime, ServerHandle, log_tail
from neuroscale.errors import InvalidInput, ToolError
from neuroscale.findings import Finding, Severity
from neuroscale.gitops.provider import CheckResult
from neuroscale.gitops.repo import GitRepo
from neuroscale.home import Home
from neuroscale.serving.storage import SUPPORTED_SCHEMES
from neuroscale.services import prediction_diff
from neuroscale.services.prediction_diff import RULE, Target
from neuroscale.services.samples import SAMPLE_FILE
from neuroscale.spec.manifest import APPS_DIR
from neuroscale.spec.serving import ServingSpec, serving_spec

READY_TIMEOUT_S = 120.0
_STOP_GRACE_S = 5.0
_Starter = Callable[[ServingSpec, str], Target]


@dataclass(frozen=True)
class Endpoints:
    """Where running endpoints answer, as templates of `{name}`, `{namespace}` and `{number}` (the PR)."""

    serving: str = ""
    preview: str = ""
    pull_request: int | None = None

    def __post_init__(self) -> None:
        _check_template(self.serving, ("name", "namespace"), where="--serving-url")
        _check_template(self.preview, ("name", "namespace", "number"), where="--preview-url")

    def targets(self, endpoint: str, namespace: str) -> tuple[Target, Target] | None:
        if not (self.serving and self.preview and self.pull_request is not None):
            return None
        preview = preview_name(endpoint, self.pull_request)
        fields = {"name": endpoint, "namespace": namespace, "number": self.pull_request}
        return (Target(self.serving.format(**fields).rstrip("/"), endpoint),
                Target(self.preview.format(**fields).rstrip("/"), preview))


def _check_template(template: str, placeholders: tuple[str, ...], *, where: str) -> None:
    """Refuse a URL template that names anything but `placeholders`, plainly: `str.format` would otherwise
    fail mid-run, or reach into attributes (`{name.upper}`) and build a URL nobody meant."""
    if not template:
        return
    known = ", ".join(f"{{{name}}}" for name in placeholders)
    try:
        fields = [(field, conversion, spec) for _, field, spec, conversion in Formatter().parse(template)
                  if field is not None]
    except ValueError as exc:
        raise InvalidInput(f"{where} {template!r} has unbalanced braces: {exc}", where=where,
                           fix=f"write each placeholder as one of {known}; a literal brace as {{{{ or }}}}") from None
    for field, conversion, spec in fields:
        if field not in placeholders or conversion or spec:
            written = f"{{{field}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}}"
            raise InvalidInput(f"{where} {template!r}: {written} is not one of its placeholders", where=where,
                               fix=f"use only {known}, as written")
    if urlparse(template).scheme.lower() not in ("http", "https"):
        raise InvalidInput(f"{where} {template!r} is not an http:// or https:// URL", where=where,
                           fix="start the template with http:// or https://")


@dataclass(frozen=True)
class EndpointDiff:
    endpoint: str
    against: str  # "running endpoints" or "model files"
    result: CheckResult


class _CannotServe(Exception):
    """One side's model server did not become ready; `message` says why, from its own output."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def changed_endpoints(repo: GitRepo, base: str, head: str) -> list[str]:
    """Endpoints present at both commits whose model (format, storage URI, runtime) differs."""
    names = sorted({parts[1] for path in repo.changed_paths(base, head)
                    if len(parts := path.split("/")) >= 3 and parts[0] == APPS_DIR})
    return [name for name in names if prediction_diff.model_changed(repo, base, head, name)]


def diff_commits(root: Path, base: str, head: str, *, endpoints: Endpoints = Endpoints(),
                 model_roots: Sequence[Path] = (), ready_timeout: float = READY_TIMEOUT_S) -> list[EndpointDiff]:
    """The prediction diff of every endpoint whose model `head` changes (see the module docstring)."""
    repo, base, head = _checkout(root, base, head)
    return [_diff_one(repo, base, head, name, endpoints=endpoints, model_roots=(root.resolve(), *model_roots),
                      ready_timeout=ready_timeout) for name in changed_endpoints(repo, base, head)]


def _checkout(root: Path, *refs: str) -> tuple[GitRepo, str, str]:
    """The checkout's repository and the commits `refs` name there (any git revision: origin/main, HEAD~1, ...)."""
    repo = GitRepo.of_checkout(root)
    if repo is None:
        raise ToolError(f"{root} is not a git checkout", where=str(root), fix="pass the GitOps repository's checkout")
    shas = []
    for ref in refs:
        sha = repo.commit_of(ref)
        if sha is None:
            raise ToolError(f"{ref} is not a commit of {root}", where=ref,
                            fix="fetch it first (actions/checkout with fetch-depth: 0), or name another ref")
        shas.append(sha)
    return repo, shas[0], shas[1]


def _error(message: str, fix: str) -> CheckResult:
    return CheckResult(prediction_diff.CHECK_PREDICTIONS, "error", [Finding(RULE, Severity.ERROR, message,
                                                                            fix=fix).to_dict()])


def _diff_one(repo: GitRepo, base: str, head: str, endpoint: str, *, endpoints: Endpoints,
              model_roots: Sequence[Path], ready_timeout: float) -> EndpointDiff:
    before, after = (prediction_diff.manifest_at(repo, ref, endpoint) for ref in (base, head))
    try:
        gate = prediction_diff.gate_of(after)
        current, proposed = serving_spec(before), serving_spec(after)
    except InvalidInput as exc:
        return EndpointDiff(endpoint, "", CheckResult(prediction_diff.CHECK_PREDICTIONS, "fail", [Finding(
            RULE, Severity.ERROR, exc.message, fix=exc.fix, field_path=exc.where).to_dict()]))
    sample = prediction_diff.committed_sample(repo, head, endpoint) or prediction_diff.committed_sample(
        repo, base, endpoint)
    if sample is None:
        return EndpointDiff(endpoint, "", CheckResult(prediction_diff.CHECK_PREDICTIONS, "pass", [Finding(
            RULE, Severity.INFO, f"no sample requests to replay for {endpoint}: its model change is not compared",
            fix=f"commit {APPS_DIR}/{endpoint}/{SAMPLE_FILE} (one request body per line)").to_dict()]))
    source, requests, problems = sample
    running = endpoints.targets(endpoint, proposed.namespace)
    if running is not None and all(_answers(target) for target in running):
        result = prediction_diff.verdict(endpoint, running[1].model, source,
                                         prediction_diff.replay(*running, requests), gate)
        return EndpointDiff(endpoint, "running endpoints", _with_problems(result, problems))
    unreadable = [spec.storage_uri for spec in (current, proposed)
                  if urlparse(spec.storage_uri).scheme.lower() not in ("", *SUPPORTED_SCHEMES)]
    if unreadable:
        return EndpointDiff(endpoint, "model files", _error(
            f"cannot compare {endpoint}: {', '.join(unreadable)} cannot be read here (model files: local, "
            f"{', '.join(f'{s}://' for s in SUPPORTED_SCHEMES)})" + (" and its endpoints did not answer"
                                                                      if running else ""),
            "pass --serving-url and --preview-url where both endpoints answer, or keep the models where the "
            "check can read them"))
    with tempfile.TemporaryDirectory(prefix="neuroscale-diff-") as scratch, \
            _servers(Home(Path(scratch)), model_roots, ready_timeout) as start:
        try:
            serving = start(current, "serving")
        except _CannotServe as exc:
            return EndpointDiff(endpoint, "model files", _error(
                f"cannot compare {endpoint}: the serving model at {base} does not load: {exc.message}",
                "fix the base branch's model first; the diff needs both sides"))
        try:
            candidate = start(proposed, "proposed")
        except _CannotServe as exc:
            return EndpointDiff(endpoint, "model files", CheckResult(prediction_diff.CHECK_PREDICTIONS, "fail", [
                Finding(RULE, Severity.ERROR, f"the proposed model of {endpoint} does not load: {exc.message}",
                        fix="fix the model the pull request proposes and push again").to_dict()]))
        result = prediction_diff.verdict(endpoint, f"{endpoint} at {head[:12]}", source,
                                         prediction_diff.replay(serving, candidate, requests), gate)
    return EndpointDiff(endpoint, "model files", _with_problems(result, problems))


def _with_problems(result: CheckResult, problems: list[Finding]) -> CheckResult:
    broken = any(p.severity is Severity.ERROR for p in problems)
    return CheckResult(result.name, "fail" if broken else result.status,
                       [*result.findings, *(p.to_dict() for p in problems)])


def _answers(target: Target) -> bool:
    """Is the model ready there: does KServe V1 model readiness say `"ready": true`? A page that answers
    200 to any path (a sign-in page, a catch-all proxy) is not a model."""
    try:
        reply = httpx.get(f"{target.url}/v1/models/{target.model}", timeout=5)
        body = reply.json() if reply.status_code == 200 else None
    except (httpx.HTTPError, httpx.InvalidURL, ValueError):  # ValueError: not JSON, or a host IDNA cannot encode
        return False
    return isinstance(body, dict) and body.get("ready") is True


@dataclass
class _Interrupts:
    """Ctrl-C and SIGTERM while model servers run (a CI runner cancelling a job sends both, `timeout` the
    latter): the first unwinds; any later one waits until the servers are stopped, then unwinds. The servers
    live in sessions of their own, so nothing else would stop them."""

    stopping: bool = False
    pending: bool = False

    def __call__(self, _signum: int, _frame: FrameType | None) -> None:
        if self.stopping:
            self.pending = True
            return
        self.stopping = True
        raise KeyboardInterrupt


@contextmanager
def _handled(interrupts: _Interrupts) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield
        return
    previous = {signum: signal.signal(signum, interrupts) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def _servers(home: Home, model_roots: Sequence[Path], ready_timeout: float) -> Iterator[_Starter]:
    """Starts model servers of a scratch home on demand; every one is stopped on the way out, whatever
    signal comes meanwhile (`_Interrupts`)."""
    interrupts = _Interrupts()
    with _handled(interrupts):
        runtime = LocalRuntime(home, model_roots=(*model_roots, *home.model_roots()))  # + NEUROSCALE_MODEL_ROOTS
        started: list[ServerHandle] = []
        try:
            yield _starter(runtime, started, ready_timeout)
        finally:
            try:
                interrupts.stopping = True
            finally:
                _stop_all(runtime, started)
    if interrupts.pending:
        raise KeyboardInterrupt


def _starter(runtime: LocalRuntime, started: list[ServerHandle], ready_timeout: float) -> _Starter:
    """Starts one model server, recorded in `started` before it is waited for, and waits until it is ready."""

    def start(spec: ServingSpec, revision: str) -> Target:
        handle = runtime.start(spec, revision=revision)
        started.append(handle)
        deadline = time.monotonic() + ready_timeout
        while not runtime.ready(handle):
            ended = runtime.exited(handle)
            if ended is not None:
                raise _CannotServe(ended.message)
            if time.monotonic() > deadline:
                tail = log_tail(handle.log_path, handle.log_offset)
                raise _CannotServe(f"not ready within {ready_timeout:.0f} s"
                                   + (f"; last output: {tail[-1][:300]}" if tail else ""))
            time.sleep(0.1)
        return Target(f"http://{handle.upstream}", spec.name)

    return start


def _stop_all(runtime: LocalRuntime, started: list[ServerHandle]) -> None:
    for handle in started:
        runtime.signal(handle, signal.SIGTERM)
        if handle.popen is not None:
            try:
                handle.popen.wait(_STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                runtime.signal(handle, signal.SIGKILL)
                handle.popen.wait()
    runtime.close()
