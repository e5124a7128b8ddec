"""Support bundles stay clean: env values and token-shaped strings never reach a saved snapshot.

The cluster side runs the real kubernetes client against the loopback fake API
serving Pods whose env carries secrets and whose logs echo credentials; the
embedded side reads a real platform home whose model-server log does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from neuroscale.cli.main import main
from neuroscale.redact import redact, redact_text
from neuroscale.db import connect
from neuroscale.home import Home
from neuroscale.services.context import PlatformContext
from tests.conftest import free_port
from tests.doctor.fakeapi import fake_api, routes_from, write_kubeconfig
from tests.doctor.snapshots import healthy

GITHUB_CLASSIC = "ghp_" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7c"
GITHUB_FINE = "github_pat_11ABCDEFG0" + "x1Y2z3" * 12
GITHUB_OAUTH = "gho_" + "Q" * 36
AWS_KEY = "AKIA" + "IOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
BEARER = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEyMyJ9.c2lnbmF0dXJlLXZhbHVlLWhlcmU"
SECRETS = (GITHUB_CLASSIC, GITHUB_FINE, GITHUB_OAUTH, AWS_KEY, AWS_SECRET, BEARER, "hunter2-Pa55", "s3cretDBpw",
           "opaque-api-key-123456")

LEAKY_LOG = "\n".join([
    f"cloning https://x-access-token:{GITHUB_CLASSIC}@github.com/acme/gitops.git",
    f"fine-grained token {GITHUB_FINE} accepted",
    f"oauth {GITHUB_OAUTH}",
    f"boto3: using access key {AWS_KEY}",
    f"AWS_SECRET_ACCESS_KEY={AWS_SECRET}",
    f"GET /api Authorization: Bearer {BEARER}",
    "connecting with password=hunter2-Pa55 to db",
    'config {"db_password": "s3cretDBpw", "x-api-key": "opaque-api-key-123456"}',
])


@pytest.mark.parametrize(("text", "kept"), [
    (f"token {GITHUB_CLASSIC}", "token <redacted github-token len=40>"),
    (f"key={AWS_KEY}", "key=<redacted aws-access-key len=20>"),
    ("calling with nsk_" + "Zq-9_" * 9 + "abc now", "calling with <redacted neuroscale-secret len=52> now"),
    ("/login?token=nsl_" + "A" * 43, "/login?token=<redacted "),
    (f"Authorization: Bearer {BEARER}", "Authorization: Bearer <redacted "),
    ("https://alice:pw-123456@example.com/x", "https://alice:<redacted password len=9>@example.com/x"),
    ("password: hunter2-Pa55", "password: <redacted secret len=12>"),
])
def test_token_shaped_strings_are_replaced_by_their_length(text: str, kept: str) -> None:
    redacted = redact_text(text)
    assert kept in redacted and all(secret not in redacted for secret in SECRETS)


@pytest.mark.parametrize("text", [
    "valueFrom:\n  secretKeyRef:\n    name: backstage-secrets",
    "the token may lack admin read access to the repository",
    "Bearer of bad news",
    "ModelLoadFailed: no model file at this storage URI under the allowed model roots",
    "GET /v2/models/iris/ready 200",
])
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact_text(text) == text


def test_env_values_lose_their_values_but_keep_names_and_references() -> None:
    container = {"name": "app", "env": [{"name": "DB_PASSWORD", "value": "s3cretDBpw"},
                                        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "t"}}}]}
    cleaned = redact({"spec": {"containers": [container]}})
    env = cleaned["spec"]["containers"][0]["env"]
    assert env[0] == {"name": "DB_PASSWORD", "value": "<redacted env len=10>"}
    assert env[1] == container["env"][1]
    assert redact(cleaned) == cleaned  # redacting twice changes nothing


def _leaky_pod(pod: dict[str, Any]) -> dict[str, Any]:
    leaky = json.loads(json.dumps(pod))
    leaky["spec"]["containers"][0]["env"] = [
        {"name": "GITHUB_TOKEN", "value": GITHUB_CLASSIC}, {"name": "DATABASE_URL", "value": "plain-value-xyz"},
        {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "backstage-secrets", "key": "t"}}}]
    leaky["spec"]["containers"][0]["args"] = [f"--api-key={'opaque-api-key-123456'}"]
    return leaky


def test_a_cluster_bundle_holds_no_env_value_or_token(tmp_path: Path) -> None:
    recorded = healthy()
    objects = dict(recorded["objects"])
    objects["Pod"] = [_leaky_pod(objects["Pod"][0]), *objects["Pod"][1:]]
    objects["Secret"] = []  # the recorded ones are already reduced to facts; Secrets have their own test
    logs = {key: f"{text}\n{LEAKY_LOG}" for key, text in recorded["logs"].items()}
    bundle = tmp_path / "bundle.json"
    with fake_api(routes_from(objects, logs)) as (url, _):
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", url)
        main(["doctor", "--kubeconfig", str(kubeconfig), "--save-snapshot", str(bundle), "-o", "json"])
    text = bundle.read_text()
    assert [secret for secret in (*SECRETS, "plain-value-xyz") if secret in text] == []
    saved = json.loads(text)
    env = saved["objects"]["Pod"][0]["spec"]["containers"][0]["env"]
    assert [item["name"] for item in env] == ["GITHUB_TOKEN", "DATABASE_URL", "FROM_SECRET"]
    assert env[2]["valueFrom"]["secretKeyRef"]["name"] == "backstage-secrets"
    assert all("<redacted" in log for log in saved["logs"].values())


def test_an_embedded_bundle_holds_no_token_from_the_server_logs(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    home = Home(tmp_path / "home")
    PlatformContext.open(home, create=True).close()
    home.settings_file.write_text(json.dumps({"host": "127.0.0.1", "portal_port": free_port(),
                                              "gateway_port": free_port()}))
    home.server_logs_dir.mkdir(parents=True, exist_ok=True)
    (home.server_logs_dir / "iris-predictor-00001.log").write_text(LEAKY_LOG + "\n")
    connect(home.state_db).close()
    bundle = tmp_path / "bundle.json"
    main(["doctor", "--home", str(home.root), "--save-snapshot", str(bundle), "-o", "json"])
    printed = capsys.readouterr().out
    text = bundle.read_text()
    assert [secret for secret in SECRETS if secret in text or secret in printed] == []
    assert "<redacted github-token len=40>" in json.loads(text)["logs"]["servers/iris-predictor-00001"]
