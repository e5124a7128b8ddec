"""Admission stage: turn an artifact into the desired endpoints, with the same policies as CI.

Every `apps/<name>/inference-service.yaml` becomes either `Admitted` (a spec
and its serving digest) or `Rejected` (why, and how to fix it). Policy denials
win over parse errors because their messages name the policy and field. Pure
apart from calling the (pure) admission evaluator.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from neuroscale.engine.revisions import SpecDigest, spec_digest
from neuroscale.engine.source import Artifact
from neuroscale.errors import InvalidInput
from neuroscale.findings import Finding, Severity
from neuroscale.policy.admission import admit
from neuroscale.policy.bundled import BundledOptions
from neuroscale.spec.manifest import APPS_DIR, MANIFEST_FILE
from neuroscale.spec.serving import ServingSpec, serving_spec
from neuroscale.status.reasons import Reason
from neuroscale.yamlio import MANIFEST_LIMITS, load_one, utf8_text

DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True)
class Admitted:
    name: str
    namespace: str
    spec: ServingSpec
    digest: SpecDigest


@dataclass(frozen=True)
class Rejected:
    name: str
    namespace: str
    reason: Reason
    message: str


Desired = Admitted | Rejected


def endpoint_name_of(path: str) -> str | None:
    """`apps/<name>/inference-service.yaml` → name; any other path → None."""
    parts = path.split("/")
    if len(parts) == 3 and parts[0] == APPS_DIR and parts[2] == MANIFEST_FILE and parts[1]:
        return parts[1]
    return None


def _namespace_of(obj: Any) -> str:
    metadata = obj.get("metadata") if isinstance(obj, dict) else None
    namespace = metadata.get("namespace") if isinstance(metadata, dict) else None
    return namespace if isinstance(namespace, str) and namespace else DEFAULT_NAMESPACE


def _invalid(error: InvalidInput) -> str:
    """The error as one status line that names the file (and line) it is about."""
    where = f"{error.where}: " if error.where else ""
    return f"{where}{error.message} (fix: {error.fix})" if error.fix else f"{where}{error.message}"


def describe_denial(findings: Sequence[Finding]) -> str:
    """One line per denying finding: policy, field, message and fix."""
    lines = []
    for finding in findings:
        where = f" at {finding.field_path}" if finding.field_path else ""
        fix = f" (fix: {finding.fix})" if finding.fix else ""
        lines.append(f"denied by {finding.rule}{where}: {finding.message}{fix}")
    return "; ".join(lines)


def desired_state(artifact: Artifact, *, bundled: BundledOptions | None = None) -> dict[str, Desired]:
    """Parse and admit every endpoint manifest of the artifact (bundled policies with `bundled`'s knobs)."""
    return admit_endpoints(artifact.files, bundled=bundled)


def admit_endpoints(files: Mapping[str, bytes], *, bundled: BundledOptions | None = None) -> dict[str, Desired]:
    """Parse and admit the endpoint manifests among `files` (other paths are ignored), together."""
    loaded: dict[str, Any] = {}
    result: dict[str, Desired] = {}
    for path in sorted(files):
        name = endpoint_name_of(path)
        if name is None:
            continue
        try:
            loaded[name] = load_one(utf8_text(files[path], where=path), where=path, limits=MANIFEST_LIMITS)
        except InvalidInput as exc:
            result[name] = Rejected(name, DEFAULT_NAMESPACE, Reason.InvalidManifest, _invalid(exc))
    names = [n for n in loaded if isinstance(loaded[n], dict)]
    denials = _denials(admit([loaded[n] for n in names], bundled=bundled), names)
    for name, obj in loaded.items():
        path = f"{APPS_DIR}/{name}/{MANIFEST_FILE}"
        namespace = _namespace_of(obj)
        if name in denials:
            result[name] = Rejected(name, namespace, Reason.AdmissionDenied, describe_denial(denials[name]))
            continue
        try:
            spec = serving_spec(obj, where=path)
        except InvalidInput as exc:
            result[name] = Rejected(name, namespace, Reason.InvalidManifest, _invalid(exc))
            continue
        if spec.name != name:
            message = f"{path} declares metadata.name {spec.name!r} (fix: name the folder and the endpoint alike)"
            result[name] = Rejected(name, namespace, Reason.InvalidManifest, message)
            continue
        result[name] = Admitted(name, spec.namespace, spec, spec_digest(spec))
    return result


def _denials(findings: Sequence[Finding], names: Sequence[str]) -> Mapping[str, list[Finding]]:
    """Error findings per endpoint; one without an object index denies every endpoint (loud, not silent)."""
    out: dict[str, list[Finding]] = {}
    for finding in findings:
        if finding.severity is not Severity.ERROR:
            continue
        index = finding.extra.get("index")
        targets = [names[index]] if isinstance(index, int) and 0 <= index < len(names) else list(names)
        for name in targets:
            out.setdefault(name, []).append(finding)
    return out
