"""Embedded FM-20: model servers that do not serve now, and why, from what was observed.

Judged on the present: an endpoint whose revisions in play have every replica
they want, and whose servers answer, has no finding whatever its history. For
one that does not, the cause comes from evidence, newest first, of the window
since its revision last became ready:

- a server process stopped (`T` in /proc) or not answering its liveness probe now;
- the exit the reconciler recorded (`status.exits` format): killed by a signal
  the platform did not send, killed by the platform (liveness, memory limit),
  an exception while loading (the server's own `ModelLoadFailed:` line, quoted
  from its log; a model outside the allowed model roots reads as missing, on
  purpose), the port taken, or an exit code after or during loading;
- a start-up that never became ready (`StartupTimeout`).

The fix follows the cause; the evidence quotes the event and the log line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from neuroscale.doctor.index import SnapshotIndex
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.doctor.embedded_view import (
    condition_of,
    endpoint_ref,
    events_since_ready,
    reconciler_observing,
    servers_of,
    serving_revision,
)
from neuroscale.engine.previews import preview_name
from neuroscale.findings import Severity
from neuroscale.spec.manifest import manifest_path
from neuroscale.status.exits import ExitRecord, parse_exit
from neuroscale.status.reasons import Reason

_LOAD_CAUSES = (
    (("no model file at this storage uri",),
     "the model file at storageUri does not exist, or lies outside the allowed model roots",
     "point storageUri at a model file under an allowed model root"),
    (("no such file", "not found", "does not exist", "missing"), "the model file at storageUri does not exist",
     "point storageUri at the model file"),
    (("importerror", "modulenotfounderror", "no module named"), "the runtime cannot import the library for the format",
     "install the library for the format (pip install neuroscale[all]) or change modelFormat"),
    (("format", "unpickl", "invalid load key", "not a valid", "corrupt", "truncated", "eof"),
     "the model file is not in the declared modelFormat, or it is corrupted",
     "re-save the model in the declared format (or set modelFormat to what it is) and point storageUri at it"),
)


@dataclass(frozen=True)
class Update:
    """How a fix to what an endpoint runs lands: an endpoint on main changes through a pull request to merge; a
    preview runs its pull request's head, so its fix is a push to that pull request, which the preview follows."""

    endpoint: str  # the endpoint `neuroscale endpoint update` names
    manifest: str
    lands: str

    @staticmethod
    def of(endpoint: Mapping[str, Any]) -> Update:
        name, number = str(endpoint.get("name", "")), endpoint.get("preview_of")
        if isinstance(number, int) and name.endswith(suffix := preview_name("", number)):
            name = name.removesuffix(suffix)
            return Update(name, manifest_path(name), f"it adds to pull request #{number}, whose preview follows")
        return Update(name, manifest_path(name), "then merge the pull request")


@dataclass(frozen=True)
class Diagnosis:
    message: str
    cause: str
    fix: str
    evidence: str
    severity: Severity


def _load_failure(update: Update, exit_: ExitRecord, log_line: str) -> Diagnosis:
    low = f"{exit_.detail} {log_line}".lower()
    cause, how = next(((c, f) for words, c, f in _LOAD_CAUSES if any(w in low for w in words)),
                      ("the model server raised an exception while loading the model",
                       "read the exception below and fix the model or its storageUri"))
    return Diagnosis(
        message=f"the model server of {exit_.revision} fails while loading its model",
        cause=f"exception while loading: {cause}", severity=Severity.ERROR,
        evidence=log_line or f"ModelLoadFailed: {exit_.detail}",
        fix=f"{how}: `neuroscale endpoint update {update.endpoint} --storage-uri <model file> --model-format "
        f"<format>` (or edit spec.predictor.model in {update.manifest}); {update.lands}")


def _diagnose(name: str, exit_: ExitRecord, *, update: Update, log_line: str, memory_limit: str,
              serving_elsewhere: bool) -> Diagnosis:
    restarting = Severity.WARNING if serving_elsewhere else Severity.ERROR
    if exit_.cause == Reason.ModelLoadFailed:
        return _load_failure(update, exit_, log_line)
    if exit_.cause == Reason.OOMKilled:
        limit = f" ({memory_limit.split(':')[0]})" if memory_limit else ""
        return Diagnosis(f"the model server of {exit_.revision} is killed for going over its memory limit{limit}",
                         "killed by the platform: its resident memory went over resources.limits.memory",
                         f"raise the limit: `neuroscale endpoint update {update.endpoint} --memory-limit <more>` "
                         f"(and --memory-request), or serve a smaller model; {update.lands}",
                         exit_.message(), Severity.ERROR)
    if exit_.cause == Reason.LivenessProbeFailed:
        return Diagnosis(f"the model server of {exit_.revision} stopped answering and was restarted",
                         "killed by the platform: it did not answer its liveness probes (hung or stopped)",
                         f"the platform restarts it; if it recurs, read its log for what blocks it "
                         f"(`neuroscale events {name}`)", exit_.message(), restarting)
    if exit_.cause == Reason.KilledBySignal:
        return Diagnosis(f"the model server of {exit_.revision} was killed from outside the platform",
                         "killed by a signal the platform did not send (a person, a script, or the host's OOM "
                         "killer)", "find who sends it: `journalctl -k | grep -i -e oom -e killed` for the host's "
                         "OOM killer, then scripts or people with access; the platform restarts the server",
                         exit_.message(), restarting)
    if exit_.cause == Reason.PortUnavailable:
        return Diagnosis(f"the model server of {exit_.revision} could not listen on its port",
                         "the port chosen for it was taken by another process when it started",
                         "the platform restarts it on another free port; if it recurs, look for a process that "
                         "grabs loopback ports (`ss -ltnp`)", exit_.message(), restarting)
    return Diagnosis(f"the model server of {exit_.revision} exits on its own",
                     "the server process ended with an error exit code", f"read the last output below and "
                     f"the server log; fix the model or its runtime, then `neuroscale endpoint update "
                     f"{update.endpoint}` ({update.lands})",
                     exit_.message(), Severity.ERROR)


def _log_line(index: SnapshotIndex, revision: str, prefix: str) -> str:
    """The newest line starting with `prefix` in the revision's replica logs (exactly as written)."""
    for key, text in index.logs_matching(f"servers/{revision}"):
        if key != f"servers/{revision}" and not key.startswith(f"servers/{revision}.r"):
            continue
        line = next((ln.strip() for ln in reversed(text.splitlines()) if ln.strip().startswith(prefix)), "")
        if line:
            return line
    return ""


def _stopped_servers(name: str, servers: Sequence[Mapping[str, Any]], *, observed: bool) -> list[Diagnosis]:
    """Servers that exist but do not serve now; gone ones too while no reconciler observes (nobody restarts them)."""
    found = []
    for server in servers:
        where = f"{server.get('revision')} replica {server.get('replica')} (pid {server.get('pid')})"
        if not server.get("alive"):
            if not observed:
                found.append(Diagnosis(
                    f"the model server {where} is gone and nothing restarts it", "the process ended while the "
                    "reconciler was not observing, so it was neither restarted nor taken out of the routes",
                    "get the reconciler observing again (see its finding): it restarts the server at once",
                    f"pid {server.get('pid')} is recorded in the engine's process table but no longer runs",
                    Severity.ERROR))
            continue
        if server.get("state") in ("T", "t"):
            found.append(Diagnosis(
                f"the model server {where} is stopped", "the process is stopped by a signal (SIGSTOP or a debugger: "
                "state T): it holds its port but answers nothing; the reconciler kills and restarts it after three "
                "failed liveness probes", f"kill -CONT {server.get('pid')}  # resume it (or wait for the restart)",
                f"/proc/{server.get('pid')}/stat state T; {server.get('loaded') or 'no load record yet'}",
                Severity.ERROR))
        elif server.get("live") is False:
            found.append(Diagnosis(
                f"the model server {where} does not answer its liveness probe", "the process runs but its server "
                "does not answer (hung: a request or a library call blocks it)", "the reconciler kills and restarts "
                f"it after three failed probes; if it recurs read {server.get('log')}",
                f"GET http://{server.get('address')}/v2/health/live: no answer within the probe timeout",
                Severity.ERROR))
    return found


def _unhealthy(endpoint: Mapping[str, Any]) -> bool:
    """Is some revision in play short of the replicas it wants, or is the endpoint not serving?"""
    ready = condition_of(endpoint, "Ready")
    predictor = condition_of(endpoint, "PredictorReady")
    short = any(int(t.get("ready_replicas", 0)) < int(t.get("desired_replicas", 0)) for t in endpoint.get("traffic") or [])
    not_serving = predictor is not None and predictor.get("status") != "True"
    rolling = ready is not None and ready.get("status") != "True" and ready.get("reason") in _FAILING
    return short or not_serving or rolling


_FAILING = frozenset({Reason.ModelLoadFailed, Reason.CrashLoopBackOff, Reason.OOMKilled, Reason.StartupTimeout,
                      Reason.ProcessExited, Reason.KilledBySignal, Reason.LivenessProbeFailed, Reason.PortUnavailable})


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    found = []
    for endpoint in index.objects("Endpoint"):
        name = str(endpoint.get("name", ""))
        diagnoses = _stopped_servers(name, servers_of(index, name), observed=reconciler_observing(index))
        if not diagnoses and _unhealthy(endpoint):
            diagnoses = _from_history(index, endpoint)
        for diagnosis in diagnoses:
            found.append(RULE.finding(obj=endpoint_ref(endpoint), message=diagnosis.message,
                                      evidence=diagnosis.evidence, root_cause=diagnosis.cause, fix=diagnosis.fix,
                                      severity=diagnosis.severity))
    return found


def _from_history(index: SnapshotIndex, endpoint: Mapping[str, Any]) -> list[Diagnosis]:
    """The newest exit (or start-up timeout) since the failing revision last became ready."""
    name = str(endpoint.get("name", ""))
    events = events_since_ready(index, endpoint)
    memory = str((endpoint.get("limits") or {}).get("memory", ""))
    failures = [e for e in events if e.get("type") == "Warning" and (parse_exit(str(e.get("message", "")))
                                                                       or e.get("reason") == Reason.StartupTimeout)]
    if not failures:
        return []
    newest = failures[-1]
    count = f" ({len(failures)} failures since {failures[0].get('time')})" if len(failures) > 1 else ""
    exit_ = parse_exit(str(newest.get("message", "")))
    if exit_ is None:  # a start-up that never became ready
        message = str(newest.get("message", ""))
        return [Diagnosis(f"a model server of {name} never became ready{count}",
                          "failed readiness: the server did not answer /v2/health/ready within the start-up timeout "
                          "(a slow or stuck model load)", "read the server log it names; a model that takes longer "
                          "to load needs a smaller model or more CPU (resources.limits.cpu)",
                          f"event {newest.get('time')} StartupTimeout: {message}", Severity.ERROR)]
    log_line = _log_line(index, exit_.revision, "ModelLoadFailed:") if exit_.cause == Reason.ModelLoadFailed else ""
    serving = serving_revision(endpoint)
    serving_elsewhere = bool(serving) and serving != exit_.revision
    diagnosis = _diagnose(name, exit_, update=Update.of(endpoint), log_line=log_line, memory_limit=memory,
                          serving_elsewhere=serving_elsewhere)
    evidence = f"event {newest.get('time')} {newest.get('reason')}: {exit_.message()}"
    if diagnosis.evidence != exit_.message():
        evidence = f"{diagnosis.evidence}; {evidence}"
    still = f"; {serving} keeps serving" if serving_elsewhere else ""
    return [Diagnosis(diagnosis.message + count + still, diagnosis.cause, diagnosis.fix, evidence, diagnosis.severity)]


RULE = Rule(
    id="model-server-crash", title="Model servers serve", covers=("FM-20",),
    category=Category.WORKLOADS, severity=Severity.ERROR, check=check, targets=("embedded",),
)
