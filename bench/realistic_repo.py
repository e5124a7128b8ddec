"""Write a realistic platform repository of N objects for `check_repo_bench.py`.

Not uniform manifests: per team a namespace, quota, Deployments with Services,
ConfigMaps and ServiceAccounts, InferenceServices, an Argo CD Application; at
the platform level Argo CD Applications pinning charts, Kyverno policies, a
values file, and the large upstream CRDs (KServe's InferenceService CRD alone
is 2 MB) copied from the reference set. `kustomizations` of the teams get a
kustomization with an overlay patch, so rendering can be measured per
kustomization. Usage: `python bench/realistic_repo.py OUT --objects 1000 --kustomizations 5 --reference DIR`.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

TEAM = """apiVersion: v1
kind: Namespace
metadata:
  name: team-{t}
  labels: {{owner: team-{t}}}
---
apiVersion: v1
kind: ResourceQuota
metadata: {{name: quota, namespace: team-{t}}}
spec:
  hard: {{requests.cpu: "64", requests.memory: 128Gi, limits.cpu: "128", limits.memory: 256Gi, pods: "200"}}
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {{name: team-{t}, namespace: argocd}}
spec:
  project: default
  source: {{repoURL: "https://git.example.org/platform.git", path: teams/team-{t}, targetRevision: main}}
  destination: {{server: "https://kubernetes.default.svc", namespace: team-{t}}}
  syncPolicy: {{automated: {{prune: true, selfHeal: true}}}}
"""

SERVICE = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: svc-{i}
  namespace: team-{t}
  labels: {{owner: team-{t}, cost-center: cc-{t}, app: svc-{i}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: svc-{i}}}}}
  template:
    metadata: {{labels: {{app: svc-{i}, owner: team-{t}, cost-center: cc-{t}}}}}
    spec:
      serviceAccountName: svc-{i}
      securityContext: {{runAsNonRoot: true, runAsUser: 1000}}
      containers:
        - name: app
          image: registry.example.org/team-{t}/svc:1.{i}.0
          ports: [{{name: http, containerPort: 8080}}, {{name: metrics, containerPort: 9090}}]
          envFrom: [{{configMapRef: {{name: svc-{i}}}}}]
          readinessProbe: {{httpGet: {{path: /ready, port: http}}}}
          resources:
            requests: {{cpu: 100m, memory: 128Mi}}
            limits: {{cpu: 500m, memory: 512Mi}}
---
apiVersion: v1
kind: Service
metadata: {{name: svc-{i}, namespace: team-{t}, labels: {{app: svc-{i}}}}}
spec:
  selector: {{app: svc-{i}}}
  ports: [{{name: http, port: 80, targetPort: http}}, {{name: metrics, port: 9090, targetPort: metrics}}]
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: svc-{i}, namespace: team-{t}}}
data: {{LOG_LEVEL: info, FEATURE_X: "true", UPSTREAM: "http://svc-{j}.team-{t}.svc"}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: svc-{i}, namespace: team-{t}}}
"""

ENDPOINT = """apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: model-{i}
  namespace: team-{t}
  labels: {{owner: team-{t}, cost-center: cc-{t}}}
spec:
  predictor:
    minReplicas: 1
    maxReplicas: 3
    model:
      modelFormat: {{name: sklearn}}
      storageUri: s3://models/team-{t}/model-{i}/v3
      resources:
        requests: {{cpu: 100m, memory: 256Mi}}
        limits: {{cpu: "1", memory: 1Gi}}
"""

KUSTOMIZATION = "resources:\n{resources}patches:\n  - path: replicas-patch.yaml\n"
PATCH = """apiVersion: apps/v1
kind: Deployment
metadata: {{name: svc-{i}, namespace: team-{t}}}
spec:
  replicas: 3
"""

PLATFORM_APP = """apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {{name: {name}, namespace: argocd, annotations: {{argocd.argoproj.io/sync-wave: "{wave}"}}}}
spec:
  project: default
  source: {{repoURL: "{repo}", chart: {name}, targetRevision: "{version}"}}
  destination: {{server: "https://kubernetes.default.svc", namespace: {name}}}
  syncPolicy: {{syncOptions: [CreateNamespace=true, ServerSideApply=true]}}
"""

POLICY = """apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {{name: team-rule-{n}}}
spec:
  validationFailureAction: Audit
  background: true
  rules:
    - name: probes-{n}
      match:
        any:
          - resources: {{kinds: [Deployment]}}
      validate:
        message: "containers need a readiness probe"
        pattern:
          spec:
            template:
              spec:
                containers:
                  - readinessProbe: {{}}
"""

PER_TEAM_SERVICES = 8
PER_TEAM_ENDPOINTS = 6
PER_TEAM = 3 + PER_TEAM_SERVICES * 4 + PER_TEAM_ENDPOINTS


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def generate(root: Path, *, objects: int, kustomizations: int, reference: Path) -> int:
    """Write the repository; returns how many objects it holds (CRDs and policies included)."""
    count = 0
    crds = sorted((reference / "crds").glob("*/*.yaml"))
    (root / "infrastructure/crds").mkdir(parents=True, exist_ok=True)
    for path in crds:
        shutil.copy(path, root / "infrastructure/crds" / path.name)
    count += len(crds)
    for n, (name, repo, version) in enumerate([("kyverno", "https://kyverno.github.io/kyverno", "3.2.6"),
                                               ("opencost", "https://opencost.github.io/opencost-helm-chart", "2.5.17"),
                                               ("cert-manager", "https://charts.jetstack.io", "v1.14.5")]):
        write(root / f"infrastructure/apps/{name}.yaml", PLATFORM_APP.format(name=name, repo=repo, version=version,
                                                                              wave=n - 10))
        count += 1
    for n in range(10):
        write(root / f"infrastructure/policies/rule-{n}.yaml", POLICY.format(n=n))
        count += 1
    write(root / "neuroscale.yaml", "governedNamespaces: [" + ", ".join(
        f"team-{t}" for t in range(max(1, (objects - count) // PER_TEAM))) + "]\n")
    team, i = 0, 0
    while count < objects:
        base = root / f"teams/team-{team}"
        write(base / "team.yaml", TEAM.format(t=team))
        count += 3
        files = []
        for _ in range(PER_TEAM_SERVICES):
            write(base / f"svc-{i}.yaml", SERVICE.format(i=i, j=i + 1, t=team))
            files.append(f"svc-{i}.yaml")
            i += 1
            count += 4
        for _ in range(PER_TEAM_ENDPOINTS):
            write(base / f"model-{i}.yaml", ENDPOINT.format(i=i, t=team))
            files.append(f"model-{i}.yaml")
            i += 1
            count += 1
        if team < kustomizations:
            write(base / "kustomization.yaml", KUSTOMIZATION.format(
                resources="".join(f"  - {f}\n" for f in ["team.yaml", *files])))
            write(base / "replicas-patch.yaml", PATCH.format(i=i - PER_TEAM_SERVICES - PER_TEAM_ENDPOINTS, t=team))
        team += 1
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--kustomizations", type=int, default=5)
    parser.add_argument("--reference", type=Path, default=Path(__file__).resolve().parents[2] / "shared/reference")
    args = parser.parse_args(argv)
    print(generate(args.out, objects=args.objects, kustomizations=args.kustomizations, reference=args.reference))
    return 0


if __name__ == "__main__":
    sys.exit(main())
