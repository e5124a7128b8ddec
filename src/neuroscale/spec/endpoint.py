"""`EndpointSpec`: the typed, frozen description of one model endpoint.

Validation messages name the field and say how to fix it; `from_input` turns
pydantic's errors into one `InvalidInput` so adapters never show a traceback.
"""

from __future__ import annotations

import re
from typing import Any, Literal, NewType
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from neuroscale.errors import InvalidInput
from neuroscale.spec.fields import DNS1123_LABEL, FIELDS_BY_ATTR, LABEL_VALUE
from neuroscale.spec.quantity import QUANTITY_HINT, parse_quantity, quantity_problem
from neuroscale.spec.storage_uri import storage_uri_problem

EndpointName = NewType("EndpointName", str)

_DNS = re.compile(DNS1123_LABEL)
_LABEL_VALUE = re.compile(LABEL_VALUE)
_URI_FORBIDDEN = re.compile(r"[\"\\\s\x00-\x1f]")


def _default(attr: str) -> Any:
    return FIELDS_BY_ATTR[attr].default


class EndpointSpec(BaseModel):
    """What a developer asks for; everything else is derived from it."""

    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True)

    name: str
    namespace: str = _default("namespace")
    owner: str
    cost_center: str
    model_format: Literal["sklearn", "xgboost", "lightgbm"] = _default("model_format")
    storage_uri: str
    runtime_version: str | None = None
    cpu_request: str = _default("cpu_request")
    cpu_limit: str = _default("cpu_limit")
    memory_request: str = _default("memory_request")
    memory_limit: str = _default("memory_limit")
    min_replicas: int = _default("min_replicas")
    max_replicas: int = _default("max_replicas")
    canary_traffic_percent: int | None = None

    @field_validator("name", "namespace")
    @classmethod
    def _dns_label(cls, value: str) -> str:
        if len(value) > 63:
            raise ValueError(f"{value[:20]!r}… is {len(value)} characters; the limit is 63")
        if not _DNS.match(value):
            raise ValueError(
                f"{value!r} is not a DNS-1123 label: use lowercase letters, digits and '-', "
                "starting and ending with a letter or digit"
            )
        return value

    @field_validator("owner", "cost_center")
    @classmethod
    def _label_value(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        if len(value) > 63 or not _LABEL_VALUE.match(value):
            raise ValueError(
                f"{value!r} is not a valid label value: at most 63 letters, digits, '-', '_' or '.', "
                "starting and ending with a letter or digit"
            )
        return value

    @field_validator("storage_uri")
    @classmethod
    def _uri(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        if len(value) > (longest := FIELDS_BY_ATTR["storage_uri"].max_length or len(value)):
            raise ValueError(f"is {len(value)} characters; the limit is {longest}")
        if _URI_FORBIDDEN.search(value):
            raise ValueError("must not contain spaces, quotes, backslashes or control characters")
        problem = storage_uri_problem(value)
        if problem is not None:
            raise ValueError(f"{problem.message} (fix: {problem.fix})")
        return value

    @field_validator("runtime_version")
    @classmethod
    def _runtime_version(cls, value: str | None) -> str | None:
        if value is not None and (not value or not _LABEL_VALUE.match(value)):
            raise ValueError(f"{value!r} is not a version such as 1.5.0")
        return value

    @field_validator("cpu_request", "cpu_limit", "memory_request", "memory_limit", mode="before")
    @classmethod
    def _quantity(cls, value: Any) -> str:
        problem = quantity_problem(value)
        if problem:
            raise ValueError(f"{problem}; {QUANTITY_HINT}")
        return value.strip() if isinstance(value, str) else repr(value)

    @field_validator("min_replicas", "max_replicas")
    @classmethod
    def _replicas(cls, value: int) -> int:
        if value < 0 or value > 100:
            raise ValueError("must be between 0 and 100")
        return value

    @field_validator("canary_traffic_percent")
    @classmethod
    def _percent(cls, value: int | None) -> int | None:
        if value is not None and not 0 <= value <= 100:
            raise ValueError("must be between 0 and 100")
        return value

    @model_validator(mode="after")
    def _ordering(self) -> EndpointSpec:
        problems = _pair_problems(self.__dict__)
        if problems:
            raise ValueError("; ".join(message for _, message in problems))
        return self

    @property
    def storage_scheme(self) -> str:
        return urlparse(self.storage_uri).scheme

    @classmethod
    def from_input(cls, data: dict[str, Any], *, where: str = "endpoint") -> EndpointSpec:
        """Validate user input, turning every pydantic error into one clear `InvalidInput`."""
        cleaned = {k: v for k, v in data.items() if v is not None and v != ""}
        try:
            return cls.model_validate(cleaned)
        except ValidationError as exc:
            # One round: rules over two fields are judged wherever both are valid on their own, and named by
            # field (the whole-model error pydantic raised, if any, is one of them).
            errors = [e for e in exc.errors() if e["loc"]]
            pairs = _pair_problems(_valid_values(cleaned, errors))
            raise InvalidInput(
                "invalid endpoint: " + "; ".join([*describe_errors(errors), *(message for _, message in pairs)]),
                where=where,
                fix="correct the fields named above (see `neuroscale endpoint create --help`)",
                details={"fields": [*(_error_field(e) for e in errors),
                                    *({"field": field, "message": message} for field, message in pairs)]},
            ) from None

    def to_input(self) -> dict[str, Any]:
        """The camelCase form of the spec, as the API, form and template speak it."""
        return self.model_dump(by_alias=True, exclude_none=True)


_PAIRED = {"min_replicas": int, "max_replicas": int, "cpu_request": str, "cpu_limit": str, "memory_request": str,
           "memory_limit": str}


def _valid_values(cleaned: dict[str, Any], errors: list[Any]) -> dict[str, Any]:
    """The paired fields that passed their own validation, as the model holds them (defaults included)."""
    failed = {str(e["loc"][0]) for e in errors}
    values: dict[str, Any] = {}
    for attr, kind in _PAIRED.items():
        if attr in failed or to_camel(attr) in failed:
            continue
        value = cleaned.get(to_camel(attr), cleaned.get(attr, _default(attr)))
        try:
            values[attr] = TypeAdapter(kind).validate_python(value.strip() if isinstance(value, str) else value)
        except ValidationError:
            continue
    return values


def _pair_problems(values: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, message) for each rule over two fields, judged only where both values are present."""
    problems = []
    low, high = values.get("min_replicas"), values.get("max_replicas")
    if isinstance(high, int) and isinstance(low, int) and high < low:
        problems.append(("maxReplicas", f"maxReplicas ({high}) is below minReplicas ({low})"))
    elif isinstance(high, int) and high < 1:
        problems.append(("maxReplicas", "maxReplicas must be at least 1"))
    for request, limit in (("cpu_request", "cpu_limit"), ("memory_request", "memory_limit")):
        wanted, ceiling = values.get(request), values.get(limit)
        if isinstance(wanted, str) and isinstance(ceiling, str) and parse_quantity(wanted) > parse_quantity(ceiling):
            problems.append((to_camel(request), f"{to_camel(request)} {wanted} is above {to_camel(limit)} {ceiling}"))
    return problems


def _error_field(error: Any) -> dict[str, str]:
    loc = ".".join(str(part) for part in error["loc"]) or "spec"
    message = str(error["msg"]).removeprefix("Value error, ")
    return {"field": to_camel(loc) if "_" in loc else loc, "message": message}


def describe_errors(errors: list[Any]) -> list[str]:
    out = []
    for error in errors:
        item = _error_field(error)
        if error["type"] == "missing":
            item["message"] = "is required"
        elif error["type"] == "extra_forbidden":
            item["message"] = "is not a known field"
        elif error["type"] == "literal_error":
            item["message"] = f"must be one of {error.get('ctx', {}).get('expected', '')}"
        out.append(f"{item['field']} {item['message']}" if error["loc"] else item["message"])
    return out
