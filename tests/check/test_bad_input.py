"""Hostile and broken input ends as a clear finding, with bounded time and memory, never a traceback."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from neuroscale.check.loader import build_view, read_tree
from neuroscale.check.model import Limits
from neuroscale.check.yamldocs import _DOCUMENT_START, _marker_lines, _start_lines, parse_file
from neuroscale.yamlio import expanded_size

from .helpers import isvc, write_repo

BOMB = """
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def _rules(findings: list) -> list[tuple[str, str, int | None]]:  # type: ignore[type-arg]
    return [(f.rule, f.file, f.line) for f in findings]


def test_invalid_yaml_names_file_and_line() -> None:
    docs, found = parse_file("apps/x.yaml", b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [oops\n", limits=Limits())
    assert docs == [] and _rules(found) == [("NS-P001", "apps/x.yaml", 5)]
    assert "YAML does not parse" in found[0].message


def test_template_looking_file_gets_a_hint() -> None:
    _, found = parse_file("x.yaml", b"metadata:\n  name: {{ .Values.name }}\n  x: {{ y\n", limits=Limits())
    assert found and "template" in found[0].message


def test_binary_and_non_utf8_files_are_findings() -> None:
    _, nul = parse_file("a.yaml", b"\x89PNG\r\n\x1a\n\x00\x00", limits=Limits())
    _, latin = parse_file("b.yaml", "name: caf\xe9\n".encode("latin-1"), limits=Limits())
    assert _rules(nul) == [("NS-P002", "a.yaml", None)]
    assert _rules(latin) == [("NS-P002", "b.yaml", 1)]


def test_alias_bomb_is_rejected_without_expanding() -> None:
    docs, found = parse_file("bomb.yaml", BOMB.encode(), limits=Limits(max_expanded_nodes=100_000))
    assert docs == [] and _rules(found) == [("NS-P003", "bomb.yaml", 1)]
    assert "alias bomb" in found[0].message


@pytest.mark.parametrize("layout", ["flow", "json"])
def test_alias_bomb_is_rejected_wherever_its_anchors_sit(layout: str) -> None:
    """Only text without an anchor skips the alias walk: anchors after flow indicators count too."""
    rows = BOMB.strip().splitlines()
    text = "{" + ", ".join(row.replace(": &", ":&" if layout == "json" else ": &").replace(row[0], f'"{row[0]}"', 1)
                           for row in rows) + "}\n"
    docs, found = parse_file("bomb.yaml", text.encode(), limits=Limits(max_expanded_nodes=100_000))
    assert docs == [] and [f.rule for f in found] == ["NS-P003"] and "alias bomb" in found[0].message


def test_small_aliases_are_fine_and_counted_exactly() -> None:
    docs, found = parse_file("ok.yaml", b"base: &b {cpu: 1}\nx: *b\ny: *b\n", limits=Limits())
    assert found == [] and docs[0].data["y"] == {"cpu": 1}
    assert expanded_size(docs[0].data, limit=10**6) == 13  # root + 3 keys + 3 maps of (1 key + 1 value)


def test_recursive_alias_is_a_finding() -> None:
    _, found = parse_file("loop.yaml", b"a: &a\n  - *a\n", limits=Limits())
    assert _rules(found) == [("NS-P003", "loop.yaml", 1)] and "refers to itself" in found[0].message


def test_deep_nesting_is_a_finding() -> None:
    _, found = parse_file("deep.yaml", ("[" * 5000 + "]" * 5000).encode(), limits=Limits())
    assert [f.rule for f in found] == ["NS-P003"] and "levels deep" in found[0].message


def test_document_lines_follow_separators() -> None:
    text = b"# comment\n---\na: 1\n---\n\nb: 2\n---\nc: 3\n"
    docs, _ = parse_file("m.yaml", text, limits=Limits())
    assert [(d.index, d.line) for d in docs] == [(0, 2), (1, 4), (2, 7)]


SEPARATED = [
    "a: 1\n---x\nb: 2\n", "---\ta: 1\n--- # c\nb: 2\n---", "a: 1\r\n---\r\nb: 2\r\n", "# c\x0cx: 1\n---\nb: 2\n",
    "# only\n%YAML 1.2\n---\na: 1\n", "\n\n---\n---\n\n---\u2028a\n", "----\n --- \na: ---\n", "",
    "---\x1c\n---\x85", "a\r---\nb",
]


@pytest.mark.parametrize("text", SEPARATED)
def test_separators_are_where_the_multiline_regex_finds_them(text: str) -> None:
    assert _marker_lines(text, "---") == [m.start() for m in _DOCUMENT_START.finditer(text)]


@pytest.mark.parametrize("text", SEPARATED)
def test_document_start_lines_are_those_of_the_multiline_separator_regex(text: str) -> None:
    separators = [m.start() for m in re.finditer(r"^---(?:\s|$)", text, re.MULTILINE)]
    expected = [text.count("\n", 0, at) + 1 for at in separators]
    head = text[: separators[0]] if separators else text
    if not expected or any(ln.strip() and not ln.lstrip().startswith(("#", "%")) for ln in head.splitlines()):
        expected = [1, *expected]
    assert _start_lines(text, len(expected)) == expected


def test_huge_file_is_reported_and_not_read(tmp_path: Path) -> None:
    write_repo(tmp_path, {"apps/big.yaml": "a: " + "x" * 5000 + "\n", "apps/iris.yaml": isvc()})
    files, found = read_tree(tmp_path, limits=Limits(max_file_bytes=4096))
    assert "apps/big.yaml" not in files and "apps/iris.yaml" in files
    assert _rules(found) == [("NS-P004", "apps/big.yaml", None)] and "limit" in found[0].message


def test_symlink_outside_the_repository_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    write_repo(outside, {"secret.yaml": "token: x\n"})
    repo = write_repo(tmp_path / "repo", {"apps/iris.yaml": isvc()})
    os.symlink(outside / "secret.yaml", repo / "apps/leak.yaml")
    os.symlink(outside, repo / "linked-dir")
    os.symlink(repo / "apps/iris.yaml", repo / "apps/alias.yaml")  # inside: followed
    files, found = read_tree(repo, limits=Limits())
    assert sorted(files) == ["apps/alias.yaml", "apps/iris.yaml"]
    assert sorted(_rules(found)) == [("NS-P005", "apps/leak.yaml", None), ("NS-P005", "linked-dir", None)]


def test_helm_templates_are_skipped_and_reported() -> None:
    files = {"charts/app/Chart.yaml": b"apiVersion: v2\nname: app\nversion: 1.0.0\n",
             "charts/app/templates/deploy.yaml": b"metadata:\n  name: {{ include \"x\" . }}\n",
             "charts/app/values.yaml": b"replicas: 1\n"}
    view, found = build_view(files, limits=Limits())
    assert list(view.skipped) == ["charts/app/templates/deploy.yaml"]
    assert [(f.rule, f.severity.value, f.file) for f in found] == [("NS-P006", "info", "charts/app/templates")]
    assert {d.path for d in view.documents} == {"charts/app/Chart.yaml", "charts/app/values.yaml"}


def test_duplicate_keys_are_a_parse_error_with_the_line() -> None:
    _, found = parse_file("d.yaml", b"metadata:\n  labels:\n    owner: a\n    owner: b\n", limits=Limits())
    assert _rules(found) == [("NS-P001", "d.yaml", 4)] and "duplicate key" in found[0].message


def test_a_cached_parse_is_reused_only_under_the_limits_it_passed(tmp_path: Path) -> None:
    nested = "a: " + "[" * 40 + "1" + "]" * 40 + "\n"
    raw = (nested + "pad: " + "x" * 200_000 + "\n").encode()  # big enough to be cached
    docs, found = parse_file("big.yaml", raw, limits=Limits(), cache_dir=tmp_path)
    assert found == [] and docs and list(tmp_path.iterdir())
    docs, found = parse_file("big.yaml", raw, limits=Limits(), cache_dir=tmp_path)  # from the cache
    assert found == [] and docs[0].data["a"] == [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]
    _, found = parse_file("big.yaml", raw, limits=Limits(max_depth=20), cache_dir=tmp_path)
    assert [f.rule for f in found] == ["NS-P003"] and "levels deep" in found[0].message
