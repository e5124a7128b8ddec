"""The routes file: contract shape, atomic replace, rewritten only on change, readable by the gateway."""

from __future__ import annotations

import json
from pathlib import Path

from neuroscale.engine.routes import RouteEntry, RoutesWriter, TrafficEntry
from neuroscale.gateway.routes import RouteTable

READY = RouteEntry("iris", "default", True, (TrafficEntry("iris-predictor-00001", 100, ("127.0.0.1:41234",)),))
DOWN = RouteEntry("bad", "ml", False, reason="AdmissionDenied", message="missing label cost-center")


def test_shape_and_gateway_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "run" / "routes.json"
    assert RoutesWriter(path, domain="localhost").write([READY, DOWN])
    document = json.loads(path.read_text())
    assert document["version"] == 2 and document["domain"] == "localhost" and document["updated"]
    assert document["endpoints"]["iris"] == {
        "namespace": "default", "ready": True, "upstream": "127.0.0.1:41234", "revision": "iris-predictor-00001",
        "traffic": [{"revision": "iris-predictor-00001", "percent": 100, "upstreams": ["127.0.0.1:41234"]}],
        "timeout": 300.0, "concurrency": 0, "reason": "", "message": "",
    }
    assert RouteEntry.from_dict("iris", document["endpoints"]["iris"]) == READY
    table = RouteTable.from_document(document, default_domain="localhost")
    [revision] = table.by_name["iris"].revisions
    assert (revision.revision, revision.percent, revision.upstreams) == ("iris-predictor-00001", 100,
                                                                         (("127.0.0.1", 41234),))
    route = table.for_host("bad.ml.localhost:8080")
    assert route is not None and not route.ready and route.reason == "AdmissionDenied"
    assert list(tmp_path.joinpath("run").iterdir()) == [path]


def test_auth_is_written_for_the_gateway_and_read_back(tmp_path: Path) -> None:
    """An endpoint that requires keys says `auth: true`; a preview also names whose keys it accepts."""
    keyed = RouteEntry("iris", "default", True, READY.traffic, auth="iris")
    preview = RouteEntry("iris-pr-3", "default", True, READY.traffic, auth="iris")
    path = tmp_path / "routes.json"
    RoutesWriter(path, domain="localhost").write([keyed, preview, DOWN])
    document = json.loads(path.read_text())
    endpoints = document["endpoints"]
    assert endpoints["iris"]["auth"] is True and "keys_of" not in endpoints["iris"]
    assert (endpoints["iris-pr-3"]["auth"], endpoints["iris-pr-3"]["keys_of"]) == (True, "iris")
    assert "auth" not in endpoints["bad"] and "keys_of" not in endpoints["bad"]
    assert [RouteEntry.from_dict(n, e) for n, e in endpoints.items()] == [DOWN, keyed, preview]
    table = RouteTable.from_document(document, default_domain="localhost")
    assert [table.by_name[n].auth for n in ("iris", "iris-pr-3", "bad")] == ["iris", "iris", ""]


def test_rewritten_only_on_change(tmp_path: Path) -> None:
    path = tmp_path / "routes.json"
    writer = RoutesWriter(path, domain="localhost")
    assert writer.write([READY])
    assert not writer.write([READY])
    assert RoutesWriter(path, domain="localhost").write([READY]) is False  # a restart reads the last table
    assert writer.write([READY, DOWN])
    assert writer.write([])
    assert json.loads(path.read_text())["endpoints"] == {}


def test_a_file_changed_outside_is_repaired_once(tmp_path: Path) -> None:
    """The same entries skip building the table, but never a file someone else changed; the repair is said once."""
    path = tmp_path / "routes.json"
    writer = RoutesWriter(path, domain="localhost")
    assert writer.write([READY]) and not writer.repaired
    path.write_text(json.dumps({"version": 2, "domain": "localhost", "updated": "x", "endpoints": {}}))
    assert writer.write([READY]) and writer.repaired
    assert "iris" in json.loads(path.read_text())["endpoints"]
    assert not writer.write([READY]) and not writer.repaired


def test_stamps_move_only_for_changed_entries(tmp_path: Path) -> None:
    writer = RoutesWriter(tmp_path / "routes.json", domain="localhost")
    writer.write([READY, DOWN])
    first = writer.stamp_of("iris")
    assert first and writer.stamp_of("bad") == first
    writer.write([READY, RouteEntry("bad", "ml", False, reason="CrashLoopBackOff")])
    assert writer.stamp_of("iris") == first and writer.stamp_of("bad") > first
    assert json.loads((tmp_path / "routes.json").read_text())["updated"] == writer.stamp_of("bad")
