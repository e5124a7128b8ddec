"""YAML in and out, the same way everywhere.

Loading uses ruamel's safe loader (no arbitrary objects). Dumping is
deterministic: block style, insertion order, no line wrapping, so rendered
manifests are byte-stable and golden-file testable.
"""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from neuroscale.errors import InvalidInput


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


def load_all(text: str, *, where: str = "") -> list[Any]:
    """Every document in `text`, as plain Python data; YAML errors name the line."""
    try:
        return [doc for doc in YAML(typ="safe", pure=True).load_all(text) if doc is not None]
    except YAMLError as exc:
        raise _parse_error(exc, where) from None


def _parse_error(exc: YAMLError, where: str) -> InvalidInput:
    mark = getattr(exc, "problem_mark", None)
    line = f":{mark.line + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return InvalidInput(f"YAML does not parse: {problem}", where=f"{where}{line}",
                        fix="fix the YAML syntax at the line shown")


def load_roundtrip(text: str, *, where: str = "") -> Any:
    """One document with comments, key order and quoting kept, for edits that must not lose anything."""
    yaml = YAML()
    yaml.preserve_quotes = True
    try:
        documents = [doc for doc in yaml.load_all(text) if doc is not None]
    except YAMLError as exc:
        raise _parse_error(exc, where) from None
    if len(documents) != 1:
        raise InvalidInput(f"expected exactly one YAML document, found {len(documents)}", where=where,
                           fix="keep one object per file")
    return documents[0]


def load_one(text: str, *, where: str = "") -> Any:
    documents = load_all(text, where=where)
    if len(documents) != 1:
        raise InvalidInput(f"expected exactly one YAML document, found {len(documents)}", where=where,
                           fix="keep one object per file")
    return documents[0]
