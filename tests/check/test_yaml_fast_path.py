"""The yaml-rs fast path reads every file exactly as ruamel does, or leaves it to ruamel."""

from __future__ import annotations

from typing import Any

import pytest
from ruamel.yaml import YAML

import random
import re

from neuroscale.check.yamldocs import _load_all, has_anchor, needs_full_loader

#: The specification `needs_full_loader` implements by hand: a tag, anchor or alias where a node starts, a
#: merge key, a `...` document end.
FULL_LOADER_ONLY = re.compile(
    r"(?:^[ \t]*(?:-[ \t]+)*|:[ \t]+|(?:^|[\s\[{,:])[\[{][ \t]*|,[ \t]*)[!&*]|<<|^\.\.\.(?:\s|$)", re.MULTILINE)

RUAMEL = YAML(typ="safe")

SAME_EITHER_WAY = [
    "a: 1\n",
    "---\na: 1\n",
    "# comment\n---\na: 1\n---\nb: 2\n",
    "a: 1\n---\n",
    "- a\n- b\n",
    "---\n- a\n---\n- b\n",
    "",
    "# only a comment\n",
    "x: |\n  block text\n  ---not a separator\n---\ny: 2\n",
    "a: 0x1F\nb: +12\nc: .inf\nd: 1_000\ne: 0o17\nf: yes\ng: '1'\nh: 2024-01-01\ni: ~\n",
    "cpu: 500m\nmemory: 1Gi\nreplicas: 3\nenabled: true\n",
    "- jsonPath: .spec.containers[*].name\n",  # `[*` inside a plain scalar is text, not a flow alias
    "description: count (.attestors[*].entries.keys) and a{*x}\n  continued a[!b] c{&d}\n",
]


@pytest.mark.parametrize("text", SAME_EITHER_WAY)
def test_fast_path_reads_what_ruamel_reads(text: str) -> None:
    assert not needs_full_loader(text)  # these do take the fast path
    assert _load_all(text) == list(RUAMEL.load_all(text))


@pytest.mark.parametrize("text", [
    "a: !Ref x\n",  # custom tag: ruamel refuses it, yaml-rs would drop the tag
    "a: !!binary aGVsbG8=\n",
    "base: &b {x: 1}\nc:\n  <<: *b\n",  # merge key
    "a: &a\n  - *a\n",  # recursive alias: ruamel shares the node, the bomb guard needs that
    "a: 'x'\n...\nb: 2\n",  # document end marker
    "a: [x, [*b]]\n",  # aliases (here undefined) and anchors in flow collections, however nested
    "a: {k: [*b]}\n",
    "a:\n  - [*b]\n",
    "a: [&x 1,[*x]]\n",
    "{\"a\":[*b]}\n",
])
def test_constructs_yaml_rs_reads_differently_go_to_ruamel(text: str) -> None:
    """yaml-rs would read each of these differently (drop the tag, not merge, expand the alias, accept `...`),
    so getting ruamel's exact answer or error proves ruamel read them."""
    assert needs_full_loader(text)
    try:
        expected: Any = list(RUAMEL.load_all(text))
    except Exception as exc:  # noqa: BLE001 - ruamel's own verdict, compared below
        with pytest.raises(type(exc)):
            _load_all(text)
    else:
        assert repr(_load_all(text)) == repr(expected)  # repr: a recursive alias makes == recurse forever


@pytest.mark.parametrize("text", ["a: 1\na: 2\n", "a: [1\n", "a:\n\t- b\n"])
def test_errors_come_from_ruamel_with_its_line_marks(text: str) -> None:
    with pytest.raises(Exception) as caught:
        _load_all(text)
    assert type(caught.value).__module__.startswith("ruamel")
    assert getattr(caught.value, "problem_mark", None) is not None


@pytest.mark.parametrize("crd", ["kserve/serving.kserve.io_inferenceservices.yaml",
                                 "kserve/serving.kserve.io_servingruntimes.yaml",
                                 "kyverno/kyverno.io_clusterpolicies.yaml"])
def test_a_real_crd_takes_the_fast_path_and_matches_ruamel(reference: Any, crd: str) -> None:
    text = (reference / "crds" / crd).read_text()
    assert not needs_full_loader(text)
    assert _load_all(text) == list(RUAMEL.load_all(text))


def test_the_hand_written_guard_is_the_regex(reference: Any) -> None:
    pieces = ["\n", "\r\n", " ", "\t", "- ", "-", ":", ": ", ",", "[", "{", "]", "a", "!", "&", "*", "<", "<<",
              "...", ".", "#", "'", "\x0c", "\u2028"]
    rnd = random.Random(11)
    texts = ["".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 12))) for _ in range(40_000)]
    texts += [path.read_text() for path in sorted((reference / "crds").glob("*/*.yaml"))]
    for text in texts:
        assert needs_full_loader(text) == bool(FULL_LOADER_ONLY.search(text)), repr(text[:200])


#: The specification `has_anchor` implements by hand: `&name` at the start, after whitespace or a flow indicator.
ANCHOR_SPEC = re.compile(r"(?:^|[\s\[{,:])&[^\s\[\]{},]")


@pytest.mark.parametrize("text", ["&a x", "a: &x 1", "a: b&c", "[&a 1]", "{a: &b 1}", "x:\t&y", "a && b", "&",
                                  "a: &", "\u2028&a", "s: '&&x'", ",&a", "a:&b", "rule: self.a && self.b", ""])
def test_has_anchor_finds_what_the_specification_finds(text: str) -> None:
    assert has_anchor(text) == (ANCHOR_SPEC.search(text) is not None)


def test_has_anchor_agrees_with_the_specification_on_random_text() -> None:
    rng = random.Random(11)
    alphabet = "&a b:[]{},\t\n'\"\u00a0*-"
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        assert has_anchor(text) == (ANCHOR_SPEC.search(text) is not None), repr(text)
