"""What one endpoint is and does: spec, conditions and their history, revisions, how to call it, its logs.

`endpoint show`, `neuroscale logs` and the portal's endpoint page read the
same `EndpointDetail`. Revisions are the engine's records joined with the git
history of the manifest (the commit that introduced each revision's model and
resources, and the pull request that merged it). The "call it" block is built
from the model's own V2 metadata, fetched through the gateway like any
client would; when the gateway cannot answer, the block says so and falls
back to the spec.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from neuroscale.engine.store import StatusStore
from neuroscale.errors import Conflict, InvalidInput, NotFound, ToolError
from neuroscale.gitops.repo import MAIN
from neuroscale.services.context import PlatformContext
from neuroscale.services.endpoints import list_endpoints_on_main, validate_name
from neuroscale.services.previews import curl_post
from neuroscale.spec.manifest import manifest_path
from neuroscale.spec.serving import ServingSpec, serving_spec
from neuroscale.supervisor.settings import load_settings
from neuroscale.yamlio import load_one

LOG_TAIL_LINES = 40
_TAIL_BYTES = 64 * 1024
METADATA_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class RevisionView:
    name: str
    number: int
    created_at: str
    commit: str | None
    pull_request: int | None
    percent: int
    latest: bool
    ready_replicas: int
    desired_replicas: int


@dataclass(frozen=True)
class LogTail:
    process: str  # the log's name: <revision>[.r<n>]
    path: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class CallIt:
    """Copy-paste calls: curl for V1 and V2 and a Python snippet, from the model's metadata."""

    v1_url: str
    v2_url: str
    metadata: dict[str, Any] | None
    metadata_error: str
    curl_v1: str
    curl_v2: str
    python: str


@dataclass(frozen=True)
class EndpointDetail:
    name: str
    on_main: bool
    spec: dict[str, Any] | None
    status: dict[str, Any] | None
    condition_history: tuple[dict[str, Any], ...]
    revisions: tuple[RevisionView, ...]
    call: CallIt
    logs: tuple[LogTail, ...] = field(default_factory=tuple)
    #: The gateway's live comparison of the shadow revision with the serving one (while it shadows).
    shadow: dict[str, Any] | None = None


def _serving_at(ctx: PlatformContext, ref: str, name: str) -> ServingSpec | None:
    """What the endpoint's manifest at `ref` serves (None when absent or invalid there)."""
    path = manifest_path(name)
    content = ctx.repo.read_files(ref, path).get(path)
    try:
        return serving_spec(load_one(content.decode("utf-8", "replace"), where=path), where=path) if content else None
    except InvalidInput:
        return None


def _revision_commits(ctx: PlatformContext, name: str) -> list[tuple[str, str]]:
    """(commit, digest of what it runs) for each commit on main that changed the manifest, oldest first."""
    return [(sha, serving.process_digest()) for sha in reversed(ctx.repo.history(MAIN, manifest_path(name)))
            if (serving := _serving_at(ctx, sha, name)) is not None]


def _revisions(ctx: PlatformContext, name: str, status: dict[str, Any] | None) -> tuple[RevisionView, ...]:
    rows = ctx.db.execute("SELECT number, name, digest, created_at FROM engine_revisions WHERE endpoint = ? "
                          "ORDER BY number", (name,)).fetchall()
    commits = _revision_commits(ctx, name)
    merged = {pull.merged_sha: pull.number for pull in ctx.provider.list() if pull.merged_sha}
    traffic = {t["revision"]: t for t in (status or {}).get("traffic", [])}
    views, cursor = [], 0
    for row in rows:
        commit = None
        for index in range(cursor, len(commits)):
            if commits[index][1] == row["digest"]:
                commit, cursor = commits[index][0], index + 1
                break
        share = traffic.get(row["name"], {})
        views.append(RevisionView(row["name"], row["number"], row["created_at"], commit,
                                  merged.get(commit) if commit else None, int(share.get("percent", 0)),
                                  bool(share.get("latest")), int(share.get("ready_replicas", 0)),
                                  int(share.get("desired_replicas", 0))))
    return tuple(reversed(views))


def log_files(ctx: PlatformContext, name: str, *, revision: str | None = None) -> list[Path]:
    """The model-server logs of the endpoint (of one revision if given), oldest revision first."""
    prefix = revision or f"{name}-predictor-"
    if revision is not None and not revision.startswith(f"{name}-predictor-"):
        raise InvalidInput(f"revision {revision!r} is not a revision of {name}", where="--revision",
                           fix=f"revisions of {name} are named {name}-predictor-NNNNN (see `neuroscale endpoint "
                               f"show {name}`)")
    folder = ctx.home.server_logs_dir
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name.startswith(prefix) and p.suffix == ".log"
                  and (revision is None or p.name.split(".")[0] == revision))


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> tuple[str, ...]:
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(size - _TAIL_BYTES, 0))
            data = handle.read()
    except OSError:
        return ()
    text = data.decode("utf-8", "replace").splitlines()
    return tuple(text[-lines:]) if lines > 0 else ()


def log_tails(ctx: PlatformContext, name: str, *, revision: str | None = None,
              lines: int = LOG_TAIL_LINES) -> tuple[LogTail, ...]:
    return tuple(LogTail(p.name.removesuffix(".log"), str(p), tail(p, lines))
                 for p in log_files(ctx, name, revision=revision))


def follow(ctx: PlatformContext, name: str, *, revision: str | None = None, poll_s: float = 0.5,
           stop: Callable[[], bool] = lambda: False) -> Iterator[tuple[str, str]]:
    """New log lines as they are written, (process, line), including logs of replicas that start later."""
    offsets = {p: p.stat().st_size for p in log_files(ctx, name, revision=revision)}
    while not stop():
        for path in log_files(ctx, name, revision=revision):
            offset = offsets.get(path, 0)
            try:
                with path.open("rb") as handle:
                    handle.seek(offset)
                    data = handle.read()
            except OSError:
                continue
            complete = data.rfind(b"\n") + 1
            offsets[path] = offset + complete
            for line in data[:complete].decode("utf-8", "replace").splitlines():
                yield path.name.removesuffix(".log"), line
        time.sleep(poll_s)


def model_metadata(gateway_url: str, name: str) -> tuple[dict[str, Any] | None, str]:
    """GET /v2/models/<name> through the gateway: the metadata, or why there is none."""
    try:
        response = httpx.get(f"{gateway_url}/v2/models/{name}", timeout=METADATA_TIMEOUT_S)
    except httpx.HTTPError as exc:
        return None, f"the gateway at {gateway_url} did not answer ({type(exc).__name__})"
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict):
        reason = body.get("error") if isinstance(body, dict) else response.text[:200]
        return None, f"the gateway answered {response.status_code}: {reason}"
    return body, ""


def _example_input(metadata: dict[str, Any] | None) -> tuple[str, list[int], str, int]:
    """(input name, shape of one row, datatype, features per row) from the metadata's first input."""
    inputs = (metadata or {}).get("inputs") or []
    first = inputs[0] if inputs and isinstance(inputs[0], dict) else {}
    shape = [int(d) for d in first.get("shape", []) if isinstance(d, int)] or [-1, 4]
    features = shape[-1] if len(shape) > 1 and shape[-1] > 0 else 4
    return str(first.get("name") or "input-0"), [1, features], str(first.get("datatype") or "FP64"), features


def call_it(gateway_url: str, name: str, metadata: dict[str, Any] | None, error: str) -> CallIt:
    input_name, shape, datatype, features = _example_input(metadata)
    row = [0.0] * features
    v1_url = f"{gateway_url}/v1/models/{name}:predict"
    v2_url = f"{gateway_url}/v2/models/{name}/infer"
    v1_body = json.dumps({"instances": [row]})
    v2_body = json.dumps({"inputs": [{"name": input_name, "shape": shape, "datatype": datatype, "data": row}]})
    python = "\n".join([
        "import json, urllib.request",
        "",
        f"body = {v2_body}",
        f"request = urllib.request.Request({v2_url!r}, data=json.dumps(body).encode(),",
        "                                 headers={'Content-Type': 'application/json'})",
        "with urllib.request.urlopen(request) as response:",
        "    print(json.load(response)['outputs'])",
    ])
    return CallIt(v1_url=v1_url, v2_url=v2_url, metadata=metadata, metadata_error=error,
                  curl_v1=curl_post(v1_url, v1_body), curl_v2=curl_post(v2_url, v2_body),
                  python=python)


def endpoint_detail(ctx: PlatformContext, name: str, *, log_lines: int = LOG_TAIL_LINES,
                    fetch_metadata: bool = True) -> EndpointDetail:
    validate_name(name)
    store = StatusStore(ctx.db)
    spec = next((s for s in list_endpoints_on_main(ctx) if s.name == name), None)
    status = store.get(name)
    if spec is None and status is None:
        raise NotFound(f"no endpoint named {name!r}", where="endpoint",
                       fix="list endpoints with `neuroscale endpoint list` (or the portal's Endpoints page)")
    gateway_url = load_settings(ctx.home).gateway_url
    metadata, error = (model_metadata(gateway_url, name) if fetch_metadata and status and status.ready
                       else (None, "the endpoint is not ready, so its model cannot describe its inputs yet"))
    status_data = status.to_dict() if status else None
    return EndpointDetail(
        name=name, on_main=spec is not None, spec=spec.to_input() if spec else None, status=status_data,
        condition_history=tuple(c.to_dict() for c in store.condition_history(name)),
        revisions=_revisions(ctx, name, status_data), call=call_it(gateway_url, name, metadata, error),
        logs=log_tails(ctx, name, lines=log_lines), shadow=shadow_comparison(
            ctx.home.shadow_file, name, status_data, shadowing=bool((serving := _serving_at(ctx, MAIN, name)) and serving.shadow_percent)))


def shadow_comparison(shadow_file: Path, name: str, status: dict[str, Any] | None, *,
                      shadowing: bool) -> dict[str, Any] | None:
    """What the gateway publishes about the endpoint's shadow traffic (`gateway.shadow`), while main asks for
    shadow traffic (`shadowing`) and its latest revision is the one shadowed: at 0 % of the traffic. Older
    comparisons no longer describe anything (the gateway keeps a stopped one's last numbers)."""
    if not shadowing:
        return None
    try:
        stats = json.loads(shadow_file.read_text()).get(name)
    except (OSError, ValueError, AttributeError):
        return None
    latest = next((t for t in (status or {}).get("traffic", []) if t.get("latest")), None)
    if not isinstance(stats, dict) or latest is None or latest.get("percent") or \
            stats.get("revision") != latest.get("revision"):
        return None
    return stats


def wait_for_rollout(ctx: PlatformContext, name: str, *, commit: str, deleting: bool = False,
                     timeout_s: float = 120.0, poll_s: float = 0.25) -> dict[str, Any] | None:
    """After a merge: wait until the reconciler has acted on `commit` (Ready, or gone when deleting).

    Returns the endpoint's status (None once a deleted endpoint is gone); raises when the endpoint is
    denied or fails (the condition's reason and message say why) or when `timeout_s` passes.
    """
    store = StatusStore(ctx.db)
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        status = store.get(name)
        last = status
        if deleting and status is None:
            return None
        if status is not None and not deleting and status.observed_commit == commit:
            if status.ready:
                return status.to_dict()
            if status.health.value == "Degraded":
                ready = next((c for c in status.conditions if c.type.value == "Ready"), None)
                why = f"{ready.reason}: {ready.message}" if ready else "see its conditions"
                raise Conflict(f"endpoint {name} did not become Ready after the merge ({why})", where=name,
                               fix=f"see `neuroscale endpoint show {name}` and `neuroscale logs {name}`")
        time.sleep(poll_s)
    state = f"{last.health.value} at commit {last.observed_commit[:10]}" if last is not None else "no status yet"
    raise ToolError(f"endpoint {name} was not {'removed' if deleting else 'Ready'} within {timeout_s:g}s ({state})",
                    where=name, fix="is the platform running (`neuroscale up`)? see `neuroscale endpoint show`")
