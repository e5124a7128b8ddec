"""The faults of issue 10 item 8, each with how it is injected, the verdict it must get and its repair.

Every repair is the fix doctor printed, applied as a user would: its shell
command run as printed (`kill -CONT <pid>`, `kill <pid>`), the component
command it names, or the `neuroscale endpoint update … && neuroscale pr merge`
it suggests.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
from typing import Any

from neuroscale.doctor.embedded import DISK_MIN_FREE_ENV
from neuroscale.doctor.model import DoctorFinding
from neuroscale.engine import procfs
from neuroscale.spec.fields import LABEL_OWNER
from neuroscale.status.conditions import ConditionType
from neuroscale.status.model import Health
from neuroscale.status.reasons import Reason
from neuroscale.yamlio import dump, load_one
from tests.e2e.faults import NAME, QUIET_DISK, Expected, Fault, Live, wait_for

MANIFEST = f"apps/{NAME}/inference-service.yaml"


def run_printed(fix: str) -> None:
    """Run the first line of a fix as printed, up to its comment."""
    command = fix.splitlines()[0].split("#")[0].strip()
    subprocess.run(command, shell=True, check=True, timeout=30)


def changed_manifest(live: Live, change: Any) -> str:
    manifest = load_one(live.manifest(), where=MANIFEST)
    change(manifest)
    return dump(manifest)


# --- model servers ---------------------------------------------------------------------------------

def kill_server(live: Live) -> int:
    pid = live.server_pid()
    os.kill(pid, signal.SIGKILL)
    return pid


def stop_server(live: Live) -> int:
    pid = live.server_pid()
    os.kill(pid, signal.SIGSTOP)
    return pid


def corrupt_model(live: Live) -> tuple[bytes, int]:
    good = live.model.read_bytes()
    before = live.exits(Reason.ModelLoadFailed)
    live.model.write_bytes(b"\x80\x04not a model any more")
    os.kill(live.server_pid(), signal.SIGKILL)  # the next start reads the file
    return good, before


def push_resources(memory_limit: str, memory_request: str) -> Any:
    def change(manifest: Any) -> None:
        resources = manifest["spec"]["predictor"]["model"].setdefault("resources", {})
        resources.setdefault("limits", {})["memory"] = memory_limit
        resources.setdefault("requests", {})["memory"] = memory_request

    def inject(live: Live) -> int:
        before = live.exits(Reason.OOMKilled)
        live.push({MANIFEST: changed_manifest(live, change)}, f"{NAME}: {memory_limit} memory")
        return before
    return inject


def push_storage(file_name: str) -> Any:
    """Point the endpoint at a file of the home's models/ (an allowed root) that is not there."""
    def inject(live: Live) -> int:
        before = live.exits(Reason.ModelLoadFailed)
        uri = (live.home.models_dir / file_name).as_uri()
        live.push({MANIFEST: changed_manifest(
            live, lambda m: m["spec"]["predictor"]["model"].__setitem__("storageUri", uri))}, f"{NAME}: move model")
        return before
    return inject


# --- main ------------------------------------------------------------------------------------------

def push_unlabelled(live: Live) -> None:
    live.push({MANIFEST: changed_manifest(live, lambda m: m["metadata"]["labels"].pop(LABEL_OWNER))},
              "drop the owner label")


def push_broken(live: Live) -> None:
    live.push({MANIFEST: live.manifest().replace("spec:", "spec: [unclosed", 1)}, "a typo")


def refused(reason: str) -> Any:
    def observed(live: Live, _state: Any) -> bool:
        status = live.status()
        ready = status.condition(ConditionType.Ready) if status else None
        return ready is not None and ready.reason == reason
    return observed


# --- the control plane and the machine -------------------------------------------------------------

def stop_component(component: str) -> Any:
    def inject(live: Live) -> int:
        pid = live.pid(component)
        os.kill(pid, signal.SIGSTOP)
        return pid
    return inject


def kill_component(component: str) -> Any:
    def inject(live: Live) -> None:
        live.kill(component)
    return inject


def restart_as_printed(component: str) -> Any:
    def repair(live: Live, _state: Any, found: DoctorFinding) -> None:
        command = next(c for c in _commands(live) if c.name == component)
        assert found.fix.startswith(f"{shlex.join(command.argv)} &"), found.fix  # exactly what we start
        live.start(component)
    return repair


def squat_gateway_port(live: Live) -> int:
    live.kill("gateway")
    return live.squat(live.settings.gateway_port).pid


def free_port_and_restart(live: Live, squatter: int, found: DoctorFinding) -> None:
    run_printed(found.fix)
    wait_for(lambda: not procfs.start_time(squatter), timeout=30, what="the squatter to exit")
    live.start("gateway")


def stale_routes(live: Live) -> dict[str, Any]:
    good: dict[str, Any] = json.loads(live.home.routes_file.read_text())
    stale = json.loads(json.dumps(good))
    for entry in stale["endpoints"].values():
        entry["upstream"] = "127.0.0.1:9"
        for share in entry.get("traffic", []):
            share["upstreams"] = ["127.0.0.1:9"]
    live.home.routes_file.write_text(json.dumps(stale))
    return good


def routes_rewritten(live: Live, good: dict[str, Any]) -> bool:
    return bool(json.loads(live.home.routes_file.read_text())["endpoints"] == good["endpoints"])


def orphan_routes(live: Live) -> int:
    live.kill("reconciler")
    pid = live.server_pid()
    os.kill(pid, signal.SIGKILL)
    return pid


def move_remote(live: Live) -> None:
    live.home.remote.rename(live.home.remote.with_name("gitops.git.moved"))


def lose_main(live: Live) -> str:
    """`main` names a commit the repository does not have (a botched restore, a half-copied remote)."""
    ref = live.home.remote / "refs" / "heads" / "main"
    good = ref.read_text().strip()
    ref.write_text("1234567890123456789012345678901234567890\n")
    return good


def update_ref_as_printed(live: Live, good: str, found: DoctorFinding) -> None:
    """The printed `git update-ref`, with the last good commit where it says <sha>."""
    run_printed(found.fix.replace("<sha>", good).split("`")[1])


def hold_state_db(live: Live) -> int:
    """Another program keeps a write transaction open on state.db (a sqlite3 shell left in BEGIN)."""
    code = ("import sqlite3, sys, time\nc = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "c.execute('BEGIN IMMEDIATE')\nprint('ready', flush=True)\ntime.sleep(600)\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(live.home.state_db)], stdout=subprocess.PIPE)
    assert holder.stdout is not None and holder.stdout.readline().strip() == b"ready"
    live.others.append(holder)
    return holder.pid


def reconciler_stale(live: Live, _state: Any) -> bool:
    status = live.status()
    return status is not None and status.health is Health.Unknown


def replace_model(live: Live) -> bytes:
    good = live.model.read_bytes()
    live.model.write_bytes(b"\x80\x04not a model any more")
    return good


def put_back_and_restart(live: Live, good: bytes, found: DoctorFinding) -> None:
    live.model.write_bytes(good)
    run_printed(found.fix)


def fill_disk(live: Live) -> None:
    live.env[DISK_MIN_FREE_ENV] = str(shutil.disk_usage(live.home.root).free + (2 << 30))


def _commands(live: Live) -> Any:
    from neuroscale.supervisor.platform import components

    return components(live.home, live.settings)


def nothing(_live: Live, _state: Any, _found: DoctorFinding) -> None:
    """The platform repairs it by itself."""


FAULTS = [
    Fault("home disk nearly full (threshold)", fill_disk, Expected("disk-space", "free on the disk", "du -sh"),
          lambda live, _s, _f: live.env.__setitem__(DISK_MIN_FREE_ENV, QUIET_DISK)),
    Fault("model server killed (SIGKILL)", kill_server,
          Expected("model-server-crash", "was killed from outside the platform", "journalctl -k"), nothing,
          observed=lambda live, pid: live.exit_seen(pid, Reason.KilledBySignal)),
    Fault("model server hung (SIGSTOP)", stop_server, Expected("model-server-crash", "is stopped", "kill -CONT"),
          lambda live, _pid, found: run_printed(found.fix), observed=lambda live, pid: procfs.state(pid) == "T"),
    Fault("reconciler hung (SIGSTOP)", stop_component("reconciler"),
          Expected("platform-process", "the reconciler (pid", "kill -CONT"),
          lambda live, _pid, found: run_printed(found.fix), observed=lambda live, pid: procfs.state(pid) == "T"),
    Fault("reconciler dead (SIGKILL)", kill_component("reconciler"),
          Expected("platform-process", "the reconciler is not running", "-m neuroscale.engine"),
          restart_as_printed("reconciler")),
    Fault("gateway dead (SIGKILL)", kill_component("gateway"),
          Expected("platform-process", "the gateway is not running", "-m neuroscale.gateway"),
          restart_as_printed("gateway")),
    Fault("gateway port taken by another process", squat_gateway_port,
          Expected("port-taken", "gateway port", "kill ", explains=("platform-process",)), free_port_and_restart),
    Fault("stale routes file (reconciler running)", stale_routes, None, nothing, observed=routes_rewritten),
    Fault("stale routes file (reconciler dead)", orphan_routes,
          Expected("platform-process", "the reconciler is not running", "-m neuroscale.engine",
                   explains=("routes-stale", "model-server-crash")),
          restart_as_printed("reconciler"), observed=lambda live, pid: not procfs.start_time(pid)),
    Fault("GitOps remote unreachable (moved away)", move_remote,
          Expected("git-remote", "is missing", "put the repository back", explains=("endpoint-not-deployed",)),
          lambda live, _s, _f: live.home.remote.with_name("gitops.git.moved").rename(live.home.remote),
          observed=refused(Reason.SourceUnavailable)),
    Fault("GitOps main names a missing commit", lose_main,
          Expected("git-remote", "is damaged: main cannot be read", "update-ref refs/heads/main",
                   explains=("endpoint-not-deployed",)),
          update_ref_as_printed, observed=refused(Reason.SourceUnavailable)),
    Fault("state.db write-locked by another process", hold_state_db,
          Expected("reconciler-heartbeat", "waits for the state database", "kill "),
          lambda live, _pid, found: run_printed(found.fix), observed=reconciler_stale),
    Fault("model file replaced under the running server", replace_model,
          Expected("model-file-changed", "was replaced since its server", "kill "), put_back_and_restart),
    Fault("bad manifest pushed to main (plain git)", push_broken,
          Expected("endpoint-not-deployed", "is not a valid InferenceService — serving last good revision",
                   "git revert"),
          lambda live, _s, _f: live.revert_last_push(), observed=refused(Reason.InvalidManifest)),
    Fault("denied manifest pushed to main (plain git)", push_unlabelled,
          Expected("endpoint-not-deployed", "is denied — serving last good revision",
                   f"neuroscale endpoint update {NAME} --owner"),
          lambda live, _s, _f: live.propose_and_merge("update", NAME, "--owner", "team-ml"),
          observed=refused(Reason.AdmissionDenied)),
    Fault("crash loop: model file missing", push_storage("missing.joblib"),
          Expected("model-server-crash", "fails while loading its model", "--storage-uri"),
          lambda live, _s, _f: live.propose_and_merge("update", NAME, "--storage-uri", live.model.as_uri()),
          observed=lambda live, before: live.exits(Reason.ModelLoadFailed) > before),
    Fault("crash loop: model file corrupted", corrupt_model,
          Expected("model-server-crash", "fails while loading its model", "re-save the model"),
          lambda live, state, _f: live.model.write_bytes(state[0]),
          observed=lambda live, state: live.exits(Reason.ModelLoadFailed) > state[1]),
    Fault("over its memory limit (40Mi)", push_resources("40Mi", "20Mi"),
          Expected("model-server-crash", "memory limit (40Mi)", "--memory-limit"),
          lambda live, _s, _f: live.propose_and_merge("update", NAME, "--memory-limit", "1Gi", "--memory-request",
                                                       "256Mi"),
          observed=lambda live, before: live.exits(Reason.OOMKilled) > before),
]
