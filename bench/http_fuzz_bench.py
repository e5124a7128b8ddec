"""The large HTTP fuzz run: 10,000 generated requests each to the gateway, the model server and the portal API.

Runs the same Hypothesis tests `make test` runs with 120 examples (tests/gateway/test_http_fuzz.py),
here with 5,000 examples per test and target (raw requests + prediction bodies = 10,000 exchanges
per target), and prints the tallies: answers by status, the slowest exchange, and how often a
request h11 accepts was refused here (stricter framing, unknown methods, CONNECT). Any 5xx, hang
over 5 s or crash fails the run, as in the test.

The portal's REST API gets schemathesis (tests/portal/test_api_fuzz.py) with `--portal-examples` examples
per operation in place of its 25-second bound; schemathesis' summary says how many requests it sent.

Usage: python bench/http_fuzz_bench.py [--examples 5000] [--portal-examples 500]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=5000, help="examples per test and target")
    parser.add_argument("--portal-examples", type=int, default=500, help="schemathesis examples per portal operation")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "fuzz.json"
        env = {**os.environ, "NEUROSCALE_FUZZ_EXAMPLES": str(args.examples), "NEUROSCALE_FUZZ_REPORT": str(report)}
        code = subprocess.call([sys.executable, "-m", "pytest", "tests/gateway/test_http_fuzz.py", "-q",
                                "--timeout", "3600"], cwd=ROOT, env=env)
        if report.exists():
            print(json.dumps(json.loads(report.read_text()), indent=2))
    portal_env = {**os.environ, "NEUROSCALE_PORTAL_FUZZ_EXAMPLES": str(args.portal_examples)}
    portal = subprocess.call([sys.executable, "-m", "pytest", "tests/portal/test_api_fuzz.py", "-q", "-s",
                              "--timeout", "3600"], cwd=ROOT, env=portal_env)
    return max(code, portal)


if __name__ == "__main__":
    sys.exit(main())
