"""A snapshot of the cluster state that diagnosis needs, read once with the official client.

Why a snapshot: rules stay pure and fast (they never call the API), a snapshot
can be saved as a support bundle and replayed with no cluster, and the embedded
platform produces the same shape. The format is plain JSON:

    {"apiVersion": SNAPSHOT_VERSION,
     "meta":    {"target": "cluster", "context", "server", "takenAt",
                 "missing": {kind: why}, "errors": {kind: why}, "error": {...}},
     "objects": {kind: [object dict exactly as the API returns it]},
     "logs":    {"<namespace>/<pod>/<container>": "<last lines>"},
     "host":    {...facts about the machine, embedded target only}}

Objects are read with `_preload_content=False` so they keep the API's own field
names. Secrets are reduced to names, keys and value lengths (plus a shape such
as "placeholder"), and container env values and token-shaped strings in logs
and messages are redacted (`neuroscale.redact`): a snapshot never carries a secret value. Huge fields that no
rule reads (CRD schemas, managedFields details) are trimmed to keep bundles small.
An unreachable cluster, a missing kubeconfig or an unknown context is recorded in
`meta.error`, and a CRD that is not installed in `meta.missing`: never a crash.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from neuroscale.redact import redact
from neuroscale.errors import ToolError

SNAPSHOT_VERSION = "neuroscale.dev/snapshot/v1"
PLATFORM_NAMESPACES = (
    "argocd", "kserve", "knative-serving", "kourier-system", "kyverno",
    "backstage", "opencost", "default", "kube-system", "istio-system",
)
#: ConfigMaps rules read, as (namespace, name).
CONFIG_MAPS = (
    ("kserve", "inferenceservice-config"),
    ("knative-serving", "config-network"),
    ("knative-serving", "config-domain"),
    ("kyverno", "kyverno"),
    ("backstage", "neuroscale-backstage-app-config"),
)
LOG_TAIL_LINES = 40
MAX_LOGGED_CONTAINERS = 25
REQUEST_TIMEOUT_S = 10
_PLACEHOLDER = re.compile(
    r"^<.*>$|your[-_]|changeme|change[-_]me|placeholder|replace[-_]?me|^x{3,}$|^todo$|^dummy", re.IGNORECASE)
_TOKEN_PREFIXES = ("ghp_", "github_pat_", "gho_", "ghs_", "ghu_", "ghr_")
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def secret_value_facts(raw: bytes | str) -> dict[str, Any]:
    """What may be said about a secret value without revealing it: its length and shape."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    stripped = text.strip()
    if not stripped:
        shape = "empty"
    elif _PLACEHOLDER.search(stripped):
        shape = "placeholder"
    elif stripped.startswith(_TOKEN_PREFIXES):
        shape = "github-token"
    else:
        shape = "other"
    return {"length": len(text), "shape": shape}


def redact_secret(secret: Mapping[str, Any]) -> dict[str, Any]:
    """A Secret reduced to metadata, type, keys and value facts."""
    md = secret.get("metadata") or {}
    data: dict[str, Any] = {}
    for key, value in (secret.get("data") or {}).items():
        data[key] = secret_value_facts(base64.b64decode(value or ""))
    for key, value in (secret.get("stringData") or {}).items():
        data[key] = secret_value_facts(str(value))
    keep = {k: md[k] for k in ("name", "namespace", "uid", "creationTimestamp", "labels") if k in md}
    keep["managedFields"] = _trim_managed_fields(md.get("managedFields"))
    return {"apiVersion": "v1", "kind": "Secret", "metadata": keep, "type": secret.get("type", ""), "data": data}


def _trim_managed_fields(value: Any) -> list[dict[str, Any]]:
    entries = value if isinstance(value, list) else []
    return [{k: e[k] for k in ("manager", "operation", "time", "subresource") if k in e} for e in entries]


def trim_object(obj: dict[str, Any]) -> dict[str, Any]:
    """Drop bulk no rule reads: managedFields details, last-applied bodies, CRD schemas."""
    md = obj.get("metadata")
    if isinstance(md, dict):
        if "managedFields" in md:
            md["managedFields"] = _trim_managed_fields(md["managedFields"])
        annotations = md.get("annotations")
        if isinstance(annotations, dict) and _LAST_APPLIED in annotations:
            annotations[_LAST_APPLIED] = f"<{len(annotations[_LAST_APPLIED])} bytes>"
    if obj.get("kind") == "CustomResourceDefinition":
        for version in (obj.get("spec") or {}).get("versions") or []:
            version.pop("schema", None)
    return obj


@dataclass(frozen=True)
class CustomKind:
    kind: str
    group: str
    version: str
    plural: str


CUSTOM_KINDS = (
    CustomKind("Application", "argoproj.io", "v1alpha1", "applications"),
    CustomKind("ApplicationSet", "argoproj.io", "v1alpha1", "applicationsets"),
    CustomKind("InferenceService", "serving.kserve.io", "v1beta1", "inferenceservices"),
    CustomKind("ClusterServingRuntime", "serving.kserve.io", "v1alpha1", "clusterservingruntimes"),
    CustomKind("KnativeService", "serving.knative.dev", "v1", "services"),
    CustomKind("Route", "serving.knative.dev", "v1", "routes"),
    CustomKind("Revision", "serving.knative.dev", "v1", "revisions"),
    CustomKind("ClusterPolicy", "kyverno.io", "v1", "clusterpolicies"),
    CustomKind("Policy", "kyverno.io", "v1", "policies"),
    CustomKind("HelmChart", "helm.cattle.io", "v1", "helmcharts"),
)


def empty_snapshot(target: str, **meta: Any) -> dict[str, Any]:
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return {
        "apiVersion": SNAPSHOT_VERSION,
        "meta": {"target": target, "takenAt": stamp, "missing": {}, "errors": {}, **meta},
        "objects": {},
        "logs": {},
        "host": {},
    }


def save_snapshot(snapshot: Mapping[str, Any], path: Path) -> None:
    """Write a support bundle; env values and token-shaped strings are redacted on the way out."""
    path.write_text(json.dumps(redact(dict(snapshot)), indent=1, sort_keys=True, default=str), encoding="utf-8")


def load_snapshot(path: Path) -> dict[str, Any]:
    """Read a saved snapshot; a wrong file means doctor cannot run (exit 2), never a traceback."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ToolError(f"cannot read snapshot: {exc}", where=str(path),
                           fix="pass a file written by `neuroscale doctor --save-snapshot`") from exc
    if not isinstance(data, dict) or data.get("apiVersion") != SNAPSHOT_VERSION:
        raise ToolError(f"not a doctor snapshot (expected apiVersion {SNAPSHOT_VERSION})", where=str(path),
                           fix="pass a file written by `neuroscale doctor --save-snapshot`")
    return data


def read_cluster_snapshot(
    *, kubeconfig: Path | None = None, context: str | None = None,
    namespaces: tuple[str, ...] = PLATFORM_NAMESPACES,
) -> dict[str, Any]:
    """Read everything the rules need from the cluster `context` of `kubeconfig`."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    snapshot = empty_snapshot("cluster", context=context or "", kubeconfig=str(kubeconfig or "~/.kube/config"))
    meta = snapshot["meta"]
    configuration = client.Configuration()
    try:
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig) if kubeconfig else None, context=context, client_configuration=configuration)
    except (ConfigException, OSError, TypeError, ValueError) as exc:
        reason = "ContextNotFound" if context and context in str(exc) else "KubeconfigInvalid"
        if kubeconfig is not None and not kubeconfig.exists():
            reason = "KubeconfigMissing"
        meta["error"] = {"reason": reason, "message": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}
        return snapshot
    configuration.retries = 0  # an unreachable API is reported at once, not after urllib3's retries
    api = client.ApiClient(configuration)
    meta["server"] = configuration.host
    if not context:
        meta["context"] = _current_context(kubeconfig)
    try:
        _ClusterReader(api, namespaces, snapshot).read()
    except _Unreachable as exc:
        meta["error"] = {"reason": "Unreachable", "message": str(exc)}
        snapshot["objects"] = {}
    finally:
        api.close()  # type: ignore[no-untyped-call]
    return snapshot


def _current_context(kubeconfig: Path | None) -> str:
    from kubernetes import config

    try:
        _, active = config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig) if kubeconfig else None)
    except Exception:  # noqa: BLE001 - only a label for the report
        return ""
    return str(active.get("name", "")) if active else ""


class _Unreachable(Exception):
    pass


class _ClusterReader:
    """One pass over the API: lists, config maps, secrets (redacted) and log tails."""

    def __init__(self, api: Any, namespaces: tuple[str, ...], snapshot: dict[str, Any]) -> None:
        from kubernetes import client

        self.client = client
        self.api = api
        self.namespaces = set(namespaces)
        self.snapshot = snapshot
        self.objects: dict[str, list[dict[str, Any]]] = snapshot["objects"]

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        from urllib3.exceptions import HTTPError

        try:
            resp = fn(*args, _preload_content=False, _request_timeout=REQUEST_TIMEOUT_S, **kwargs)
        except HTTPError as exc:
            raise _Unreachable(f"{self.api.configuration.host}: {exc.__class__.__name__}: {exc}") from exc
        body = resp.data
        return json.loads(body) if body[:1] in (b"{", b"[") else body.decode("utf-8", "replace")

    def read(self) -> None:
        c = self.client
        version = self._call(c.VersionApi(self.api).get_code)
        self.snapshot["meta"]["serverVersion"] = version.get("gitVersion", "") if isinstance(version, dict) else ""
        core, apps = c.CoreV1Api(self.api), c.AppsV1Api(self.api)
        admission, ext = c.AdmissionregistrationV1Api(self.api), c.ApiextensionsV1Api(self.api)
        lists: list[tuple[str, Callable[..., Any], bool]] = [
            ("Node", core.list_node, False),
            ("Pod", core.list_pod_for_all_namespaces, True),
            ("Service", core.list_service_for_all_namespaces, False),
            ("EndpointSlice", c.DiscoveryV1Api(self.api).list_endpoint_slice_for_all_namespaces, False),
            ("Event", core.list_event_for_all_namespaces, True),
            ("ResourceQuota", core.list_resource_quota_for_all_namespaces, False),
            ("LimitRange", core.list_limit_range_for_all_namespaces, False),
            ("Deployment", apps.list_deployment_for_all_namespaces, False),
            ("ReplicaSet", apps.list_replica_set_for_all_namespaces, True),
            ("ValidatingWebhookConfiguration", admission.list_validating_webhook_configuration, False),
            ("MutatingWebhookConfiguration", admission.list_mutating_webhook_configuration, False),
            ("CustomResourceDefinition", ext.list_custom_resource_definition, False),
        ]
        for kind, fn, platform_only in lists:
            self._list(kind, fn, platform_only=platform_only)
        custom = c.CustomObjectsApi(self.api)
        for ck in CUSTOM_KINDS:
            self._list(ck.kind, custom.list_cluster_custom_object, ck.group, ck.version, ck.plural)
        self._list("Secret", core.list_secret_for_all_namespaces, platform_only=True, transform=redact_secret)
        for namespace, name in CONFIG_MAPS:
            self._config_map(core, namespace, name)
        self._logs(core)

    def _list(
        self, kind: str, fn: Callable[..., Any], *args: Any, platform_only: bool = False,
        transform: Callable[[dict[str, Any]], dict[str, Any]] = trim_object,
    ) -> None:
        from kubernetes.client.exceptions import ApiException

        try:
            body = self._call(fn, *args)
        except ApiException as exc:
            where = "missing" if exc.status == 404 else "errors"
            why = "CRD not installed" if exc.status == 404 else f"{exc.status} {exc.reason}"
            self.snapshot["meta"][where][kind] = f"{'/'.join(str(a) for a in args) or kind}: {why}"
            return
        items = body.get("items") or [] if isinstance(body, dict) else []
        api_version = body.get("apiVersion", "") if isinstance(body, dict) else ""
        kept = []
        for item in items:
            item.setdefault("kind", kind if kind != "KnativeService" else "Service")
            item.setdefault("apiVersion", api_version)
            if platform_only and (item.get("metadata") or {}).get("namespace") not in self.namespaces:
                continue
            kept.append(transform(item))
        self.objects[kind] = kept

    def _config_map(self, core: Any, namespace: str, name: str) -> None:
        from kubernetes.client.exceptions import ApiException

        try:
            body = self._call(core.read_namespaced_config_map, name, namespace)
        except ApiException as exc:
            if exc.status != 404:
                self.snapshot["meta"]["errors"][f"ConfigMap/{namespace}/{name}"] = f"{exc.status} {exc.reason}"
            return
        body.setdefault("kind", "ConfigMap")
        self.objects.setdefault("ConfigMap", []).append(trim_object(body))

    def _logs(self, core: Any) -> None:
        from kubernetes.client.exceptions import ApiException

        wanted = [(pod, status) for pod in self.objects.get("Pod", []) for status in _log_worthy(pod)]
        for pod, status in wanted[:MAX_LOGGED_CONTAINERS]:
            md = pod["metadata"]
            previous = bool(status.get("restartCount")) and "terminated" in (status.get("lastState") or {})
            try:
                text = self._call(core.read_namespaced_pod_log, md["name"], md["namespace"],
                                  container=status["name"], tail_lines=LOG_TAIL_LINES, previous=previous)
            except ApiException:
                continue
            self.snapshot["logs"][f"{md['namespace']}/{md['name']}/{status['name']}"] = str(text)


#: Containers whose logs are always worth a tail (their errors explain ISVC and catalog symptoms).
_ALWAYS_LOG = ("kserve-controller-manager", "neuroscale-backstage", "argocd-repo-server")


def _log_worthy(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    name = str((pod.get("metadata") or {}).get("name", ""))
    statuses = list((pod.get("status") or {}).get("containerStatuses") or [])
    always = name.startswith(_ALWAYS_LOG)
    return [s for s in statuses if always or not s.get("ready") or s.get("restartCount")]
