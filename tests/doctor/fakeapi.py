"""A loopback stand-in for the Kubernetes API: serves recorded objects at the paths the real client requests.

Only list, config-map, log and version paths are served; everything else is a
404 `Status`, exactly like an API server without that CRD (a route whose body is
an int answers with that status code instead). Requests are
recorded so tests can assert which paths the real client code path used.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

#: snapshot kind -> list path, as the kubernetes client builds it.
LIST_PATHS = {
    "Node": "/api/v1/nodes", "Pod": "/api/v1/pods", "Service": "/api/v1/services", "Event": "/api/v1/events",
    "Secret": "/api/v1/secrets", "ResourceQuota": "/api/v1/resourcequotas", "LimitRange": "/api/v1/limitranges",
    "EndpointSlice": "/apis/discovery.k8s.io/v1/endpointslices",
    "Deployment": "/apis/apps/v1/deployments", "ReplicaSet": "/apis/apps/v1/replicasets",
    "ValidatingWebhookConfiguration": "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
    "MutatingWebhookConfiguration": "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
    "CustomResourceDefinition": "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
    "Application": "/apis/argoproj.io/v1alpha1/applications",
    "ApplicationSet": "/apis/argoproj.io/v1alpha1/applicationsets",
    "InferenceService": "/apis/serving.kserve.io/v1beta1/inferenceservices",
    "KnativeService": "/apis/serving.knative.dev/v1/services", "Route": "/apis/serving.knative.dev/v1/routes",
    "Revision": "/apis/serving.knative.dev/v1/revisions", "ClusterPolicy": "/apis/kyverno.io/v1/clusterpolicies",
}
BUILTIN_GROUPS = ("/api/v1/", "/apis/apps/", "/apis/discovery", "/apis/admissionregistration", "/apis/apiextensions")


def routes_from(objects: Mapping[str, list[dict[str, Any]]], logs: Mapping[str, str]) -> dict[str, Any]:
    """Recorded API responses: list bodies (built-in items without kind, as the API sends them), config maps, logs."""
    routes: dict[str, Any] = {"/version/": {"major": "1", "minor": "30", "gitVersion": "v1.30.4+k3s1"}}
    for kind, path in LIST_PATHS.items():
        if kind not in objects:
            continue
        builtin = path.startswith(BUILTIN_GROUPS)
        items = [{k: v for k, v in o.items() if not builtin or k not in ("kind", "apiVersion")} for o in objects[kind]]
        api_version = path.split("/")[2] if path.startswith("/api/") else "/".join(path.split("/")[2:4])
        routes[path] = {"kind": f"{kind}List", "apiVersion": api_version, "metadata": {"resourceVersion": "4242"},
                        "items": items}
    for cm in objects.get("ConfigMap", []):
        md = cm["metadata"]
        routes[f"/api/v1/namespaces/{md['namespace']}/configmaps/{md['name']}"] = cm
    for key, text in logs.items():
        namespace, pod, _container = key.split("/", 2)
        routes[f"/api/v1/namespaces/{namespace}/pods/{pod}/log"] = text
    return routes


class _Handler(BaseHTTPRequestHandler):
    routes: dict[str, Any] = {}
    seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = urlparse(self.path).path
        self.seen.append(self.path)
        body = self.routes.get(path, 404)
        if isinstance(body, int):  # an error the API server answers with a Status object
            reason = {403: "Forbidden", 404: "NotFound"}.get(body, "InternalError")
            status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "code": body,
                      "message": f"{reason.lower()}: {path}"}
            self._send(body, json.dumps(status).encode(), "application/json")
        elif isinstance(body, str):
            self._send(200, body.encode(), "text/plain")
        else:
            self._send(200, json.dumps(body).encode(), "application/json")

    def _send(self, code: int, data: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def fake_api(routes: dict[str, Any]) -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    handler = type("Handler", (_Handler,), {"routes": routes, "seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def write_kubeconfig(path: Path, server: str, *, context: str = "k3d-neuroscale") -> Path:
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": context,
        "clusters": [{"name": context, "cluster": {"server": server}}],
        "users": [{"name": "admin@" + context, "user": {"token": "fake-bearer-token"}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": "admin@" + context}}],
    }
    path.write_text(json.dumps(config))
    return path
