"""`neuroscale smoke` without `--cluster`: the same checks against the embedded platform.

GitOps state comes from the engine's status store, policy denials from the
same `admit()` the reconciler uses, and inference goes through the local
gateway with the endpoint's Host header, exactly as a client would call it:
every Ready endpoint (or the one `--endpoint` names) gets its own request,
from the sample stored beside its manifest on main or built from its V2
metadata (`smoke_inference`).
"""

from __future__ import annotations

from urllib.parse import urlparse

import httpx

from neuroscale.cluster.results import SmokeResult, failed, passed, skipped
from neuroscale.cluster.sample_request import SampleRequest, parse_sample_request, sample_request_path
from neuroscale.cluster.smoke_inference import Target, smoke_inference
from neuroscale.db import connect
from neuroscale.errors import InvalidInput, NeuroScaleError
from neuroscale.findings import Severity
from neuroscale.home import Home
from neuroscale.status.model import EndpointStatus

_BAD_ISVC = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
             "metadata": {"name": "smoke-unlabelled", "namespace": "default"},
             "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "s3://smoke/m"}}}}
INFERENCE = "Inference through the gateway"


def _policy_check() -> SmokeResult:
    from neuroscale.policy.admission import admit

    denials = [f for f in admit([_BAD_ISVC]) if f.severity is Severity.ERROR]
    if not denials:
        return failed("D Policy", "Unlabelled InferenceService denied", "admitted",
                      "the bundled policies did not deny it: report a bug")
    return passed("D Policy", "Unlabelled InferenceService denied", f"{denials[0].rule}: {denials[0].message[:100]}")


def run_embedded_smoke(home: Home, *, gateway_url: str | None = None, endpoint: str | None = None,
                       sample: SampleRequest | None = None) -> list[SmokeResult]:
    """Checks in dependency order; the gateway URL defaults to what `neuroscale up` recorded in the home.

    `sample` (from `--sample-request`) replaces every endpoint's own request; it needs `endpoint`.
    """
    from neuroscale.engine.store import StatusStore
    from neuroscale.supervisor.settings import load_settings

    if not home.state_db.is_file():
        return [failed("0 Prerequisites", "Platform home", f"no state database at {home.state_db}",
                       "start the platform: neuroscale up (or pass --home)")]
    results = [passed("0 Prerequisites", "Platform home", str(home.root))]
    gateway = (gateway_url or load_settings(home).gateway_url).rstrip("/")
    health: int | str
    try:
        health = httpx.get(gateway + "/healthz", timeout=3).status_code
    except httpx.HTTPError as exc:
        health = type(exc).__name__
    gateway_up = health == 200
    results.append(passed("0 Prerequisites", "Gateway healthy", gateway) if gateway_up else
                   failed("0 Prerequisites", "Gateway healthy", f"{gateway}/healthz: {health}",
                          "start the platform: neuroscale up"))
    conn = connect(home.state_db)
    try:
        endpoints = StatusStore(conn).list_endpoints()
    finally:
        conn.close()
    if endpoint is not None:
        endpoints = [e for e in endpoints if e.name == endpoint]
        if not endpoints:
            return [*results, failed("B Serving", "Endpoints Ready", f"no endpoint named {endpoint!r} has a status",
                                     "neuroscale endpoint list; neuroscale status"), _policy_check()]
    if not endpoints:
        results.append(skipped("B Serving", "Endpoints Ready", "no endpoints", "neuroscale endpoint create ..."))
    else:
        bad = [f"{e.name} ({e.health})" for e in endpoints if not e.ready]
        results.append(failed("B Serving", "Endpoints Ready", ", ".join(bad), "neuroscale doctor")
                       if bad else passed("B Serving", "Endpoints Ready", f"{len(endpoints)}/{len(endpoints)} Ready"))
    ready = [e for e in endpoints if e.ready and e.url]
    if not ready or not gateway_up:
        results.append(skipped("B Serving", INFERENCE, "no Ready endpoint or no gateway"))
    for status in ready if gateway_up else []:
        results.append(_inference(home, gateway, status, sample))
    results.append(_policy_check())
    return results


def _inference(home: Home, gateway: str, status: EndpointStatus, sample: SampleRequest | None) -> SmokeResult:
    try:
        stored = sample or _stored_sample(home, status.name)
    except InvalidInput as exc:
        return failed("B Serving", INFERENCE, f"{status.name}: {exc.message} ({exc.where})", exc.fix)
    return smoke_inference(Target(gateway, urlparse(status.url).netloc, status.name), stored=stored,
                           section="B Serving", name=INFERENCE, unreachable_hint="neuroscale doctor; neuroscale up")


def _stored_sample(home: Home, name: str) -> SampleRequest | None:
    """The sample request stored beside the endpoint's manifest on main, if any."""
    from neuroscale.gitops.repo import GitRepo

    path = sample_request_path(name)
    try:
        found = GitRepo(home.remote).read_files("main", path).get(path)
    except NeuroScaleError:
        return None  # no readable main: the metadata still tells what to send
    return parse_sample_request(found, where=f"main:{path}") if found is not None else None
