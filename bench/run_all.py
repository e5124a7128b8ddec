"""`make bench`: every benchmark the issues ask for, one after another, each with its peer.

  platform_bench.py --throughput  merge→Ready, kill→serving, gateway vs KServe ModelServer (wrk)
  check_bench.py                  `neuroscale check` on 1,000 manifests vs checkov
  check_repo_bench.py             `neuroscale check` on realistic repositories of 1,000 and 10,000 objects
  doctor_bench.py                 all doctor rules over a 5,000-object snapshot
  fault_bench.py --rounds 2       fault injection on a live platform: verdicts, doctor time, status staleness
  http_fuzz_bench.py              10,000+ generated requests each to the gateway, the model server and the portal API
  dataplane_bench.py              model server vs KServe ModelServer (REST, gRPC, batched); embeddings
  yaml_bombs.py                   hostile YAML refused on every path (< 1 s, < 50 MB)
  auth_bench.py                   gateway p50/RPS: main vs a route without auth vs auth with a valid key (wrk)
  previews_bench.py               preview first answer, prediction diff on 1,000 requests, recording and shadow cost
  observe_bench.py                scrape CPU, metrics store size at 7 days x 100 endpoints, portal pages, showback
  density_bench.py                500 iris endpoints live: time to Ready, memory per endpoint, idle CPU
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REFERENCE = HERE.parents[1] / "shared" / "reference"

RUNS = [
    [sys.executable, str(HERE / "platform_bench.py"), "--throughput"],
    [sys.executable, str(HERE / "check_bench.py"), "--crd-dir", str(REFERENCE / "crds" / "kserve")],
    [sys.executable, str(HERE / "check_repo_bench.py"), "--reference", str(REFERENCE)],
    [sys.executable, str(HERE / "doctor_bench.py")],
    [sys.executable, str(HERE / "fault_bench.py"), "--rounds", "2"],
    [sys.executable, str(HERE / "http_fuzz_bench.py")],
    [sys.executable, str(HERE / "dataplane_bench.py")],
    [sys.executable, str(HERE / "yaml_bombs.py")],
    [sys.executable, str(HERE / "auth_bench.py")],
    [sys.executable, str(HERE / "previews_bench.py")],
    [sys.executable, str(HERE / "observe_bench.py")],
    [sys.executable, str(HERE / "density_bench.py")],
]


def main() -> int:
    worst = 0
    for argv in RUNS:
        print(f"\n=== {' '.join(Path(a).name if a.endswith('.py') else a for a in argv[1:])}", flush=True)
        worst = max(worst, subprocess.call(argv))
    return worst


if __name__ == "__main__":
    sys.exit(main())
