"""The shadow worker's C module against Python's own rules, on inputs it did not write.

`_shadowjoin` may only be faster than the Python path, never different: every copy it joins must ask the
shadow exactly its own rows, every verdict it gives must be `agreement.same`'s, and whatever it cannot
decide must come back to Python. Hypothesis writes the bodies, primary answers and shadow answers — JSON as
other clients and runtimes write it (spacing, escapes, non-ASCII, big integers, floats at the tolerance's
edge, objects, nesting) and bytes that are not JSON at all — and each property is checked copy by copy.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neuroscale.agreement import ABSOLUTE, RELATIVE, outputs_of, same
from neuroscale.gateway import _shadowjoin, coalesce, shadow_frames
from neuroscale.gateway.upstream import upstream_head

HEAD = upstream_head(method=b"POST", url=b"/v1/models/iris:predict", host=b"127.0.0.1",
                     headers=[(b"content-type", b"application/json")])
MAX_MEMBER = coalesce.MAX_MEMBER_BYTES
FUZZ = settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(st.integers(-(10 ** 20), 10 ** 20), st.floats(allow_nan=False, allow_infinity=False),
                    st.booleans(), st.none(), st.text(max_size=4))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=3), inner, max_size=2), max_leaves=6)


def written(value: Any, style: int) -> bytes:
    """JSON as different writers write it: compact, spaced, indented, ASCII-escaped."""
    if style == 0:
        return json.dumps(value, separators=(",", ":")).encode()
    return json.dumps(value, ensure_ascii=style == 3, indent=2 if style == 2 else None).encode()


@st.composite
def nearby(draw: st.DrawFn, value: Any) -> Any:
    """A value the same as `value`, or one that differs by type, by a little (around the tolerance) or a lot."""
    choice = draw(st.integers(0, 5))
    if choice == 0:
        return draw(values)
    if isinstance(value, list):
        return [draw(nearby(v)) for v in value] if choice < 4 else value[:-1]
    if isinstance(value, float) and choice < 4:
        scale = draw(st.sampled_from([0.0, 1e-7, 9e-7, 1e-6, 1.1e-6, 1e-3]))
        return value * (1 + scale) + draw(st.sampled_from([0.0, 5e-10, 2e-9]))
    if isinstance(value, bool) or value is None:
        return value if choice < 4 else int(bool(value))
    if isinstance(value, int) and choice == 4:
        return float(value)
    return value


@st.composite
def copies(draw: st.DrawFn) -> list[tuple[bytes, bytes, list[Any]]]:
    """Copies (body, primary answer, the shadow's predictions for its rows, as orjson reads an answer: integers
    past 64 bits are floats) as a batch of them arrives."""
    found = []
    width = draw(st.integers(1, 3))
    for _ in range(draw(st.integers(1, 12))):
        rows = draw(st.lists(st.lists(values, min_size=width, max_size=width) | scalars, min_size=1, max_size=4))
        body = written({"instances": rows}, draw(st.integers(0, 3)))
        if draw(st.integers(0, 9)) == 0:
            body = draw(st.sampled_from([body + b"x", body + b", {}", body[:-1], b"\xef\xbb\xbf" + body,
                                         body.replace(b"instances", b"in\\u0073tances", 1), b"[]"]))
        shadow = orjson.loads(json.dumps(draw(st.lists(values, min_size=len(rows), max_size=len(rows)))))
        primary: Any = {"predictions": draw(nearby(shadow))}
        if draw(st.integers(0, 7)) == 0:
            primary = draw(st.sampled_from([{"predictions": shadow, "model": "m"}, {"outputs": shadow}, shadow]))
        text = written(primary, draw(st.integers(0, 3)))
        if draw(st.integers(0, 15)) == 0:
            text = draw(st.sampled_from([text[:-1], text + b"}", text.replace(b"predictions", b"pr\\u0065dictions", 1),
                                         text[:1] + b'"predictions": 1, ' + text[1:]]))
        found.append((body, text, shadow))
    return found


def framed(batch: list[tuple[bytes, bytes, list[Any]]]) -> tuple[bytes, list[int]]:
    """The records the gateway would write for the batch, and where each starts."""
    records = [shadow_frames.copy_record(b"iris", b"iris-2", HEAD, body, primary, 1.0) for body, primary, _ in batch]
    starts = [sum(len(r) for r in records[:i]) for i in range(len(records))]
    return b"".join(records), starts


def python_verdict(primary: bytes, part: list[Any]) -> bool:
    """What the Python path says of one copy: `same` on the primary's outputs (none: never the same)."""
    try:
        wanted = outputs_of(orjson.loads(primary))
    except orjson.JSONDecodeError:
        return False
    return wanted is not None and same(wanted, part)


def native_verdict(data: bytes, at: int, stop: int, predictions: list[Any]) -> bool | None:
    """What the C module says of the copy in data[at:stop] (None: it leaves the copy to Python)."""
    found = _shadowjoin.compare_v1(data, at, stop, MAX_MEMBER, orjson.dumps(predictions), len(predictions),
                                   RELATIVE, ABSOLUTE)
    assert found is not None
    agreed, disagreed, undecided = found
    assert agreed + disagreed + len(undecided) == 1
    return None if undecided else bool(agreed)


@FUZZ
@given(copies(), st.integers(1, 9), st.integers(1, 400))
def test_joined_calls_ask_each_copy_exactly_its_own_rows(batch: list[tuple[bytes, bytes, list[Any]]],
                                                          max_rows: int, max_bytes: int) -> None:
    data, starts = framed(batch)
    calls, others = _shadowjoin.plan_v1(data, 0, len(data), max_rows, MAX_MEMBER, max_bytes)
    joined: list[int] = []
    for rows_joined, first, stop, rows, members in calls:
        offsets = _shadowjoin.members_v1(data, first, stop, MAX_MEMBER)
        assert len(offsets) == members
        mine = [orjson.loads(batch[starts.index(at)][0])["instances"] for at in offsets]
        assert orjson.loads(b'{"instances":[' + rows_joined + b"]}")["instances"] == [r for m in mine for r in m]
        assert rows == sum(map(len, mine)) and (rows <= max_rows or members == 1)
        assert len(rows_joined) <= max_bytes or members == 1
        shapes = {coalesce._v1_shape({"instances": m})[1] for m in mine}  # type: ignore[index]
        assert len(shapes) == 1, "one row signature per call, as coalesce keys them"
        joined += offsets
    assert sorted(joined + others) == starts, "every copy is joined once or left to Python"
    for at in joined:  # what C joins, Python would have joined too (a V1 body, read on its own)
        assert coalesce._v1_shape(orjson.loads(batch[starts.index(at)][0])) is not None


@FUZZ
@given(copies())
def test_every_verdict_is_the_python_rules_verdict(batch: list[tuple[bytes, bytes, list[Any]]]) -> None:
    data, starts = framed(batch)
    calls, _ = _shadowjoin.plan_v1(data, 0, len(data), 1000, MAX_MEMBER, coalesce.MAX_CALL_BYTES)
    for _, first, stop, rows, _ in calls:
        offsets = _shadowjoin.members_v1(data, first, stop, MAX_MEMBER)
        answer = [p for at in offsets for p in batch[starts.index(at)][2]]
        assert len(answer) == rows
        counted = _shadowjoin.compare_v1(data, first, stop, MAX_MEMBER, orjson.dumps(answer), rows, RELATIVE, ABSOLUTE)
        assert counted is not None
        row, agreed, disagreed, left = 0, 0, 0, []
        for at in offsets:
            index = starts.index(at)
            _, primary, shadow = batch[index]
            stop_at = starts[index + 1] if index + 1 < len(starts) else len(data)
            verdict = native_verdict(data, at, stop_at, shadow)
            if verdict is None:
                left.append((at, row, len(shadow)))
            else:
                assert verdict == python_verdict(primary, shadow), (primary, shadow)
                agreed, disagreed = agreed + verdict, disagreed + (not verdict)
            row += len(shadow)
        assert counted == (agreed, disagreed, left), "the call's verdicts are its copies' verdicts"


@pytest.mark.parametrize(("primary", "shadow", "verdict"), [
    (b'{"predictions": [1, 2]}', [1, 2], True),
    (b'{"predictions":[1,2]}', [1, 3], False),
    (b'{"predictions": [1.0]}', [1], True),  # an int and a float: within the tolerance
    (b'{"predictions": [-0]}', [0], True),
    (b'{"predictions": [0.1]}', [0.1 * (1 + 9e-7)], True),
    (b'{"predictions": [0.1]}', [0.1 * (1 + 2e-6)], False),
    (b'{"predictions": [1e-10]}', [0.0], True),  # the absolute tolerance near zero
    (b'{"predictions": [true]}', [1], False),  # a boolean is only itself
    (b'{"predictions": [null]}', [None], True),
    (b'{"predictions": ["a"]}', ["a"], True),
    (b'{"predictions": ["\\u0061"]}', ["a"], None),  # escaped: Python decides
    (b'{"predictions": [{"a": 1}]}', [{"a": 1}], None),  # objects: Python decides
    (b'{"predictions": [{"a": 1}]}', [1], False),
    (b'{"predictions": [18446744073709551615]}', [18446744073709551615], None),  # past 18 digits
    (b'{"predictions": [123456789012345678901]}', [1.2345678901234568e20], True),  # orjson reads it as a float
    (b'{"predictions": [[1, [2.5]]]}', [[1, [2.5]]], True),
    (b'{"predictions": [[1, 2]]}', [[1, 2, 3]], False),
    (b'{"predictions": [1, 2, 3]}', [1], False),  # one row asked, three answered by the primary
    (b'{"predictions": 1}', [1], None),
    (b'{"model": "m", "predictions": [1]}', [1], True),
    (b'{"predictions": [1], "predictions": [2]}', [2], None),  # duplicate keys: orjson keeps the last
    (b'{"predictions": [1]} x', [1], None),  # not JSON: Python says it disagrees
    (b'{"predictions": ["\xc3\xa9"]}', ["\u00e9"], None),
])
def test_verdicts_on_answers_as_runtimes_write_them(primary: bytes, shadow: list[Any], verdict: bool | None) -> None:
    body = orjson.dumps({"instances": [[0.0]] * len(shadow)})
    data = shadow_frames.copy_record(b"iris", b"iris-2", HEAD, body, primary, 1.0)
    assert native_verdict(data, 0, len(data), shadow) is verdict
    if verdict is not None:
        assert python_verdict(primary, shadow) is verdict


@pytest.mark.parametrize("body", [
    b'{"instances": []}', b'{"instances": [[1, 2]], "id": "a"}', b'{"instances": [NaN]}', b"[1, 2]",
    b'{"instances": [[1, 2]]}, {"instances": [[3, 4]]}', b'{"instances": [{"a": 1}]}', b'{"instances": [[1, 2]]',
    b'{"instances": [[1, 2]]}\x00', b'{"instances": [[1,2]],}', b'{"instances": [01]}', b'{"instances": [1.]}',
    b'{"instances": [12345678901234567890]}',  # orjson reads it as a float: Python keys that row
    b'{"instances": ["\x01"]}', b'{"instances": ["\\ud800"]}', b'{"instances": ["\xc3\xa9"]}',
    b'{"instances": ' + b"[" * 70 + b"]" * 70 + b"}", b'{"instances": [[' + b"1.0," * MAX_MEMBER + b"1.0]]}",
])
def test_bodies_outside_the_strict_subset_are_left_to_python(body: bytes) -> None:
    data = shadow_frames.copy_record(b"iris", b"iris-2", HEAD, body, b'{"predictions": [1]}', 1.0)
    assert _shadowjoin.plan_v1(data, 0, len(data), 512, MAX_MEMBER, coalesce.MAX_CALL_BYTES) == ([], [0])


@FUZZ
@given(st.lists(st.tuples(st.sampled_from([b"a", b"b"]), st.sampled_from([HEAD, b"POST /x HTTP/1.1\r\n"]),
                          st.integers(0, 3)), max_size=12), st.integers(0, 40))
def test_runs_group_consecutive_copies_and_keep_every_tally(items: list[tuple[bytes, bytes, int]], cut: int) -> None:
    records = [shadow_frames.tally_record(endpoint, b"r", tally) if tally == 3 else
               shadow_frames.copy_record(endpoint, b"r", head, b"{}", b"{}", 1.0) for endpoint, head, tally in items]
    data = b"".join(records)
    kept = max(len(data) - cut, 0)
    found, used = _shadowjoin.runs(data[:kept])
    complete = [(item, r) for i, (item, r) in enumerate(zip(items, records)) if sum(map(len, records[:i + 1])) <= kept]
    assert used == sum(len(r) for _, r in complete)
    assert sum(c for kind, *_, c in found if kind == shadow_frames.COPY) == sum(t != 3 for (*_, t), _ in complete)
    assert sum(c for kind, *_, c in found if kind == shadow_frames.TALLY) == sum(t == 3 for (*_, t), _ in complete) * 3
    kinds = [(tally == 3, (endpoint, head)) for (endpoint, head, tally), _ in complete]
    stretches = sum(not tally and (i == 0 or kinds[i - 1] != (False, key)) for i, (tally, key) in enumerate(kinds))
    assert sum(f[0] == shadow_frames.COPY for f in found) == stretches, "a run per stretch of one endpoint and head"
    at = 0
    for kind, endpoint, _, head, start, stop, count in found:
        assert start == at and stop > start
        at = stop
        if kind == shadow_frames.TALLY:
            assert count == 3 and head == b""
    assert at == used


@FUZZ
@given(st.binary(max_size=400), st.binary(max_size=200))
def test_bytes_that_are_not_records_or_json_are_refused_without_a_crash(data: bytes, answer: bytes) -> None:
    found, used = _shadowjoin.runs(data)
    assert 0 <= used <= len(data)
    record = shadow_frames.copy_record(b"e", b"r", HEAD, data, data[:50], math.pi)
    calls, others = _shadowjoin.plan_v1(record, 0, len(record), 512, MAX_MEMBER, coalesce.MAX_CALL_BYTES)
    assert len(calls) + len(others) == 1
    assert _shadowjoin.compare_v1(record, 0, len(record), MAX_MEMBER, answer, 1, RELATIVE, ABSOLUTE) in (
        None, (0, 0, []), (1, 0, []), (0, 1, []), (0, 0, [(0, 0, 1)]))
