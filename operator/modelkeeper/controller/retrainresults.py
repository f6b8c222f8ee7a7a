"""A finished retraining run's result published: the Model it makes, with its evaluation.

The run's workload succeeded and its pod's termination message parsed into a result:
create the Model it describes (or reuse the one an interrupted earlier attempt made),
judge it against the family's champion with the policy's gate, write that evaluation
(and the approval the policy grants) into the Model's status, and end the run with what
happened. A result that does not fit the champion's schema makes no Model.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from pydantic import ValidationError

from modelkeeper.api.conditions import get_condition
from modelkeeper.api.deployment import DeploymentResource
from modelkeeper.api.derived import created_by
from modelkeeper.api.labels import PARENT_LABEL, VERSION_LABEL
from modelkeeper.api.model import ModelConditionType, ModelResource
from modelkeeper.api.retrainpolicy import RetrainPolicyResource, Run, RunOutcome
from modelkeeper.controller.cache import Body, Cache
from modelkeeper.controller.statuswrite import status_document
from modelkeeper.kube import client as kinds
from modelkeeper.kube.client import ApiError, JsonObject, KubeClient
from modelkeeper.retrain.gate import evaluate
from modelkeeper.retrain.result import (
    TrainerImage,
    TrainingResult,
    build_model,
    evaluated_status,
    find_champion,
    policy_approval,
    schema_misfit,
)
from modelkeeper.retrain.workload import code_image

log = logging.getLogger("modelkeeper.controller.retraining")
T = TypeVar("T")


def parsed_or_none(parse: Callable[[Body], T], body: Body | None) -> T | None:
    """An object parsed, or None when it is missing or does not parse (logged)."""
    if body is None:
        return None
    try:
        parsed = parse(body)
    except ValidationError as error:
        log.warning("%s does not parse: %s", body["metadata"].get("name"), error)
        return None
    return parsed


def family_of(
    cache: Cache, policy: RetrainPolicyResource
) -> tuple[list[ModelResource], list[DeploymentResource]]:
    """The family's Models and the Deployments that serve it, those that parse."""
    namespace, family = policy.metadata.namespace or "", policy.spec.model.name
    models = [
        parsed
        for body in cache.family_models(namespace, family)
        if (parsed := parsed_or_none(ModelResource.from_object, body)) is not None
    ]
    deployments = [
        deployment
        for name in cache.family_deployments(namespace, family)
        if (
            deployment := parsed_or_none(
                DeploymentResource.from_object, cache.deployment(namespace, name)
            )
        )
        is not None
    ]
    return models, deployments


def end_run(run: Run, outcome: RunOutcome, message: str, model: str | None, now: datetime) -> Run:
    """The run, ended now with `outcome`."""
    return run.model_copy(
        update={
            "outcome": outcome,
            "message": message[:1024],
            "model": model,
            "completion_time": now,
        }
    )


@dataclass(frozen=True)
class ResultPublisher:
    """Publishes the results of a policy's finished runs."""

    client: KubeClient
    cache: Cache

    async def publish(
        self,
        policy: RetrainPolicyResource,
        run: Run,
        obj: JsonObject,
        result: TrainingResult,
        image_digest: str | None,
        now: datetime,
    ) -> Run:
        """Create the run's Model (or reuse it), write its evaluation, and end the run.

        `image_digest` is the digest of the image the trainer's container ran."""
        labels = obj["metadata"]["labels"]
        models, deployments = family_of(self.cache, policy)
        champion = find_champion(policy.spec.model.name, models, deployments, now)
        if (misfit := schema_misfit(result, champion)) is not None:
            return end_run(run, RunOutcome.FAILED, misfit, None, now)
        parent = labels.get(PARENT_LABEL)
        manifest = build_model(
            policy,
            run,
            labels[VERSION_LABEL],
            result,
            champion,
            parent,
            TrainerImage(code_image(obj), image_digest),
        )
        manifest = created_by(manifest, await self.client.whoami())
        try:
            created = await self.client.create(kinds.MODEL, manifest)
        except ApiError as error:
            if error.status != 409:
                raise
            existing = await self.client.get(
                kinds.MODEL, policy.metadata.namespace, manifest["metadata"]["name"]
            )
            if existing is None:  # deleted since: create it on the next reconcile
                raise
            created = existing
        model = ModelResource.from_object(created)
        made_by = model.spec.lineage.retraining_run if model.spec.lineage else None
        if made_by is None or (made_by.policy, made_by.run) != (policy.metadata.name, run.name):
            return end_run(
                run,
                RunOutcome.FAILED,
                f"Model {model.metadata.name} exists already and was not made by this run",
                None,
                now,
            )
        evaluation = model.status.evaluation
        if get_condition(model.status.conditions, ModelConditionType.EVALUATED) is None:
            evaluation = evaluate(policy.spec.gate, result, champion, parent)
            approval = policy_approval(policy, model.spec.governance.risk_tier, evaluation, now)
            status = evaluated_status(model, evaluation, approval, now)
            await self.client.apply(status_document(created, status), "status")
        rejected = evaluation is not None and not evaluation.passed
        message = f"Model {model.metadata.name} (version {model.spec.version})"
        if evaluation is not None:
            message += f": {evaluation.message}"
        return end_run(
            run,
            RunOutcome.REJECTED if rejected else RunOutcome.SUCCEEDED,
            message,
            model.metadata.name,
            now,
        )
