"""YAML in and out, the same way everywhere: the one loader every path that reads YAML goes through.

Loading uses ruamel's safe loader (no arbitrary objects) and treats the text
as hostile. An alias bomb costs nothing to load (the safe loader shares
aliased nodes) but explodes the moment anything walks it, so every loaded
document is measured before it is handed on: its node count as if every
alias were copied (memoised over the shared graph, so a bomb is measured in
microseconds), its nesting depth, and self-references. The text size is
bounded before parsing. Whatever breaks a limit is an `InvalidInput` naming
the file, which callers turn into a finding or an admission denial.

Dumping is deterministic: block style, insertion order, no line wrapping, so
rendered manifests are byte-stable and golden-file testable.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from neuroscale.errors import InvalidInput

SHAPE_FIX = "write the values out without nested aliases or extreme nesting"


@dataclass(frozen=True)
class YamlLimits:
    """Bounds that keep hostile YAML from hanging a process or exhausting its memory."""

    max_chars: int = 1024 * 1024  # policy files, price tables, configs; `check` allows more (its own Limits)
    max_expanded_nodes: int = 1_000_000
    max_depth: int = 200


DEFAULT_LIMITS = YamlLimits()
#: One endpoint manifest (an InferenceService is a few KiB): small enough that parsing one never
#: holds up the reconciler's tick, or the healing of any other endpoint.
MANIFEST_LIMITS = YamlLimits(max_chars=64 * 1024)


class TooDeep(ValueError):
    """Nesting deeper than any Kubernetes object needs; later stages would overflow the stack."""


def expanded_size(node: Any, *, limit: int, max_depth: int = 10_000) -> int:
    """Node count of `node` as if every alias were copied; stops early above `limit`.

    Raises ValueError on a recursive alias (a cycle can never be expanded) and
    TooDeep beyond `max_depth` levels.
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def visit(item: Any, depth: int) -> int:
        if not isinstance(item, (dict, list)):
            return 1
        key = id(item)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise ValueError("recursive alias")
        if depth > max_depth:
            raise TooDeep(f"nested more than {max_depth} levels deep")
        active.add(key)
        children = list(item.keys()) + list(item.values()) if isinstance(item, dict) else item
        total = 1
        for child in children:
            total += visit(child, depth + 1)
            if total > limit:
                break
        active.discard(key)
        sizes[key] = total
        return total

    return visit(node, 0)


def shape_problem(data: Any, *, limits: YamlLimits = DEFAULT_LIMITS) -> str:
    """Why a parsed document is unsafe to walk (alias bomb, self-reference, extreme depth), or ''."""
    limit = limits.max_expanded_nodes
    try:
        size = expanded_size(data, limit=limit, max_depth=limits.max_depth)
    except TooDeep as exc:
        return f"YAML document is {exc}; rejected"
    except ValueError:
        return "YAML document refers to itself through an alias (cannot be expanded)"
    except RecursionError:
        return "YAML nesting is too deep to check"
    if size > limit:
        return f"YAML aliases expand to more than {limit:,} nodes (alias bomb); document rejected"
    return ""


_BLOCK_LINE = re.compile(r"^( *)((?:-[ \t]+)*)[^\s#]", re.MULTILINE)


_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
#: Brackets walked in Python up to this many; beyond, vectorised (a hostile file may hold millions).
_LOOP_BRACKETS = 100_000


def _flow_depth(text: str) -> int:
    """Deepest run of unclosed `[`/`{` (an upper bound: brackets in strings count too; a stray closer resets)."""
    opened = text.count("[") + text.count("{")
    if opened < 64:
        return opened
    brackets = _NOT_BRACKET.sub("", text)  # C speed; a CRD's few thousand brackets are then walked cheaply
    if len(brackets) <= _LOOP_BRACKETS:
        depth = floor = deepest = 0
        for char in brackets:
            depth += 1 if char in "[{" else -1
            floor = min(floor, depth)
            deepest = max(deepest, depth - floor)
        return deepest
    import numpy as np

    codes = np.frombuffer(brackets.encode("utf-32-le"), dtype=np.uint32)
    steps = np.isin(codes, (ord("["), ord("{"))).astype(np.int64) - np.isin(codes, (ord("]"), ord("}")))
    cumulative = np.cumsum(steps)
    return int(np.max(cumulative - np.minimum.accumulate(np.minimum(cumulative, 0)), initial=0))


def _block_depth(text: str, *, budget: int) -> int:
    """Indentation levels (and `- ` items) open at once, or 0 when no line is indented past `budget`."""
    if not re.search(rf"^[ \t-]{{{max(budget, 0)},}}", text, re.MULTILINE):
        return 0
    columns: list[int] = []
    deepest = 0
    for match in _BLOCK_LINE.finditer(text):
        column = len(match[1])
        while columns and columns[-1] >= column:
            columns.pop()
        columns.append(column)
        for item in re.finditer(r"-[ \t]+", match[2]):
            columns.append(column + item.end())
        deepest = max(deepest, len(columns))
    return deepest


def too_deep(text: str, *, max_depth: int) -> bool:
    """Could a document of `text` nest deeper than `max_depth`? Linear in the text, before any parsing.

    Why before: ruamel's scanner is quadratic in the nesting depth (20,000
    `[` take over a minute), so depth must be refused on the raw text. The
    bound is conservative (flow brackets plus indentation levels), so it
    refuses only what no Kubernetes object comes near.
    """
    flow = _flow_depth(text)
    return flow > max_depth or flow + _block_depth(text, budget=max_depth - flow - 2) > max_depth


def safe_loader() -> YAML:
    """ruamel's safe loader: plain data only, aliased nodes shared.

    The pure-Python one, as before: it reads YAML 1.2 as Kubernetes tools do (libyaml's C
    scanner refuses `[system:serviceaccounts]`, a flow scalar with a colon). Slower, which is
    why the size limits are small (`MANIFEST_LIMITS` for endpoint manifests).
    """
    return YAML(typ="safe", pure=True)


def _dumper() -> YAML:
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def dump(data: Any) -> str:
    buffer = io.StringIO()
    _dumper().dump(data, buffer)
    return buffer.getvalue()


def dump_all(documents: list[Any]) -> str:
    buffer = io.StringIO()
    _dumper().dump_all(documents, buffer)
    return buffer.getvalue()


def _refuse_before_parsing(text: str, *, where: str, limits: YamlLimits) -> None:
    if len(text) > limits.max_chars:
        raise InvalidInput(f"YAML text of {len(text):,} characters is over the limit of {limits.max_chars:,}",
                           where=where, fix="split the file or remove what does not belong in it")
    if too_deep(text, max_depth=limits.max_depth):
        raise InvalidInput(f"YAML is nested more than {limits.max_depth} levels deep; rejected before parsing",
                           where=where, fix=SHAPE_FIX)


def _checked(documents: list[Any], *, where: str, limits: YamlLimits) -> list[Any]:
    for document in documents:
        problem = shape_problem(document, limits=limits)
        if problem:
            raise InvalidInput(problem, where=where, fix=SHAPE_FIX)
    return documents


def _parse_error(exc: YAMLError, where: str) -> InvalidInput:
    mark = getattr(exc, "problem_mark", None)
    line = f":{mark.line + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return InvalidInput(f"YAML does not parse: {problem}", where=f"{where}{line}",
                        fix="fix the YAML syntax at the line shown")


def _documents(yaml: YAML, text: str, *, where: str, limits: YamlLimits) -> list[Any]:
    _refuse_before_parsing(text, where=where, limits=limits)
    try:
        documents = [doc for doc in yaml.load_all(text) if doc is not None]
    except YAMLError as exc:
        raise _parse_error(exc, where) from None
    except RecursionError:
        raise InvalidInput("YAML nesting is too deep to parse", where=where, fix=SHAPE_FIX) from None
    return _checked(documents, where=where, limits=limits)


def utf8_text(content: bytes, *, where: str) -> str:
    """A manifest's bytes as text, refused when they are not UTF-8: never parsed with bytes replaced, so
    the reconciler cannot admit a label the pull-request checks rejected (or deploy a mangled value)."""
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"not UTF-8 text (byte {exc.start})", where=where,
                           fix="save the manifest as UTF-8 YAML") from None


def load_all(text: str, *, where: str = "", limits: YamlLimits = DEFAULT_LIMITS) -> list[Any]:
    """Every document in `text`, as plain Python data, each checked against `limits`.

    YAML errors name the line; a document over a limit is refused whole, naming `where`.
    """
    return _documents(safe_loader(), text, where=where, limits=limits)


def load_roundtrip(text: str, *, where: str = "", limits: YamlLimits = MANIFEST_LIMITS) -> Any:
    """One document with comments, key order and quoting kept, for edits that must not lose anything.

    The same limits as every other read: it is an endpoint manifest a user wrote.
    """
    yaml = YAML()
    yaml.preserve_quotes = True
    documents = _documents(yaml, text, where=where, limits=limits)
    if len(documents) != 1:
        raise InvalidInput(f"expected exactly one YAML document, found {len(documents)}", where=where,
                           fix="keep one object per file")
    return documents[0]


def load_one(text: str, *, where: str = "", limits: YamlLimits = DEFAULT_LIMITS) -> Any:
    documents = load_all(text, where=where, limits=limits)
    if len(documents) != 1:
        raise InvalidInput(f"expected exactly one YAML document, found {len(documents)}", where=where,
                           fix="keep one object per file")
    return documents[0]
