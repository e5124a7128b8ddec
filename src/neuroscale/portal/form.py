"""The "New endpoint" form, generated from `neuroscale.spec.fields.FIELDS`.

No field is listed here by hand: adding a field to the spec's table adds it to
the form, its HTML validation attributes and its help text. The server remains
the authority; browser validation only saves a round trip.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from neuroscale.errors import NeuroScaleError
from neuroscale.spec.fields import FIELDS, Field

#: A character class whose first or last member is a bare '-'.
_EDGE_DASH = re.compile(r"\[(\^?)-|(?<!\\)-\]")


def html_pattern(regex: str) -> str:
    """The HTML `pattern` attribute for a Python regex.

    Browsers anchor `pattern` themselves and compile it with the `v` flag, where
    a bare '-' at the edge of a character class is a syntax error that makes the
    browser silently drop the whole pattern; so anchors go and such dashes are escaped.
    """
    body = regex.removeprefix("^").removesuffix("$")
    return _EDGE_DASH.sub(lambda m: f"[{m.group(1)}\\-" if m.group(0).startswith("[") else "\\-]", body)


@dataclass(frozen=True)
class Widget:
    """How one `Field` shows up in HTML."""

    field: Field
    control: str  # select | number | text
    pattern: str | None

    @property
    def key(self) -> str:
        return self.field.key

    @property
    def placeholder(self) -> str:
        return "" if self.field.example is None else f"e.g. {self.field.example}"


def widgets() -> tuple[Widget, ...]:
    out = []
    for field in FIELDS:
        control = {"enum": "select", "integer": "number"}.get(field.kind, "text")
        out.append(Widget(field, control, html_pattern(field.pattern) if field.pattern else None))
    return tuple(out)


def field_definitions() -> list[dict[str, Any]]:
    """`GET /api/fields`: the same table as JSON, for other front ends."""
    return [
        {
            "key": f.key,
            "title": f.title,
            "description": f.description,
            "kind": f.kind,
            "required": f.required,
            "default": f.default,
            "pattern": f.pattern,
            "maxLength": f.max_length,
            "choices": list(f.choices),
            "example": f.example,
        }
        for f in FIELDS
    ]


def defaults() -> dict[str, str]:
    return {f.key: "" if f.default is None else str(f.default) for f in FIELDS}


def submitted(form: Mapping[str, Any]) -> dict[str, str]:
    """The user's values for the known fields, as typed (the spec validates them)."""
    return {f.key: str(form.get(f.key, "")).strip() for f in FIELDS}


def field_errors(exc: NeuroScaleError) -> tuple[dict[str, str], list[str]]:
    """Split a validation error into messages per form field and messages about the whole spec."""
    by_field: dict[str, str] = {}
    general: list[str] = []
    keys = {f.key for f in FIELDS}
    for item in exc.details.get("fields", []):
        key, message = str(item.get("field", "")), str(item.get("message", ""))
        if key in keys:
            by_field[key] = f"{by_field[key]}; {message}" if key in by_field else message
        else:
            general.append(message)
    if not by_field and not general:
        general.append(f"{exc.message} — {exc.fix}" if exc.fix else exc.message)
    return by_field, general
