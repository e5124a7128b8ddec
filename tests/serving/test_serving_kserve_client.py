"""Interoperability: KServe's own `InferenceRESTClient` talks V1 and V2 to our real server process.

The kserve SDK lives in its own venv (`.venv-kserve`, created by `make kserve-venv`) so its pins
never meet ours; the check script runs with that interpreter against the running server.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import IRIS_ROWS, REPO_ROOT, free_port, running

KSERVE_PYTHON = REPO_ROOT / ".venv-kserve" / "bin" / "python"
CHECK_SCRIPT = Path(__file__).with_name("kserve_client_check.py")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not KSERVE_PYTHON.exists(),
                       reason=f"kserve venv absent at {KSERVE_PYTHON}: run `make kserve-venv` to create it"),
]


def test_kserve_rest_client_reads_v1_and_v2_answers(iris_model: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "neuroscale.serving", "--model-name", "iris", "--model-format", "sklearn",
            "--storage-uri", str(iris_model), "--port", str(port), "--model-root", str(iris_model.parent)]
    with running(argv, ready_url=f"{base}/v2/health/ready"):
        assert_kserve_client_is_served(base)


def assert_kserve_client_is_served(base: str) -> None:
    """KServe's client, run against `base` serving iris: liveness, readiness and answers over V1 and V2."""
    result = subprocess.run([str(KSERVE_PYTHON), str(CHECK_SCRIPT), base, "iris", json.dumps(IRIS_ROWS)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["v1_live"] is True and report["v1_model_ready"] is True
    assert report["v1_predict"] == {"predictions": [1, 1]}
    assert (report["v2_live"], report["v2_ready"], report["v2_model_ready"]) == (True, True, True)
    for key in ("v2_infer", "v2_infer_binary"):  # JSON data, and the binary tensor data extension
        assert report[key] == {"model_name": "iris", "id": key, "name": "output-0",
                               "datatype": "INT64", "shape": [2], "data": [1, 1]}
