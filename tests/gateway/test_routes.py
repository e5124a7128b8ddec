"""Route table: path and Host parsing, reload semantics."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from neuroscale.gateway.routes import RevisionRoute, RouteTable, RouteWatcher, model_name_from_path


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v1/models/iris:predict", "iris"),
        ("/v1/models/iris", "iris"),
        ("/v1/models/iris?x:predict", "iris?x"),  # a decoded %3F is part of the name: the query is gone
        ("/v2/models/iris/infer", "iris"),
        ("/v2/models/iris/ready", "iris"),
        ("/v2/models/iris", "iris"),
        ("/v2/models/", None),
        ("/v2/health/ready", None),
        ("/metrics", None),
        ("/", None),
    ],
)
def test_model_name_from_path(path: str, expected: str | None) -> None:
    assert model_name_from_path(path) == expected


DOCUMENT = {
    "version": 1,
    "domain": "example.internal",
    "endpoints": {
        "iris": {"namespace": "ml", "ready": True, "upstream": "127.0.0.1:4000", "revision": "iris-predictor-00002"},
        "down": {"namespace": "default", "ready": False, "reason": "ModelLoadFailed", "message": "no file"},
        "bad": "not a mapping",
    },
}


def test_table_indexes_by_name_and_host() -> None:
    table = RouteTable.from_document(DOCUMENT, default_domain="localhost")
    assert set(table.by_name) == {"iris", "down"}
    iris = table.by_name["iris"]
    assert iris.revisions == (RevisionRoute("iris-predictor-00002", 100, (("127.0.0.1", 4000),)),), "version 1 file"
    assert table.for_host("iris.ml.example.internal:8080") is iris
    assert table.for_host("IRIS.ML.example.internal") is iris
    assert table.for_host("iris.default.example.internal") is None
    assert table.by_name["down"].revisions == ()
    assert table.by_name["down"].message == "no file"


def test_watcher_reloads_on_change_and_keeps_last_good_table(tmp_path: Path) -> None:
    path = tmp_path / "routes.json"
    watcher = RouteWatcher(path, default_domain="localhost")
    assert watcher.refresh() is False  # no file yet: empty table, no error
    path.write_text(json.dumps(DOCUMENT))
    assert watcher.refresh() is True
    assert "iris" in watcher.table.by_name
    assert watcher.refresh() is False  # unchanged
    path.write_text("{ half written")
    os.utime(path, ns=(1, 1))
    assert watcher.refresh() is False
    assert "iris" in watcher.table.by_name  # last good table kept


def test_version_2_lists_revisions_shares_replicas_and_limits() -> None:
    document = {"version": 2, "domain": "localhost", "endpoints": {"iris": {
        "namespace": "default", "ready": True, "timeout": 30, "concurrency": 2,
        "traffic": [{"revision": "iris-predictor-00002", "percent": 20, "upstreams": ["127.0.0.1:1", "127.0.0.1:2"]},
                    {"revision": "iris-predictor-00001", "percent": 80, "upstreams": []},
                    {"percent": 5}, "junk"]}}}
    iris = RouteTable.from_document(document, default_domain="localhost").by_name["iris"]
    assert iris.revisions == (RevisionRoute("iris-predictor-00002", 20, (("127.0.0.1", 1), ("127.0.0.1", 2))),
                              RevisionRoute("iris-predictor-00001", 80, ()))
    assert (iris.timeout, iris.concurrency, iris.revision) == (30.0, 2, "iris-predictor-00001")
