"""The embedded target diagnosed from a real home: real git remote and hook, real SQLite, real processes and ports."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from neuroscale.cli.main import main
from neuroscale.db import connect
from neuroscale.doctor.embedded import read_embedded_snapshot
from neuroscale.doctor.runner import diagnose
from neuroscale.engine.clock import iso
from neuroscale.engine.store import EngineStore
from neuroscale.home import Home
from neuroscale.status.conditions import ConditionType, false
from neuroscale.status.exits import ExitRecord
from neuroscale.status.model import EndpointStatus, Event, EventType, Health, Sync
from tests.conftest import free_port
from tests.platform.github_replay import Replay

PLACEHOLDER = "<YOUR_TOKEN_HERE>"
#: Only the machine decides this one; every other rule is asserted exactly.
MACHINE_DEPENDENT = {"disk-space"}
_LISTENER = ("import socket, sys, time\n"
             "s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen()\n"
             "print('ready', flush=True); time.sleep(120)\n")


def _spawn(processes: list[subprocess.Popen[str]], marker: str, port: int = 0) -> int:
    """A real process whose command line carries the `neuroscale` marker, optionally listening on `port`."""
    code = _LISTENER if port else "import time; print('ready', flush=True); time.sleep(120)"
    proc = subprocess.Popen([sys.executable, "-c", code, str(port), marker], stdout=subprocess.PIPE, text=True)
    processes.append(proc)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc.pid


def _settings(home: Home) -> dict[str, int]:
    data: dict[str, int] = json.loads(home.settings_file.read_text())
    return data


def test_running_platform_is_healthy(home: Home, processes: list[subprocess.Popen[str]]) -> None:
    ports = _settings(home)
    home.pid_file("portal").write_text(str(_spawn(processes, "neuroscale-portal", ports["portal_port"])))
    home.pid_file("gateway").write_text(str(_spawn(processes, "neuroscale-gateway", ports["gateway_port"])))
    home.pid_file("reconciler").write_text(str(_spawn(processes, "neuroscale-reconciler")))
    snap = read_embedded_snapshot(home, environ={})
    assert all(p["in_use"] and p["ours"] for p in snap["host"]["ports"])
    fired = {f.rule for f in diagnose(snap).findings}
    assert fired <= MACHINE_DEPENDENT


def _break_everything(home: Home, iris_missing: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=30)
    home.pid_file("reconciler").write_text(str(dead.pid))
    hook = home.remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'push declined: main is protected by policy' >&2\nexit 1\n")
    hook.chmod(0o755)
    home.server_logs_dir.mkdir(parents=True, exist_ok=True)
    with (home.server_logs_dir / "demo-iris-predictor-00001.log").open("w") as log:
        done = subprocess.run([sys.executable, "-m", "neuroscale.serving", "--model-name", "demo-iris",
                               "--model-format", "sklearn", "--storage-uri", str(iris_missing),
                               "--port", str(free_port()), "--revision", "demo-iris-predictor-00001",
                               "--model-root", str(iris_missing.parent)],
                              stdout=log, stderr=log, timeout=60, check=False)
    assert done.returncode == 3
    crash_looping(home, "demo-iris", cause="ModelLoadFailed", detail="model file not found: (see the log)")


def crash_looping(home: Home, name: str, *, cause: str, detail: str, failures: int = 3) -> None:
    """A status and recent events as the reconciler records a revision that keeps failing to start."""
    message = f"{name}-predictor-00001 failed {failures} times in a row, back-off 2s; last failure: {cause}: {detail}"
    conn = connect(home.state_db)
    try:
        store = EngineStore(conn)
        store.save_status(EndpointStatus(
            name=name, namespace="default", url="", sync=Sync.Synced, health=Health.Degraded, revision="",
            conditions=(false(ConditionType.Ready, "CrashLoopBackOff", message),
                        false(ConditionType.PredictorReady, "CrashLoopBackOff", message))))
        for n in range(failures):
            store.record_event(Event(time=iso(time.time() - failures + n), endpoint=name, type=EventType.Warning,
                                     reason="ProcessExited",
                                     message=ExitRecord(f"{name}-predictor-00001", 100 + n, cause, detail).message()))
    finally:
        conn.close()


def test_broken_platform_names_each_cause(home: Home, tmp_path: Path, processes: list[subprocess.Popen[str]],
                                          monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", _settings(home)["portal_port"]))
    squatter.listen()
    try:
        _break_everything(home, tmp_path / "models" / "model.joblib")
        monkeypatch.setenv("NEUROSCALE_GITHUB_REPO", "https://github.com/acme/gitops")
        monkeypatch.setenv("NEUROSCALE_GITHUB_TOKEN", PLACEHOLDER)
        code = main(["doctor", "--home", str(home.root), "-o", "json"])
    finally:
        squatter.close()
    out = capsys.readouterr().out
    report = json.loads(out)
    by_rule = {f["rule"]: f for f in report["findings"]}
    expected = {"port-taken", "platform-process", "git-remote", "github-token", "model-server-crash"}
    assert expected <= set(by_rule) <= expected | MACHINE_DEPENDENT
    assert code == 1
    assert f"pid {os.getpid()}" in by_rule["port-taken"]["message"]
    assert "push declined: main is protected by policy" in by_rule["git-remote"]["evidence"]
    crash = by_rule["model-server-crash"]
    assert crash["evidence"].startswith("ModelLoadFailed: no model file at this storage URI")  # quoted as written
    assert crash["root_cause"] == ("exception while loading: the model file at storageUri does not exist, or lies "
                                   "outside the allowed model roots")
    assert "(3 failures since" in crash["message"] and "--storage-uri" in crash["fix"]
    assert f"length={len(PLACEHOLDER)}, shape=placeholder" in by_rule["github-token"]["evidence"]
    assert PLACEHOLDER not in out
    stale = [f for f in report["findings"] if f["rule"] == "platform-process" and "stale pid" in f["message"]]
    assert [f["object"] for f in stale] == ["Process/reconciler"]
    assert report["findings"][0]["category"] == "environment"  # the port comes first in triage order


def test_wrong_model_format_is_named(home: Home, tmp_path: Path) -> None:
    garbage = tmp_path / "model.joblib"
    garbage.write_text("not a model")
    home.server_logs_dir.mkdir(parents=True, exist_ok=True)
    with (home.server_logs_dir / "demo-iris-predictor-00002.log").open("w") as log:
        subprocess.run([sys.executable, "-m", "neuroscale.serving", "--model-name", "demo-iris", "--model-format",
                        "xgboost", "--storage-uri", str(garbage), "--port", str(free_port()),
                        "--model-root", str(tmp_path)],
                       stdout=log, stderr=log, timeout=60, check=False)
    with (home.server_logs_dir / "demo-iris-predictor-00001.log").open("a") as log:  # the revision's own log
        log.write((home.server_logs_dir / "demo-iris-predictor-00002.log").read_text())
    crash_looping(home, "demo-iris", cause="ModelLoadFailed", detail="see the log")
    [finding] = [f for f in diagnose(read_embedded_snapshot(home, environ={})).findings
                 if f.rule == "model-server-crash"]
    assert "xgboost" in finding.evidence
    assert finding.root_cause == ("exception while loading: the model file is not in the declared modelFormat, "
                                  "or it is corrupted")


def test_denied_endpoint_is_explained_by_the_stopped_reconciler(home: Home) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=30)
    home.pid_file("reconciler").write_text(str(dead.pid))
    message = "policy require-labels: metadata.labels.cost-center is required (found 'costCenter')"
    conn = connect(home.state_db)
    try:
        EngineStore(conn).save_status(EndpointStatus(
            name="fraud", namespace="default", url="", sync=Sync.OutOfSync, health=Health.Degraded, revision="",
            conditions=(false(ConditionType.Ready, "AdmissionDenied", message),)))
    finally:
        conn.close()
    findings = {str(f.obj): f for f in diagnose(read_embedded_snapshot(home, environ={})).findings}
    denied = findings["Endpoint/default/fraud"]
    assert denied.rule == "endpoint-not-deployed" and message in denied.evidence
    assert denied.explained_by == findings["Process/reconciler"].key


GITHUB = "https://api.github.com"
TOKEN = "ghp_" + "a1" * 18


def branch_exchanges(*, protected: bool, enforce_admins: bool = False, contexts: list[str] | None = None) -> list[
        dict[str, Any]]:
    """GitHub REST answers for `main` of acme/gitops, as recorded from the API's documented shapes."""
    branch_url = f"{GITHUB}/repos/acme/gitops/branches/main"
    exchanges: list[dict[str, Any]] = [{
        "request": {"method": "GET", "path": "/repos/acme/gitops/branches/main"},
        "response": {"status": 200, "body": {
            "name": "main", "protected": protected, "protection_url": f"{branch_url}/protection",
            "commit": {"sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
                       "url": f"{GITHUB}/repos/acme/gitops/commits/6dcb09b"},
            "_links": {"self": branch_url, "html": "https://github.com/acme/gitops/tree/main"}}}}]
    if protected:
        exchanges.append({
            "request": {"method": "GET", "path": "/repos/acme/gitops/branches/main/protection"},
            "response": {"status": 200, "body": {
                "url": f"{branch_url}/protection",
                "required_status_checks": {"url": f"{branch_url}/protection/required_status_checks", "strict": True,
                                           "contexts": contexts or [], "checks": []},
                "enforce_admins": {"url": f"{branch_url}/protection/enforce_admins", "enabled": enforce_admins},
                "required_pull_request_reviews": {"dismiss_stale_reviews": True,
                                                  "required_approving_review_count": 1}}}})
    return exchanges


def github_env(replay: Replay, token: str | None = TOKEN) -> dict[str, str]:
    env = {"NEUROSCALE_GITHUB_REPO": "https://github.com/acme/gitops", "NEUROSCALE_GITHUB_API_URL": replay.base_url}
    return {**env, "NEUROSCALE_GITHUB_TOKEN": token} if token else env


def rules_fired(home: Home, env: dict[str, str], rule: str) -> list[Any]:
    return [f for f in diagnose(read_embedded_snapshot(home, environ=env)).findings if f.rule == rule]


def test_missing_token_with_a_github_remote(home: Home) -> None:
    with Replay(branch_exchanges(protected=True, enforce_admins=True, contexts=["neuroscale check"])) as replay:
        [finding] = rules_fired(home, github_env(replay, token=None), "github-token")
        assert finding.message.startswith("NEUROSCALE_GITHUB_TOKEN is not set")
        assert replay.requests == []  # no token: the API is not called
        findings = diagnose(read_embedded_snapshot(home, environ=github_env(replay))).findings
        assert [f for f in findings if f.rule in ("github-token", "branch-protection")] == []
        assert replay.unexpected == [] and replay.remaining == 0


def test_admin_bypass_and_missing_required_check_are_named(home: Home) -> None:
    """FM-37: protection that admins can bypass, and a guardrail check that is not required."""
    with Replay(branch_exchanges(protected=True, enforce_admins=False, contexts=["build"])) as replay:
        findings = rules_fired(home, github_env(replay), "branch-protection")
        assert replay.unexpected == []
        assert TOKEN in replay.requests[0]["authorization"]  # sent to the API, never into the snapshot
    messages = sorted(f.message for f in findings)
    assert messages == ["administrators can bypass the protection of main",
                        "the guardrail check is not a required status check on main"]
    assert all(TOKEN not in f.evidence + f.fix + f.message for f in findings)


def test_unprotected_main_is_named(home: Home) -> None:
    with Replay(branch_exchanges(protected=False)) as replay:
        [finding] = rules_fired(home, github_env(replay), "branch-protection")
    assert finding.message == "main of acme/gitops is not protected"
    assert "enforce_admins" in finding.fix


def test_unreadable_protection_is_a_warning_not_a_pass(home: Home) -> None:
    bad = [{"request": {"method": "GET", "path": "/repos/acme/gitops/branches/main"},
            "response": {"status": 401, "body": {"message": "Bad credentials"}}}]
    with Replay(bad) as replay:
        [finding] = rules_fired(home, github_env(replay), "branch-protection")
    assert finding.severity.value == "warning" and "401" in finding.evidence


def test_disk_rule_reads_host_facts() -> None:
    disk = {"path": "/home/x/.neuroscale", "total": 100 * 2**30, "free": 150 * 2**20}
    snap = {"apiVersion": "neuroscale.dev/snapshot/v1", "meta": {"target": "embedded"}, "objects": {}, "logs": {},
            "host": {"disk": disk}}
    [finding] = diagnose(snap).findings
    assert finding.rule == "disk-space" and finding.severity.value == "error"
    disk["free"] = 50 * 2**30
    assert diagnose(snap).findings == []


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_real_platform_up_is_healthy_and_down_is_diagnosed(tmp_path: Path) -> None:
    home = Home(tmp_path / "platform")
    portal, gateway = free_port(), free_port()
    cmd = [sys.executable, "-m", "neuroscale.cli.main", "up", "--home", str(home.root),
           "--portal-port", str(portal), "--gateway-port", str(gateway)]
    up = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (all(home.pid_file(c).exists() for c in ("reconciler", "gateway", "portal"))
                   and _listening(portal) and _listening(gateway)):
            assert up.poll() is None and time.monotonic() < deadline, "the platform did not come up"
            time.sleep(0.2)
        findings = diagnose(read_embedded_snapshot(home, environ={})).findings
        assert {f.rule for f in findings} <= MACHINE_DEPENDENT
        assert main(["doctor", "--home", str(home.root), "-o", "json"]) == (1 if findings else 0)
        assert main(["down", "--home", str(home.root)]) == 0
        up.wait(timeout=30)
        stopped = {str(f.obj) for f in diagnose(read_embedded_snapshot(home, environ={})).findings
                   if f.rule == "platform-process"}
        assert stopped == {"Process/reconciler", "Process/gateway", "Process/portal"}
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGINT)  # Ctrl-C stops everything `up` started
            try:
                up.wait(timeout=30)
            except subprocess.TimeoutExpired:
                up.kill()
                up.wait(timeout=30)


def test_what_is_not_a_platform_home_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("not a platform")
    assert main(["doctor", "--home", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "is not a NeuroScale platform home" in err and "Traceback" not in err
    assert main(["doctor", "--home", str(tmp_path / "missing")]) == 2


def test_a_truncated_state_database_is_an_error(home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    crash_looping(home, "demo-iris", cause="KilledBySignal", detail="killed by SIGKILL", failures=200)
    size = home.state_db.stat().st_size
    with home.state_db.open("r+b") as db:
        db.truncate(size // 2)
    assert main(["doctor", "--home", str(home.root)]) == 2
    err = capsys.readouterr().err
    assert "cannot read the platform state database" in err and "Traceback" not in err
    assert str(home.state_db) in err


def test_since_must_be_a_duration(home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--home", str(home.root), "--since", "yesterday"]) == 1
    assert "--since 'yesterday' is not a positive duration" in capsys.readouterr().err
