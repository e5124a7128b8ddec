"""Shadow copies joined into one predict call, then compared one by one.

The mirror runs in-process against a real model server serving `custom_models:Picky` as the shadow
(doubles V1 rows, triples rows starting with 7, refuses any call holding a negative value); each copy
comes with the answer the serving revision gave, as the proxy hands it over. The first copy of an
endpoint goes alone (it gives the latency pair); the others wait for mates until the batch is full,
so every test knows how many calls the shadow gets. The model server's own request counter counts them.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from neuroscale.gateway import coalesce
from neuroscale.gateway.balancer import Balancer
from neuroscale.gateway.shadow import Mirror
from neuroscale.gateway.upstream import UpstreamPool, upstream_head
from tests.conftest import free_port, running

V1, V2 = b"/v1/models/m:predict", b"/v2/models/m/infer"


@pytest.fixture(scope="module")
def shadow() -> Iterator[int]:
    port = free_port()
    argv = [sys.executable, "-m", "neuroscale.serving", "--model-name", "m", "--model-format", "custom",
            "--model-class", "tests.serving.custom_models:Picky", "--port", str(port)]
    with running(argv, ready_url=f"http://127.0.0.1:{port}/v2/health/ready"):
        yield port


def calls(port: int) -> int:
    """Inference calls the shadow's model server has answered (any status)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    return sum(int(float(n)) for n in re.findall(r'^neuroscale_model_requests_total\{[^}]*\} (\S+)$', text, re.M))


def head(url: bytes, *headers: tuple[bytes, bytes]) -> bytes:
    return upstream_head(method=b"POST", url=url, host=b"iris.ml.localhost", headers=list(headers))


def v1(rows: list[list[float]], factor: float = 2) -> tuple[bytes, bytes, bytes]:
    """A V1 copy and the serving revision's answer (rows times `factor`)."""
    answer = {"predictions": [[v * factor for v in row] for row in rows]}
    return head(V1), json.dumps({"instances": rows}).encode(), json.dumps(answer).encode()


def v2(rows: list[list[float]], *, nested: bool = False) -> tuple[bytes, bytes, bytes]:
    shape = [len(rows), len(rows[0])]
    data: list[Any] = rows if nested else [v for row in rows for v in row]
    doubled = [v * 2 for row in rows for v in row]  # a model server answers flat data
    body = {"id": "r", "inputs": [{"name": "x", "shape": shape, "datatype": "FP64", "data": data}]}
    answer = {"outputs": [{"name": "x-doubled", "shape": shape, "datatype": "FP64", "data": doubled}]}
    return head(V2), json.dumps(body).encode(), json.dumps(answer).encode()


def mirrored(port: int, copies: list[tuple[bytes, bytes, bytes]], *, batch_rows: int) -> tuple[dict[str, Any], int]:
    """Send `copies` through a mirror whose batches go out only when full; its outcomes and the calls made."""
    before = calls(port)

    async def run() -> dict[str, Any]:
        balancer = Balancer(time.monotonic)
        balancer.sync([("iris", (("iris-2", 0, (("127.0.0.1", port),)),), 0)])
        mirror = Mirror(balancer, UpstreamPool(), path=None, batch_rows=batch_rows, hold=3600.0,
                        lone_period=3600.0)
        for copy_head, body, primary in copies:
            mirror.send("iris", "iris-2", copy_head, body, primary, 1.0)
        while mirror.inflight:
            await asyncio.sleep(0.01)
        return mirror.stats["iris"].to_dict()

    return asyncio.run(asyncio.wait_for(run(), timeout=30)), calls(port) - before


def test_batched_copies_are_compared_one_by_one(shadow: int) -> None:
    copies = [v1([[1.0, 2.0]]), *(v1([[7.0, float(i)], [1.0, float(i)]]) for i in range(4)),
              *(v1([[2.0, float(i)]]) for i in range(5))]
    stats, made = mirrored(shadow, copies, batch_rows=13)
    assert made == 2, "the first copy alone, the nine others (13 rows) in one call"
    assert (stats["agree"], stats["disagree"], stats["error"]) == (6, 4, 0), "rows starting with 7 are tripled"
    assert stats["shadow_ms"] is not None and stats["primary_ms"] is not None, "the lone copy's latency pair"


def test_answers_as_a_model_server_writes_them_agree_by_bytes_or_within_the_tolerance(shadow: int) -> None:
    """Compact primary answers: equal bytes agree without parsing; a last-digit difference still agrees."""
    def compact(copy: tuple[bytes, bytes, bytes], nudge: float = 0.0) -> tuple[bytes, bytes, bytes]:
        copy_head, body, answer = copy
        doc = json.loads(answer)
        doc["predictions"][0][0] += nudge
        return copy_head, body, orjson.dumps(doc)

    copies = [compact(v1([[1.0, 2.0]])), *(compact(v1([[7.0, float(i)], [1.0, float(i)]])) for i in range(4)),
              *(compact(v1([[2.0, float(i)]]), nudge=1e-9) for i in range(5))]
    stats, made = mirrored(shadow, copies, batch_rows=13)
    assert made == 2
    assert (stats["agree"], stats["disagree"], stats["error"]) == (6, 4, 0)


def test_a_member_the_shadow_rejects_is_an_error_and_the_others_still_compare(shadow: int) -> None:
    copies = [v1([[1.0, 2.0]]), *(v1([[2.0, float(i)]]) for i in range(3)), v1([[3.0, -1.0]]),
              *(v1([[4.0, float(i)]], factor=5) for i in range(4))]
    stats, made = mirrored(shadow, copies, batch_rows=8)
    assert (stats["agree"], stats["disagree"], stats["error"]) == (4, 4, 1)
    assert made == 1 + 1 + 8, "the joined call failed on one row: its eight members were asked again alone"


def test_copies_that_cannot_be_joined_go_alone_and_each_shape_joins_its_own(shadow: int) -> None:
    wide = [v1([[1.0, 2.0, float(i)]]) for i in range(2)]
    narrow = [v1([[1.0, float(i)]]) for i in range(2)]
    flat, nested = [v2([[1.0, float(i)]]) for i in range(2)], [v2([[3.0, float(i)]], nested=True) for i in range(2)]
    traced = [v1([[5.0, 1.0]])[1:] for _ in range(2)]
    other_headers = [(head(V1, (b"x-trace", b"t-%d" % i)), body, primary) for i, (body, primary) in enumerate(traced)]
    extra = [(head(V1), b'{"instances": [[1.0, 2.0]], "parameters": {"k": 1}}', b'{"predictions": [[2.0, 4.0]]}')]
    explain = [(head(b"/v1/models/m:explain"), *v1([[1.0, 2.0]])[1:])]
    copies = [narrow[0], *wide, narrow[1], *flat, *nested, *other_headers, *extra, *explain]
    stats, made = mirrored(shadow, copies, batch_rows=9)
    assert made == 1 + 4 + 2 + 1, ("the first alone; wide, the second narrow, flat and nested each joined "
                                   "their own; each traced copy its own; other fields alone (the 404 to :explain "
                                   "is no inference call)")
    assert (stats["agree"], stats["disagree"], stats["error"]) == (len(copies) - 1, 0, 1), \
        ":explain is not a route of the shadow: an error, compared like any other copy"


@pytest.mark.parametrize(("url", "body"), [
    (V1, b'{"inputs": [[1, 2]]}'),
    (V1, b'{"instances": []}'),
    (V1, b'{"instances": [[1, 2]], "id": "a"}'),
    (V1, b'{"instances": [NaN]}'),
    (V1, b'[1, 2]'),
    (b"/v1/models/m:explain", b'{"instances": [[1, 2]]}'),
    (V2, b'{"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP64", "data": [1, 2, 3]}]}'),
    (V2, b'{"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [1]},'
         b' {"name": "b", "shape": [2], "datatype": "FP64", "data": [1, 2]}]}'),
    (V2, b'{"inputs": [{"name": "x", "shape": [1], "datatype": "BYTES", "data": [1], "extra": 1}]}'),
    (V2, b'{"inputs": [{"name": "x", "shape": [0], "datatype": "FP64", "data": []}]}'),
    (V1, b'{"instances": [[' + b"1.0," * coalesce.MAX_MEMBER_BYTES + b'1.0]]}'),
], ids=["v1-inputs", "no-rows", "v1-extra-field", "not-json-for-orjson", "not-an-object", "explain",
        "short-data", "rows-differ", "unknown-tensor-field", "zero-rows", "too-large"])
def test_bodies_that_cannot_be_concatenated_safely_are_not_members(url: bytes, body: bytes) -> None:
    assert coalesce.member_of(head(url), body) is None


def test_an_answer_without_one_row_per_joined_row_does_not_split() -> None:
    members = [m for m in (coalesce.member_of(*v1([[1.0, 2.0]])[:2]), coalesce.member_of(*v1([[3.0, 4.0]])[:2]))
               if m is not None]
    assert len(members) == 2 and members[0].key == members[1].key
    assert json.loads(coalesce.joined(members)) == {"instances": [[1.0, 2.0], [3.0, 4.0]]}
    assert coalesce.split(members, b'{"predictions": [1, 2]}') == [{"predictions": [1]}, {"predictions": [2]}]
    for answer in (b'{"predictions": [1]}', b'{"predictions": 3}', b'{"outputs": [{"name": "y", "shape": [3], '
                   b'"datatype": "FP64", "data": [1, 2, 3]}]}', b"not json", b"[]"):
        assert coalesce.split(members, answer) is None, answer


def triton_body(rows: list[list[float]], *, binary_output: bool | None) -> bytes:
    """A request body exactly as Triton's HTTP client writes it (JSON inputs)."""
    import numpy as np
    import tritonclient.http as triton

    tensor = triton.InferInput("x", [len(rows), len(rows[0])], "FP64")
    tensor.set_data_from_numpy(np.array(rows, dtype=np.float64), binary_data=False)
    outputs = None if binary_output is None else [triton.InferRequestedOutput("y", binary_data=binary_output)]
    body, json_size = triton.InferenceServerClient.generate_request_body([tensor], outputs=outputs)
    assert json_size is None, "JSON only: no binary section"
    return bytes(body)


@pytest.mark.parametrize("binary_output", [None, True], ids=["client-default", "binary-output"])
def test_triton_requests_asking_for_binary_outputs_go_alone(binary_output: bool | None) -> None:
    """Triton's client asks for binary outputs unless told otherwise; such answers never split."""
    assert coalesce.member_of(head(V2), triton_body([[1.0, 2.0]], binary_output=binary_output)) is None


def test_triton_requests_asking_for_json_outputs_join_and_split_back() -> None:
    members = [coalesce.member_of(head(V2), triton_body(rows, binary_output=False))
               for rows in ([[1.0, 2.0]], [[3.0, 4.0], [5.0, 6.0]])]
    assert all(m is not None for m in members) and members[0].key == members[1].key
    joined = json.loads(coalesce.joined(members))
    assert joined["inputs"][0]["shape"] == [3, 2] and joined["outputs"] == [{"name": "y", "parameters":
                                                                              {"binary_data": False}}]
    answer = json.dumps({"outputs": [{"name": "y", "shape": [3], "datatype": "FP64", "data": [1, 2, 3]}]})
    assert coalesce.split(members, answer.encode()) == [
        {"outputs": [{"name": "y", "shape": [1], "datatype": "FP64", "data": [1]}]},
        {"outputs": [{"name": "y", "shape": [2], "datatype": "FP64", "data": [2, 3]}]}]
