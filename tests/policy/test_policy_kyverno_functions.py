"""Kyverno's JMESPath functions: values and errors as Kyverno computes them (Go printing included)."""

from __future__ import annotations

from typing import Any

import pytest

from neuroscale.policy.kyverno_units import format_duration, format_quantity, parse_duration
from neuroscale.policy.kyverno_variables import ConditionError, ConditionUnsupported, resolve


@pytest.mark.parametrize(("expression", "expected"), [
    ("add('1Gi', '512Mi')", "1536Mi"),
    ("add('500m', '1')", "1500m"),
    ("add('1h', '30s')", "1h0m30s"),
    ("add('1h', '30m')", "error: '30m' is a quantity (30 milli) before it is a duration, as in Kyverno"),
    ("add(`1`, `2.5`)", 3.5),
    ("subtract('2Gi', '512Mi')", "1536Mi"),
    ("subtract('1h', '90s')", "58m30s"),
    ("multiply('250m', `4`)", "1"),
    ("multiply(`3`, '10s')", "30s"),
    ("divide('1Gi', '256Mi')", 4),
    ("divide('1Gi', `4`)", "256Mi"),
    ("divide('1h', '15s')", 240),
    ("modulo('10Gi', '3Gi')", "1Gi"),
    ("modulo(`7`, `3`)", 1),
    ("sum(['1Gi', '1Gi', '512Mi'])", "2560Mi"),
    ("round(`2.555`, `2`)", 2.56),
    ("compare('a', 'b')", -1),
    ("equal_fold('Prod', 'PROD')", True),
    ("replace('a-b-c', '-', '_', `1`)", "a_b-c"),
    ("replace_all('a-b-c', '-', '_')", "a_b_c"),
    ("trim('--x--', '-')", "x"),
    ("trim_prefix('v1.2.3', 'v')", "1.2.3"),
    ("split('a,b,,c', ',')", ["a", "b", "", "c"]),
    ("to_upper('abc')", "ABC"),
    ("truncate('kubernetes', `4`)", "kube"),
    ("base64_decode('aGVsbG8=')", "hello"),
    ("base64_encode('hello')", "aGVsbG8="),
    ("sha256('a')", "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"),
    ("path_canonicalize('//var/./run//../log')", "/var/log"),
    ("pattern_match('prod-*', 'prod-eu')", True),
    ("regex_match('^[0-9]+$', `123`)", True),
    ("regex_replace_all('^(\\w+)-(\\w+)$', 'web-eu', '$2.$1')", "eu.web"),
    ("label_match({app: 'web'}, {app: 'web', tier: 'fe'})", True),
    ("label_match({app: 'web', tier: 'be'}, {app: 'web', tier: 'fe'})", False),
    ("to_boolean('True')", True),
    ("semver_compare('1.4.2', '>=1.2.0 <2.0.0')", True),
    ("semver_compare('2.0.0-rc.1', '<2.0.0')", True),
    ("semver_compare('1.0.0', '1.0.1 || 1.0.0')", True),
    ("parse_json('{\"a\": [1, 2]}').a[1]", 2),
    ("parse_yaml('a: {b: c}').a.b", "c"),
    ("items({b: `2`, a: `1`}, 'k', 'v')", [{"k": "a", "v": 1}, {"k": "b", "v": 2}]),
    ("items(['x', 'y'], 'i', 'v')", [{"i": 0, "v": "x"}, {"i": 1, "v": "y"}]),
    ("object_from_lists(['a', 'b'], [`1`])", {"a": 1, "b": None}),
    ("lookup({a: 'x'}, 'a')", "x"),
    ("lookup(['x', 'y'], `1`)", "y"),
    ("time_add('2024-01-01T00:00:00Z', '90m')", "2024-01-01T01:30:00Z"),
    ("time_diff('2024-01-01T00:00:00Z', '2024-01-01T02:00:30Z')", "2h0m30s"),
    ("time_before('2024-01-01T00:00:00Z', '2024-01-02T00:00:00Z')", True),
    ("time_parse('2006-01-02', '2024-03-04')", "2024-03-04T00:00:00Z"),
    ("time_truncate('2024-01-01T10:47:13Z', '1h')", "2024-01-01T10:00:00Z"),
])
def test_function_values(expression: str, expected: Any) -> None:
    if isinstance(expected, str) and expected.startswith("error: "):
        with pytest.raises(ConditionError, match="cannot combine"):
            resolve(expression, {})
        return
    assert resolve(expression, {}) == expected


@pytest.mark.parametrize(("expression", "reason"), [
    ("add('1Gi', '1h')", "cannot combine a quantity with a duration"),
    ("add('1Gi', `1`)", "cannot combine"),
    ("multiply('1Gi', '2Gi')", "cannot combine"),
    ("divide(`1`, `0`)", "division by zero"),
    ("modulo(`7.5`, `2`)", "integers"),
    ("add('blue', '1')", "invalid operand"),
    ("base64_decode('%%%')", "not base64"),
    ("parse_json('{')", "not JSON"),
    ("semver_compare('one', '>1.0.0')", "not a semantic version"),
    ("to_boolean('maybe')", "neither true nor false"),
    ("time_add('yesterday', '1h')", "does not match layout"),
])
def test_function_misuse_errors_the_rule(expression: str, reason: str) -> None:
    with pytest.raises(ConditionError, match=reason):
        resolve(expression, {})


@pytest.mark.parametrize("function", ["random('[a-z]{4}')", "x509_decode('cert')", "image_normalize('nginx')"])
def test_functions_without_an_offline_answer_are_unsupported(function: str) -> None:
    with pytest.raises(ConditionUnsupported, match="not available offline"):
        resolve(function, {})


@pytest.mark.parametrize(("text", "nanoseconds", "printed"), [
    ("1h30m", 5_400 * 10**9, "1h30m0s"), ("1.5s", 1_500_000_000, "1.5s"), ("250ms", 250_000_000, "250ms"),
    ("-2m", -120 * 10**9, "-2m0s"), ("0", 0, "0s"), ("3us", 3_000, "3µs"),
])
def test_go_durations(text: str, nanoseconds: int, printed: str) -> None:
    assert parse_duration(text) == nanoseconds
    assert format_duration(nanoseconds) == printed


@pytest.mark.parametrize("text", ["", "5", "1x", "h", "1h 30m", "--1s"])
def test_not_durations(text: str) -> None:
    assert parse_duration(text) is None


@pytest.mark.parametrize(("amount", "binary", "printed"), [
    (1536 * 2**20, True, "1536Mi"), (2**30, True, "1Gi"), (1.5, False, "1500m"), (2000, False, "2k"),
    (1500, False, "1500"), (0.5, True, "500m"), (0, False, "0"),
])
def test_quantities_print_like_kubernetes(amount: float, binary: bool, printed: str) -> None:
    from decimal import Decimal
    assert format_quantity(Decimal(str(amount)), binary=binary) == printed
