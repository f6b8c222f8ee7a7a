"""The condition type every kind's status carries, as Kubernetes conventions define it.

Conditions tell a person and a tool, in one shape across all kinds, what holds
now and why: `kubectl wait --for=condition=Available` works on them. Each kind
lists the condition types it reports as a str enum, and its status parametrises
`Condition` with that enum, so the schema names the allowed types. The helpers below
get and set one condition by type, as every kind's status computation does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Generic, TypeVar, cast

from pydantic import Field

from modelkeeper.api.base import ApiModel
from modelkeeper.api.types import keyed_by

QUOTED_TAIL = 512
"""How much of a failed container's termination message a condition or run message quotes."""


def quoted_tail(text: str) -> str:
    """The end of a container's message, on one line: where the error usually is."""
    return " ".join(text.split())[-QUOTED_TAIL:]


class ConditionStatus(StrEnum):
    """Whether a condition holds."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


ConditionType = TypeVar("ConditionType", bound=StrEnum)

Reason = Annotated[
    str, Field(min_length=1, max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
]


class Condition(ApiModel, Generic[ConditionType]):
    """One aspect of the object's state, with when it last changed and why."""

    type: ConditionType
    """Which aspect this condition reports."""
    status: ConditionStatus
    """Whether it holds: True, False or Unknown."""
    reason: Reason
    """A CamelCase word for programs, such as AnalysisFailed."""
    message: str = Field(default="", max_length=32768)
    """What happened, for people."""
    last_transition_time: datetime
    """When the status last changed."""
    observed_generation: int | None = Field(default=None, ge=0)
    """The metadata.generation of the spec this condition was computed from."""


def conditions_field() -> Any:
    """The field of a status's conditions: one per type, merged by type under server-side apply."""
    return Field(default_factory=list, max_length=16, json_schema_extra=keyed_by("type"))


def get_condition(
    conditions: Sequence[Condition[ConditionType]], kind: ConditionType
) -> Condition[ConditionType] | None:
    return next((condition for condition in conditions if condition.type == kind), None)


def _condition_class(kind: ConditionType) -> type[Condition[ConditionType]]:
    """Condition of the kind's own enum: pydantic caches the class it builds for a concrete
    type, while Condition[T] is built again after each garbage collection (about 2 ms)."""
    return cast("type[Condition[ConditionType]]", Condition.__class_getitem__(type(kind)))


def set_condition(
    conditions: Sequence[Condition[ConditionType]],
    kind: ConditionType,
    status: ConditionStatus,
    reason: str,
    message: str,
    now: datetime,
    generation: int | None,
) -> list[Condition[ConditionType]]:
    """The conditions with `kind` set; its transition time kept unless its status changes."""
    previous = get_condition(conditions, kind)
    since = previous.last_transition_time if previous and previous.status == status else now
    updated = _condition_class(kind)(
        type=kind,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=since,
        observed_generation=generation,
    )
    return [c for c in conditions if c.type != kind] + [updated]
