"""When two models' answers to the same request agree, and how their latencies compare: one rule for
prediction diffs and shadow traffic.

Answers are KServe V1 (`{"predictions": [...]}`) or Open Inference Protocol V2
(`{"outputs": [{"name", "data", ...}]}`) bodies. Classes, labels and other
exact values must be equal; floating-point numbers agree within a relative
tolerance of 1e-6 (absolute 1e-9 near zero), so a retrained model that only
moves probabilities in the last digits is not reported as a change. A V2
answer that names two outputs alike breaks the protocol (output names are
unique) and agrees with nothing: keyed by name, one would hide the other. Pure.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

RELATIVE = 1e-6
ABSOLUTE = 1e-9


def _v2_outputs(answer: Any) -> list[dict[str, Any]] | None:
    """A V2 answer's output tensors (the objects of `outputs`), None for any other body."""
    if not isinstance(answer, dict) or "predictions" in answer or not isinstance(answer.get("outputs"), list):
        return None
    return [o for o in answer["outputs"] if isinstance(o, dict)]


def duplicate_output(answer: Any) -> str | None:
    """The first output name a V2 answer repeats, or None (always None for other bodies)."""
    seen: set[str] = set()
    for output in _v2_outputs(answer) or ():
        name = str(output.get("name"))
        if name in seen:
            return name
        seen.add(name)
    return None


def outputs_of(answer: Any) -> Any:
    """What to compare in an answer body: V1 predictions, or V2 outputs' data by name; None if neither, or
    if a V2 answer repeats an output name."""
    if isinstance(answer, dict) and "predictions" in answer:
        return answer["predictions"]
    outputs = _v2_outputs(answer)
    if outputs is None or duplicate_output(answer) is not None:
        return None
    return {str(o.get("name")): o.get("data") for o in outputs}


def same(left: Any, right: Any) -> bool:
    """Deep equality, with floats compared within the tolerance (ints and bools exactly).

    Walked with a stack, not recursion: an answer nested deeper than Python's recursion limit (a
    misbehaving model's) is compared like any other instead of raising mid-comparison.
    """
    pending = [(left, right)]
    while pending:
        one, other = pending.pop()
        if isinstance(one, bool) or isinstance(other, bool):
            alike = one is other
        elif isinstance(one, float) or isinstance(other, float):
            alike = _close(one, other)
        elif isinstance(one, list) and isinstance(other, list):
            alike = len(one) == len(other)
            pending.extend(zip(one, other) if alike else ())
        elif isinstance(one, dict) and isinstance(other, dict):
            alike = one.keys() == other.keys()
            pending.extend((one[key], other[key]) for key in one if alike)
        else:
            alike = bool(one == other)
        if not alike:
            return False
    return True


def _close(left: Any, right: Any) -> bool:
    if not isinstance(left, (int, float)) or not isinstance(right, (int, float)):
        return False
    if math.isnan(left) or math.isnan(right):
        return math.isnan(left) and math.isnan(right)
    return math.isclose(left, right, rel_tol=RELATIVE, abs_tol=ABSOLUTE)


def latency_quantiles(samples: Iterable[float]) -> dict[str, float] | None:
    """p50 and p99 of latencies in ms (nearest rank, rounded to µs); None without samples."""
    ordered = sorted(samples)
    if not ordered:
        return None
    return {name: round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 3) for name, q in (("p50", 0.5),
                                                                                                ("p99", 0.99))}


def agree(left_answer: Any, right_answer: Any) -> bool:
    """Do two answer bodies carry the same outputs (None outputs never agree)?"""
    left, right = outputs_of(left_answer), outputs_of(right_answer)
    return left is not None and right is not None and same(left, right)
