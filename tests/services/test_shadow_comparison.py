"""The shadow comparison shown on the endpoint page: only while the latest revision is the one shadowed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from neuroscale.services.observe import shadow_comparison

STATS = {"revision": "iris-predictor-00002", "agree": 3, "disagree": 1, "error": 0, "skipped": 0,
         "agreement": 0.75, "primary_ms": {"p50": 1.0, "p99": 2.0}, "shadow_ms": {"p50": 1.5, "p99": 3.0}}


def status(latest: str, percent: int) -> dict[str, Any]:
    return {"traffic": [{"revision": "iris-predictor-00001", "percent": 100 - percent, "latest": False},
                        {"revision": latest, "percent": percent, "latest": True}]}


@pytest.fixture
def shadow_file(tmp_path: Path) -> Path:
    path = tmp_path / "shadow.json"
    path.write_text(json.dumps({"iris": STATS}))
    return path


def test_shown_while_the_latest_revision_takes_no_traffic(shadow_file: Path) -> None:
    assert shadow_comparison(shadow_file, "iris", status("iris-predictor-00002", 0), shadowing=True) == STATS


@pytest.mark.parametrize(("latest", "percent"), [("iris-predictor-00002", 20), ("iris-predictor-00003", 0)],
                         ids=["promoted", "a-newer-revision"])
def test_a_comparison_that_no_longer_describes_the_endpoint_is_not_shown(shadow_file: Path, latest: str,
                                                                        percent: int) -> None:
    assert shadow_comparison(shadow_file, "iris", status(latest, percent), shadowing=True) is None


def test_no_file_another_endpoint_or_garbage_show_nothing(shadow_file: Path, tmp_path: Path) -> None:
    assert shadow_comparison(tmp_path / "absent.json", "iris", status("iris-predictor-00002", 0),
                             shadowing=True) is None
    assert shadow_comparison(shadow_file, "fraud", status("iris-predictor-00002", 0), shadowing=True) is None
    shadow_file.write_text("[1, 2")
    assert shadow_comparison(shadow_file, "iris", status("iris-predictor-00002", 0), shadowing=True) is None
    shadow_file.write_text("[1, 2]")
    assert shadow_comparison(shadow_file, "iris", status("iris-predictor-00002", 0), shadowing=True) is None


def test_not_shown_once_main_stops_asking_for_shadow_traffic(shadow_file: Path) -> None:
    """The gateway stops copying but keeps the last numbers it published: they describe no shadow traffic."""
    assert shadow_comparison(shadow_file, "iris", status("iris-predictor-00002", 0), shadowing=False) is None
