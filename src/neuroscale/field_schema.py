"""One endpoint field as JSON Schema: the constraints the Backstage template and the REST API description share.

Both describe the same `spec.fields.FIELDS` to other tools (Backstage's form,
OpenAPI clients), so the type, choices, pattern and length come from here and
cannot drift apart; each adds what only it needs (titles, defaults, ranges).
"""

from __future__ import annotations

from typing import Any

from neuroscale.spec.fields import Field


def field_json_schema(field: Field) -> dict[str, Any]:
    """`type`, then `enum`, `pattern` and `maxLength` where the field has them."""
    schema: dict[str, Any] = {"type": "integer" if field.kind == "integer" else "string"}
    if field.choices:
        schema["enum"] = list(field.choices)
    if field.pattern:
        schema["pattern"] = field.pattern
    if field.max_length:
        schema["maxLength"] = field.max_length
    return schema
