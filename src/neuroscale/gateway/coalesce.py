"""Copies of inference requests joined into one predict call, and its answer split back per copy.

The shadow mirror (`gateway.shadow`) compares every copy's answer with the primary's, but need
not ask for each one separately: a model server answers one call of 30 rows for little more
than one of 2. Only bodies that concatenate without changing their meaning are joined:

* KServe V1 `{"instances": [...]}` on `…:predict` (no other field);
* Open Inference Protocol V2 on `…/infer` whose inputs are plain JSON tensors (`name`, `shape`,
  `datatype`, `data` flat or nested by rows, optional `parameters`), all with the same number
  of rows, asking for JSON outputs (not `binary_data_output` / `binary_data`); the request's `outputs` and `parameters` are kept, `id` is dropped (it is echoed,
  never compared);

and only with copies of the same request head (method, URL, host, headers:
`upstream.upstream_head`), protocol and row shape (the `key`). Anything else — binary tensors,
V1 `inputs`, `:explain`, values orjson does not read — is sent alone, and so is a body over
`MAX_MEMBER_BYTES`: joining saves the per-call cost, which a large body hardly pays, and it
bounds a joined call (the mirror's 512 rows: at most 2 MiB). An answer splits back when every
output has one row per joined row (V1 `predictions`, V2 `outputs` by their first dimension);
otherwise the caller asks for each copy alone. Inference is pure (the gateway already retries
it), so a row answers the same alone or in a batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

MAX_MEMBER_BYTES = 4096
_INPUT_FIELDS = frozenset({"name", "shape", "datatype", "data", "parameters"})
_V2_FIELDS = frozenset({"inputs", "outputs", "parameters", "id"})


@dataclass(slots=True)  # not frozen: one is built per copy, and a frozen __init__ costs twice as much
class Member:
    """One copy, read: its rows and what joins it to others (`key`)."""

    key: tuple[Any, ...]
    rows: int
    doc: dict[str, Any]
    body: bytes  # as received: what a member sent alone carries


def member_of(head: bytes, body: bytes) -> Member | None:
    """The copy (its upstream head and body) as a batch member, or None when it must be sent alone."""
    if len(body) > MAX_MEMBER_BYTES:
        return None
    path = head.split(b" ", 2)[1].partition(b"?")[0]
    v1 = path.endswith(b":predict")
    if not (v1 or path.endswith(b"/infer")):
        return None
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict):
        return None
    shape = _v1_shape(doc) if v1 else _v2_shape(doc)
    if shape is None:
        return None
    rows, signature = shape
    return Member((head, v1, signature), rows, doc, body)


def _v1_shape(doc: dict[str, Any]) -> tuple[int, Any] | None:
    instances = doc.get("instances")
    if len(doc) != 1 or not isinstance(instances, list) or not instances:
        return None
    first = instances[0]
    row = len(first) if isinstance(first, list) else tuple(first) if isinstance(first, dict) else type(first).__name__
    return len(instances), row


def _v2_shape(doc: dict[str, Any]) -> tuple[int, Any] | None:
    inputs = doc.get("inputs")
    if not doc.keys() <= _V2_FIELDS or not isinstance(inputs, list) or not inputs or _binary_answer(doc):
        return None
    rows: set[int] = set()
    signature: list[Any] = [orjson.dumps(doc.get("outputs")), orjson.dumps(doc.get("parameters"))]
    for tensor in inputs:
        if not isinstance(tensor, dict) or not tensor.keys() <= _INPUT_FIELDS:
            return None
        layout = _layout(tensor.get("shape"), tensor.get("data"))
        if layout is None:
            return None
        rows.add(tensor["shape"][0])
        signature.append((tensor.get("name"), tensor.get("datatype"), tuple(tensor["shape"][1:]), layout,
                          orjson.dumps(tensor.get("parameters"))))
    if len(rows) != 1 or not (count := rows.pop()):
        return None
    return count, tuple(signature)


def _binary_answer(doc: dict[str, Any]) -> bool:
    """Does the request ask for binary outputs (Triton's client does by default)? Such an answer never splits,
    so joining would cost a joined call and then one call per copy."""
    wanted = [doc.get("parameters"), *(o.get("parameters") for o in doc.get("outputs") or () if isinstance(o, dict))]
    return any(isinstance(p, dict) and (p.get("binary_data_output") or p.get("binary_data")) for p in wanted)


def _layout(shape: Any, data: Any) -> str | None:
    """"flat" or "nested" (one list per row) when `data` has the `shape`'s rows, else None."""
    if not (isinstance(shape, list) and shape and all(type(d) is int and d >= 0 for d in shape)
            and isinstance(data, list)):
        return None
    if len(data) == math.prod(shape) and not (data and isinstance(data[0], list)):
        return "flat"
    if len(data) == shape[0] and all(isinstance(row, list) for row in data):
        return "nested"
    return None


def joined(members: Sequence[Member]) -> bytes:
    """One request body for members of one key: their rows, in order."""
    first = members[0].doc
    if "instances" in first:
        return orjson.dumps({"instances": [row for m in members for row in m.doc["instances"]]})
    total = sum(m.rows for m in members)
    inputs = [{**tensor, "shape": [total, *tensor["shape"][1:]],
               "data": [value for m in members for value in m.doc["inputs"][index]["data"]]}
              for index, tensor in enumerate(first["inputs"])]
    return orjson.dumps({**{k: v for k, v in first.items() if k in ("outputs", "parameters")}, "inputs": inputs})


def split(members: Sequence[Member], answer: bytes) -> list[dict[str, Any]] | None:
    """Each member's part of the joined call's answer (a V1 or V2 answer body), or None if it does not split."""
    try:
        doc = orjson.loads(answer)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict):
        return None
    total = sum(m.rows for m in members)
    predictions = doc.get("predictions")
    if isinstance(predictions, list):
        if len(predictions) != total:
            return None
        return [{"predictions": predictions[start:start + m.rows]} for m, start in zip(members, _starts(members))]
    outputs = doc.get("outputs")
    if not isinstance(outputs, list) or not outputs:
        return None
    parts: list[list[dict[str, Any]]] = [[] for _ in members]
    for output in outputs:
        if not isinstance(output, dict):
            return None
        shape: Any = output.get("shape")
        data: Any = output.get("data")
        layout = _layout(shape, data)
        if layout is None or shape[0] != total:
            return None
        width = math.prod(shape[1:]) if layout == "flat" else 1
        for part, member, start in zip(parts, members, _starts(members)):
            part.append({**output, "shape": [member.rows, *shape[1:]],
                         "data": data[start * width:(start + member.rows) * width]})
    return [{"outputs": part} for part in parts]


def _starts(members: Sequence[Member]) -> list[int]:
    starts, row = [], 0
    for member in members:
        starts.append(row)
        row += member.rows
    return starts
