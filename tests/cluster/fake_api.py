"""A fake Kubernetes API on loopback, serving recorded object JSON by API path.

The cluster code uses the official `kubernetes` client; here it talks to this
server through an ordinary kubeconfig. A recorded state is a list of real
object JSON plus: API paths that answer 404 (a CRD not installed) and the
admission responses dry-run creates get (a recorded policy denial, a webhook
outage), the server version and the answer to a SelfSubjectAccessReview.
Server-side apply (PATCH with a field manager) creates what is missing. Every
request is kept for assertions (e.g. that creates were dry-run).
"""

from __future__ import annotations

import copy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

FIXTURES = Path(__file__).parent / "fixtures"


def plural(kind: str) -> str:
    lower = kind.lower()
    if lower.endswith("y"):
        return lower[:-1] + "ies"
    return lower + "es" if lower.endswith("s") else lower + "s"


def prefix(api_version: str) -> str:
    return "/api/v1" if api_version == "v1" else f"/apis/{api_version}"


class FakeApi:
    def __init__(self, state: dict[str, Any], *, argo_reports: bool = True) -> None:
        self.objects: list[dict[str, Any]] = copy.deepcopy(state["objects"])
        self.missing: list[str] = list(state.get("missing", []))
        self.admission: dict[str, Any] = state.get("admission", {})
        self.version: dict[str, Any] = state.get("version", {"major": "1", "minor": "30",
                                                            "gitVersion": "v1.30.6+k3s1", "platform": "linux/amd64"})
        self.access_review: dict[str, Any] = state.get("accessReview", {"allowed": True})
        self.argo_reports = argo_reports
        self.requests: list[dict[str, Any]] = []
        self.self_heal = bool(state.get("selfHeal", True))
        self._healing: dict[str, dict[str, Any]] = {}  # deleted object paths Argo CD will recreate
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @classmethod
    def from_fixture(cls, name: str, **kwargs: Any) -> FakeApi:
        return cls(json.loads((FIXTURES / f"state-{name}.json").read_text()), **kwargs)

    def __enter__(self) -> FakeApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def kubeconfig(self, path: Path, *, context: str = "k3d-neuroscale") -> Path:
        config = {"apiVersion": "v1", "kind": "Config", "current-context": context,
                  "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                  "users": [{"name": "fake", "user": {"token": "fake-token"}}],
                  "contexts": [{"name": context, "context": {"cluster": "fake", "user": "fake"}}]}
        path.write_text(json.dumps(config))
        return path

    # -- routing -----------------------------------------------------------

    def _parse(self, path: str) -> tuple[str, str | None, str, str | None]:
        """(api prefix, namespace, plural, name) of an API path."""
        parts = path.strip("/").split("/")
        head = 2 if parts[0] == "api" else 3
        api, rest = "/" + "/".join(parts[:head]), parts[head:]
        namespace = None
        if rest[:1] == ["namespaces"] and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        return api, namespace, rest[0] if rest else "", rest[1] if len(rest) > 1 else None

    def _matches(self, obj: dict[str, Any], api: str, namespace: str | None, kind_plural: str) -> bool:
        md = obj.get("metadata") or {}
        return (prefix(obj["apiVersion"]) == api and plural(obj["kind"]) == kind_plural
                and (namespace is None or md.get("namespace") == namespace))

    def _select(self, obj: dict[str, Any], selector: str) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        for term in filter(None, selector.split(",")):
            key, _, value = term.partition("=")
            if labels.get(key) != value:
                return False
        return True

    def answer(self, method: str, raw: str, body: bytes) -> tuple[int, dict[str, Any]]:
        parts = urlsplit(raw)
        query = dict(parse_qsl(parts.query))
        payload = json.loads(body) if body else None
        self.requests.append({"method": method, "path": parts.path, "query": query, "body": payload})
        if parts.path == "/version":
            return 200, self.version
        if any(parts.path.startswith(m) for m in self.missing):
            return 404, {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404,
                         "message": "the server could not find the requested resource"}
        api, namespace, kind_plural, name = self._parse(parts.path)
        if method == "DELETE":
            return self._delete(parts.path, api, namespace, kind_plural, name)
        if parts.path in self._healing and method == "GET":  # Argo CD self-heal: back on the next read
            obj = self._healing.pop(parts.path)
            obj["metadata"]["uid"] = obj["metadata"]["uid"] + "-recreated"
            self.objects.append(obj)
            return 404, {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404, "message": "gone"}
        if method == "POST" and (payload or {}).get("kind") == "SelfSubjectAccessReview":
            return 201, {**(payload or {}), "status": self.access_review}
        if method == "POST":
            return self._create(payload or {}, query)
        found = [o for o in self.objects if self._matches(o, api, namespace, kind_plural)]
        if name is None:
            items = [o for o in found if self._select(o, query.get("labelSelector", ""))]
            return 200, {"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": "48213"}, "items": items}
        for obj in found:
            if obj["metadata"]["name"] == name:
                if method in ("PUT", "PATCH") and payload:
                    obj.update({k: v for k, v in payload.items() if k != "status"})
                return 200, obj
        if method == "PATCH" and query.get("fieldManager") and payload:  # server-side apply creates
            self.objects.append(copy.deepcopy(payload))
            return 201, payload
        return 404, {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404,
                     "message": f"{kind_plural} \"{name}\" not found"}

    def _delete(self, path: str, api: str, namespace: str | None, kind_plural: str,
                name: str | None) -> tuple[int, dict[str, Any]]:
        for obj in self.objects:
            if self._matches(obj, api, namespace, kind_plural) and obj["metadata"]["name"] == name:
                self.objects.remove(obj)
                if self.self_heal:
                    self._healing[path] = copy.deepcopy(obj)
                return 200, {"kind": "Status", "status": "Success", "code": 200}
        return 404, {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"}

    def _create(self, obj: dict[str, Any], query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if query.get("dryRun") == "All":
            recorded = self.admission.get(obj.get("kind", ""))
            if recorded:
                return int(recorded["status"]), recorded["body"]
            return 201, obj
        if any(o["kind"] == obj["kind"] and o["metadata"]["name"] == obj["metadata"]["name"] for o in self.objects):
            return 409, {"kind": "Status", "status": "Failure", "reason": "AlreadyExists", "code": 409,
                         "message": f"{plural(obj['kind'])} \"{obj['metadata']['name']}\" already exists"}
        stored = copy.deepcopy(obj)
        if self.argo_reports and obj.get("kind") == "Application":
            stored["status"] = {"sync": {"status": "OutOfSync"}, "health": {"status": "Progressing"}}
        self.objects.append(stored)
        return 201, obj

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                status, body = fake.answer(self.command, self.path, self.rfile.read(length))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler
