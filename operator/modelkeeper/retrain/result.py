"""A trainer's result, and the next Model made from it: lineage, gate, approval.

Pure. The training container writes its result as JSON to its termination message
(docs/writing-trainers.md); `parse_result` reads it with errors that name the field.
`schema_misfit` refuses a result whose schema does not fit the family's champion;
`build_model` makes the family's next Model with full lineage and the champion's
governance (never its approval); `retrain.gate` judges it; `policy_approval` approves it
where the policy allows; `evaluated_status` is the Model's status that records both.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from pydantic import Field, ValidationError, model_validator

from modelkeeper.api.base import ApiModel
from modelkeeper.api.conditions import ConditionStatus, set_condition
from modelkeeper.api.deployment import DeploymentResource, ModelSelector
from modelkeeper.api.derived import auto_approval, inherited_governance, new_model
from modelkeeper.api.labels import POLICY_LABEL, RUN_LABEL, Manifest
from modelkeeper.api.model import (
    ApprovalRecord,
    Artifact,
    DataRef,
    Fairness,
    GateResult,
    Lineage,
    ModelConditionType,
    ModelResource,
    ModelSpec,
    ModelStatus,
    ParameterValue,
    Reference,
    RetrainingRun,
    Signature,
    Stage,
)
from modelkeeper.api.retrainpolicy import RetrainPolicyResource, Run
from modelkeeper.api.selection import select_model
from modelkeeper.api.types import ImageRef, MetricName, RiskTier, Sha256


@dataclass(frozen=True)
class TrainerImage:
    """The image the trainer ran: as the workload names it, and the digest its pod ran."""

    image: str | None
    digest: str | None


class ResultError(ValueError):
    """The trainer's result cannot be read; the message says what is wrong, for people."""


class ResultArtifact(Artifact):
    """The model file the trainer wrote; unlike a Model's, its digest is required."""

    sha256: Sha256
    """The file's SHA-256 digest."""


class TrainingResult(ApiModel):
    """What a trainer reports in its termination message."""

    artifact: ResultArtifact
    """The model file: uri, sha256, format."""
    metrics: dict[MetricName, Annotated[float, Field(allow_inf_nan=False)]] = Field(
        default_factory=dict, max_length=64
    )
    """Offline metrics on held-out data, by name."""
    profile: DataRef | None = None
    """The reference profile of the training data, for drift: uri, sha256."""
    signature: Signature | None = Field(default=None, alias="schema")
    """The model's inputs and output, as in a Model's spec.schema."""
    training_data: list[DataRef] = Field(default_factory=list, max_length=16)
    """The data it was trained on: uri, sha256."""
    code_image: ImageRef | None = None
    """The training image; defaults to the workload's first container's image."""
    holdout: DataRef | None = None
    """The labelled data held out from training that metrics and championMetrics were
    measured on: uri, sha256."""
    champion_metrics: dict[MetricName, Annotated[float, Field(allow_inf_nan=False)]] = Field(
        default_factory=dict, max_length=64
    )
    """The champion's metrics, measured by the trainer on the same holdout."""
    fairness: Fairness | None = None
    """The new version's fairness over the sensitive attribute, measured on the holdout."""
    parameters: dict[MetricName, ParameterValue] = Field(default_factory=dict, max_length=64)
    """The training parameters, for lineage, as strings."""

    @model_validator(mode="after")
    def _measured_somewhere(self) -> TrainingResult:
        """Figures compared with others must say which data they were measured on."""
        if self.holdout is None:
            for name, given in (
                ("championMetrics", self.champion_metrics),
                ("fairness", self.fairness),
            ):
                if given:
                    raise ValueError(f"{name} needs holdout: the data it was measured on")
        return self


def _describe(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc']) or 'result'}: {item['msg']}"
        for item in error.errors()
    )


def parse_result(message: str) -> TrainingResult:
    """Read a termination message; ResultError says what is wrong with it."""
    if not message.strip():
        raise ResultError("the trainer wrote no result to its termination message")
    try:
        document = json.loads(message)
    except ValueError as error:
        raise ResultError(
            f"the termination message is not JSON ({error}); it starts with {message[:80]!r}"
        ) from None
    if not isinstance(document, dict):
        raise ResultError(f"the result must be a JSON object, not {type(document).__name__}")
    try:
        return TrainingResult.model_validate(document)
    except ValidationError as error:
        raise ResultError(f"the result is invalid: {_describe(error)}") from None


def find_champion(
    family: str,
    models: Sequence[ModelResource],
    deployments: Sequence[DeploymentResource],
    now: datetime,
) -> ModelResource | None:
    """The version a tracking Deployment serves as stable, else the newest approved one."""
    by_name = {model.metadata.name: model for model in models}
    for deployment in sorted(deployments, key=lambda d: d.metadata.name):
        stable = deployment.status.stable
        if deployment.spec.model.version is None and stable is not None:
            served = by_name.get(stable.model)
            if served is not None:
                return served
    # The champion is what the family is judged against, served or not yet checked.
    return select_model(ModelSelector(name=family), models, now, validated=False).model


def schema_misfit(result: TrainingResult, champion: ModelResource | None) -> str | None:
    """Why the result's schema does not fit the family, or None when it does.

    A new version replaces the champion behind the same clients, so it must take the same
    inputs (by name, each of the same type; their order and a categorical's categories may
    change) and predict the same kind of output (class labels may change). A family without
    a champion, or whose champion declares no schema, takes any schema.
    """
    if champion is None or champion.spec.signature is None:
        return None
    family = champion.spec.signature
    where = f"the champion {champion.metadata.name}"
    if result.signature is None:
        return f"the result has no schema; {where} has one, and the new version must fit it"
    mine = {feature.name: feature.type for feature in result.signature.inputs}
    theirs = {feature.name: feature.type for feature in family.inputs}
    problems = []
    if missing := sorted(theirs.keys() - mine.keys()):
        problems.append(f"inputs missing: {', '.join(missing)}")
    if extra := sorted(mine.keys() - theirs.keys()):
        problems.append(f"inputs the family does not have: {', '.join(extra)}")
    problems += [
        f"input {name} is {mine[name]}, not {theirs[name]}"
        for name in sorted(mine.keys() & theirs.keys())
        if mine[name] != theirs[name]
    ]
    if result.signature.output.type != family.output.type:
        problems.append(f"the output is {result.signature.output.type}, not {family.output.type}")
    if not problems:
        return None
    return (
        f"the result's schema does not fit the family ({where}: {len(theirs)} inputs, "
        f"{family.output.type}): " + "; ".join(problems)
    )


def policy_approval(
    policy: RetrainPolicyResource,
    risk_tier: RiskTier,
    evaluation: GateResult | None,
    now: datetime,
) -> ApprovalRecord | None:
    """The policy's approval, when the gate passed (or there is none) and the risk is low enough."""
    if evaluation is not None and not evaluation.passed:
        return None
    return auto_approval(
        policy.spec.approval.auto_approve_up_to,
        risk_tier,
        f"retrainpolicy/{policy.metadata.name}",
        now,
    )


def build_model(
    policy: RetrainPolicyResource,
    run: Run,
    version: str,
    result: TrainingResult,
    champion: ModelResource | None,
    parent_version: str | None,
    trainer: TrainerImage,
) -> Manifest:
    """The family's next Model: the result's artifact, schema, profile and metrics, with lineage.

    `parent_version` is the champion the run retrained from (when it started); the Model
    inherits the current champion's owner and risk tier, never its approval: a new
    version is approved on its own. The run's trigger and evidence go into the lineage,
    which outlives the policy's history of runs.
    """
    family = policy.spec.model.name
    profile = result.profile
    spec = ModelSpec.model_validate(
        {
            "name": family,
            "version": version,
            "artifact": Artifact.model_validate(result.artifact.model_dump()),
            "schema": result.signature,
            "reference": Reference(uri=profile.uri, sha256=profile.sha256) if profile else None,
            "metrics": result.metrics,
            "lineage": Lineage(
                training_data=result.training_data,
                holdout=result.holdout,
                code_image=result.code_image or trainer.image,
                code_image_digest=trainer.digest,
                parameters=result.parameters or None,
                parent_version=parent_version,
                retraining_run=RetrainingRun(
                    policy=policy.metadata.name,
                    run=run.name,
                    trigger=run.trigger,
                    reason=run.reason,
                ),
            ),
            "governance": inherited_governance(champion),
        }
    )
    return new_model(
        policy.metadata.namespace, spec, {POLICY_LABEL: policy.metadata.name, RUN_LABEL: run.name}
    )


def evaluated_status(
    model: ModelResource,
    evaluation: GateResult | None,
    approval: ApprovalRecord | None,
    now: datetime,
) -> ModelStatus:
    """The Model's status after the gate: Rejected when it failed, else Registered."""
    previous = model.status
    rejected = evaluation is not None and not evaluation.passed
    if evaluation is None:
        reason, message = "NoGate", "the policy has no gate"
    else:
        reason = "GateFailed" if rejected else "GatePassed"
        message = evaluation.message
    return previous.model_copy(
        update={
            "stage": Stage.REJECTED if rejected else Stage.REGISTERED,
            "evaluation": evaluation,
            "approval": approval or previous.approval,
            "approved": True if approval is not None else previous.approved,
            "conditions": set_condition(
                previous.conditions,
                ModelConditionType.EVALUATED,
                ConditionStatus.FALSE if rejected else ConditionStatus.TRUE,
                reason,
                message,
                now,
                model.metadata.generation,
            ),
        }
    )
