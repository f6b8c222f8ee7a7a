"""The next status of a Deployment and of a Model, computed from what was observed.

Pure: the handlers gather the spec, the plan, the observed readiness and the clock, and
this module returns the whole next status, which is then written once. Conditions
follow the Kubernetes convention: `lastTransitionTime` moves only when a condition's
status changes, so an unchanged world writes an unchanged status.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from modelkeeper.api.approval import APPROVAL_NEEDED, approval_state
from modelkeeper.api.conditions import Condition, ConditionStatus, get_condition, set_condition
from modelkeeper.api.deployment import (
    Candidate,
    DeploymentConditionType,
    DeploymentResource,
    DeploymentStatus,
    Phase,
    VersionStatus,
)
from modelkeeper.api.model import (
    ApprovalRecord,
    ApprovalSource,
    ModelConditionType,
    ModelResource,
    ModelStatus,
    Serving,
    Stage,
)
from modelkeeper.api.selection import Selection, SelectionReason
from modelkeeper.api.types import ServingRole
from modelkeeper.controller.podstates import PodProblem
from modelkeeper.controller.pooled import PoolCheck
from modelkeeper.controller.rollout import HoldReason, Plan, Readiness, is_ready


@dataclass
class Validation:
    """The outcome of checking a Model's files: what is wrong, what was checked, what was not."""

    problems: list[str] = field(default_factory=list)
    """What is wrong, each said so a person can fix it."""
    checked: list[str] = field(default_factory=list)
    """What the operator checked and found right."""
    unchecked: list[str] = field(default_factory=list)
    """What the operator could not check, and who checks it instead."""


@dataclass(frozen=True)
class Observation:
    """Everything a Deployment's next status is computed from."""

    deployment: DeploymentResource
    selection: Selection
    plan: Plan
    models: Mapping[str, str]
    """The Model object's name of each version the plan names."""
    observed: Mapping[str, Readiness]
    replicas: int
    now: datetime
    failing: Mapping[str, PodProblem] = field(default_factory=dict)
    """Why a version that is not ready fails to start, by version, from its pods (or, for a
    pooled Deployment, from its pool)."""
    pool: PoolCheck | None = None
    """With spec.pool: whether the pool serves the Deployment, and if not, why."""


FAILURE_LIMIT = 2048
"""VersionStatus.failure's length, kept from the end (where the last words are)."""


def _version(observation: Observation, version: str) -> VersionStatus:
    readiness = observation.observed.get(version, Readiness(0, 0))
    problem = observation.failing.get(version)
    return VersionStatus(
        version=version,
        model=observation.models[version],
        replicas=observation.replicas,
        ready_replicas=readiness.ready,
        failure=problem.message[-FAILURE_LIMIT:] if problem is not None and problem.stuck else None,
    )


HOLD_PHASES = {
    HoldReason.ROLLED_BACK: Phase.DEGRADED,
    HoldReason.ABORTED: Phase.ABORTED,
    HoldReason.AWAITING_PROMOTION: Phase.PAUSED,
    HoldReason.PAUSED_BY_USER: Phase.PAUSED,
    HoldReason.ANALYSIS_INCONCLUSIVE: Phase.PAUSED,
    HoldReason.APPROVAL_REQUIRED: Phase.PAUSED,
    HoldReason.EXPERIMENT_INCONCLUSIVE: Phase.HEALTHY,
}


def _failing(observation: Observation, stuck_only: bool = True) -> PodProblem | None:
    """The pod problem of the version being rolled out (or of the stable one), if not ready;
    only one that needs a fix unless `stuck_only` is False (past the progress deadline)."""
    plan = observation.plan
    for version in (plan.candidate, plan.stable):
        if version is None or is_ready(observation.observed.get(version), observation.replicas):
            continue
        problem = observation.failing.get(version)
        if problem is not None and (problem.stuck or not stuck_only):
            return problem
    return None


def _phase(observation: Observation, failing: PodProblem | None) -> tuple[Phase, str]:
    plan = observation.plan
    selection = observation.selection
    if plan.stable is None:
        return Phase.PENDING, selection.message
    stable_ready = is_ready(observation.observed.get(plan.stable), observation.replicas)
    rolling = plan.candidate or plan.stable
    if plan.deadline_exceeded:
        known = _failing(observation, stuck_only=False)
        why = known.message if known else "look at its pods' events and logs"
        return Phase.DEGRADED, (
            f"version {rolling} did not become ready within the progress deadline: {why}"
        )
    if failing is not None:
        serving = (
            f"; version {plan.stable} keeps serving" if plan.candidate and stable_ready else ""
        )
        return Phase.DEGRADED, f"version {rolling} fails to start: {failing.message}{serving}"
    if not stable_ready:
        if plan.started is not None and plan.candidate is None:
            return Phase.PROGRESSING, f"waiting for version {plan.stable} to become ready"
        return Phase.DEGRADED, f"the stable version {plan.stable} is not ready"
    if plan.hold is not None:
        return HOLD_PHASES[plan.hold.reason], plan.hold.message
    if plan.candidate is not None:
        if plan.step is None:
            return Phase.PROGRESSING, (
                f"version {plan.candidate} starting; {plan.stable} serves until it is ready"
            )
        role = plan.role.value.lower() if plan.role else "candidate"
        share = f"{plan.weight}% of requests" if plan.weight else f"{plan.mirror_percent}% mirrored"
        reading = plan.experiment
        if reading is not None and reading.challenger.version == plan.candidate:
            return Phase.PROGRESSING, (
                f"version {plan.candidate} is the challenger ({share}): {reading.message}"
            )
        return Phase.PROGRESSING, f"version {plan.candidate} is the {role} ({share})"
    if selection.model is None and selection.reason is SelectionReason.MODEL_NOT_FOUND:
        return Phase.DEGRADED, f"{selection.message}; version {plan.stable} keeps serving"
    if plan.withdrawn is not None:
        return Phase.HEALTHY, (
            f"version {plan.stable} serves; version {plan.withdrawn} is withdrawn "
            "(kubectl modelkeeper retry lets it back in)"
        )
    return Phase.HEALTHY, f"version {plan.stable} serves"


def deployment_status(observation: Observation) -> DeploymentStatus:
    """The whole next status of a Deployment."""
    deployment, plan, now = observation.deployment, observation.plan, observation.now
    previous = deployment.status
    generation = deployment.metadata.generation
    failing = _failing(observation)
    phase, message = _phase(observation, failing)
    true, false = ConditionStatus.TRUE, ConditionStatus.FALSE
    stable_ready = plan.stable is not None and (
        observation.observed.get(plan.stable, Readiness(0, 0)).ready > 0
    )

    def condition(
        conditions: list[Condition[DeploymentConditionType]],
        kind: DeploymentConditionType,
        holds: bool,
        reason: str,
        text: str,
    ) -> list[Condition[DeploymentConditionType]]:
        return set_condition(
            conditions, kind, true if holds else false, reason, text, now, generation
        )

    following = deployment.spec.follow is not None
    pool = observation.pool
    conditions = [
        c
        for c in previous.conditions
        if (following or c.type is not DeploymentConditionType.FOLLOWING)
        and (pool is not None or c.type is not DeploymentConditionType.POOLED)
    ]
    if pool is not None:
        conditions = condition(
            conditions, DeploymentConditionType.POOLED, pool.holds, pool.reason, pool.message
        )
    conditions = condition(
        conditions,
        DeploymentConditionType.AVAILABLE,
        stable_ready,
        "StableReady" if stable_ready else ("StableNotReady" if plan.stable else "NothingToServe"),
        f"version {plan.stable} serves" if stable_ready else message,
    )
    # A version failing to start is still being rolled out until the progress deadline.
    progressing = phase in (Phase.PROGRESSING, Phase.PAUSED) or (
        failing is not None and not plan.deadline_exceeded
    )
    if plan.deadline_exceeded:
        progress_reason = "ProgressDeadlineExceeded"
    elif failing is not None:
        progress_reason = failing.reason
    elif plan.hold is not None:
        progress_reason = plan.hold.reason.value
    else:
        progress_reason = "RollingOut" if progressing else "RolloutComplete"
    conditions = condition(
        conditions,
        DeploymentConditionType.PROGRESSING,
        progressing,
        progress_reason,
        message if progressing or plan.deadline_exceeded or plan.hold else "no rollout in progress",
    )
    unselected = observation.selection.model is None
    degraded = phase is Phase.DEGRADED or (phase is Phase.PENDING and unselected)
    if plan.deadline_exceeded:
        degraded_reason = "ProgressDeadlineExceeded"
    elif failing is not None:
        degraded_reason = failing.reason
    elif plan.hold is not None and phase is Phase.DEGRADED:
        degraded_reason = plan.hold.reason.value
    elif unselected:
        degraded_reason = observation.selection.reason.value
    else:
        degraded_reason = "StableNotReady"
    conditions = condition(
        conditions,
        DeploymentConditionType.DEGRADED,
        degraded,
        degraded_reason if degraded else "AsExpected",
        message if degraded else "nothing is wrong",
    )
    waiting = observation.selection.waiting
    conditions = condition(
        conditions,
        DeploymentConditionType.APPROVAL_REQUIRED,
        waiting is not None,
        "AwaitingApproval" if waiting is not None else "NothingWaiting",
        f"Model {waiting.metadata.name} (version {waiting.spec.version}) waits for approval"
        if waiting is not None
        else "no newer version waits for approval",
    )
    candidate = None
    if plan.candidate is not None:
        base = _version(observation, plan.candidate)
        candidate = Candidate(
            **base.model_dump(),
            role=plan.role or ServingRole.CANARY,
            since=plan.started or now,
        )
    return DeploymentStatus(
        observed_generation=generation,
        phase=phase,
        message=message,
        stable=_version(observation, plan.stable) if plan.stable is not None else None,
        candidate=candidate,
        weight=plan.weight if candidate is not None else None,
        mirror_percent=plan.mirror_percent if plan.role is ServingRole.SHADOW else None,
        step=plan.step if candidate is not None else None,
        step_started=plan.step_started if candidate is not None else plan.started,
        analysis_runs=plan.analysis_runs,
        experiment=plan.experiment,
        manual=plan.manual,
        withdrawn=plan.withdrawn,
        conditions=conditions,
        history=plan.history,
        follow=previous.follow if following else None,
    )


def served_by(model: ModelResource, statuses: Mapping[str, Mapping[str, Any]]) -> list[Serving]:
    """The Deployments (by name, with their raw status) that serve the version now.

    A stable version serves once one of its scoring servers is ready (or it was in
    Production already, so that a restart does not retire it); before that it has not
    served a request, and its stage must not say Production.
    """
    name = model.metadata.name
    found = []
    for deployment, status in sorted(statuses.items()):
        stable = status.get("stable") or {}
        candidate = status.get("candidate") or {}
        if stable.get("model") == name:
            if stable.get("readyReplicas", 0) > 0 or model.status.stage is Stage.PRODUCTION:
                found.append(Serving(deployment=deployment, role=ServingRole.STABLE))
        elif candidate.get("model") == name:
            found.append(Serving(deployment=deployment, role=candidate["role"]))
    return found


@dataclass(frozen=True)
class Starts:
    """How the version's scoring servers start in the Deployments that run it."""

    ready: Sequence[str] = ()
    """The Deployments with a ready scoring server of it."""
    failing: Sequence[str] = ()
    """Why they fail to start, one entry per Deployment that says so."""


def starts(model: ModelResource, statuses: Mapping[str, Mapping[str, Any]]) -> Starts:
    """What the Deployments (by name, with their raw status) say of the version's servers."""
    ready, failing = [], []
    for deployment, status in sorted(statuses.items()):
        for entry in (status.get("stable") or {}, status.get("candidate") or {}):
            if entry.get("model") != model.metadata.name:
                continue
            if entry.get("failure"):
                failing.append(f"Deployment {deployment}: {entry['failure']}")
            elif entry.get("readyReplicas", 0) > 0:
                ready.append(deployment)
    return Starts(ready, failing)


def _started(
    conditions: Sequence[Condition[ModelConditionType]],
    started: Starts,
    now: datetime,
    generation: int | None,
) -> list[Condition[ModelConditionType]]:
    """Started: False while a Deployment's servers of it fail to start, True once they are
    ready somewhere. A failure stays until then, so a version rolled back for it keeps
    saying why."""
    if started.failing:
        status, reason = ConditionStatus.FALSE, "FailsToStart"
        message = "; ".join(started.failing)
    elif started.ready:
        status, reason = ConditionStatus.TRUE, "Started"
        message = f"its scoring servers are ready in Deployment {', '.join(started.ready)}"
    elif (last := get_condition(conditions, ModelConditionType.STARTED)) is not None and (
        last.status == ConditionStatus.FALSE
    ):
        status, reason, message = last.status, last.reason, last.message
    else:
        status, reason = ConditionStatus.UNKNOWN, "NotStarted"
        message = "no Deployment has started its scoring servers"
    return set_condition(
        conditions, ModelConditionType.STARTED, status, reason, message, now, generation
    )


def _validated(
    conditions: Sequence[Condition[ModelConditionType]],
    validation: Validation,
    now: datetime,
    generation: int | None,
) -> list[Condition[ModelConditionType]]:
    """Validated: False with the problems; else True, saying what was and was not checked."""
    if validation.problems:
        status, reason = ConditionStatus.FALSE, "ValidationFailed"
        message = "; ".join(validation.problems)
    else:
        status = ConditionStatus.TRUE
        reason = "ValidatedInPart" if validation.unchecked else "Validated"
        parts = []
        if validation.checked:
            parts.append("checked: " + "; ".join(validation.checked))
        if validation.unchecked:
            parts.append("not checked by the operator: " + "; ".join(validation.unchecked))
        message = ". ".join(parts) or "nothing to check"
    return set_condition(
        conditions, ModelConditionType.VALIDATED, status, reason, message, now, generation
    )


def model_status(
    model: ModelResource,
    serving: Sequence[Serving],
    validation: Validation,
    now: datetime,
    started: Starts = Starts(),
) -> ModelStatus:
    """The whole next status of a Model: its stage, approval, servers and conditions."""
    previous = model.status
    generation = model.metadata.generation
    roles = {entry.role for entry in serving}
    if ServingRole.STABLE in roles:
        stage = Stage.PRODUCTION
    elif roles:
        stage = Stage.CANDIDATE
    elif previous.stage in (Stage.PRODUCTION, Stage.RETIRED):
        stage = Stage.RETIRED
    elif previous.stage in (Stage.REJECTED, Stage.EVALUATING):
        stage = previous.stage
    else:
        stage = Stage.REGISTERED
    state = approval_state(model, now)
    approval = state.approval
    conditions = _validated(previous.conditions, validation, now, generation)
    conditions = set_condition(
        conditions,
        ModelConditionType.APPROVED,
        ConditionStatus.TRUE if approval else ConditionStatus.FALSE,
        f"ApprovedBy{approval.source.value}" if approval else APPROVAL_NEEDED,
        _approved_by(approval, state.approvals) if approval else state.needed,
        now,
        generation,
    )
    conditions = _started(conditions, started, now, generation)
    return ModelStatus(
        observed_generation=generation,
        stage=stage,
        approved=approval is not None,
        approval=approval,
        approvals=state.approvals,
        evaluation=previous.evaluation,
        served_by=sorted(serving, key=lambda entry: entry.deployment),
        conditions=conditions,
    )


def _approved_by(approval: ApprovalRecord, approvals: Sequence[ApprovalRecord]) -> str:
    """Who approved: the manifest's or policy's approver, or every approver by annotation."""
    if approval.source is ApprovalSource.ANNOTATION:
        return "approved by " + ", ".join(record.by for record in approvals)
    return f"approved by {approval.by}"
