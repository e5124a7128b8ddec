"""The CEL environment: Kubernetes extension functions, optional syntax, refusal of what it cannot run."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from neuroscale.policy.celenv import CelEnvironment, EvaluationError, Unevaluable, rewrite_matches, rewrite_optionals
from neuroscale.policy.k8s_cel import REGEX_MATCHES

OBJECT = {
    "metadata": {"name": "web", "labels": {"owner": "team-a"}},
    "spec": {"containers": [
        {"name": "c", "image": "nginx:1.2", "resources": {"limits": {"cpu": "2", "memory": 1024}}}]},
}


@pytest.fixture(scope="module")
def env() -> CelEnvironment:
    return CelEnvironment()


def run(env: CelEnvironment, expression: str, variables: dict[str, Any] | None = None) -> Any:
    context = env.context()
    context.update(variables if variables is not None else {"object": OBJECT})
    return env.run(env.compile(expression), context)


@pytest.mark.parametrize(("expression", "expected"), [
    ("quantity('500m').isLessThan(quantity('1'))", True),
    ("quantity('2Gi').isGreaterThan(quantity('2G'))", True),
    ("quantity('1Gi').compareTo(quantity('1024Mi'))", 0),
    ("quantity('1') == quantity('1000m')", True),
    ("quantity('1.5').asApproximateFloat()", 1.5),
    ("quantity('3').asInteger()", 3),
    ("quantity('1').add(quantity('500m')) == quantity('1500m')", True),
    ("quantity('1').sub(quantity('2')).sign()", -1),
    ("quantity('250m').isInteger()", False),
    ("isQuantity('12Mi')", True),
    ("isQuantity('twelve')", False),
    ("url('https://models.example.com:8443/iris?x=1').getScheme()", "https"),
    ("url('https://models.example.com:8443/iris').getHostname()", "models.example.com"),
    ("url('https://models.example.com:8443/iris').getPort()", "8443"),
    ("url('https://models.example.com/iris/v1').getEscapedPath()", "/iris/v1"),
    ("isURL('not a url')", False),
    ("'image:v1.2'.find('[0-9.]+$')", "1.2"),
    ("'a1b22'.findAll('[0-9]+')", ["1", "22"]),
    ("[1, 2, 3].isSorted()", True),
    ("[3, 1].isSorted()", False),
    ("[4, 5, 6].indexOf(6)", 2),
    ("'hello'.indexOf('l')", 2),
    ("'a/b/c'.split('/')", ["a", "b", "c"]),
    ("['x', 'y'].join(',')", "x,y"),
    ("'ABC'.lowerAscii()", "abc"),
    ("'%s has %d replicas (%.1f%%)'.format(['web', 3, 12.345])", "web has 3 replicas (12.3%)"),
    ("'%s'.format([[true, null]])", "[true, null]"),
    ("'%x'.format([255])", "ff"),
    ("object.spec.containers.all(c, quantity(string(c.resources.limits.memory)).compareTo(quantity('1Ki')) == 0)",
     True),
])
def test_kubernetes_functions(env: CelEnvironment, expression: str, expected: Any) -> None:
    assert run(env, expression) == expected


@pytest.mark.parametrize(("expression", "expected"), [
    ("object.metadata.?labels.?owner.orValue('none')", "team-a"),
    ("object.metadata.?labels.?team.orValue('none')", "none"),
    ("object.?status.?phase.hasValue()", False),
    ("object.metadata.labels[?'owner'].orValue('')", "team-a"),
    ("'owner' in object.metadata.?labels.orValue({})", True),
    ("object.spec.containers[?0].?name.orValue('')", "c"),
    ("'a.?b' == 'a.?b'", True),
    ("// the owner's label, if any\nobject.metadata.labels[?'owner'].orValue('')", "team-a"),
])
def test_optional_syntax(env: CelEnvironment, expression: str, expected: Any) -> None:
    assert run(env, expression) == expected


@pytest.mark.parametrize(("source", "rewritten"), [
    ("a.?b", 'a.optSelect("b")'),
    ("m[?'k']", "m.optIndex('k')"),
    ("'x.?y' + a.?b", "'x.?y' + a.optSelect(\"b\")"),
    ("[1, 2][0]", "[1, 2][0]"),
    ("c ? [1] : [2]", "c ? [1] : [2]"),
    ("a // don't\n && a.?b", "a // don't\n && a.optSelect(\"b\")"),
    ("a // x.?y\n", "a // x.?y\n"),
])
def test_rewrite_optionals(source: str, rewritten: str) -> None:
    assert rewrite_optionals(source) == rewritten


@pytest.mark.parametrize(("source", "rewritten"), [
    ("s.matches('^a')", f"s.{REGEX_MATCHES}('^a')"),
    ("'x.matches(y)' == s", "'x.matches(y)' == s"),
    ("true // it's RE2\n && s.matches('^a')", f"true // it's RE2\n && s.{REGEX_MATCHES}('^a')"),
    ("true // s.matches('^a')", "true // s.matches('^a')"),
])
def test_rewrite_matches_outside_literals_and_comments(source: str, rewritten: str) -> None:
    assert rewrite_matches(source) == rewritten


@pytest.mark.parametrize(("expression", "fragment"), [
    ("1 +", "does not compile"),
    ("nosuchfunction(object)", "nosuchfunction"),
    ("authorizer.group('apps').resource('deployments').check('create').allowed()", "authorizer"),
    ("", "empty"),
    ("x" * 20000, "longer than"),
])
def test_unevaluable_expressions(env: CelEnvironment, expression: str, fragment: str) -> None:
    with pytest.raises(Unevaluable, match=fragment):
        env.compile(expression)


def test_compile_is_cached_including_failures(env: CelEnvironment) -> None:
    assert env.compile("1 + 1") is env.compile("1 + 1")
    with pytest.raises(Unevaluable) as first:
        env.compile("((")
    with pytest.raises(Unevaluable) as second:
        env.compile("((")
    assert first.value is second.value


@pytest.mark.parametrize("expression", [
    "object.metadata.missing == 1",
    "quantity('12 apples') == quantity('1')",
    "object.spec.containers[5].name",
])
def test_runtime_errors_are_evaluation_errors(env: CelEnvironment, expression: str) -> None:
    with pytest.raises(EvaluationError):
        run(env, expression)


def test_undefined_variable_is_unevaluable(env: CelEnvironment) -> None:
    with pytest.raises(Unevaluable, match="Undefined"):
        run(env, "oldObject.metadata.name == ''", {"object": OBJECT})


def test_the_binding_loads_without_its_interactive_cli_and_cel_still_imports_in_full() -> None:
    code = ("import sys; from neuroscale.policy.celenv import default_environment as d;"
            "env = d(); print(env.run(env.compile('size(\"abc\") + 1'), env.context()));"
            "print(sorted({'cel', 'cel.cli', 'prompt_toolkit'} & set(sys.modules)));"
            "import cel; print(cel.evaluate('2 * 3'), cel.cli.__name__)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["4", "[]", "6 cel.cli"]
