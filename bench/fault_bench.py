"""Issue 10's numbers on a real embedded platform: the injection matrix, doctor's run time, status staleness.

Runs the fault-injection matrix of `tests/e2e/test_fault_injection.py`
(`--rounds` times on one platform), then on the healthy platform times
`neuroscale doctor` as a user runs it (a fresh process) and in-process, and
measures how long a hung reconciler (SIGSTOP) takes to show `Unknown` in
`neuroscale status`'s data, against three heartbeat intervals.

    .venv/bin/python bench/fault_bench.py [--rounds 1] [--stale-repeats 5]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the harness lives beside the suite that asserts it

from tests.e2e.fault_catalogue import FAULTS  # noqa: E402
from tests.e2e.faults import HEADER, Live, live_platform, run_fault, wait_for  # noqa: E402

from neuroscale.status.heartbeat import STALE_AFTER  # noqa: E402
from neuroscale.status.model import Health  # noqa: E402


def iris(directory: Path) -> Path:
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    data = load_iris()
    path = directory / "iris.joblib"
    joblib.dump(LogisticRegression(max_iter=1000, random_state=0).fit(data.data, data.target), path)
    return path


def doctor_process_seconds(live: Live, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "neuroscale", "doctor", "--home", str(live.home.root)],
                              capture_output=True, text=True, env={**os.environ, **live.env}, check=False)
        times.append(time.perf_counter() - started)
        assert done.returncode == 0, done.stdout + done.stderr
    return times


def staleness_seconds(live: Live, repeats: int) -> list[float]:
    """SIGSTOP the reconciler → the endpoint's status reads Unknown."""
    found = []
    for _ in range(repeats):
        wait_for(live.silent, timeout=60, what="a healthy platform")
        pid = live.pid("reconciler")
        os.kill(pid, signal.SIGSTOP)
        stopped = time.monotonic()
        try:
            wait_for(lambda: (s := live.status()) is not None and s.health is Health.Unknown, timeout=30,
                     what="Unknown", step=0.01)
            found.append(time.monotonic() - stopped)
        finally:
            os.kill(pid, signal.SIGCONT)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--stale-repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="neuroscale-faults-") as tmp:
        root = Path(tmp)
        with live_platform(root, iris(root)) as live:
            rows = [run_fault(live, fault) for _ in range(args.rounds) for fault in FAULTS]
            print(HEADER)
            for row in rows:
                print(row.line(), flush=True)
            named = sum(r.named for r in rows)
            silent = sum(r.silent for r in rows)
            detect = [r.detect_s for r in rows if r.named]
            runs = [r.doctor_s for r in rows if r.named]
            process = doctor_process_seconds(live, 5)
            stale = staleness_seconds(live, args.stale_repeats)
    print(f"\nfaults named with the right cause: {named}/{len(rows)}; silent after the fix: {silent}/{len(rows)}")
    print(f"named after the platform observed the fault: median {statistics.median(detect):.2f} s, "
          f"max {max(detect):.2f} s (target 2 s)")
    print(f"doctor in-process (snapshot + rules) during faults: median {statistics.median(runs):.2f} s, "
          f"max {max(runs):.2f} s")
    print(f"`neuroscale doctor` as a process on the healthy platform: median {statistics.median(process):.2f} s, "
          f"max {max(process):.2f} s (target 1 s)")
    interval = 1.0
    print(f"hung reconciler → status Unknown: median {statistics.median(stale):.2f} s, max {max(stale):.2f} s "
          f"(heartbeat {interval:g} s, target {STALE_AFTER * interval:g} s)")
    return 0 if named == silent == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
