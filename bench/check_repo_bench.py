"""Benchmark: `neuroscale check` on realistic repositories (many kinds, large CRDs, kustomizations).

Usage:
    python bench/check_repo_bench.py [--objects 1000 10000] [--kustomizations 5] [--reference DIR]

For each size, `realistic_repo.py` writes the repository; `neuroscale check` runs as a real process (wall
clock and the process's CPU time: interpreter start, imports, parsing, rendering, schemas, policies,
lints). "cold" starts with empty caches (compiled schemas, parsed large files, kustomize builds); "warm"
reuses them. NeuroScale's modules are compiled to bytecode first, as an installed wheel's are (this sandbox
sets PYTHONDONTWRITEBYTECODE, which would otherwise make every run compile ~100 modules, ~0.2 s), so
"cold" means empty NeuroScale caches, not an uncompiled install. The added time per kustomization is the warm run with the kustomize build cache emptied,
minus the warm run, divided by the number of kustomizations. Machines here are shared and noisy:
compare rows of one invocation, and read the CPU column when the wall clock is disturbed.
"""

from __future__ import annotations

import argparse
import compileall
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from realistic_repo import generate


def timed(argv: list[str]) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the child, summary line)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lines = (done.stdout + done.stderr).strip().splitlines() or [""]
    return wall, cpu, next((line for line in lines if "neuroscale check" in line), lines[-1])


def bench(objects: int, kustomizations: int, reference: Path) -> list[tuple[str, float, float, str]]:
    with tempfile.TemporaryDirectory(prefix="ns-repo-bench-") as tmp:
        repo, cache = Path(tmp) / "repo", Path(tmp) / "cache"
        count = generate(repo, objects=objects, kustomizations=kustomizations, reference=reference)
        check = [sys.executable, "-m", "neuroscale.cli.main", "check", str(repo), "--cache-dir", str(cache),
                 "--crd-cache", str(cache / "crds")]
        rows = [(f"{count} objects, cold", *timed(check))]
        rows += [(f"{count} objects, warm", *timed(check)) for _ in range(2)]
        rows.append((f"{count} objects, warm, --no-render", *timed([*check, "--no-render"])))
        if kustomizations:
            shutil.rmtree(cache / "kustomize", ignore_errors=True)
            wall, cpu, summary = timed(check)
            warm_wall = min(r[1] for r in rows[1:3])
            rows.append((f"{count} objects, {kustomizations} kustomizations built", wall, cpu, summary))
            rows.append((f"  added per kustomization (wall)", (wall - warm_wall) / kustomizations, float("nan"), ""))
        return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--kustomizations", type=int, default=5)
    parser.add_argument("--reference", type=Path, default=Path(__file__).resolve().parents[2] / "shared/reference")
    args = parser.parse_args(argv)
    import neuroscale  # noqa: PLC0415 - only to find the package being measured
    compileall.compile_dir(Path(neuroscale.__file__).parent, quiet=1)
    print(f"{'run':<48} {'wall s':>8} {'cpu s':>7}  summary")
    for objects in args.objects:
        for name, wall, cpu, summary in bench(objects, args.kustomizations, args.reference):
            print(f"{name:<48} {wall:>8.2f} {cpu:>7.2f}  {summary[:80]}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
