"""The gateway's gRPC routing pieces: the model name read off the wire, and the table from the routes file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from neuroscale.gateway.grpc_proxy import GrpcTable, WireError, grpc_upstream, model_name_field, read_table
from neuroscale.serving.oip_proto import messages


def test_the_model_name_is_read_wherever_field_1_sits() -> None:
    m = messages()
    request = m["ModelInferRequest"](model_name="iris", id="x")
    request.inputs.add(name="input-0", datatype="FP32", shape=[1, 4])
    request.raw_input_contents.append(b"\x00" * 16)
    assert model_name_field(request.SerializeToString()) == "iris"
    # fields in another order (protobuf allows any): id (3), a varint-free tensor, then the name
    reordered = m["ModelInferRequest"](id="x").SerializeToString() + m["ModelReadyRequest"](name="rose").SerializeToString()
    assert model_name_field(reordered) == "rose"
    assert model_name_field(m["ModelMetadataRequest"](version="2").SerializeToString()) == ""


@pytest.mark.parametrize("garbage", [b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", b"\x0f", b"\x80"])
def test_malformed_messages_are_refused(garbage: bytes) -> None:
    with pytest.raises(WireError):
        model_name_field(garbage)


def test_table_reads_traffic_and_the_older_single_upstream(tmp_path: Path) -> None:
    document = {"version": 2, "endpoints": {
        "canary": {"ready": True, "traffic": [{"revision": "r1", "percent": 90, "upstreams": ["127.0.0.1:9000"]},
                                              {"revision": "r2", "percent": 10, "upstreams": ["127.0.0.1:9100"]}]},
        "old": {"ready": True, "upstream": "127.0.0.1:9200"},
        "asleep": {"ready": True, "traffic": [{"revision": "r1", "percent": 100, "upstreams": []}]}}}
    table = read_table(document)
    assert {u for _ in range(200) for u in [next(table["canary"].replicas())]} == {"127.0.0.1:9000", "127.0.0.1:9100"}
    assert list(table["old"].replicas()) == ["127.0.0.1:9200"]
    assert list(table["asleep"].replicas()) == []
    assert grpc_upstream("127.0.0.1:9000") == "127.0.0.1:9001"
    path = tmp_path / "routes.json"
    watched = GrpcTable(path)
    assert watched.refresh() is False and watched.endpoints == {}
    path.write_text(json.dumps(document))
    assert watched.refresh() is True and set(watched.endpoints) == {"canary", "old", "asleep"}
    path.write_text("{half")
    assert watched.refresh() is False and set(watched.endpoints) == {"canary", "old", "asleep"}
