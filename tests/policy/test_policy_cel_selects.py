"""`rewrite_selects` (field selection as indexing, which the binding does not deep-copy) changes no result.

Every expression of the bundled policies and of the policy fixtures runs, as written and as rewritten,
against every resource of the fixtures plus malformed shapes; values and errors must be the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from neuroscale.policy.bundled import bundled_policy_documents
from neuroscale.policy.celbinding import binding as cel
from neuroscale.policy.celenv import CelEnvironment, rewrite_matches, rewrite_optionals, rewrite_selects

FIXTURES = Path(__file__).parent / "fixtures"
ODD_OBJECTS: list[Any] = [
    {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": None},
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "labels": 3}, "spec": {"template": 1}},
    {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "metadata": {"name": "i"},
     "spec": {"predictor": {"model": [1], "containers": "x"}}},
]

#: Shapes the fixtures lack: optional chains, calls and literals as operands, comprehensions, `has` on each.
EXTRA_EXPRESSIONS = [
    "object.?spec.?replicas.orValue(1)", "object.?metadata.labels", "object.?spec.template.spec",
    "object[?'spec'].template", "optional.of(object.spec).value().template", "dyn(object.spec).template",
    "{'a': object.metadata}.a.name", "[object][0].metadata.name", "(object.spec).template.spec",
    "object.spec.template.spec.containers.map(c, c.name)", "has(object.spec.template.spec.securityContext)",
    "object.metadata.labels.all(k, k.size() > 0)", "object.spec.x.y", "has(object.nope.x)",
]


def _documents() -> list[Any]:
    loader, documents = YAML(typ="safe"), []
    for path in sorted(FIXTURES.rglob("*.yaml")):
        try:
            documents += [doc for doc in loader.load_all(path.read_text()) if doc]
        except YAMLError:
            continue  # fixtures of unparseable input
    return documents


def _expressions(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expression", "messageExpression") and isinstance(value, str):
                yield value
            else:
                yield from _expressions(value)
    elif isinstance(node, list):
        for item in node:
            yield from _expressions(item)


def _plain(value: Any) -> Any:
    """Comparable with ==: CEL maps come back in no fixed key order, optionals compare by identity."""
    if isinstance(value, cel.OptionalValue):
        return ("optional", value.value()) if value.has_value() else ("optional",)
    return value


def _outcome(run: Any) -> Any:
    try:
        return _plain(run())
    except Exception as exc:  # noqa: BLE001 - the verdict, compared as such
        return f"{type(exc).__name__}: {exc}"


@pytest.mark.parametrize("policies", ["bundled", "fixtures"])
def test_rewritten_selects_give_the_same_values_and_errors(policies: str) -> None:
    """The environment's outcome is the written expression's; the rewritten program alone, when it succeeds,
    gives the written one's value (what `CelEnvironment.run` relies on to retry only failures)."""
    env = CelEnvironment()
    documents = _documents()
    objects = [d for d in documents if isinstance(d, dict) and "metadata" in d and "spec" in d] + ODD_OBJECTS
    sources = sorted({s for s in _expressions(bundled_policy_documents() if policies == "bundled" else documents)}
                     | (set(EXTRA_EXPRESSIONS) if policies == "fixtures" else set()))
    assert len(sources) > 20
    programs = []
    for source in sources:
        shown = rewrite_matches(rewrite_optionals(source))
        try:
            programs.append((cel.compile(shown), env.compile(source)))
        except ValueError:
            continue  # does not compile as written: `CelEnvironment.compile` reports it as written
    assert sum(1 for written, fast in programs if written.source != fast.source) > 10
    compared = 0
    for obj in objects:
        context = env.context()
        context.update({"object": obj, "oldObject": None, "params": None, "namespaceObject": None,
                        "request": {"operation": "CREATE", "userInfo": {"username": "u"}}, "variables": {}})
        for written, fast in programs:
            expected = _outcome(lambda: env._execute(written, context))  # noqa: B023 - called at once
            assert _outcome(lambda: env.run(fast, context)) == expected, (written.source, obj)  # noqa: B023
            alone = _outcome(lambda: fast.execute(context))  # noqa: B023
            if not isinstance(alone, str):
                assert alone == expected, (written.source, obj)
            compared += 1
    assert compared > 1000


@pytest.mark.parametrize(("source", "rewritten"), [
    ("object.metadata.name", "object['metadata']['name']"),
    ("has(object.spec.x.y)", "has(object['spec']['x'].y)"),
    ("has( a.b .c )", "has( a['b'] .c )"),
    ("a.b.startsWith('x.y')", "a['b'].startsWith('x.y')"),
    ("x.all(c, has(c.resources.limits))", "x.all(c, has(c['resources'].limits))"),
    ("optional.of(a.b)", "optional.of(a['b'])"),
    ("1.5 + a.b", "1.5 + a['b']"),
    ("1.e5", "1.e5"),
    ('"x.y" + a.optSelect("b").c', '"x.y" + a.optSelect("b").c'),  # an optional: selecting it fails otherwise
    ("f(a).b.c(d.e)", "f(a).b.c(d['e'])"),
    ("a.has(b.c)", "a.has(b['c'])"),
    ("a.`b-c`", "a.`b-c`"),
    ("// don't\nx.a == 'a.b' // it's x.y\n&& has(x.b) // (x.c", "// don't\nx['a'] == 'a.b' // it's x.y\n&& has(x.b) // (x.c"),
    ("has(x.y // a.b)\n.c)", "has(x['y'] // a.b)\n.c)"),
    ("// a root-scoped name follows\n.x.y", "// a root-scoped name follows\n.x['y']"),
])
def test_rewrite_selects(source: str, rewritten: str) -> None:
    assert rewrite_selects(source) == rewritten
