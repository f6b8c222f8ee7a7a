"""The audit record of a model family: per version, what was deployed, from what, judged how,
approved by whom, because of what, and rolled out when.

Pure: `audit_record` assembles it from what the API server holds, which `kubectl modelkeeper
audit` reads: the family's Models (spec: artifact, lineage, metrics, governance; status:
evaluation, approval, stage, servers), its RetrainPolicies (the runs in their status), the
Deployments that serve it (their finished rollouts) and the Events about its Models. The
record is as complete as those are: a policy keeps `historyLimit` runs, a Deployment its ten
latest rollouts and the API server its Events for an hour by default, while a Model's
lineage (the run's trigger and evidence included) lasts as long as the Model; keep the
record's JSON for longer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from modelkeeper.api.approval import approvers, creator
from modelkeeper.api.base import ApiModel
from modelkeeper.api.deployment import DeploymentResource, Outcome
from modelkeeper.api.model import (
    ApprovalSource,
    Artifact,
    GateResult,
    Lineage,
    ModelResource,
    Serving,
    Stage,
)
from modelkeeper.api.retrainpolicy import RetrainPolicyResource, Run, RunOutcome, TriggerKind
from modelkeeper.api.types import RiskTier
from modelkeeper.plugin.views import version_order


class ApprovalEntry(ApiModel):
    """One approval of a version, with the identity and time it names."""

    by: str
    """Who approved: a person's name as written or authenticated, or retrainpolicy/<name>."""
    at: datetime | None
    """When; none for an annotation the operator has not acted on yet."""
    source: ApprovalSource
    """Manifest (spec.governance.approval), Annotation or Policy."""


class TriggerRecord(ApiModel):
    """The retraining run that produced a version, and why it ran."""

    policy: str
    """The RetrainPolicy."""
    run: str
    """The run's name."""
    trigger: TriggerKind | None
    """Drift, Performance, Schedule or Manual."""
    reason: str
    """The evidence: the monitor's state and since when, the schedule, the request."""
    started: datetime | None
    """When the run started (none once the policy's history has forgotten it)."""
    finished: datetime | None
    """When it ended."""
    outcome: RunOutcome | None
    """How it ended."""


class RolloutRecord(ApiModel):
    """One finished rollout of a version by a Deployment."""

    deployment: str
    """The Deployment."""
    outcome: Outcome
    """Promoted, RolledBack, Aborted, Superseded or Withdrawn."""
    started: datetime
    """When the rollout started."""
    finished: datetime
    """When it ended."""
    reason: str
    """Why it ended so."""


class EventRecord(ApiModel):
    """An Event about the version's Model."""

    time: datetime | None
    """When it was last seen."""
    type: str
    """Normal or Warning."""
    reason: str
    """Such as Approved or ValidationFailed."""
    message: str
    """What happened."""


class VersionAudit(ApiModel):
    """Everything recorded about one version."""

    version: str
    """spec.version."""
    model: str
    """The Model object's name."""
    created: datetime | None
    """When the Model was created."""
    stage: Stage | None
    """Where it is in its life."""
    owner: str | None
    """Who answers for it."""
    risk_tier: RiskTier
    """Its risk tier."""
    artifact: Artifact | None
    """The model file it serves, with its digest."""
    image: str | None
    """The model image it serves, when it has no artifact."""
    lineage: Lineage | None
    """Training data, holdout, code image and its digest, parameters, parent, run."""
    metrics: dict[str, float]
    """Its offline metrics (on the holdout, for a retrained version)."""
    evaluation: GateResult | None
    """The gate's and the fairness verdicts."""
    created_by: str | None
    """Who created the Model, as modelkeeper.io/created-by records it."""
    approvals: list[ApprovalEntry]
    """Who approved it, when, and how."""
    trigger: TriggerRecord | None
    """The run that produced it and why it ran; none for a version made by hand."""
    rollouts: list[RolloutRecord]
    """Its finished rollouts, oldest first."""
    served_by: list[Serving]
    """The Deployments that serve it now, and as what."""
    events: list[EventRecord]
    """The Events about its Model, oldest first."""


class FamilyAudit(ApiModel):
    """The audit record of a model family."""

    family: str
    """The model family."""
    namespace: str
    """Its namespace."""
    generated: datetime
    """When the record was assembled."""
    versions: list[VersionAudit]
    """Its versions, oldest first."""


def _approvals(model: ModelResource) -> list[ApprovalEntry]:
    """The approval in force, then every other one recorded: each annotation approver with
    when the operator first saw the name (status.approvals), a manifest approval, and names
    in the annotation the operator has not seen yet (no time)."""
    entries: list[ApprovalEntry] = []

    def add(by: str, at: datetime | None, source: ApprovalSource) -> None:
        if not any((entry.by, entry.source) == (by, source) for entry in entries):
            entries.append(ApprovalEntry(by=by, at=at, source=source))

    records = [model.status.approval] if model.status.approval else []
    for record in [*records, *model.status.approvals]:
        add(record.by, record.at, record.source)
    manifest = model.spec.governance.approval
    if manifest is not None:
        add(manifest.by, manifest.at, ApprovalSource.MANIFEST)
    for name in approvers(model.metadata.annotations):
        add(name, None, ApprovalSource.ANNOTATION)
    return entries


def _trigger(model: ModelResource, runs: Mapping[tuple[str, str], Run]) -> TriggerRecord | None:
    """The producing run: the lineage names it and keeps its evidence; the policy's status
    adds its times and outcome while it still remembers the run."""
    made_by = model.spec.lineage.retraining_run if model.spec.lineage else None
    if made_by is None:
        return None
    run = runs.get((made_by.policy, made_by.run))
    return TriggerRecord(
        policy=made_by.policy,
        run=made_by.run,
        trigger=made_by.trigger or (run.trigger if run else None),
        reason=made_by.reason or (run.reason if run else ""),
        started=run.start_time if run else None,
        finished=run.completion_time if run else None,
        outcome=run.outcome if run else None,
    )


def _event_time(event: Mapping[str, Any]) -> datetime | None:
    stamp = event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp")
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None


def audit_record(
    family: str,
    namespace: str,
    models: Sequence[ModelResource],
    policies: Sequence[RetrainPolicyResource],
    deployments: Sequence[DeploymentResource],
    events: Sequence[Mapping[str, Any]],
    now: datetime,
) -> FamilyAudit:
    """The family's audit record from the objects the API server holds; `events` may be any
    Events of the namespace (those about the family's Models are kept)."""
    runs = {
        (policy.metadata.name, run.name): run
        for policy in policies
        for run in (*policy.status.active, *policy.status.history)
    }
    earliest = datetime.min.replace(tzinfo=UTC)
    ordered = sorted(
        (model for model in models if model.spec.name == family),
        key=lambda model: (
            model.metadata.creation_timestamp or earliest,
            version_order(model.spec.version),
        ),
    )
    about: dict[str, list[Mapping[str, Any]]] = {}
    for event in events:
        involved = event.get("involvedObject") or {}
        if involved.get("kind") == ModelResource.KIND:
            about.setdefault(involved.get("name", ""), []).append(event)
    versions = []
    for model in ordered:
        version = model.spec.version
        rollouts = sorted(
            (
                RolloutRecord(
                    deployment=deployment.metadata.name,
                    outcome=entry.outcome,
                    started=entry.started,
                    finished=entry.finished,
                    reason=entry.reason,
                )
                for deployment in deployments
                if deployment.spec.model.name == family
                for entry in deployment.status.history
                if entry.version == version
            ),
            key=lambda rollout: (rollout.started, rollout.deployment),
        )
        model_events = sorted(
            (
                EventRecord(
                    time=_event_time(event),
                    type=event.get("type", ""),
                    reason=event.get("reason", ""),
                    message=event.get("message", ""),
                )
                for event in about.get(model.metadata.name, [])
            ),
            key=lambda event: (event.time or earliest, event.reason),
        )
        versions.append(
            VersionAudit(
                version=version,
                model=model.metadata.name,
                created=model.metadata.creation_timestamp,
                stage=model.status.stage,
                owner=model.spec.governance.owner,
                risk_tier=model.spec.governance.risk_tier,
                artifact=model.spec.artifact,
                image=model.spec.image,
                lineage=model.spec.lineage,
                metrics=model.spec.metrics,
                evaluation=model.status.evaluation,
                created_by=creator(model.metadata.annotations),
                approvals=_approvals(model),
                trigger=_trigger(model, runs),
                rollouts=rollouts,
                served_by=model.status.served_by,
                events=model_events,
            )
        )
    return FamilyAudit(family=family, namespace=namespace, generated=now, versions=versions)
