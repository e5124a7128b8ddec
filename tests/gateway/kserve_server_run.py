"""Serve `SumModel` under a name with KServe's own model server (FastAPI on uvicorn): the reference for paths.

Run with the kserve venv's interpreter: `.venv-kserve/bin/python kserve_server_run.py HTTP_PORT MODEL_NAME`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout: `tests.serving.kserve_models`

from kserve import ModelServer  # noqa: E402

from tests.serving.kserve_models import SumModel  # noqa: E402

if __name__ == "__main__":
    ModelServer(http_port=int(sys.argv[1]), enable_grpc=False, workers=1).start([SumModel(sys.argv[2])])
