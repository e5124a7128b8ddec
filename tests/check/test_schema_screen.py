"""The native screen in front of `jsonschema`: it may only ever pass what `jsonschema` passes.

Hand-written edge cases where Rust's and Python's readings differ (regular expressions, decimal
arithmetic, values only Python holds), then seeded random mutations of real objects against the
built-in Deployment schema and the reference CRDs: for every object, the verdict through
`CompiledSchema` equals plain `jsonschema`'s.
"""

from __future__ import annotations

import copy
import datetime
import random
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ruamel.yaml import YAML

from neuroscale.check.schemas.builtin import BuiltinSchemas, resolve_version
from neuroscale.check.schemas.compiled import CompiledSchema
from neuroscale.check.schemas.crd import root_schema

from .helpers import deployment, isvc

NEVER_COMPILED = 10**9

EDGES: list[tuple[dict[str, Any], Any]] = [
    ({"properties": {"a": {"pattern": "^[a-z]+$"}}}, {"a": "abc\n"}),  # Python's `$` allows a final newline
    ({"properties": {"a": {"pattern": "^\\d+$"}}}, {"a": "\u0663\u0664"}),  # Arabic-Indic digits are \d in Python
    ({"properties": {"a": {"pattern": "^\\S+$"}}}, {"a": "x\x1cy"}),  # \x1c is whitespace to Python only
    ({"properties": {"a": {"pattern": "^\\s*$"}}}, {"a": "\ufeff"}),  # U+FEFF is whitespace to ECMA only
    ({"properties": {"pattern": {"type": "string"}}}, {"pattern": 5}),  # a property named pattern
    ({"$defs": {"q": {"type": "string", "pattern": "^[0-9]+m$"}}, "properties": {"cpu": {"$ref": "#/$defs/q"}}},
     {"cpu": "100Mi"}),
    ({"items": [{"pattern": "^a"}, {"pattern": "^b"}]}, ["a", "a"]),
    ({"dependencies": {"a": ["b"], "c": {"properties": {"d": {"pattern": "^x"}}}}}, {"c": 1, "d": "y"}),
    ({"properties": {"n": {"multipleOf": 0.01}}}, {"n": 0.07}),  # floats fail where decimals pass
    ({"patternProperties": {"^x-": {"type": "integer"}}}, {"x-a": "1"}),
    ({"properties": {"n": {"maximum": 10}}}, {"n": 10**30}),
    ({"properties": {"t": {"type": "string"}}}, {"t": datetime.date(2026, 12, 3)}),
    ({"properties": {"n": {"type": "integer"}}}, {"n": True}),
    ({"properties": {"n": {"type": "integer"}}}, {"n": 1.0}),
    ({"properties": {"e": {"enum": [1]}}}, {"e": True}),
    ({"additionalProperties": False, "properties": {"a": {}}}, {"a": 1, "b": 2}),
]


@pytest.mark.parametrize(("schema", "data"), EDGES)
def test_the_screen_never_passes_what_jsonschema_fails(schema: dict[str, Any], data: Any) -> None:
    expected = jsonschema.Draft7Validator(schema).is_valid(data)
    assert (CompiledSchema(schema, cache_dir=None, compile_after=NEVER_COMPILED).errors(data) == []) == expected


def test_pattern_schemas_are_screened_and_their_patterns_read_by_python() -> None:
    schema = {"properties": {"a": {"pattern": "^[a-z]+$"}}}
    compiled = CompiledSchema(schema, cache_dir=None, compile_after=NEVER_COMPILED)
    assert compiled._screen is not None
    assert compiled._screened({"a": "abc\n"})  # screened valid, as Python's re reads it
    assert not compiled._screened({"a": "ab1"})
    assert CompiledSchema({"properties": {"n": {"multipleOf": 2}}}, cache_dir=None)._screen is None


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(node, dict):
        return [leaf for key, value in node.items() for leaf in _leaves(value, (*path, key))] or [path]
    if isinstance(node, list):
        return [leaf for n, value in enumerate(node) for leaf in _leaves(value, (*path, n))] or [path]
    return [path]


ODD_VALUES: list[Any] = ["", "x\n", "100Mi", "-1", 0, -1, 2**40, 1.5, True, None, [], {}, {"extra": 1}, ["a"]]


def _mutations(obj: dict[str, Any], rng: random.Random, count: int) -> list[dict[str, Any]]:
    leaves = [leaf for leaf in _leaves(obj) if leaf]
    out = [obj]
    for _ in range(count):
        mutated = copy.deepcopy(obj)
        for leaf in rng.sample(leaves, k=min(len(leaves), rng.randint(1, 2))):
            parent = mutated
            for part in leaf[:-1]:
                parent = parent[part]
            parent[leaf[-1]] = copy.deepcopy(rng.choice(ODD_VALUES))
        out.append(mutated)
    return out


def _differential(schema: dict[str, Any], objects: list[dict[str, Any]]) -> tuple[int, int]:
    """(objects, objects the screen passed); fails on any verdict that differs from jsonschema's."""
    plain = jsonschema.Draft7Validator(schema)
    compiled = CompiledSchema(schema, cache_dir=None, compile_after=NEVER_COMPILED)
    screened = 0
    for obj in objects:
        verdict = compiled.errors(obj) == []
        assert verdict == plain.is_valid(obj), obj
        screened += compiled._screened(obj)
    return len(objects), screened


def test_deployments_judged_alike_with_and_without_the_screen(tmp_path: Path) -> None:
    schemas = BuiltinSchemas(resolve_version(None), cache_dir=None)
    deployment_schema = schemas.get("apps/v1", "Deployment")
    assert deployment_schema is not None
    obj = YAML(typ="safe").load(deployment())
    total, screened = _differential(deployment_schema.schema, _mutations(obj, random.Random(7), 300))
    assert screened > 10 and screened < total  # both the screen and the fallback were exercised


def test_inference_services_judged_alike_with_and_without_the_screen(reference: Path) -> None:
    crd = next(d for d in YAML(typ="safe").load_all((reference / "crds/kserve/serving.kserve.io_inferenceservices.yaml")
                                                    .read_text()) if d)
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1beta1")
    schema = root_schema(version["schema"]["openAPIV3Schema"])
    obj = YAML(typ="safe").load(isvc())
    total, screened = _differential(schema, _mutations(obj, random.Random(11), 150))
    assert screened > 5 and screened < total
