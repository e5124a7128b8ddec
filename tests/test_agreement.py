"""When two answers agree: classes exactly, numbers within the stated tolerance, V1 and V2 bodies."""

from __future__ import annotations

import pytest

from neuroscale.agreement import agree, duplicate_output, latency_quantiles, outputs_of, same


@pytest.mark.parametrize(("left", "right", "expected"), [
    ({"predictions": [1, 0]}, {"predictions": [1, 0]}, True),
    ({"predictions": [1, 0]}, {"predictions": [1, 1]}, False),
    ({"predictions": ["cat"]}, {"predictions": ["dog"]}, False),
    ({"predictions": [0.123456789]}, {"predictions": [0.1234567891]}, True),
    ({"predictions": [0.5]}, {"predictions": [0.5001]}, False),
    ({"predictions": [1]}, {"predictions": [1.0]}, True),
    ({"predictions": [True]}, {"predictions": [1]}, False),
    ({"predictions": [float("nan")]}, {"predictions": [float("nan")]}, True),
    ({"predictions": [[1, 2]]}, {"predictions": [[1, 2, 3]]}, False),
    ({"outputs": [{"name": "p", "data": [1, 2]}]}, {"outputs": [{"name": "p", "data": [1, 2]}]}, True),
    ({"outputs": [{"name": "p", "data": [1, 2]}]}, {"outputs": [{"name": "q", "data": [1, 2]}]}, False),
    ({"error": "x"}, {"error": "x"}, False),
    ("text", "text", False),
])
def test_agree(left: object, right: object, expected: bool) -> None:
    assert agree(left, right) is expected
    assert agree(right, left) is expected


def test_outputs_of_reads_both_protocols() -> None:
    assert outputs_of({"predictions": [1]}) == [1]
    assert outputs_of({"outputs": [{"name": "a", "data": [0.5]}, "junk"]}) == {"a": [0.5]}
    assert outputs_of([1, 2]) is None
    assert same({"a": [1.0]}, {"a": [1.0000000001]}) and not same({"a": 1}, {"b": 1})


def test_latency_quantiles_are_nearest_rank() -> None:
    assert latency_quantiles([]) is None
    assert latency_quantiles([3.0]) == {"p50": 3.0, "p99": 3.0}
    samples = [float(n) for n in range(200, 0, -1)]  # 1..200 ms, unordered
    assert latency_quantiles(samples) == {"p50": 101.0, "p99": 199.0}
    assert latency_quantiles([0.12345, 0.5]) == {"p50": 0.5, "p99": 0.5}


def test_answers_nested_past_the_recursion_limit_are_compared_not_raised() -> None:
    import sys

    def nested(depth: int, leaf: object) -> object:
        value = leaf
        for _ in range(depth):
            value = [value]
        return value

    depth = sys.getrecursionlimit() + 100
    assert agree({"predictions": nested(depth, 1.0)}, {"predictions": nested(depth, 1.0000000001)})
    assert not agree({"predictions": nested(depth, 1)}, {"predictions": nested(depth, 2)})


def test_v2_outputs_named_alike_never_collapse_into_one() -> None:
    """The Open Inference Protocol names each output once: an answer repeating a name is malformed, so it agrees
    with nothing (once, keyed by name, the second output silently replaced the first)."""
    one = {"outputs": [{"name": "p", "shape": [2], "datatype": "INT64", "data": [1, 1]}]}
    two = {"outputs": [{"name": "p", "shape": [2], "datatype": "INT64", "data": [0, 0]},
                       {"name": "p", "shape": [2], "datatype": "INT64", "data": [1, 1]}]}
    assert duplicate_output(two) == "p" and duplicate_output(one) is None
    assert duplicate_output({"predictions": [1]}) is None and duplicate_output("text") is None
    assert outputs_of(two) is None
    assert not agree(one, two) and not agree(two, one) and not agree(two, two)
