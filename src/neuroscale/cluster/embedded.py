"""`neuroscale smoke` without `--cluster`: the same checks against the embedded platform.

GitOps state comes from the engine's status store, policy denials from the
same `admit()` the reconciler uses, and inference goes through the local
gateway with the endpoint's Host header, exactly as a client would call it.
"""

from __future__ import annotations

import json
from urllib.parse import urlparse

import httpx

from neuroscale.cluster.results import SmokeResult, failed, passed, skipped
from neuroscale.db import connect
from neuroscale.findings import Severity
from neuroscale.home import Home

IRIS = [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]
_BAD_ISVC = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
             "metadata": {"name": "smoke-unlabelled", "namespace": "default"},
             "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "s3://smoke/m"}}}}


def _policy_check() -> SmokeResult:
    from neuroscale.policy.admission import admit

    denials = [f for f in admit([_BAD_ISVC]) if f.severity is Severity.ERROR]
    if not denials:
        return failed("D Policy", "Unlabelled InferenceService denied", "admitted",
                      "the bundled policies did not deny it: report a bug")
    return passed("D Policy", "Unlabelled InferenceService denied", f"{denials[0].rule}: {denials[0].message[:100]}")


def run_embedded_smoke(home: Home, *, gateway_url: str | None = None) -> list[SmokeResult]:
    """Checks in dependency order; the gateway URL defaults to what `neuroscale up` recorded in the home."""
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
    if not endpoints:
        results.append(skipped("B Serving", "Endpoints Ready", "no endpoints", "neuroscale endpoint create ..."))
    else:
        bad = [f"{e.name} ({e.health})" for e in endpoints if not e.ready]
        results.append(failed("B Serving", "Endpoints Ready", ", ".join(bad), "neuroscale doctor")
                       if bad else passed("B Serving", "Endpoints Ready", f"{len(endpoints)}/{len(endpoints)} Ready"))
    ready = [e for e in endpoints if e.ready and e.url]
    if not ready or not gateway_up:
        results.append(skipped("B Serving", "Inference through the gateway", "no Ready endpoint or no gateway"))
    else:
        endpoint = ready[0]
        host = urlparse(endpoint.url).netloc
        try:
            resp = httpx.post(f"{gateway}/v1/models/{endpoint.name}:predict", json={"instances": IRIS},
                              headers={"Host": host}, timeout=15)
            body = resp.json() if resp.headers.get("content-type", "").startswith("application/json") else None
        except (httpx.HTTPError, ValueError) as exc:
            resp, body = None, {"error": type(exc).__name__}
        if resp is not None and resp.status_code == 200 and isinstance(body, dict) and "predictions" in body:
            results.append(passed("B Serving", "Inference through the gateway",
                                  f"{endpoint.name}: {json.dumps(body['predictions'])[:60]}"))
        else:
            status = resp.status_code if resp is not None else "no response"
            results.append(failed("B Serving", "Inference through the gateway", f"{endpoint.name}: {status} {body}",
                                  "neuroscale doctor; check the endpoint's events"))
    results.append(_policy_check())
    return results
