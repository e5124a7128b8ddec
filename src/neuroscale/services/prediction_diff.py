"""The `prediction-diff` check: what a pull request's model answers, next to what serves now.

For a pull request that changes what an endpoint runs (model, storage URI,
runtime — its revision identity), the check replays a sample of requests
(`services.samples`) through the gateway against the endpoint's serving
revision and against the pull request's preview (`engine.previews`), and
reports the agreement rate (`neuroscale.agreement`: classes exactly, numbers
within a tolerance), the first changed predictions with their inputs (a
recorded request's by reference only: `recorded_inputs`), errors on either
side, and p50/p99 latency of both. The pull request's changes are those since
the merge base of its head and main (`gitops.provider.review_base`). It is
`pending` until the preview is ready (the pull request is re-checked when it is read, so
`pr show`, the PR page and `pr merge` pick the result up), `fail` when the
preview cannot load its model (with the server's own reason) or a gate set
by annotation is not met (`spec.extensions`), `pass` otherwise — the numbers
are always shown.
"""

from __future__ import annotations

import http.client
import json
import queue
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from neuroscale.agreement import agree, duplicate_output, latency_quantiles, outputs_of
from neuroscale.engine.desired import endpoint_name_of
from neuroscale.errors import InvalidInput
from neuroscale.findings import Finding, Severity
from neuroscale.gitops.provider import CheckResult, PullRequest, review_base
from neuroscale.gitops.repo import GitRepo
from neuroscale.services.context import PlatformContext
from neuroscale.services import recorded_inputs
from neuroscale.services.keepalive import KeepAlive
from neuroscale.services.previews import PreviewState, preview_state
from neuroscale.services.samples import SAMPLE_FILE, SampleRequest, read_sample
from neuroscale.spec import extensions, isvc
from neuroscale.spec.manifest import APPS_DIR, manifest_path
from neuroscale.spec.serving import serving_spec
from neuroscale.status.conditions import ConditionType
from neuroscale.status.model import EndpointStatus
from neuroscale.status.reasons import FAILURE_REASONS
from neuroscale.supervisor.settings import load_settings
from neuroscale.yamlio import MANIFEST_LIMITS, load_one

CHECK_PREDICTIONS = "prediction-diff"
RULE = "prediction-diff"
SHOWN = 10  # changed predictions listed
_WORKERS = 8


def manifest_at(repo: GitRepo, ref: str, endpoint: str) -> Any:
    """The endpoint's manifest at `ref`, parsed (None when absent or not YAML)."""
    path = manifest_path(endpoint)
    content = repo.read_files(ref, path).get(path)
    if content is None:
        return None
    try:
        return load_one(content.decode("utf-8", "replace"), where=path, limits=MANIFEST_LIMITS)
    except InvalidInput:
        return None


def gate_of(obj: Any) -> extensions.DiffGate:
    """The gate a manifest's annotations set (InvalidInput naming a malformed one)."""
    return extensions.diff_gate(extensions.annotations_of(isvc.read(obj).metadata.get("annotations")))


def model_identity(obj: Any) -> tuple[str | None, ...] | None:
    """What decides the answers: format, storage URI, runtime and protocol versions (not resources)."""
    try:
        spec = serving_spec(obj) if obj is not None else None
    except InvalidInput:
        return None
    return None if spec is None else (spec.model_format, spec.storage_uri, spec.runtime_version,
                                      spec.protocol_version)


def changes_model(ctx: PlatformContext, pr: PullRequest) -> bool:
    """Does the pull request change the model an existing endpoint serves (format, storage URI, runtime)?"""
    return own_model_changed(ctx.repo, pr) or bool(changed_elsewhere(ctx.repo, pr))


def own_model_changed(repo: GitRepo, pr: PullRequest) -> bool:
    """Does the pull request change the model its own, existing endpoint serves (since its review base)?"""
    return pr.action == "update" and model_changed(repo, review_base(repo, pr), pr.head_sha, pr.endpoint)


def changed_elsewhere(repo: GitRepo, pr: PullRequest) -> list[str]:
    """Other endpoints whose model the pull request changes too (a push with plain git can touch any)."""
    base = review_base(repo, pr)
    names = {name for path in repo.changed_paths(base, pr.head_sha) if (name := endpoint_name_of(path))}
    return sorted(name for name in names - {pr.endpoint} if model_changed(repo, base, pr.head_sha, name))


def model_changed(repo: GitRepo, base: str, head: str, endpoint: str) -> bool:
    """Does the endpoint exist at both commits and answer from a different model at `head`?"""
    before, after = model_identity(manifest_at(repo, base, endpoint)), model_identity(manifest_at(repo, head, endpoint))
    return before is not None and after is not None and before != after


Sample = tuple[str, list[SampleRequest], list[Finding]]  # where it was read, its requests, problems


def committed_sample(repo: GitRepo, ref: str, endpoint: str) -> Sample | None:
    """`apps/<endpoint>/sample-requests.jsonl` at `ref`, read."""
    committed = f"{APPS_DIR}/{endpoint}/{SAMPLE_FILE}"
    files = repo.read_files(ref, committed)
    data = files.get(committed)
    if data is None and any(path.startswith(f"{committed}/") for path in files):
        return committed, [], [Finding(RULE, Severity.ERROR, f"{committed} is a directory, not a JSON lines file",
                                       file=committed, fix="commit the sample as one file")]
    if data is None:
        return None
    requests, findings = read_sample(data, where=committed)
    return committed, requests, findings


def _sample(ctx: PlatformContext, pr: PullRequest) -> tuple[Sample | None, bool]:
    """The committed sample, else the gateway's recording; and whether it is a recording."""
    committed = committed_sample(ctx.repo, pr.head_sha, pr.endpoint)
    if committed is not None:
        return committed, False
    recorded = recorded_inputs.recording_of(ctx.home, pr.endpoint)
    if recorded.is_file():
        requests, findings = read_sample(recorded.read_bytes(), where=str(recorded))
        return (str(recorded), requests, findings), True
    return None, False


@dataclass(frozen=True)
class Exchange:
    status: int  # 0: no answer at all
    body: Any
    ms: float


@dataclass(frozen=True)
class Target:
    """One side of a diff: a base URL (gateway, ingress or model server) and the model name its paths use."""

    url: str
    model: str


def _call(client: KeepAlive, model: str, request: SampleRequest) -> Exchange:
    path = f"/v1/models/{model}:predict" if request.protocol == "v1" else f"/v2/models/{model}/infer"
    started = time.perf_counter()
    try:  # JSON as httpx sent and read it before (a NaN in a sample is an error, not a null)
        reply = client.post_json(path, json.dumps(request.body, ensure_ascii=False, separators=(",", ":"),
                                                  allow_nan=False).encode())
        body: Any = json.loads(reply.body) if reply.content_type.startswith("application/json") \
            else reply.body.decode("utf-8", "replace")
        status = reply.status
    except (OSError, http.client.HTTPException, ValueError, RecursionError) as exc:
        body, status = str(exc) or type(exc).__name__, 0
    return Exchange(status, body, (time.perf_counter() - started) * 1000)


def replay(serving: Target, proposed: Target, requests: list[SampleRequest], *,
           timeout_s: float = 60.0) -> list[tuple[SampleRequest, Exchange, Exchange]]:
    """Each request sent to the serving model and to the proposed one, a few at a time; results in sample order.

    Each worker thread owns one keep-alive connection per side (`keepalive`) and takes the next
    (request, side) from a shared queue, so both sides are asked alternately and concurrently.
    """
    jobs: queue.SimpleQueue[tuple[int, int]] = queue.SimpleQueue()
    for index in range(len(requests)):
        jobs.put((index, 0))
        jobs.put((index, 1))
    unsent = Exchange(0, "not sent", 0.0)  # every job is taken before the workers return
    answers = [[unsent] * len(requests), [unsent] * len(requests)]
    sides = (serving, proposed)

    def work() -> None:
        with KeepAlive(serving.url, timeout=timeout_s) as current, \
                KeepAlive(proposed.url, timeout=timeout_s) as preview:
            clients = (current, preview)
            while True:
                try:
                    index, side = jobs.get_nowait()
                except queue.Empty:
                    return
                answers[side][index] = _call(clients[side], sides[side].model, requests[index])

    with ThreadPoolExecutor(_WORKERS) as pool:
        for done in [pool.submit(work) for _ in range(min(_WORKERS, len(requests)))]:
            done.result()
    return list(zip(requests, answers[0], answers[1], strict=True))


def _quantiles(samples: list[float]) -> str:
    quantiles = latency_quantiles(samples)
    return f"p50 {quantiles['p50']:.1f} ms / p99 {quantiles['p99']:.1f} ms" if quantiles else "n/a"


def _fault(exchange: Exchange) -> str:
    """Why one side's answer cannot be compared ("" when it can): not a 200, a V2 answer naming two outputs
    alike (the Open Inference Protocol names each output once), or a 200 that is no prediction at all (a
    sign-in page in front of the endpoint), an error of that side."""
    if exchange.status != 200:
        return f"answered {exchange.status or 'nothing'}: {str(exchange.body)[:300]}"
    name = duplicate_output(exchange.body)
    if name is not None:
        return (f"answered 200 with two outputs named {name!r} (the Open Inference Protocol names each output "
                "once)")
    if outputs_of(exchange.body) is None:
        return f"answered 200 without predictions (V1 `predictions` or V2 `outputs`): {str(exchange.body)[:300]}"
    return ""


def _cut(value: Any, limit: int = 180) -> str:
    """`value` as Python shows it, at most `limit` characters: each part of a changed prediction is cut on its
    own, so an answer of megabytes still leaves room for the input it answered."""
    shown = repr(value)
    return shown if len(shown) <= limit else f"{shown[:limit - 1]}…"


def verdict(endpoint: str, preview: str, source: str, results: list[tuple[SampleRequest, Exchange, Exchange]],
            gate: extensions.DiffGate, *, recorded_key: bytes | None = None) -> CheckResult:
    """Agreement, changed predictions, errors and latency of `preview` against `endpoint`, and the gate's word.

    With `recorded_key` the sample is a recording of live traffic: a changed prediction names its request
    by reference (`recorded_inputs`), never by its input.
    """
    compared = [(r, c, p) for r, c, p in results if not _fault(c) and not _fault(p)]
    changed = [(r, c, p) for r, c, p in compared if not agree(c.body, p.body)]
    current_errors = sum(1 for _, c, _ in results if _fault(c))
    new_errors = [(r, c, p) for r, c, p in results if not _fault(c) and _fault(p)]
    agreement = (len(compared) - len(changed)) / len(compared) if compared else 0.0
    summary = (f"{preview} vs {endpoint} on {len(results)} requests from {source}: agreement "
               f"{agreement:.1%} ({len(compared) - len(changed)} of {len(compared)} compared); errors: "
               f"{current_errors} serving, {len(new_errors)} new in the preview; latency serving "
               f"{_quantiles([c.ms for _, c, _ in compared])}, preview {_quantiles([p.ms for _, _, p in compared])}")
    findings = [Finding(RULE, Severity.INFO, summary, extra={"agreement": agreement, "compared": len(compared),
                                                              "changed": len(changed), "new_errors": len(new_errors)})]
    for request, current, proposed in changed[:SHOWN]:
        outputs = (f"line {request.line}: serving {_cut(outputs_of(current.body))}, "
                   f"preview {_cut(outputs_of(proposed.body))}")
        if recorded_key is None:
            findings.append(Finding(RULE, Severity.WARNING, f"{outputs} for {_cut(request.body)}", file=source,
                                    line=request.line))
            continue
        named = recorded_inputs.fingerprint(recorded_key, request.body)
        findings.append(Finding(RULE, Severity.WARNING, f"{outputs} for recorded request {named}", file=source,
                                line=request.line, extra={recorded_inputs.REFERENCE: named}))
    for request, _, proposed in new_errors[:SHOWN]:
        findings.append(Finding(RULE, Severity.WARNING, f"line {request.line}: the preview {_fault(proposed)}",
                                file=source, line=request.line))
    if not compared:
        findings.append(Finding(RULE, Severity.WARNING, f"no request of {source} was answered by both models, so "
                                "nothing was compared", file=source, fix="replay requests the serving model answers"))
    failed = []
    if gate.min_agreement is not None and not compared:
        failed.append(f"the endpoint requires {gate.min_agreement:.1%} agreement and none could be measured")
    elif gate.min_agreement is not None and agreement < gate.min_agreement:
        failed.append(f"agreement {agreement:.1%} is below the {gate.min_agreement:.1%} the endpoint requires")
    if gate.fail_on_new_errors and new_errors:
        failed.append(f"the new model fails {len(new_errors)} request(s) the serving one answers")
    for reason in failed:
        findings.append(Finding(RULE, Severity.ERROR, reason, fix="look at the changed predictions above; change "
                                f"the {extensions.PREFIX}prediction-diff-* annotations if the change is intended"))
    return CheckResult(CHECK_PREDICTIONS, "fail" if failed else "pass", [f.to_dict() for f in findings])


def waiting(check: CheckResult) -> bool:
    """A `prediction-diff` result that is not final yet (its preview was not ready): read it again."""
    return check.name == CHECK_PREDICTIONS and any(f.get("extra", {}).get("waiting") for f in check.findings)


def prediction_check(ctx: PlatformContext, pr: PullRequest) -> CheckResult:
    """The check for a pull request that changes a model (see the module docstring for its states).

    Only the pull request's own endpoint has a preview: another endpoint whose model it changes too
    was not compared, which is said, and fails the check when that endpoint has a gate.
    """
    own = _preview_check(ctx, pr) if own_model_changed(ctx.repo, pr) else CheckResult(CHECK_PREDICTIONS, "pass", [])
    findings, gated = list(own.findings), False
    for name in changed_elsewhere(ctx.repo, pr):
        try:
            gating = gate_of(manifest_at(ctx.repo, pr.head_sha, name)).gating
        except InvalidInput:
            gating = True
        gated = gated or gating
        findings.append(Finding(RULE, Severity.ERROR if gating else Severity.WARNING,
                                f"the pull request also changes the model of {name}, whose predictions were not "
                                f"compared (only {pr.endpoint} has a preview here)", file=manifest_path(name),
                                fix="propose each endpoint's model change in its own pull request").to_dict())
    return CheckResult(CHECK_PREDICTIONS, "fail" if gated else own.status, findings)


def _failure(ctx: PlatformContext, status: EndpointStatus) -> str:
    """Why the preview's latest revision failed, or "": its condition now, else that revision's last failure
    event (a model that hangs is restarted at once after its startup timeout, so no condition shows it)."""
    for condition in status.conditions:
        if condition.reason in FAILURE_REASONS and not condition.is_true:
            ready = status.condition(ConditionType.Ready)
            return ready.message if ready else condition.message
    return next((f"{event.reason}: {event.message}" for event in reversed(ctx.events.events(name=status.name))
                 if event.reason in FAILURE_REASONS and event.message.startswith(f"{status.latest_revision}:")), "")


def _waiting(gate: extensions.DiffGate, message: str) -> CheckResult:
    """Not final yet (read again): `pending` with a gate, else a pass that never blocks a merge."""
    return CheckResult(CHECK_PREDICTIONS, "pending" if gate.gating else "pass", [Finding(
        RULE, Severity.INFO, message, fix="it starts once the other checks pass on a running platform; read the "
                                          "pull request again to see the diff", extra={"waiting": True}).to_dict()])


def _still_serves(ctx: PlatformContext, pr: PullRequest, before: PreviewState) -> bool:
    """Does the preview still serve the pull request's head from the revision the replay started on? The engine
    follows the branch, so a push during the replay hands the rest of it to another model."""
    after = preview_state(ctx, pr)
    return (after.serves_head and after.status is not None and before.status is not None
            and after.status.revision == before.status.revision)


def _preview_check(ctx: PlatformContext, pr: PullRequest) -> CheckResult:
    """The pull request's own endpoint against its preview: without a gate it reports and never blocks a
    merge, so waiting for the preview is a pass that is read again; with one, waiting is `pending`."""
    try:
        gate = gate_of(manifest_at(ctx.repo, pr.head_sha, pr.endpoint))
    except InvalidInput as exc:
        return CheckResult(CHECK_PREDICTIONS, "fail", [Finding(RULE, Severity.ERROR, exc.message, fix=exc.fix,
                                                               field_path=exc.where).to_dict()])
    state = preview_state(ctx, pr)
    preview, status = state.name, state.status if state.current else None
    if state.refused:
        return CheckResult(CHECK_PREDICTIONS, "fail" if gate.gating else "pass", [Finding(
            RULE, Severity.ERROR if gate.gating else Severity.WARNING,
            f"no predictions compared: the pull request has no preview: {state.refused}",
            fix="rename the endpoint, or compare with `neuroscale diff` against the model files").to_dict()])
    if not state.serves_head:
        condition = status.condition(ConditionType.Ready) if status else None
        ready = condition.message if condition else ""
        failure = _failure(ctx, status) if status is not None else ""
        if failure:
            return CheckResult(CHECK_PREDICTIONS, "fail", [Finding(
                RULE, Severity.ERROR, f"the preview {preview} does not serve: {failure}",
                fix="fix the model the pull request proposes and push again").to_dict()])
        return _waiting(gate, f"waiting for the preview {preview} to become ready" + (f" ({ready})" if ready else ""))
    sample, recorded = _sample(ctx, pr)
    if sample is None:
        return CheckResult(CHECK_PREDICTIONS, "fail" if gate.gating else "pass", [Finding(
            RULE, Severity.ERROR if gate.gating else Severity.INFO, f"no sample requests to replay against {preview}"
            + (": the endpoint's prediction-diff gate cannot be met" if gate.gating else ""),
            fix=f"commit {APPS_DIR}/{pr.endpoint}/{SAMPLE_FILE}, or let the gateway record live requests "
                f"({extensions.RECORD}: \"true\")").to_dict()])
    source, requests, problems = sample
    gateway = load_settings(ctx.home).gateway_url
    answers = replay(Target(gateway, pr.endpoint), Target(gateway, preview), requests)
    if not _still_serves(ctx, pr, state):
        return _waiting(gate, f"the preview {preview} changed while the sample was replayed (a push to the pull "
                              "request), so its answers were not all of this head's model")
    result = verdict(pr.endpoint, preview, source, answers, gate,
                     recorded_key=recorded_inputs.fingerprint_key(ctx.home) if recorded else None)
    findings = [*result.findings, *(p.to_dict() for p in problems)]
    broken = any(p.severity is Severity.ERROR for p in problems)
    return CheckResult(CHECK_PREDICTIONS, "fail" if broken else result.status, findings)
