"""Conditions: typed observations with a reason, KServe's and Kubernetes' shape.

`set_condition` keeps `last_transition_time` when only the message changes,
so "since when has this been not ready" survives every reconcile. `Ready` is
computed from its parts in one place (`aggregate_ready`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any


class ConditionType(StrEnum):
    Ready = "Ready"
    PredictorReady = "PredictorReady"
    IngressReady = "IngressReady"
    #: Not part of Ready: does the embedded engine act on every field of the spec?
    FieldsHonoured = "FieldsHonoured"


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


#: Display order: the aggregate first, then its parts.
CONDITION_ORDER: tuple[ConditionType, ...] = (
    ConditionType.Ready, ConditionType.PredictorReady, ConditionType.IngressReady, ConditionType.FieldsHonoured,
)


@dataclass(frozen=True)
class Condition:
    type: ConditionType
    status: ConditionStatus
    reason: str
    message: str = ""
    last_transition_time: str = ""
    observed_generation: int = 0

    @property
    def is_true(self) -> bool:
        return self.status is ConditionStatus.TRUE

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type.value,
            "status": self.status.value,
            "reason": self.reason,
            "message": self.message,
            "last_transition": self.last_transition_time,
            "observed_generation": self.observed_generation,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Condition:
        return cls(
            type=ConditionType(data["type"]),
            status=ConditionStatus(data["status"]),
            reason=str(data.get("reason", "")),
            message=str(data.get("message", "")),
            last_transition_time=str(data.get("last_transition", "")),
            observed_generation=int(data.get("observed_generation", 0)),
        )


def true(ctype: ConditionType, reason: str, message: str = "", *, generation: int = 0) -> Condition:
    return Condition(ctype, ConditionStatus.TRUE, reason, message, observed_generation=generation)


def false(ctype: ConditionType, reason: str, message: str = "", *, generation: int = 0) -> Condition:
    return Condition(ctype, ConditionStatus.FALSE, reason, message, observed_generation=generation)


def unknown(ctype: ConditionType, reason: str, message: str = "", *, generation: int = 0) -> Condition:
    return Condition(ctype, ConditionStatus.UNKNOWN, reason, message, observed_generation=generation)


def set_condition(previous: Sequence[Condition], new: Condition, *, now: str) -> Condition:
    """`new` stamped with a transition time: kept from `previous` unless the status flipped."""
    for old in previous:
        if old.type is new.type and old.status is new.status and old.last_transition_time:
            return replace(new, last_transition_time=old.last_transition_time)
    return replace(new, last_transition_time=now)


def aggregate_ready(parts: Sequence[Condition], *, reason: str, message: str = "",
                    generation: int = 0) -> Condition:
    """`Ready` is the conjunction of `parts`; the first part that is not True explains why.

    `reason`/`message` describe the all-True case.
    """
    for part in parts:
        if not part.is_true:
            return Condition(ConditionType.Ready, part.status, part.reason, part.message,
                             observed_generation=generation)
    return true(ConditionType.Ready, reason, message, generation=generation)


def find(conditions: Sequence[Condition], ctype: ConditionType) -> Condition | None:
    return next((c for c in conditions if c.type is ctype), None)
