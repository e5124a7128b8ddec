"""The REST API's OpenAPI 3.1 description, generated from the route table (`api.OPERATIONS`).

Small and truthful rather than detailed: paths, methods, parameters with
their real limits, the endpoint fields (from the same table as the form and
the CLI), and every status a route can answer. Responses are
described as JSON objects or arrays without their fields; the error body,
the same on every route, is described fully.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from neuroscale.field_schema import field_json_schema
from neuroscale.gitops.provider import PR_STATES
from neuroscale.portal.params import MAX_PULL_NUMBER
from neuroscale.services.api_keys import MAX_DESCRIPTION
from neuroscale.spec.fields import DNS1123_LABEL, FIELDS

if TYPE_CHECKING:
    from neuroscale.portal.api import Operation

_PATH_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")
_REASONS = {200: "OK", 201: "Created", 400: "Malformed JSON body", 401: "No valid credential",
            403: "The role or the request's origin does not allow this", 404: "No such endpoint or pull request",
            409: "The current state refuses it (failing checks, missing approvals, already merged)",
            413: "Body too large", 415: "Not application/json", 421: "Host not served by this portal",
            422: "Invalid input (the error names the field)"}
_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "reason"],
    "properties": {"error": {"type": "string"}, "reason": {"type": "string"}, "where": {"type": "string"},
                   "fix": {"type": "string"}, "details": {"type": "object"}},
}
_QUERY = {
    "state": {"type": "string", "enum": list(PR_STATES)},
    "endpoint": {"type": "string"},
    "limit": {"type": "integer", "minimum": 1, "maximum": 1000},
    "window": {"type": "string", "description": "OpenCost window (24h, 7d, today, start,end); charts: 1h|6h|24h|7d"},
    "aggregate": {"type": "string", "description": "namespace, controller, label:<name>, comma-separated"},
    "step": {"type": "string", "description": "duration of each allocation set, e.g. 1h"},
    "accumulate": {"type": "boolean"},
    "includeIdle": {"type": "boolean"},
    "shareIdle": {"type": "boolean"},
}
_KEY_REQUEST = {"type": "object", "additionalProperties": False,
                "properties": {"description": {"type": "string", "maxLength": MAX_DESCRIPTION}}}
_PATH_SCHEMAS = {
    "name": {"type": "string", "pattern": DNS1123_LABEL, "maxLength": 63},
    "id": {"type": "string", "description": "an API key's id (`id` in POST and GET /api/endpoints/{name}/keys)"},
    "number": {"type": "integer", "minimum": 0, "maximum": MAX_PULL_NUMBER},
}


def _parameters(op: Operation) -> list[dict[str, Any]]:
    found = [{"name": name, "in": "path", "required": True, "schema": _PATH_SCHEMAS[name]}
             for name in _PATH_PARAM.findall(op.path)]
    return found + [{"name": name, "in": "query", "required": False, "schema": _QUERY[name]} for name in op.query]


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _operation(op: Operation) -> dict[str, Any]:
    ok = {"description": _REASONS[op.status], "content": _json({"type": op.returns})}
    statuses = sorted({*op.refusals, *(() if op.public else (401,)), 421})
    responses: dict[str, Any] = {str(op.status): ok}
    responses |= {str(code): {"description": _REASONS[code], "content": _json({"$ref": "#/components/schemas/Error"})}
                  for code in statuses}
    described: dict[str, Any] = {"summary": op.summary, "operationId": op.handler.__name__, "responses": responses}
    if op.public:
        described["security"] = []
    if parameters := _parameters(op):
        described["parameters"] = parameters
    if op.body:
        described["requestBody"] = {"required": True, "content": _json({"$ref": f"#/components/schemas/{op.body}"})}
    return described


def _spec_schema() -> dict[str, Any]:
    """The endpoint fields as the form and CLI take them (`spec.fields.FIELDS`): one definition for all three.

    Rules JSON Schema cannot say (quantities, storage URIs, requests within limits, replicas) are the
    server's to judge: it answers 422 naming the field.
    """
    return {"type": "object", "additionalProperties": False,
            "required": [f.key for f in FIELDS if f.required],
            "properties": {f.key: field_json_schema(f) for f in FIELDS}}


def describe(operations: Sequence[Operation]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(_PATH_PARAM.sub(r"{\1}", op.path), {})[op.method.lower()] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {"title": "NeuroScale portal API", "version": "1"},
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": _ERROR_SCHEMA, "EndpointSpec": _spec_schema(), "ApiKeyRequest": _KEY_REQUEST},
        },
    }
