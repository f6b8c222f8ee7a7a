"""The condition type every kind's status carries, as Kubernetes conventions define it.

Conditions tell a person and a tool, in one shape across all kinds, what holds
now and why: `kubectl wait --for=condition=Available` works on them. Each kind
lists the condition types it reports as a str enum, and its status parametrises
`Condition` with that enum, so the schema names the allowed types.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Generic, TypeVar

from pydantic import Field

from modelkeeper.api.base import ApiModel
from modelkeeper.api.types import keyed_by


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
