"""Which Model version a Deployment serves: the pinned one, or the family's newest approved one.

Pure: it reads parsed Models and returns a decision with a reason a person can act on.
A version is served only once approved enough for its risk tier (`approval.approval_state`:
by its manifest, by the people named in `modelkeeper.io/approved-by`, or by a
RetrainPolicy; docs/approvals.md). And only once
valid: the operator's check of its files (condition Validated, True) came first, so a Model
whose artifact is missing or differs from its digest is never rolled out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from modelkeeper.api.approval import approval_state
from modelkeeper.api.conditions import ConditionStatus
from modelkeeper.api.deployment import ModelSelector
from modelkeeper.api.model import (
    ApprovalRecord,
    ModelConditionType,
    ModelResource,
    Stage,
)

_EPOCH = datetime.min.replace(tzinfo=UTC)


class SelectionReason(StrEnum):
    """Why a Deployment serves what it serves, or nothing."""

    PINNED = "Pinned"
    NEWEST_APPROVED = "NewestApproved"
    MODEL_NOT_FOUND = "ModelNotFound"
    NOT_APPROVED = "NotApproved"
    NOT_VALIDATED = "NotValidated"


@dataclass(frozen=True)
class Selection:
    """The version to serve (if any), a version waiting for approval (if any), and why."""

    model: ModelResource | None
    waiting: ModelResource | None
    reason: SelectionReason
    message: str


def approval_of(model: ModelResource, now: datetime) -> ApprovalRecord | None:
    """The approval in force now, or None (`approval_state` says what is missing)."""
    return approval_state(model, now).approval


def _servable(model: ModelResource) -> bool:
    return model.metadata.deletion_timestamp is None and model.status.stage is not Stage.REJECTED


def _valid(model: ModelResource) -> bool:
    """Validated True for the Model's current generation: its files were checked and are right."""
    validated = next(
        (c for c in model.status.conditions if c.type is ModelConditionType.VALIDATED), None
    )
    return (
        validated is not None
        and validated.status is ConditionStatus.TRUE
        and validated.observed_generation in (None, model.metadata.generation)
    )


def _not_valid(model: ModelResource) -> str:
    """Why a Model cannot be served yet: not checked yet, or what is wrong with it."""
    validated = next(
        (c for c in model.status.conditions if c.type is ModelConditionType.VALIDATED), None
    )
    if validated is None or validated.status is not ConditionStatus.FALSE:
        return f"Model {model.metadata.name} is not validated yet"
    return f"Model {model.metadata.name} failed validation: {validated.message}"


def _created(model: ModelResource) -> tuple[datetime, str]:
    return (model.metadata.creation_timestamp or _EPOCH, model.metadata.name)


def select_model(
    selector: ModelSelector,
    versions: Sequence[ModelResource],
    now: datetime,
    *,
    validated: bool = True,
) -> Selection:
    """Decide which of a family's versions (its Models) the Deployment serves.

    `validated=False` drops the validation requirement, for a question other than what to
    serve (which version a retraining run is judged against).
    """
    servable = [model for model in versions if _servable(model)]
    family = [model for model in servable if not validated or _valid(model)]
    invalid = [model for model in servable if validated and not _valid(model)]
    if selector.version is not None:
        pinned = next((m for m in family if m.spec.version == selector.version), None)
        unusable = next((m for m in invalid if m.spec.version == selector.version), None)
        if pinned is None and unusable is not None:
            return Selection(
                None,
                None,
                SelectionReason.NOT_VALIDATED,
                f"{_not_valid(unusable)}; it is not served",
            )
        if pinned is None:
            return Selection(
                None,
                None,
                SelectionReason.MODEL_NOT_FOUND,
                f"no Model of family {selector.name} has version {selector.version}: "
                "apply that Model, or change spec.model.version",
            )
        state = approval_state(pinned, now)
        if state.approval is None:
            return Selection(
                None,
                pinned,
                SelectionReason.NOT_APPROVED,
                f"Model {pinned.metadata.name} waits for approval: {state.needed}",
            )
        return Selection(
            pinned, None, SelectionReason.PINNED, f"version {selector.version} is pinned"
        )

    approved = [
        (approval.at, *_created(model), model)
        for model in family
        if (approval := approval_of(model, now)) is not None
    ]
    newest = max(approved, key=lambda item: item[:3])[3] if approved else None
    unapproved = [model for model in family if approval_of(model, now) is None]
    newer_waiting = [
        model for model in unapproved if newest is None or _created(model) > _created(newest)
    ]
    waiting = max(newer_waiting, key=_created) if newer_waiting else None
    if newest is None:
        if waiting is None and invalid:
            latest = max(invalid, key=_created)
            return Selection(
                None,
                None,
                SelectionReason.NOT_VALIDATED,
                f"no valid version of family {selector.name}: {_not_valid(latest)}",
            )
        if waiting is None:
            return Selection(
                None,
                None,
                SelectionReason.MODEL_NOT_FOUND,
                f"no Model of family {selector.name} exists: apply one with spec.name "
                f"{selector.name}",
            )
        return Selection(
            None,
            waiting,
            SelectionReason.NOT_APPROVED,
            f"no version of family {selector.name} is approved; {waiting.metadata.name} waits "
            f"for approval: {approval_state(waiting, now).needed}",
        )
    return Selection(
        newest,
        waiting,
        SelectionReason.NEWEST_APPROVED,
        f"version {newest.spec.version} is the newest approved of family {selector.name}",
    )
