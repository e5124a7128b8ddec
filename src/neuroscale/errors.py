"""One error hierarchy for the whole product.

Every failure a user can cause or meet is a `NeuroScaleError` carrying a
CamelCase `reason`, an HTTP status, a process exit code and a fix hint. The
CLI and the HTTP adapters map errors in exactly one place each, so a client
mistake can never surface as a traceback or an HTTP 500.

Reconcile errors also say whether retrying can help (`retry`): stalled errors
come from bad input and will not heal by themselves; waiting errors requeue.
"""

from __future__ import annotations

from enum import Enum
from typing import Any


class Retry(str, Enum):
    """What a control loop should do after an error."""

    NEVER = "stalled"
    LATER = "waiting"
    NOW = "transient"


class NeuroScaleError(Exception):
    """Base of every expected error: what went wrong, where, and how to fix it."""

    reason = "InternalError"
    http_status = 500
    exit_code = 2
    retry = Retry.NOW

    def __init__(
        self,
        message: str,
        *,
        fix: str = "",
        where: str = "",
        reason: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.where = where
        self.details = details or {}
        if reason:
            self.reason = reason

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.message, "reason": self.reason}
        if self.where:
            body["where"] = self.where
        if self.fix:
            body["fix"] = self.fix
        if self.details:
            body["details"] = self.details
        return body

    def __str__(self) -> str:
        text = self.message
        if self.where:
            text = f"{self.where}: {text}"
        if self.fix:
            text = f"{text}\n  fix: {self.fix}"
        return text


class InvalidInput(NeuroScaleError):
    """The caller sent something malformed: bad name, bad quantity, bad JSON."""

    reason = "InvalidInput"
    http_status = 422
    exit_code = 1
    retry = Retry.NEVER


class NotFound(NeuroScaleError):
    reason = "NotFound"
    http_status = 404
    exit_code = 1
    retry = Retry.NEVER


class Conflict(NeuroScaleError):
    """The request is valid but the current state refuses it (e.g. merge while checks fail)."""

    reason = "Conflict"
    http_status = 409
    exit_code = 1
    retry = Retry.NEVER


class PayloadTooLarge(InvalidInput):
    reason = "PayloadTooLarge"
    http_status = 413


class PolicyViolation(NeuroScaleError):
    """Admission refused an object; `details['violations']` lists each one."""

    reason = "PolicyViolation"
    http_status = 422
    exit_code = 1
    retry = Retry.NEVER


class ModelLoadError(NeuroScaleError):
    """The model file is missing, unreadable, corrupted or of the wrong format."""

    reason = "ModelLoadFailed"
    http_status = 503
    exit_code = 1
    retry = Retry.NEVER


class NotReady(NeuroScaleError):
    reason = "NotReady"
    http_status = 503
    exit_code = 1
    retry = Retry.LATER


class AlreadyRunning(NeuroScaleError):
    reason = "AlreadyRunning"
    http_status = 409
    exit_code = 1
    retry = Retry.NEVER


class GitError(NeuroScaleError):
    reason = "GitError"
    http_status = 502
    exit_code = 2
    retry = Retry.LATER


class ToolError(NeuroScaleError):
    """The tool itself could not do its job: never reported as a pass."""

    reason = "ToolError"
    http_status = 500
    exit_code = 2
    retry = Retry.NOW


class Unauthenticated(NeuroScaleError):
    """No credential, or one that is unknown, expired or revoked."""

    reason = "Unauthenticated"
    http_status = 401
    exit_code = 1
    retry = Retry.NEVER


class Forbidden(NeuroScaleError):
    """The caller is known but may not do this (role, own pull request, cross-site request)."""

    reason = "Forbidden"
    http_status = 403
    exit_code = 1
    retry = Retry.NEVER


class MisdirectedRequest(InvalidInput):
    """The Host header names a server this process does not serve (DNS rebinding defence)."""

    reason = "MisdirectedRequest"
    http_status = 421


class UnsupportedMediaType(InvalidInput):
    reason = "UnsupportedMediaType"
    http_status = 415
