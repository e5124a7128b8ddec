"""Shadow copies joined into one predict call, then compared one by one.

The mirror runs in-process against a real model server serving `custom_models:Picky` as the shadow
(doubles V1 rows, triples rows starting with 7, refuses any call holding a negative value); each copy
comes with the answer the serving revision gave, as the proxy hands it over. The first copy of an
endpoint goes alone (it gives the latency pair); the others are sent in one turn of the event loop,
so they all wait for mates together (until `batch_rows` copies wait, or the hold ends), and every test
knows how many calls the shadow gets. The model server's own request counter counts them.
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

from neuroscale.gateway import coalesce, shadow_frames
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
    return outcomes(port, copies, batch_rows=batch_rows), calls(port) - before


def outcomes(port: int, copies: list[tuple[bytes, bytes, bytes]], *, batch_rows: int) -> dict[str, Any]:
    """The comparison a mirror publishes once `copies` to a shadow on `port` have their outcomes."""

    async def run() -> dict[str, Any]:
        balancer = Balancer(time.monotonic)
        balancer.sync([("iris", (("iris-2", 0, (("127.0.0.1", port),)),), 0)])
        mirror = Mirror(balancer, UpstreamPool(), batch_rows=batch_rows, hold=0.2, lone_period=3600.0)
        for copy_head, body, primary in copies:
            mirror.take(shadow_frames.copy_record(b"iris", b"iris-2", copy_head, body, primary, 1.0))
        while mirror.inflight:
            await asyncio.sleep(0.01)
        return mirror.stats["iris"].to_dict()

    return asyncio.run(asyncio.wait_for(run(), timeout=30))


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


def test_latencies_are_kept_in_pairs_only_for_copies_the_shadow_answered() -> None:
    """A copy sent alone to a shadow that is down times neither side: the two latencies stay on the same requests."""
    stats = outcomes(free_port(), [v1([[1.0, 2.0]]), v1([[2.0, 1.0]])], batch_rows=8)
    assert (stats["error"], stats["primary_ms"], stats["shadow_ms"]) == (2, None, None)


def test_a_member_the_shadow_rejects_is_an_error_and_the_others_still_compare(shadow: int) -> None:
    copies = [v1([[1.0, 2.0]]), *(v1([[2.0, float(i)]]) for i in range(3)), v1([[3.0, -1.0]]),
              *(v1([[4.0, float(i)]], factor=5) for i in range(4))]
    stats, made = mirrored(shadow, copies, batch_rows=8)
    assert (stats["agree"], stats["disagree"], stats["error"]) == (4, 4, 1)
    assert made == 1 + 1 + 8, "the joined call failed on one row: its eight members were asked again alone"


def test_copies_nested_past_what_orjson_writes_are_sent_as_they_came_and_counted(shadow: int) -> None:
    """orjson reads 1,024 levels and writes 255: a V1 row or a V2 field between the two cannot be re-written
    into a joined call (nor its key), so the copy goes alone, in its own bytes, and is counted like any other."""
    deep = b"[" * 300 + b"1.0" + b"]" * 300
    deep_v1 = (head(V1), b'{"instances": [' + deep + b"]}", b'{"predictions": [[2.0]]}')
    x, body, answer = v2([[1.0, 2.0]])
    deep_v2 = (x, body[:-1] + b', "parameters": {"p": ' + deep + b"}}", answer)
    copies = [v1([[1.0]]), deep_v1, *(v1([[float(i)]]) for i in range(3)), deep_v2, v2([[3.0, 4.0]])]
    stats = outcomes(shadow, copies, batch_rows=100)
    assert sum(stats[k] for k in ("agree", "disagree", "error", "skipped")) == len(copies), stats
    assert stats["agree"] >= 4, stats


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


def test_a_mixed_batch_of_v1_and_v2_copies_joins_each_protocol_apart(shadow: int) -> None:
    copies = [v1([[1.0, 2.0]]), *(copy for i in range(3) for copy in (v1([[2.0, float(i)]]), v2([[3.0, float(i)]])))]
    stats, made = mirrored(shadow, copies, batch_rows=100)
    assert made == 1 + 2, "the first alone, then one V1 call and one V2 call"
    assert (stats["agree"], stats["disagree"], stats["error"]) == (7, 0, 0)


def test_a_body_that_is_not_json_goes_alone_and_its_batch_mates_still_join(shadow: int) -> None:
    """Bodies are read on their own: a broken or crafted one cannot shift what its neighbours ask."""
    good = [v1([[2.0, float(i)]]) for i in range(4)]
    crafted = (head(V1), b'{"instances": [[7.0, 1.0]]}, {"instances": [[7.0, 2.0]]}', b'{"predictions": [[14, 2]]}')
    copies = [v1([[1.0, 2.0]]), good[0], (head(V1), b'{"instances": [[1.0,', b"{}"), good[1], crafted, *good[2:]]
    stats, made = mirrored(shadow, copies, batch_rows=100)
    assert made == 1 + 1 + 2, "the first alone, the four good copies in one call, the two broken ones alone"
    assert (stats["agree"], stats["disagree"], stats["error"]) == (5, 0, 2), "the shadow refuses both broken bodies"


@pytest.mark.parametrize(("url", "body"), [
    (V1, b'{"inputs": [[1, 2]]}'),
    (V1, b'{"instances": []}'),
    (V1, b'{"instances": [[1, 2]], "id": "a"}'),
    (V1, b'{"instances": [NaN]}'),
    (V1, b'[1, 2]'),
    (V1, b'{"instances": [[1, 2]]}, {"instances": [[3, 4]]}'),
    (b"/v1/models/m:explain", b'{"instances": [[1, 2]]}'),
    (V2, b'{"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP64", "data": [1, 2, 3]}]}'),
    (V2, b'{"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [1]},'
         b' {"name": "b", "shape": [2], "datatype": "FP64", "data": [1, 2]}]}'),
    (V2, b'{"inputs": [{"name": "x", "shape": [1], "datatype": "BYTES", "data": [1], "extra": 1}]}'),
    (V2, b'{"inputs": [{"name": "x", "shape": [0], "datatype": "FP64", "data": []}]}'),
    (V1, b'{"instances": [[' + b"1.0," * coalesce.MAX_MEMBER_BYTES + b'1.0]]}'),
], ids=["v1-inputs", "no-rows", "v1-extra-field", "not-json-for-orjson", "not-an-object", "two-bodies-in-one",
        "explain", "short-data", "rows-differ", "unknown-tensor-field", "zero-rows", "too-large"])
def test_bodies_that_cannot_be_concatenated_safely_go_alone(url: bytes, body: bytes) -> None:
    good = v1([[1.0, 2.0]])[1]
    calls, alone = coalesce.plan([head(V1), head(url), head(V1)], [good, body, good], max_rows=512)
    assert alone == [1] and [call.copies for call in calls] == [[0, 2]]


def test_calls_hold_at_most_max_rows_unless_one_copy_has_more() -> None:
    bodies = [json.dumps({"instances": [[1.0, float(i)]] * rows}).encode() for i, rows in enumerate([2, 2, 1, 5, 1])]
    calls, alone = coalesce.plan([head(V1)] * 5, bodies, max_rows=4)
    assert alone == [] and [(call.copies, call.total) for call in calls] == [([0, 1], 4), ([2], 1), ([3], 5), ([4], 1)]


def test_calls_hold_at_most_max_bytes_of_bodies_unless_one_copy_has_more() -> None:
    bodies = [json.dumps({"instances": [[1.0, float(i)]] * rows}).encode() for i, rows in enumerate([1, 1, 9, 1])]
    calls, alone = coalesce.plan([head(V1)] * 4, bodies, max_rows=512, max_bytes=len(bodies[0]) * 2)
    assert alone == [] and [call.copies for call in calls] == [[0, 1], [2], [3]]
    assert all(call.size <= len(bodies[0]) * 2 or len(call.copies) == 1 for call in calls)


def planned(*copies: tuple[bytes, bytes, bytes]) -> coalesce.Call:
    calls, alone = coalesce.plan([c[0] for c in copies], [c[1] for c in copies], max_rows=512)
    assert alone == [] and len(calls) == 1
    return calls[0]


def test_an_answer_without_one_row_per_joined_row_does_not_split() -> None:
    call = planned(v1([[1.0, 2.0]]), v1([[3.0, 4.0]]))
    assert json.loads(call.body()) == {"instances": [[1.0, 2.0], [3.0, 4.0]]}
    primaries = [b'{"predictions": [1]}', b'{"predictions": [2]}']
    assert coalesce.compare(call, b'{"predictions": [1, 2]}', primaries) == [True, True]
    for answer in (b'{"predictions": [1]}', b'{"predictions": 3}', b'{"outputs": [{"name": "y", "shape": [3], '
                   b'"datatype": "FP64", "data": [1, 2, 3]}]}', b"not json", b"[]"):
        assert coalesce.compare(call, answer, primaries) is None, answer


@pytest.mark.parametrize(("primaries", "agreed"), [
    ([b'{"predictions": [0, 1]}', b'{"predictions": [2]}', b'{"predictions": [3]}'], [True, True, True]),
    ([b'{"predictions": [0, 1]}', b'{"predictions": [5]}', b'{"predictions": [3]}'], [True, False, True]),
    ([b'{"predictions": [0, 1.0000000001]}', b'{"predictions": [2]}', b'{"predictions": [3]}'], [True, True, True]),
    ([b'{"predictions": [0, true]}', b'{"predictions": [2]}', b'{"predictions": [3]}'], [False, True, True]),
    ([b'{"predictions": [0, 1, 2]}', b'{"predictions": []}', b'{"predictions": [3]}'], [False, False, True]),
    ([b'{"predictions": [0, 1]}', b"not json", b'{"outputs": []}'], [True, False, False]),
], ids=["all-equal", "one-differs", "within-tolerance", "true-is-not-1", "rows-shifted", "not-an-answer"])
def test_disagreements_are_found_per_copy_when_the_joined_answers_differ(primaries: list[bytes],
                                                                          agreed: list[bool]) -> None:
    call = planned(v1([[1.0, 2.0], [3.0, 4.0]]), v1([[5.0, 6.0]]), v1([[7.0, 8.0]]))
    assert coalesce.compare(call, b'{"predictions": [0, 1, 2, 3]}', primaries) == agreed


def test_v2_answers_are_compared_per_output_by_name() -> None:
    call = planned(v2([[1.0, 2.0]]), v2([[3.0, 4.0], [5.0, 6.0]]))
    answer = orjson.dumps({"outputs": [{"name": "p", "shape": [3, 2], "datatype": "FP64", "data": [1, 2, 3, 4, 5, 6]},
                                       {"name": "c", "shape": [3], "datatype": "INT64", "data": [7, 8, 9]}]})

    def primary(p: list[int], c: list[int]) -> bytes:
        return orjson.dumps({"id": "r", "outputs": [{"name": "c", "shape": [len(c)], "data": c},
                                                    {"name": "p", "shape": [len(c), 2], "data": p}]})

    assert coalesce.compare(call, answer, [primary([1, 2], [7]), primary([3, 4, 5, 6], [8, 9])]) == [True, True]
    assert coalesce.compare(call, answer, [primary([1, 2], [7]), primary([3, 4, 5, 0], [8, 9])]) == [True, False]
    renamed = orjson.dumps({"outputs": [{"name": "q", "shape": [1, 2], "data": [1, 2]},
                                        {"name": "c", "shape": [1], "data": [7]}]})
    assert coalesce.compare(call, answer, [renamed, primary([3, 4, 5, 6], [8, 9])]) == [False, True]


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
    calls, alone = coalesce.plan([head(V2)], [triton_body([[1.0, 2.0]], binary_output=binary_output)], max_rows=512)
    assert (calls, alone) == ([], [0])


def test_triton_requests_asking_for_json_outputs_join_and_split_back() -> None:
    call = planned(*((head(V2), triton_body(rows, binary_output=False), b"") for rows in ([[1.0, 2.0]],
                                                                                       [[3.0, 4.0], [5.0, 6.0]])))
    joined = json.loads(call.body())
    assert joined["inputs"][0]["shape"] == [3, 2] and joined["outputs"] == [{"name": "y", "parameters":
                                                                              {"binary_data": False}}]
    answer = json.dumps({"outputs": [{"name": "y", "shape": [3], "datatype": "FP64", "data": [1, 2, 3]}]})
    primaries = [json.dumps({"outputs": [{"name": "y", "shape": [len(d)], "datatype": "FP64", "data": d}]}).encode()
                 for d in ([1], [2, 3])]
    assert coalesce.compare(call, answer.encode(), primaries) == [True, True]


def test_a_joined_v2_answer_repeating_an_output_name_agrees_with_no_copy() -> None:
    """Keyed by name, the shadow's second `p` once replaced its first and both copies "agreed"."""
    call = planned(v2([[1.0, 2.0]]), v2([[3.0, 4.0]]))
    primaries = [orjson.dumps({"outputs": [{"name": "p", "shape": [1], "datatype": "INT64", "data": [row]}]})
                 for row in (7, 8)]
    doubled = orjson.dumps({"outputs": [{"name": "p", "shape": [2], "datatype": "INT64", "data": [0, 0]},
                                        {"name": "p", "shape": [2], "datatype": "INT64", "data": [7, 8]}]})
    assert coalesce.compare(call, doubled, primaries) is None, "it does not split: each copy is compared alone"


def test_a_new_shadow_revision_starts_its_comparison_from_nothing(shadow: int) -> None:
    """The canary shadowed is replaced by a newer one mid-run: the newer one's agreement counts only its own
    answers (once, the endpoint's counts went on under the new revision's name)."""

    async def run() -> dict[str, Any]:
        balancer = Balancer(time.monotonic)
        mirror = Mirror(balancer, UpstreamPool(), batch_rows=64, hold=0.05, lone_period=3600.0)
        for revision, factor in ((b"iris-2", 3.0), (b"iris-3", 2.0)):  # the shadow doubles: 3x disagrees
            balancer.sync([("iris", ((revision.decode(), 0, (("127.0.0.1", shadow),)),), 0)])
            for i in range(5):
                copy_head, body, primary = v1([[1.0, float(i)]], factor)
                mirror.take(shadow_frames.copy_record(b"iris", revision, copy_head, body, primary, 1.0))
            while mirror.inflight:
                await asyncio.sleep(0.01)
        return mirror.stats["iris"].to_dict()

    stats = asyncio.run(asyncio.wait_for(run(), timeout=30))
    assert stats["revision"] == "iris-3"
    assert (stats["agree"], stats["disagree"], stats["agreement"]) == (5, 0, 1.0), stats
