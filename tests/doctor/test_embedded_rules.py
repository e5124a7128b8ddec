"""The embedded rules on hand-built snapshots of the embedded shape: each verdict from the present.

Table-driven and pure (the real platform is diagnosed in test_embedded.py and
the fault-injection suite): history that was repaired is silent, and each
failure is named by its own evidence with its own fix.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from neuroscale.doctor.runner import diagnose
from neuroscale.engine.clock import iso
from neuroscale.status.exits import ExitRecord

R1, R2 = "iris-predictor-00001", "iris-predictor-00002"
NOW = time.time()
HOME = "/srv/home"


def at(seconds_ago: float) -> str:
    return iso(NOW - seconds_ago)


def event(ago: float, reason: str, message: str, kind: str = "Warning") -> dict[str, Any]:
    return {"kind": "EngineEvent", "time": at(ago), "endpoint": "iris", "type": kind, "reason": reason,
            "message": message, "actor": ""}


def exited(ago: float, cause: str, detail: str, *, revision: str = R1, pid: int = 4242) -> dict[str, Any]:
    reason = "OOMKilled" if cause == "OOMKilled" else "ProcessExited"
    return event(ago, reason, ExitRecord(revision, pid, cause, detail).message())


def ready(ago: float, revision: str = R1) -> dict[str, Any]:
    return event(ago, "RevisionReady", f"{revision} ready at 127.0.0.1:4000 after 1.20s", kind="Normal")


def endpoint(*, ready_status: str = "True", reason: str = "Deployed", message: str = "",
             predictor: tuple[str, str] = ("True", "RevisionReady"), traffic: list[dict[str, Any]] | None = None,
             limits: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "name": "iris", "namespace": "default", "sync": "Synced", "health": "Healthy" if ready_status == "True"
        else "Degraded", "revision": R1, "observed_commit": "c0ffee" * 6,
        "conditions": [{"type": "Ready", "status": ready_status, "reason": reason, "message": message},
                       {"type": "PredictorReady", "status": predictor[0], "reason": predictor[1], "message": ""}],
        "traffic": traffic if traffic is not None else [
            {"revision": R1, "percent": 100, "latest": True, "ready_replicas": 1, "desired_replicas": 1}],
        "limits": limits or {},
    }


def server(*, pid: int = 4242, revision: str = R1, state: str = "S", live: bool | None = True,
           alive: bool = True, port: int = 4000) -> dict[str, Any]:
    return {"pid": pid, "endpoint": "iris", "revision": revision, "replica": 0, "port": port,
            "address": f"127.0.0.1:{port}", "alive": alive, "state": state, "log": f"{HOME}/logs/servers/{revision}.log",
            "loaded": f"ModelLoaded: iris (sklearn from /m) in 0.50s; serving on http://127.0.0.1:{port}", "live": live}


def snapshot(*, endpoints: list[dict[str, Any]] | None = None, events: list[dict[str, Any]] | None = None,
             servers: list[dict[str, Any]] | None = None, processes: dict[str, str] | None = None,
             heartbeat: dict[str, Any] | None = None, routes: dict[str, Any] | None = None,
             logs: dict[str, str] | None = None, supervisor: bool = False) -> dict[str, Any]:
    states = {"reconciler": "S", "gateway": "S", "portal": "S", **(processes or {})}
    procs = [{"component": name, "pid": 100 + n, "alive": state != "dead", "state": "" if state == "dead" else state,
              "pid_file": f"{HOME}/run/{name}.pid", "log_file": "", "log_tail": ""}
             for n, (name, state) in enumerate(states.items())]
    beat = heartbeat or {"pid": 100, "observed_at": at(0.2), "interval": 1.0, "age_s": 0.2, "stale": False,
                         "stopped_at": "", "error": "", "started_at": at(600)}
    return {
        "apiVersion": "neuroscale.dev/snapshot/v1",
        "meta": {"target": "embedded", "takenAt": at(0), "eventsSince": at(900), "home": HOME},
        "objects": {"Endpoint": endpoints if endpoints is not None else [endpoint()],
                    "EngineEvent": events or []},
        "logs": logs or {},
        "host": {"home": HOME, "processes": procs, "supervisor": {"running": supervisor, "pid": 99 if supervisor
                                                                             else None},
                 "commands": {"reconciler": f"python -m neuroscale.engine --home {HOME}",
                              "gateway": f"python -m neuroscale.gateway --home {HOME} --port 8080"},
                 "disk": {"path": HOME, "total": 100 << 30, "free": 50 << 30, "min_free": 1 << 30},
                 "engine": {"heartbeat": beat, "servers": servers if servers is not None else [server()],
                            "routes": routes or {"path": f"{HOME}/run/routes.json", "exists": True, "age_s": 30.0,
                                                 "updated": at(30), "endpoints": {"iris": {
                                                     "ready": True, "upstreams": ["127.0.0.1:4000"],
                                                     "revisions": [R1]}}}}},
    }


def findings(snap: dict[str, Any]) -> dict[str, Any]:
    return {f.rule: f for f in diagnose(snap).findings}


KILLED = [ready(300), exited(5, "KilledBySignal", "model server was killed by SIGKILL after loading its model, a "
                                                  "signal the platform did not send")]
DOWN = {"ready_status": "False", "reason": "KilledBySignal", "predictor": ("False", "KilledBySignal"),
        "traffic": [{"revision": R1, "percent": 100, "latest": True, "ready_replicas": 0, "desired_replicas": 1}]}


def test_a_repaired_history_is_silent() -> None:
    """Issue 10: 11 crash events, then a fix that became ready: no finding, exit 0."""
    history = [exited(600 - n, "ModelLoadFailed", "model file not found: /models/fraud.joblib") for n in range(11)]
    history += [ready(200, R2)] + [exited(100 - n, "KilledBySignal", "killed by SIGKILL") for n in range(17)]
    history += [ready(50, R2)]
    diagnosis = diagnose(snapshot(events=history))
    assert diagnosis.findings == [] and diagnosis.exit_code == 0


def test_killed_from_outside_is_named_as_such() -> None:
    found = findings(snapshot(endpoints=[endpoint(**DOWN)], events=KILLED, servers=[]))["model-server-crash"]
    assert found.message == f"the model server of {R1} was killed from outside the platform"
    assert found.root_cause.startswith("killed by a signal the platform did not send")
    assert "SIGKILL after loading its model" in found.evidence and "ModelLoadFailed" not in found.evidence
    assert "journalctl -k" in found.fix and "storageUri" not in found.fix


@pytest.mark.parametrize(("cause", "detail", "message", "fix"), [
    ("OOMKilled", "resident memory 90Mi went over the 32Mi memory limit while loading; raise it",
     "is killed for going over its memory limit (32Mi)", "--memory-limit"),
    ("LivenessProbeFailed", "the platform killed it after 3 liveness probes 2s apart went unanswered",
     "stopped answering and was restarted", "the platform restarts it"),
    ("PortUnavailable", "cannot listen on 127.0.0.1:4000: Address already in use", "could not listen on its port",
     "another free port"),
    ("ModelLoadFailed", "cannot unpickle /m/model.joblib: invalid load key", "fails while loading its model",
     "--model-format"),
    ("ProcessExited", "model server exited with code 1 after loading its model; last output: Segmentation fault",
     "exits on its own", "read the last output"),
])
def test_each_exit_cause_has_its_own_fix(cause: str, detail: str, message: str, fix: str) -> None:
    down = {**DOWN, "reason": "CrashLoopBackOff", "predictor": ("False", "CrashLoopBackOff"),
            "limits": {"memory": "32Mi: RSS watchdog"}}
    found = findings(snapshot(endpoints=[endpoint(**down)], events=[ready(300), exited(3, cause, detail)],
                              servers=[]))["model-server-crash"]
    assert message in found.message and fix in found.fix and detail in found.evidence


def test_the_servers_own_load_line_is_quoted() -> None:
    line = "ModelLoadFailed: model file not found: /models/fraud.joblib (where: storageUri); fix: upload it"
    snap = snapshot(endpoints=[endpoint(**DOWN)], servers=[], logs={f"servers/{R1}": f"starting\n{line}"},
                    events=[exited(2, "ModelLoadFailed", "model file not found: /models/fraud.joblib")])
    found = findings(snap)["model-server-crash"]
    assert found.evidence.startswith(line) and found.root_cause.endswith("the model file at storageUri does not exist")


def test_new_revision_failing_while_the_old_one_serves() -> None:
    traffic = [{"revision": R1, "percent": 100, "latest": False, "ready_replicas": 1, "desired_replicas": 1},
               {"revision": R2, "percent": 0, "latest": True, "ready_replicas": 0, "desired_replicas": 1}]
    snap = snapshot(endpoints=[endpoint(ready_status="False", reason="OOMKilled", traffic=traffic,
                                        predictor=("True", "PreviousRevisionServing"),
                                        limits={"memory": "32Mi: RSS watchdog"})],
                    events=[ready(300), exited(2, "OOMKilled", "resident memory 90Mi went over", revision=R2)])
    found = findings(snap)["model-server-crash"]
    assert found.message.startswith(f"the model server of {R2} is killed for going over its memory limit (32Mi)")
    assert found.message.endswith(f"; {R1} keeps serving") and "resources.limits.memory" in found.root_cause


def test_a_stopped_server_is_named_before_the_platform_notices() -> None:
    found = findings(snapshot(servers=[server(state="T", live=None)]))["model-server-crash"]
    assert found.message == f"the model server {R1} replica 0 (pid 4242) is stopped"
    assert found.fix.startswith("kill -CONT 4242") and "state T" in found.evidence


def test_denied_on_main_keeps_serving_and_names_the_flag() -> None:
    denial = ("denied by neuroscale-require-labels-inferenceservice/owner-label at metadata.labels.owner: label "
              "'owner' must be set and non-empty; still serving iris-predictor-00001 100%")
    snap = snapshot(endpoints=[endpoint(ready_status="False", reason="AdmissionDenied", message=denial)])
    found = findings(snap)["endpoint-not-deployed"]
    assert found.message == f"iris: the manifest on main is denied — serving last good revision {R1}"
    assert found.fix.startswith("neuroscale endpoint update iris --owner <owner>") and denial in found.evidence
    assert set(findings(snap)) == {"endpoint-not-deployed"}


def test_hung_and_stopped_reconciler() -> None:
    stale = {"pid": 100, "observed_at": at(12), "interval": 1.0, "age_s": 12.0, "stale": True, "stopped_at": "",
             "error": "", "started_at": at(600)}
    hung = findings(snapshot(heartbeat=stale))["reconciler-heartbeat"]
    assert "is hung" in hung.message and "12.0s ago" in hung.evidence and "py-spy dump --pid 100" in hung.fix
    stopped = findings(snapshot(heartbeat=stale, processes={"reconciler": "T"}))
    assert "reconciler-heartbeat" not in stopped
    assert stopped["platform-process"].message == "the reconciler (pid 100) is stopped"
    assert stopped["platform-process"].fix == "kill -CONT 100"


def test_dead_reconciler_explains_the_stale_routes() -> None:
    snap = snapshot(processes={"reconciler": "dead"}, servers=[server(alive=False)], endpoints=[endpoint(**DOWN)],
                    events=KILLED)
    by_rule = findings(snap)
    dead, routes = by_rule["platform-process"], by_rule["routes-stale"]
    assert "127.0.0.1:4000 (no model server of this home listens there)" in routes.evidence
    assert routes.explained_by == dead.key
    assert dead.fix.startswith(f"python -m neuroscale.engine --home {HOME} &   # starts the reconciler next to")
    assert "the supervisor" in findings({**snap, "host": {**snap["host"], "supervisor": {"running": True, "pid": 9}}}
                                        )["platform-process"].fix


def test_a_routes_file_stamped_in_the_future_is_still_judged() -> None:
    """The clock moved back: the file's age is negative, which is not "written a moment ago"."""
    future = {"path": f"{HOME}/run/routes.json", "exists": True, "age_s": -3600.0, "updated": at(-3600),
              "endpoints": {"iris": {"ready": True, "upstreams": ["127.0.0.1:4000"], "revisions": [R1]}}}
    snap = snapshot(processes={"reconciler": "dead"}, servers=[server(alive=False)], endpoints=[endpoint(**DOWN)],
                    events=KILLED, routes=future)
    assert "127.0.0.1:4000 (no model server of this home listens there)" in findings(snap)["routes-stale"].evidence


def test_failing_passes_are_named() -> None:
    failing = {"pid": 100, "observed_at": at(30), "interval": 1.0, "age_s": 30.0, "stale": True, "stopped_at": "",
               "error": "OperationalError: database or disk is full", "started_at": at(600)}
    found = findings(snapshot(heartbeat=failing))["reconciler-heartbeat"]
    assert found.message == "the reconciler runs but its reconcile passes fail"
    assert "database or disk is full" in found.evidence


def test_disk_threshold_is_configurable() -> None:
    snap = snapshot()
    assert "disk-space" not in findings(snap)
    snap["host"]["disk"]["min_free"] = 60 << 30
    found = findings(snap)["disk-space"]
    assert found.severity.value == "warning" and "below the 61440 MiB threshold" in found.evidence
