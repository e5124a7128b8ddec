"""The embedded platform's snapshot: the same JSON shape as a cluster's, read from the machine.

Objects are the engine's endpoint statuses (as the reconciler last saved them)
and the events of a recent window (SQLite); `host` holds the facts only a
machine has: which process holds the portal and gateway ports, whether the
reconciler/gateway/portal pids are alive or stopped and whether a supervisor
(`neuroscale up`) runs them, the engine's present (`embedded_engine`: heartbeat,
model servers, routes), whether the bare GitOps remote's `main` reads as the
reconciler reads it and accepts an update (its hooks are run on a no-op update
of `main`), who holds the state database's write lock (`db_writer`), the
GitHub token's length and shape (never its value), and free disk against the
configured threshold.

What is not a platform home, or a state database that cannot be read, is an
error (exit 2), never a diagnosis of an empty platform.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sqlite3
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from neuroscale import pidlock
from neuroscale.cluster.snapshot import empty_snapshot, secret_value_facts
from neuroscale.db import connect
from neuroscale.doctor.db_writer import wal_writer
from neuroscale.doctor.embedded_engine import engine_facts, recent_events
from neuroscale.doctor.rules.github_token import TOKEN_ENV
from neuroscale.engine import procfs
from neuroscale.engine.gateway_ack import GatewayAck
from neuroscale.engine.lock import lock_path
from neuroscale.engine.store import StatusStore
from neuroscale.errors import GitError, InvalidInput, ToolError
from neuroscale.gitops.repo import MAIN, GitRepo
from neuroscale.home import Home
from neuroscale.ports import listener_pid, port_is_free, process_command
from neuroscale.spec.quantity import parse_quantity
from neuroscale.supervisor.platform import components
from neuroscale.supervisor.settings import load_settings

COMPONENTS = ("reconciler", "gateway", "portal")
GITHUB_REPO_ENV = "NEUROSCALE_GITHUB_REPO"
#: Free space under the home below which doctor warns (an error below a fifth of it).
DISK_MIN_FREE_ENV = "NEUROSCALE_DISK_MIN_FREE"
DEFAULT_DISK_MIN_FREE = 1024 * 1024 * 1024
#: Events older than this are history unless told otherwise (`neuroscale doctor --since`).
DEFAULT_SINCE_S = 15 * 60.0
REJECTING_HOOKS = ("pre-receive", "update")
HOOK_TIMEOUT_S = 5
LOG_TAIL = 20


def read_embedded_snapshot(home: Home, *, environ: dict[str, str] | None = None,
                           since: float = DEFAULT_SINCE_S) -> dict[str, Any]:
    env = dict(os.environ if environ is None else environ)
    _require_home(home)
    now = time.time()
    snapshot = empty_snapshot("embedded", home=str(home.root))
    snapshot["meta"]["takenAt"] = datetime.fromtimestamp(now, UTC).isoformat(timespec="microseconds")
    snapshot["meta"]["eventsSince"] = datetime.fromtimestamp(now - since, UTC).isoformat(timespec="microseconds")
    processes = [_process(home, c) for c in COMPONENTS]
    settings = load_settings(home)
    pids = {p["component"]: p["pid"] for p in processes if p["alive"]}
    snapshot["host"] = {
        "home": str(home.root),
        "processes": processes,
        "supervisor": {"running": pidlock.is_held(home.platform_lock),
                       "pid": pidlock.holder_pid(home.platform_lock)},
        "commands": {c.name: shlex.join(c.argv) for c in components(home, settings)},
        "ports": [_port(name, settings.host, port, pids.get(name)) for name, port in
                  (("portal", settings.portal_port), ("gateway", settings.gateway_port))],
        "git": _git(home.remote),
        "github": _github(home, env),
        "disk": _disk(home.root, env),
        "state_db": {"path": str(home.state_db), "writer": wal_writer(home.state_db)},
    }
    if home.state_db.exists():
        try:
            _read_state(home, snapshot, now=now, since=now - since)
        except (sqlite3.DatabaseError, ValueError, KeyError) as exc:
            raise ToolError(f"cannot read the platform state database: {exc}", where=str(home.state_db),
                            fix=f"restore {home.state_db} from a backup, or move it aside: the reconciler then "
                            "rebuilds status from main (endpoint events are lost)") from None
    if home.server_logs_dir.is_dir():
        for log in sorted(home.server_logs_dir.glob("*.log")):
            snapshot["logs"][f"servers/{log.stem}"] = _tail(log, LOG_TAIL)
    return snapshot


def _require_home(home: Home) -> None:
    markers = (home.state_db, home.remote, home.settings_file)
    if not home.root.is_dir() or not any(m.exists() for m in markers):
        raise ToolError(f"{home.root} is not a NeuroScale platform home (none of state.db, gitops.git, "
                        "settings.json is there)", where=str(home.root),
                        fix="pass the home `neuroscale up` uses (--home or NEUROSCALE_HOME), or start one there "
                        "with `neuroscale up`")


def _read_state(home: Home, snapshot: dict[str, Any], *, now: float, since: float) -> None:
    conn = connect(home.state_db)
    try:
        store = StatusStore(conn)
        snapshot["objects"]["Endpoint"] = [s.to_dict() for s in store.saved_endpoints()]
        snapshot["objects"]["EngineEvent"] = recent_events(store, since=since)
        snapshot["host"]["engine"] = engine_facts(home, store, now=now)
    finally:
        conn.close()


def _tail(path: Path, lines: int) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - 64 * 1024))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _pid_alive(pid: int) -> bool:
    cmdline = Path(f"/proc/{pid}/cmdline")
    try:
        return b"neuroscale" in cmdline.read_bytes()
    except OSError:
        return False


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip() or "x")
    except (OSError, ValueError):
        return None


def _process(home: Home, component: str) -> dict[str, Any]:
    pid_file = home.pid_file(component)
    pid = _read_pid(pid_file)
    alive = pid is not None and _pid_alive(pid)
    if pid is None and component == "reconciler":
        # A reconciler started on its own (not by `up`) only holds the lock; the pid left in the lock
        # file after a clean stop is not a crash, so it only counts when alive.
        locked = _read_pid(lock_path(home))
        if locked is not None and _pid_alive(locked):
            pid_file, pid, alive = lock_path(home), locked, True
    if pid is None and component == "gateway":
        # A gateway started on its own (as the platform-process fix says) has no pid file: the routes it
        # acknowledges name it, while it runs.
        ack = GatewayAck(home.routes_applied_file)
        ack.refresh()
        if ack.live and ack.pid is not None and _pid_alive(ack.pid):
            pid_file, pid, alive = home.routes_applied_file, ack.pid, True
    log_file = home.log_file(component)
    last = [ln for ln in _tail(log_file, 5).splitlines() if ln.strip()] if log_file.exists() else []
    return {"component": component, "pid_file": str(pid_file), "pid": pid, "alive": alive,
            "state": procfs.state(pid) if alive and pid is not None else "",
            "log_file": str(log_file) if last else "", "log_tail": last[-1] if last else ""}


def _port(name: str, host: str, port: int, our_pid: int | None) -> dict[str, Any]:
    facts: dict[str, Any] = {"name": name, "host": host, "port": port, "in_use": False, "ours": False}
    if port_is_free(host, port):
        return facts
    facts["in_use"] = True
    owner = listener_pid(port)
    facts["pid"] = owner
    facts["command"] = process_command(owner) if owner else ""
    facts["ours"] = owner is not None and owner == our_pid or (owner is None and our_pid is not None)
    return facts


def _git(remote: Path) -> dict[str, Any]:
    facts: dict[str, Any] = {"remote": str(remote), "exists": remote.is_dir(), "hooks": [], "push_error": "",
                             "read_error": "", "read_fix": ""}
    if not facts["exists"]:
        return facts
    try:
        GitRepo(remote).resolve(MAIN)  # the reconciler's own read: a damaged main stops it the same way
    except GitError as exc:
        facts["read_error"], facts["read_fix"] = exc.message, exc.fix
        return facts
    refs = remote / "refs" / "heads"
    if not os.access(refs, os.W_OK) or not os.access(remote / "objects", os.W_OK):
        facts["push_error"] = f"{refs} or {remote / 'objects'} is not writable by uid {os.getuid()}"
        return facts
    hooks = [h for h in REJECTING_HOOKS if os.access(remote / "hooks" / h, os.X_OK)]
    facts["hooks"] = hooks
    head = _git_out(remote, "rev-parse", "--verify", "-q", "refs/heads/main")
    for hook in hooks:
        facts["push_error"] = _run_hook(remote, hook, head or "0" * 40)
        if facts["push_error"]:
            break
    return facts


def _git_out(remote: Path, *args: str) -> str:
    done = subprocess.run(["git", "--git-dir", str(remote), *args], capture_output=True, text=True, check=False,
                          timeout=HOOK_TIMEOUT_S)
    return done.stdout.strip() if done.returncode == 0 else ""


def _run_hook(remote: Path, hook: str, sha: str) -> str:
    """Run a receive hook for a no-op update of main; its refusal is the push error users would see."""
    args = [str(remote / "hooks" / hook)]
    stdin = f"{sha} {sha} refs/heads/main\n"
    if hook == "update":
        args += ["refs/heads/main", sha, sha]
        stdin = ""
    try:
        done = subprocess.run(args, input=stdin, capture_output=True, text=True, check=False, cwd=remote,
                              timeout=HOOK_TIMEOUT_S, env={**os.environ, "GIT_DIR": str(remote)})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"hooks/{hook} could not run: {exc}"
    if done.returncode == 0:
        return ""
    said = (done.stderr.strip() or done.stdout.strip()).splitlines()
    return f"remote: hooks/{hook} declined refs/heads/main (exit {done.returncode})" + (f": {said[-1]}" if said else "")


def _github(home: Home, env: dict[str, str]) -> dict[str, Any]:
    try:
        settings = json.loads(home.settings_file.read_text())
    except (OSError, ValueError):
        settings = {}
    remote = str(env.get(GITHUB_REPO_ENV) or settings.get("github_repo") or "")
    if not remote and home.remote.is_dir():
        url = _git_out(home.remote, "config", "--get", "remote.origin.url")
        remote = url if "github.com" in url else ""
    token = env.get(TOKEN_ENV)
    facts = secret_value_facts(token) if token is not None else None
    github: dict[str, Any] = {"configured": bool(remote), "remote": remote, "token": facts}
    if remote and token and facts and facts.get("shape") not in ("empty", "placeholder"):
        from neuroscale.doctor.github_facts import branch_protection  # the GitHub client only when it is used

        github["branch_protection"] = branch_protection(remote, token, env=env)
    return github


def _disk(root: Path, env: dict[str, str]) -> dict[str, Any]:
    path = root if root.exists() else next((p for p in root.parents if p.exists()), Path("/"))
    usage = shutil.disk_usage(path)
    return {"path": str(path), "total": usage.total, "free": usage.free, "min_free": _min_free(env)}


def _min_free(env: dict[str, str]) -> int:
    given = env.get(DISK_MIN_FREE_ENV, "").strip()
    if not given:
        return DEFAULT_DISK_MIN_FREE
    try:
        value = int(parse_quantity(given))
    except (InvalidInput, ValueError, ArithmeticError):
        value = -1
    if value < 0:
        raise ToolError(f"{DISK_MIN_FREE_ENV}={given!r} is not a size", where=DISK_MIN_FREE_ENV,
                        fix="give bytes or a Kubernetes quantity such as 2Gi or 500Mi")
    return value
