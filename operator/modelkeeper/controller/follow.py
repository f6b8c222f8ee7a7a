"""Following an MLflow registry alias: which Model to create, if any, and what status says (pure).

A Deployment with `spec.follow.mlflow` asks the registry every interval where the alias
points. When it points at a registry version for which the family has no Model, the
family gets one: the family's newest Model copied (schema, reference profile, owner and
risk tier, never its approval), with the artifact pinned to `models:/NAME/N` (never the
alias, so the Model stays what was approved), version `mlflow-N`, the run's metrics as
its offline metrics and the registry in its lineage. It is approved by the follow's
`approval` like a RetrainPolicy's versions (`api.derived`), and the Deployment rolls it
out by its strategy as any new version. An alias moved back to a version the family
has creates nothing: that Model exists, and the Deployment keeps serving the newest
approved version (the status says so).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from modelkeeper.api.conditions import ConditionStatus, get_condition, set_condition
from modelkeeper.api.deployment import (
    DeploymentConditionType,
    DeploymentResource,
    DeploymentStatus,
    FollowStatus,
    MlflowFollow,
)
from modelkeeper.api.derived import auto_approval, inherited_governance, new_model
from modelkeeper.api.labels import FOLLOW_LABEL, Manifest
from modelkeeper.api.model import (
    ApprovalRecord,
    Artifact,
    ArtifactFormat,
    Lineage,
    ModelResource,
    ModelSpec,
    RegistryVersion,
)
from modelkeeper.api.types import METRIC_NAME_PATTERN

VERSION_PREFIX = "mlflow-"
"""A followed version's spec.version is this and the registry's number: mlflow-7."""
MAX_METRICS = 64
_EPOCH = datetime.min.replace(tzinfo=UTC)


class FollowReason(StrEnum):
    """Why the Following condition is what it is."""

    ALIAS_RESOLVED = "AliasResolved"
    NO_REGISTRY = "NoRegistry"
    REGISTRY_UNREACHABLE = "RegistryUnreachable"
    ALIAS_NOT_FOUND = "AliasNotFound"
    REGISTRY_REFUSED = "RegistryRefused"
    NO_SEED = "NoSeed"
    VERSION_TAKEN = "VersionTaken"


@dataclass(frozen=True)
class AliasTarget:
    """Where the registry says the alias points: the version, and the run that logged it."""

    version: str
    run_id: str = ""
    source: str = ""
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class RegistryFailure:
    """The registry gave no answer to act on: unreachable, no such alias, refused."""

    reason: FollowReason
    message: str


RegistryAnswer = AliasTarget | RegistryFailure


@dataclass(frozen=True)
class Event:
    type: str
    reason: str
    message: str


@dataclass(frozen=True)
class FollowDecision:
    """What one look at the registry leads to."""

    status: DeploymentStatus
    """The Deployment's next status: status.follow and the Following condition."""
    create: Manifest | None = None
    """A Model to create."""
    approve: tuple[str, ApprovalRecord] | None = None
    """A followed Model (by name) to approve, and the approval."""
    event: Event | None = None


def seconds_until_due(deployment: DeploymentResource, now: datetime) -> float:
    """How long until the registry is asked again: now when it never was, or the spec changed
    since (the Following condition is of an older generation); else the rest of the interval."""
    follow = deployment.spec.follow
    checked = deployment.status.follow.checked_at if deployment.status.follow else None
    condition = get_condition(deployment.status.conditions, DeploymentConditionType.FOLLOWING)
    if follow is None or checked is None or condition is None:
        return 0.0
    if condition.observed_generation != deployment.metadata.generation:
        return 0.0
    waited = (now - checked).total_seconds()
    return max(0.0, follow.mlflow.interval.total_seconds() - waited)


def followed_version(registry_version: str) -> str:
    """The spec.version of a followed registry version."""
    return f"{VERSION_PREFIX}{registry_version}"


def offline_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """The run's metrics a Model can carry: finite, named as Model metrics are, at most 64."""
    fitting = {
        name: value
        for name, value in sorted(metrics.items())
        if len(name) <= 63 and re.fullmatch(METRIC_NAME_PATTERN, name) and math.isfinite(value)
    }
    return dict(list(fitting.items())[:MAX_METRICS])


def _created(model: ModelResource) -> tuple[datetime, str]:
    return (model.metadata.creation_timestamp or _EPOCH, model.metadata.name)


def _followed_model(
    deployment: DeploymentResource,
    follow: MlflowFollow,
    target: AliasTarget,
    seed: ModelResource,
    tracking_uri: str,
) -> ModelSpec:
    """The seed copied, with the registry version's artifact, metrics and lineage."""
    reference = seed.spec.reference if seed.spec.reference and seed.spec.reference.uri else None
    return ModelSpec.model_validate(
        {
            "name": deployment.spec.model.name,
            "version": followed_version(target.version),
            "artifact": Artifact(
                uri=f"models:/{follow.model}/{target.version}", format=ArtifactFormat.MLFLOW
            ),
            "schema": seed.spec.signature,
            "reference": reference,
            "metrics": offline_metrics(target.metrics),
            "lineage": Lineage(
                parent_version=seed.spec.version,
                registry=RegistryVersion(
                    tracking_uri=tracking_uri,
                    model=follow.model,
                    version=target.version,
                    alias=follow.alias,
                    run_id=target.run_id or None,
                    source=target.source or None,
                ),
            ),
            "governance": inherited_governance(seed),
        }
    )


def _with(
    deployment: DeploymentResource,
    follow: FollowStatus,
    holds: bool,
    reason: FollowReason,
    message: str,
    now: datetime,
) -> DeploymentStatus:
    status = deployment.status
    conditions = set_condition(
        status.conditions,
        DeploymentConditionType.FOLLOWING,
        ConditionStatus.TRUE if holds else ConditionStatus.FALSE,
        reason.value,
        message,
        now,
        deployment.metadata.generation,
    )
    return status.model_copy(update={"follow": follow, "conditions": conditions})


def _failed(
    deployment: DeploymentResource, reason: FollowReason, message: str, now: datetime
) -> FollowDecision:
    """The answer kept from before, checked now; a Warning Event when following stops working."""
    previous = deployment.status.follow or FollowStatus()
    status = _with(
        deployment, previous.model_copy(update={"checked_at": now}), False, reason, message, now
    )
    before = get_condition(deployment.status.conditions, DeploymentConditionType.FOLLOWING)
    changed = (
        before is None or before.status is not ConditionStatus.FALSE or before.reason != reason
    )
    return FollowDecision(
        status, event=Event("Warning", reason.value, message) if changed else None
    )


def decide_follow(
    deployment: DeploymentResource,
    answer: RegistryAnswer,
    models: Sequence[ModelResource],
    tracking_uri: str,
    now: datetime,
) -> FollowDecision:
    """The Model to create (if the family lacks the alias's version), the approval it gets,
    and the Deployment's next status, from the registry's answer and the family's Models."""
    assert deployment.spec.follow is not None
    follow = deployment.spec.follow.mlflow
    if isinstance(answer, RegistryFailure):
        return _failed(deployment, answer.reason, answer.message, now)
    name, family = deployment.metadata.name, deployment.spec.model.name
    where = (
        f"alias {follow.alias} of MLflow model {follow.model} points at version {answer.version}"
    )
    uri = f"models:/{follow.model}/{answer.version}"
    version = followed_version(answer.version)
    live = [m for m in models if m.metadata.deletion_timestamp is None]
    newest = max(live, key=_created) if live else None
    existing = next((m for m in live if m.spec.artifact and m.spec.artifact.uri == uri), None)
    taken = next((m for m in live if m.spec.version == version), None)
    if existing is None and taken is not None:
        return _failed(
            deployment,
            FollowReason.VERSION_TAKEN,
            f"{where}, but Model {taken.metadata.name} of family {family} has version {version} "
            f"with another artifact: versions {followed_version('N')} are the ones the operator "
            "makes for models:/NAME/N; rename that Model's version",
            now,
        )
    if existing is None and newest is None:
        return _failed(
            deployment,
            FollowReason.NO_SEED,
            f"{where}, but family {family} has no Model to copy: apply one (its schema, "
            "reference and governance are copied into each followed version)",
            now,
        )

    def approval(model: ModelSpec) -> ApprovalRecord | None:
        limit = follow.approval.auto_approve_up_to
        return auto_approval(limit, model.governance.risk_tier, f"deployment/{name}", now)

    if existing is None:
        assert newest is not None
        spec = _followed_model(deployment, follow, answer, newest, tracking_uri)
        approved = approval(spec)
        manifest = new_model(deployment.metadata.namespace, spec, {FOLLOW_LABEL: name})
        model = manifest["metadata"]["name"]
        message = f"{where}: created Model {model} (version {version}) from {newest.metadata.name}"
        status = _with(
            deployment,
            FollowStatus(
                registry_version=answer.version, model=model, version=version, checked_at=now
            ),
            True,
            FollowReason.ALIAS_RESOLVED,
            message,
            now,
        )
        return FollowDecision(
            status,
            create=manifest,
            approve=(model, approved) if approved is not None else None,
            event=Event("Normal", "VersionFollowed", message),
        )
    message = f"{where}, Model {existing.metadata.name}"
    if newest is not None and newest is not existing:
        message += (
            f", older than the family's newest Model {newest.metadata.name}: the Deployment does "
            "not roll back to it (pin spec.model.version, or withdraw the newer version)"
        )
    status = _with(
        deployment,
        FollowStatus(
            registry_version=answer.version,
            model=existing.metadata.name,
            version=existing.spec.version,
            checked_at=now,
        ),
        True,
        FollowReason.ALIAS_RESOLVED,
        message,
        now,
    )
    # A Model made by this follow and still the newest gets its approval again if the
    # write after creating it was lost; an older one is never approved later (it would
    # become the newest approved version and roll the Deployment back).
    mine = existing.metadata.labels.get(FOLLOW_LABEL) == name and existing is newest
    unapproved = existing.status.approval is None and existing.spec.governance.approval is None
    again = approval(existing.spec) if mine and unapproved else None
    return FollowDecision(status, approve=(existing.metadata.name, again) if again else None)


def name_taken(deployment: DeploymentResource, manifest: Manifest, now: datetime) -> FollowDecision:
    """The Model to create could not be: another Model, not of this version, has its name."""
    name = manifest["metadata"]["name"]
    return _failed(
        deployment,
        FollowReason.VERSION_TAKEN,
        f"the followed version's Model would be {name}, but a Model of that name with another "
        "artifact exists: rename or delete it",
        now,
    )
