"""The golden path, end to end, through the same services the form uses.

Train an iris classifier from scikit-learn's bundled data, open the
`demo-iris` pull request, show its checks, merge it, wait for Ready and send a
prediction through the gateway. Each step reports through a callback so the
CLI can render progress without this module knowing about terminals.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from neuroscale.errors import NeuroScaleError, NotReady
from neuroscale.home import Home
from neuroscale.spec.endpoint import EndpointSpec
from neuroscale.supervisor.settings import PlatformSettings

DEMO_NAME = "demo-iris"
DEMO_INSTANCES = [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]
READY_TIMEOUT_S = 60.0


def train_iris(directory: Path) -> Path:
    """Fit LogisticRegression on the iris data bundled with scikit-learn; no download."""
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    data = load_iris()
    model = LogisticRegression(max_iter=1000, random_state=0).fit(data.data, data.target)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "model.joblib"
    joblib.dump(model, path)
    return path


def demo_spec(model_path: Path) -> EndpointSpec:
    return EndpointSpec.from_input({
        "name": DEMO_NAME,
        "owner": "demo-team",
        "costCenter": "cc-demo",
        "modelFormat": "sklearn",
        "storageUri": model_path.resolve().as_uri(),
    })


def open_and_merge(home: Home, spec: EndpointSpec, step: Callable[[str, Any], None]) -> dict[str, Any]:
    """Open (or update) the endpoint's PR, report its checks, merge it."""
    from neuroscale.services.context import PlatformContext
    from neuroscale.services.endpoints import create_endpoint, list_endpoints_on_main, update_endpoint
    from neuroscale.services.identity import cli_actor
    from neuroscale.services.pulls import merge_pull_request

    ctx = PlatformContext.open(home, create=True)
    try:
        on_main = {existing.name: existing for existing in list_endpoints_on_main(ctx)}
        if on_main.get(spec.name) == spec:
            step("already-merged", spec.name)
            return {"number": None, "state": "merged", "title": f"{spec.name} already on main"}
        action = update_endpoint if spec.name in on_main else create_endpoint
        actor = cli_actor(ctx)  # the home's admin credential (or NEUROSCALE_TOKEN)
        pull = action(ctx, spec, actor=actor)
        step("pull-request", pull.to_dict())
        merged = merge_pull_request(ctx, pull.number, actor=actor)
        step("merged", merged.to_dict())
        return merged.to_dict()
    finally:
        ctx.close()


def wait_until_ready(home: Home, name: str, *, timeout: float, tick: Callable[[str], None]) -> float:
    """Poll the reconciler's status until the endpoint is Ready; returns seconds waited."""
    from neuroscale.db import connect
    from neuroscale.engine.store import StatusStore

    started = time.monotonic()
    conn = connect(home.state_db)
    try:
        store = StatusStore(conn)
        message = "waiting for the reconciler"
        while time.monotonic() - started < timeout:
            status = store.get(name)
            if status is not None:
                ready = next((c for c in status.conditions if c.type == "Ready"), None)
                if ready is not None and ready.status == "True":
                    return time.monotonic() - started
                if ready is not None:
                    message = f"{ready.reason}: {ready.message}"
            tick(message)
            time.sleep(0.05)
    finally:
        conn.close()
    raise NotReady(f"{name} was not Ready after {timeout:.0f} s ({message})",
                   fix=f"see `neuroscale status {name}` and `neuroscale events`")


def predict(settings: PlatformSettings, name: str, instances: list[list[float]]) -> dict[str, Any]:
    body = json.dumps({"instances": instances}).encode()
    request = urllib.request.Request(f"{settings.gateway_url}/v1/models/{name}:predict", data=body,
                                     headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return dict(json.loads(response.read()))
    except urllib.error.HTTPError as exc:
        raise NeuroScaleError(f"gateway answered HTTP {exc.code}: {exc.read().decode(errors='replace')}",
                              reason="PredictionFailed", fix="see `neuroscale status` and `neuroscale events`") from None
