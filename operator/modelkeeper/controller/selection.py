"""Which Model version a Deployment serves: the pinned one, or the family's newest approved one.

Pure: it reads parsed Models and returns a decision with a reason a person can act on.
A version is served only once approved, by its manifest (spec.governance.approval), by
the `modelkeeper.io/approved-by` annotation, or by a RetrainPolicy (status.approval with
source Policy); every risk tier needs one of the three (docs/concepts.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from modelkeeper.api.annotations import Annotation
from modelkeeper.api.deployment import ModelSelector
from modelkeeper.api.model import ApprovalRecord, ApprovalSource, ModelResource, Stage

_EPOCH = datetime.min.replace(tzinfo=UTC)


class SelectionReason(StrEnum):
    """Why a Deployment serves what it serves, or nothing."""

    PINNED = "Pinned"
    NEWEST_APPROVED = "NewestApproved"
    MODEL_NOT_FOUND = "ModelNotFound"
    NOT_APPROVED = "NotApproved"


@dataclass(frozen=True)
class Selection:
    """The version to serve (if any), a version waiting for approval (if any), and why."""

    model: ModelResource | None
    waiting: ModelResource | None
    reason: SelectionReason
    message: str


def approval_of(model: ModelResource, now: datetime) -> ApprovalRecord | None:
    """The approval in force now, or None; an annotation is dated when first seen."""
    manifest = model.spec.governance.approval
    if manifest is not None:
        return ApprovalRecord(by=manifest.by, at=manifest.at, source=ApprovalSource.MANIFEST)
    recorded = model.status.approval
    annotated = model.metadata.annotations.get(Annotation.APPROVED_BY)
    if annotated:
        if recorded and recorded.source is ApprovalSource.ANNOTATION and recorded.by == annotated:
            return recorded
        return ApprovalRecord(by=annotated, at=now, source=ApprovalSource.ANNOTATION)
    if recorded is not None and recorded.source is ApprovalSource.POLICY:
        return recorded
    return None


def _servable(model: ModelResource) -> bool:
    return model.metadata.deletion_timestamp is None and model.status.stage is not Stage.REJECTED


def _created(model: ModelResource) -> tuple[datetime, str]:
    return (model.metadata.creation_timestamp or _EPOCH, model.metadata.name)


def select_model(
    selector: ModelSelector, versions: Sequence[ModelResource], now: datetime
) -> Selection:
    """Decide which of a family's versions (its Models) the Deployment serves."""
    family = [model for model in versions if _servable(model)]
    if selector.version is not None:
        pinned = next((m for m in family if m.spec.version == selector.version), None)
        if pinned is None:
            return Selection(
                None,
                None,
                SelectionReason.MODEL_NOT_FOUND,
                f"no Model of family {selector.name} has version {selector.version}: "
                "apply that Model, or change spec.model.version",
            )
        if approval_of(pinned, now) is None:
            return Selection(
                None,
                pinned,
                SelectionReason.NOT_APPROVED,
                f"Model {pinned.metadata.name} waits for approval: annotate it with "
                f"{Annotation.APPROVED_BY} or set spec.governance.approval",
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
            f"for approval ({Annotation.APPROVED_BY} or spec.governance.approval)",
        )
    return Selection(
        newest,
        waiting,
        SelectionReason.NEWEST_APPROVED,
        f"version {newest.spec.version} is the newest approved of family {selector.name}",
    )
