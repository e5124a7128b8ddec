"""Helpers for check tests: fixture repositories on disk, views from file maps, manifests."""

from __future__ import annotations

import subprocess
import textwrap
from collections.abc import Mapping
from pathlib import Path

from neuroscale.check.lints.base import Lint
from neuroscale.check.loader import build_view
from neuroscale.check.model import Limits, RepoView
from neuroscale.findings import Finding

Files = Mapping[str, str | bytes]
#: The repository configuration that puts the workloads of `default` under the bundled policies.
GOVERNS_DEFAULT = {"neuroscale.yaml": "governedNamespaces: [default]\n"}


def write_repo(root: Path, files: Files) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
    return root


def view_of(files: Files) -> RepoView:
    raw = {k: v if isinstance(v, bytes) else textwrap.dedent(v).lstrip("\n").encode() for k, v in files.items()}
    view, problems = build_view(raw, limits=Limits())
    assert not [p for p in problems if p.severity.value == "error"], problems
    return view


def lint(lint_: Lint, files: Files) -> list[Finding]:
    findings = lint_.check(view_of(files))
    assert all(f.rule == lint_.id for f in findings)
    return findings


def git(root: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org", "HOME": str(root), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, env=env, check=True)
    return done.stdout.strip()


ISVC = """
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: {name}
  namespace: default
  labels:
    owner: team-a
    cost-center: cc-1
spec:
  predictor:
    minReplicas: {replicas}
    maxReplicas: {max_replicas}
    model:
      modelFormat:
        name: sklearn
      storageUri: s3://models/{name}
      resources:
        requests:
          cpu: {cpu}
          memory: 256Mi
        limits:
          cpu: "1"
          memory: 1Gi
"""

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {namespace}
  labels:
    owner: team-a
    cost-center: {cost_center}
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      securityContext:
        runAsNonRoot: true
      containers:
        - name: app
          image: {image}
          resources:
            requests:
              cpu: 250m
              memory: 512Mi
            limits:
              cpu: 500m
              memory: 1Gi
"""


def isvc(name: str = "iris", *, replicas: int = 1, max_replicas: int = 2, cpu: str = "100m") -> str:
    return ISVC.format(name=name, replicas=replicas, max_replicas=max_replicas, cpu=cpu)


def deployment(name: str = "web", *, replicas: int = 2, image: str = "registry.example.org/web:1.2.3",
               cost_center: str = "cc-1", namespace: str = "default") -> str:
    return DEPLOYMENT.format(name=name, replicas=replicas, image=image, cost_center=cost_center, namespace=namespace)
