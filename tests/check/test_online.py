"""`check --online` against a registry on loopback speaking the Docker Registry HTTP API v2 token flow."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from neuroscale.check.model import CheckOptions
from neuroscale.check.runner import run_check

from .helpers import deployment, write_repo

Run = Callable[..., tuple[int, str, str]]


class FakeRegistry:
    """Manifests for `repository:tag`; every manifest request needs the bearer token the challenge names."""

    def __init__(self, manifests: set[str], *, private: frozenset[str] = frozenset()) -> None:
        self.manifests = manifests
        self.private = private
        self.requests: list[tuple[str, str, str]] = []
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_GET(self) -> None:
                registry.requests.append(("GET", self.path, self.headers.get("Authorization", "")))
                if self.path.startswith("/token?"):
                    scope = unquote(self.path.split("scope=", 1)[1].split("&")[0])
                    self._answer(200, json.dumps({"token": f"t-{scope}"}).encode())
                else:
                    self._answer(404)

            def do_HEAD(self) -> None:
                auth = self.headers.get("Authorization", "")
                registry.requests.append(("HEAD", self.path, auth))
                _, _, rest = self.path.partition("/v2/")
                repository, _, ref = rest.rpartition("/manifests/")
                if not auth.startswith("Bearer t-"):
                    realm = f"http://127.0.0.1:{registry.port}/token"
                    self._answer(401, headers={"WWW-Authenticate": f'Bearer realm="{realm}",service="fake",'
                                                                   f'scope="repository:{repository}:pull"'})
                elif repository in registry.private:
                    self._answer(403)
                elif f"{repository}:{ref}" in registry.manifests:
                    self._answer(200, headers={"Docker-Content-Digest": "sha256:" + "0" * 64})
                else:
                    self._answer(404)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def registry() -> Iterator[FakeRegistry]:
    fake = FakeRegistry({"team/app:1.0", "team/app:2.0"}, private=frozenset({"team/secret"}))
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def test_online_resolves_every_tag_through_the_registry_api(registry: FakeRegistry, tmp_path: Path) -> None:
    host = f"127.0.0.1:{registry.port}"
    root = write_repo(tmp_path, {
        "apps/ok.yaml": deployment("ok", image=f"{host}/team/app:1.0"),
        "apps/also-ok.yaml": deployment("also-ok", image=f"{host}/team/app:1.0"),
        "apps/gone.yaml": deployment("gone", image=f"{host}/team/app:9.9"),
        "apps/private.yaml": deployment("private", image=f"{host}/team/secret:1.0"),
        "apps/down.yaml": deployment("down", image="127.0.0.1:9/team/app:1.0"),
    })
    offline = run_check(root, options=CheckOptions())
    assert not [f for f in offline.findings if f.rule.startswith("NS-O")] and not registry.requests
    report = run_check(root, options=CheckOptions(online=True))
    found = {(f.rule, f.file) for f in report.findings if f.rule.startswith("NS-O")}
    assert found == {("NS-O001", "apps/gone.yaml"), ("NS-O001", "apps/private.yaml"), ("NS-O002", "apps/down.yaml")}
    [gone] = [f for f in report.findings if f.file == "apps/gone.yaml" and f.rule == "NS-O001"]
    text = (root / "apps/gone.yaml").read_text().splitlines()
    assert "9.9 does not exist" in gone.message and "team/app:9.9" in text[(gone.line or 0) - 1]
    # One lookup per distinct reference; the manifest request carried the anonymous token of the challenge.
    heads = [r for r in registry.requests if r[0] == "HEAD" and r[1] == "/v2/team/app/manifests/1.0"]
    assert [auth for _, _, auth in heads] == ["", "Bearer t-repository:team/app:pull"]
    assert report.exit_code == 1


def test_the_cli_flag_turns_lookups_on(registry: FakeRegistry, tmp_path: Path, run_cli: Run) -> None:
    root = write_repo(tmp_path, {"apps/gone.yaml": deployment("gone", image=f"127.0.0.1:{registry.port}/team/app:3.0")})
    code, out, _ = run_cli(str(root), "--online", "--format", "json")
    assert code == 1 and "NS-O001" in out
