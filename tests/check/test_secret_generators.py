"""NS-L010 on kustomize secret generators: the values they commit are flagged like a Secret's, never shown.

The shape is an outside one: a website's base kustomization (exea-centrum's Argo CD + kustomize + Kyverno
example) generates its Postgres password with `secretGenerator: literals: [password=...]` next to
resources that are not all committed, so the build fails and nothing is rendered; the kustomize docs'
generators read env files and TLS files the same way.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from neuroscale.check.lints import l010_plaintext_secrets as l010
from neuroscale.check.model import CheckOptions
from neuroscale.check.runner import run_check
from neuroscale.findings import Finding

from .helpers import deployment, lint, write_repo

PASSWORD = "hunter2-bardzo"  # 14 characters
BASE = {
    "manifests/base/kustomization.yaml": f"""
        secretGenerator:
        - name: postgres-secret
          literals:
          - password={PASSWORD}
          - user="website"
        resources:
        - website-deployment.yaml
        """,
    "manifests/base/website-deployment.yaml": deployment("website"),
}
SECRET = f"""
apiVersion: v1
kind: Secret
metadata:
  name: postgres-secret
stringData:
  password: {PASSWORD}
"""


def l010_findings(report_findings: tuple[Finding, ...]) -> list[Finding]:
    return [f for f in report_findings if f.rule == l010.ID]


def test_a_literal_is_flagged_as_the_same_secret_manifest_is() -> None:
    literal = lint(l010.LINT, BASE)
    manifest = lint(l010.LINT, {"manifests/base/secret.yaml": SECRET})
    assert [f.message for f in literal] == ["secretGenerator postgres-secret commits values in plain text: "
                                            "password (14 chars), user (7 chars)"]
    assert [f.message for f in manifest] == ["Secret postgres-secret commits values in plain text: password (14 chars)"]
    assert (literal[0].file, literal[0].line, literal[0].severity) == ("manifests/base/kustomization.yaml", 4,
                                                                       manifest[0].severity)


@pytest.mark.parametrize("options", [CheckOptions(), CheckOptions(render=False)], ids=["rendered", "as-written"])
def test_one_finding_whether_the_build_renders_the_secret_or_not(tmp_path: Path, options: CheckOptions) -> None:
    root = write_repo(tmp_path, BASE)
    found = l010_findings(run_check(root, options=options).findings)
    assert [(f.file, f.line, f.message) for f in found] == [
        ("manifests/base/kustomization.yaml", 4,
         "secretGenerator postgres-secret commits values in plain text: password (14 chars), user (7 chars)")]


def test_a_build_that_fails_still_has_its_literals_judged(tmp_path: Path) -> None:
    # As upstream: the kustomization lists a resource the repository lacks, so kustomize renders nothing.
    files = {**BASE, "manifests/base/kustomization.yaml": BASE["manifests/base/kustomization.yaml"]
             + "        - postgres-deployment.yaml\n"}
    report = run_check(write_repo(tmp_path, files), options=CheckOptions())
    assert any(f.rule == "NS-K001" for f in report.findings)
    assert [f.line for f in l010_findings(report.findings)] == [4]


def test_env_files_and_files_a_generator_reads_are_committed_values_too() -> None:
    found = lint(l010.LINT, {
        "app/kustomization.yaml": """
            secretGenerator:
            - name: db
              envs: [db.env]
            - name: tls
              files: [tls.key, ca=certs/ca.pem]
            - name: from-the-environment
              envs: [bare.env]
            """,
        "app/db.env": "# read by the database\nPOSTGRES_PASSWORD=correct-horse\nPOSTGRES_HOST\n",
        "app/tls.key": "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
        "app/certs/ca.pem": "pem\n",
        "app/bare.env": "TOKEN\n",
    })
    assert [(f.line, f.message) for f in found] == [
        (3, "secretGenerator db commits values in plain text: POSTGRES_PASSWORD (13 chars, in db.env)"),
        (5, "secretGenerator tls commits values in plain text: tls.key (59 chars, in tls.key), "
            "ca (4 chars, in certs/ca.pem)")]


def test_the_value_is_never_printed(tmp_path: Path) -> None:
    report = run_check(write_repo(tmp_path, {**BASE, "manifests/other/secret.yaml": SECRET}), options=CheckOptions())
    assert len(l010_findings(report.findings)) == 2
    assert not [f for f in report.findings if PASSWORD in f.message or PASSWORD in f.fix]


def test_a_generator_with_nothing_committed_is_quiet() -> None:
    assert lint(l010.LINT, {"kustomization.yaml": "secretGenerator:\n- name: merged\n  behavior: merge\n"}) == []
