"""Benchmark: `neuroscale check` over 1,000 InferenceService + Deployment manifests, next to checkov.

Usage:
    python bench/check_bench.py --crd-dir /path/to/crds/kserve [--count 1000] [--runs 3]
        [--checkov .venv-checkov/bin/checkov]  (made by `make checkov-venv`)

Generates a temporary GitOps repository (half InferenceServices, half
Deployments, all valid and policy-clean), copies the KServe CRDs into it, then
times `neuroscale check` as a real process (wall clock: interpreter start,
imports, parsing, schemas, bundled policies, lints). The first run fills the
compiled-schema cache (cold); later runs reuse it (warm). checkov's Kubernetes
checks run over the same files when its binary exists (`--skip-download`:
no calls to Prisma Cloud). Its exit code is 1 because its own defaults (e.g.
"pods need a NetworkPolicy") fail on these manifests; only the time compares.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ISVC = """apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: model-{i}
  namespace: team-{team}
  labels:
    owner: team-{team}
    cost-center: cc-{team}
spec:
  predictor:
    minReplicas: 1
    maxReplicas: 2
    model:
      modelFormat:
        name: sklearn
      storageUri: s3://models/model-{i}/v1
      resources:
        requests:
          cpu: 100m
          memory: 256Mi
        limits:
          cpu: "1"
          memory: 1Gi
"""

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: svc-{i}
  namespace: team-{team}
  labels:
    owner: team-{team}
    cost-center: cc-{team}
spec:
  replicas: 2
  selector:
    matchLabels:
      app: svc-{i}
  template:
    metadata:
      labels:
        app: svc-{i}
        owner: team-{team}
        cost-center: cc-{team}
    spec:
      securityContext:
        runAsNonRoot: true
        runAsUser: 1000
      containers:
        - name: app
          image: registry.example.org/team-{team}/svc:1.{i}.0
          ports:
            - containerPort: 8080
          resources:
            requests:
              cpu: 100m
              memory: 128Mi
            limits:
              cpu: 500m
              memory: 512Mi
"""


def generate(root: Path, *, count: int, crd_dir: Path) -> None:
    for i in range(count):
        kind, template = ("isvc", ISVC) if i % 2 == 0 else ("deploy", DEPLOYMENT)
        folder = root / "apps" / f"{kind}-{i}"
        folder.mkdir(parents=True)
        (folder / f"{kind}.yaml").write_text(template.format(i=i, team=i % 7), encoding="utf-8")
    shutil.copytree(crd_dir, root / "crds")


def timed(command: list[str]) -> tuple[float, int, str]:
    """(wall seconds, exit code, the summary line of the output)."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    lines = (done.stdout + done.stderr).strip().splitlines() or [""]
    summary = next((line for line in lines if "Passed checks" in line or "neuroscale check" in line), lines[-1])
    if done.returncode == 2:
        summary = " ".join(done.stderr.split())  # the tool failed: show why
    return seconds, done.returncode, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crd-dir", type=Path, required=True, help="directory holding the KServe CRDs")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--checkov", default=str(Path(__file__).resolve().parents[1] / ".venv-checkov" / "bin" / "checkov"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ns-bench-") as tmp:
        repo, cache = Path(tmp) / "repo", Path(tmp) / "cache"
        generate(repo, count=args.count, crd_dir=args.crd_dir)
        check = [sys.executable, "-m", "neuroscale.cli.main", "check", str(repo), "--cache-dir", str(cache)]
        rows = []
        for run in range(args.runs):
            seconds, code, tail = timed(check)
            rows.append((f"neuroscale check ({'cold cache' if run == 0 else 'warm cache'})", seconds, code, tail))
        if Path(args.checkov).exists():
            seconds, code, tail = timed([args.checkov, "-d", str(repo / "apps"), "--framework", "kubernetes",
                                         "--quiet", "--compact", "--skip-download"])  # no network here
            rows.append(("checkov --framework kubernetes", seconds, code, tail))
        else:
            rows.append(("checkov (not installed)", float("nan"), -1, args.checkov))
    print(f"{args.count} manifests ({args.count // 2 + args.count % 2} InferenceService, {args.count // 2} Deployment)")
    print(f"{'tool':<40} {'wall s':>8} {'exit':>5}  summary")
    for name, seconds, code, tail in rows:
        print(f"{name:<40} {seconds:>8.2f} {code:>5}  {tail[:90]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
