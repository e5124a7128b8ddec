"""Regular expressions run on RE2: linear time on hostile input, Go syntax, errors instead of passes."""

from __future__ import annotations

import pytest

from neuroscale.policy import regex
from neuroscale.policy.celenv import CelEnvironment, EvaluationError
from neuroscale.policy.kyverno_variables import ConditionError, resolve

#: Patterns that make a backtracking engine take exponential time on `HOSTILE` (Python's `re` would not
#: return for ages); RE2 answers at once. The timeout below only guards against a hang.
CATASTROPHIC = ["^(a+)+$", "^(a|a)*$", "^(a|aa)+$", "(x+x+)+y", "^(\\w+\\s?)*$"]
HOSTILE = "a" * 50_000 + "!"


@pytest.mark.timeout(30)
@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_catastrophic_patterns_return_in_cel(pattern: str) -> None:
    env = CelEnvironment()
    context = env.context()
    context.add_variable("value", HOSTILE)
    context.add_variable("pattern", pattern)
    assert env.run(env.compile("value.matches(pattern)"), context) is False
    assert env.run(env.compile("value.find(pattern)"), context) == ""
    assert env.run(env.compile("value.findAll(pattern)"), context) == []


@pytest.mark.timeout(30)
@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_catastrophic_patterns_return_in_kyverno_functions(pattern: str) -> None:
    data = {"value": HOSTILE, "pattern": pattern}
    assert resolve("regex_match(pattern, value)", data) is False
    assert resolve("regex_replace_all(pattern, value, 'x')", data) == HOSTILE


@pytest.mark.parametrize(("source", "expected"), [
    ("'abc'.matches('b')", True),                # CEL matches is a partial match
    ("'abc'.matches('^b')", False),
    ("'٣'.matches('^\\\\d$')", False),            # \d is ASCII in RE2, not every Unicode digit
    ("'ab12cd345'.findAll('[0-9]+')", ["12", "345"]),
    ("'ab12cd345'.findAll('[0-9]+', 1)", ["12"]),
    ("matches('x-1', '^x-[0-9]$')", True),        # the global form too
    ("'matches(' + 'x' == 'matches(x'", True),    # the word inside a string literal is left alone
])
def test_cel_regex_semantics(source: str, expected: object) -> None:
    env = CelEnvironment()
    assert env.run(env.compile(source), env.context()) == expected


@pytest.mark.parametrize("pattern", ["(a)\\1", "(?=a)", "(?<!a)b", "a++"])
def test_perl_only_syntax_is_an_error_not_a_pass(pattern: str) -> None:
    env = CelEnvironment()
    context = env.context()
    context.add_variable("pattern", pattern)
    with pytest.raises(EvaluationError, match="invalid regular expression"):
        env.run(env.compile("'aa'.matches(pattern)"), context)
    with pytest.raises(ConditionError, match="invalid regular expression"):
        resolve("regex_match(pattern, 'aa')", {"pattern": pattern})


@pytest.mark.parametrize(("pattern", "text", "template", "expected"), [
    ("(\\w+)@(\\w+)", "ann@corp bob@home", "$2:$1", "corp:ann home:bob"),
    ("(?P<user>\\w+)@", "ann@corp", "${user}-at-", "ann-at-corp"),
    ("a", "banana", "$$", "b$n$n$"),
    ("(a)", "a", "$1x", ""),                     # Go reads `$1x` as the group named `1x`: empty
    ("(a)", "a", "${1}x", "ax"),
    ("x*", "abc", "-", "-a-b-c-"),
])
def test_replacement_templates_follow_go(pattern: str, text: str, template: str, expected: str) -> None:
    assert regex.replace_all(pattern, text, template) == expected


def test_literal_replacement_does_not_expand() -> None:
    assert resolve("regex_replace_all_literal('a(b)', 'xaby', '$1')", {}) == "x$1y"
