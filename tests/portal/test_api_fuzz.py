"""Schemathesis against the portal's own OpenAPI description, with a bearer token, bounded to ~25 s.

`bench/http_fuzz_bench.py` runs the same test with NEUROSCALE_PORTAL_FUZZ_EXAMPLES examples per operation
instead of the time bound (the issue's 10,000 requests).

Schemathesis generates valid and invalid requests for every operation the
description lists (plus undeclared methods and requests without the token)
and checks each answer: no 5xx, statuses, content types and bodies as
described, invalid input rejected, authentication enforced, `Allow` on 405.
One check is left out: `positive_data_acceptance`, because the fields have
rules JSON Schema cannot state (Kubernetes quantities, storage URIs, requests
within limits), which the server judges with a 422 naming the field.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from neuroscale.home import Home
from neuroscale.services.context import PlatformContext
from tests.conftest import free_port, running
from tests.portal.conftest import Portal

FUZZ_SECONDS = 25
SEED = os.environ.get("NEUROSCALE_FUZZ_SEED", "20261202")
EXAMPLES = os.environ.get("NEUROSCALE_PORTAL_FUZZ_EXAMPLES", "")  # per operation; unset: FUZZ_SECONDS bound the run


@pytest.fixture()
def fuzzed_portal(tmp_path: Path, iris_model: Path) -> Iterator[Portal]:
    """A portal of its own: the run opens, merges and closes pull requests at random."""
    home = Home(tmp_path / "home")
    PlatformContext.open(home, create=True).close()
    port = free_port()
    argv = [sys.executable, "-m", "neuroscale.portal", "--home", str(home.root), "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with running(argv, ready_url=f"{url}/healthz") as process:
        yield Portal(url=url, home=home, model=iris_model)
        assert process.poll() is None, "the portal died during the run"


def test_schemathesis_finds_no_server_error_and_no_drift_from_the_description(
        fuzzed_portal: Portal, tmp_path: Path) -> None:
    portal = fuzzed_portal
    schemathesis = Path(sys.executable).with_name("schemathesis")
    run = subprocess.run(
        [str(schemathesis), "run", f"{portal.url}/api/openapi.json",
         "--header", f"Authorization: Bearer {portal.admin_token}",
         "--checks", "all", "--exclude-checks", "positive_data_acceptance",
         *(["--max-examples", EXAMPLES] if EXAMPLES else ["--max-time", str(FUZZ_SECONDS)]),
         "--workers", "1", "--seed", SEED, "--generation-database", "none",
         "--request-timeout", "10", "--no-color", "--output-sanitize", "true"],
        capture_output=True, text=True, timeout=3600 if EXAMPLES else FUZZ_SECONDS * 6, cwd=tmp_path)
    report = run.stdout + run.stderr
    if EXAMPLES:
        print(report)  # the bench shows schemathesis' whole report
    assert run.returncode == 0, report[-6000:]
    assert portal.admin_token not in report, "the token leaked into the report"
    selected, tested = re.search(r"Selected: (\d+)/", report), re.search(r"Tested: (\d+)", report)
    generated = re.search(r"(\d+) generated", report)
    assert selected and tested and int(tested.group(1)) == int(selected.group(1)) >= 15, report[-2000:]
    assert generated and int(generated.group(1)) >= 300, report[-2000:]  # the run really exercised the API
