"""The follow loop: ask the registry where a Deployment's alias points, then act (I/O).

Thin: the Deployment and its family's Models from the cache, the registry's answer
(the standard-library client in a thread, so the event loop never waits on it), the
decision from the pure `follow`, then the writes: the Model created, its approval
recorded, an Event, the Deployment's status. It runs under its own key in the work
queue, so a slow or unreachable registry never holds up a rollout's reconcile; the
status write carries the resourceVersion it was computed from, as every status write
does, so it never overwrites what the Deployment's reconcile wrote meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from modelkeeper.api.deployment import DeploymentResource, MlflowFollow
from modelkeeper.api.derived import created_by
from modelkeeper.api.model import ApprovalRecord, ModelResource
from modelkeeper.controller.cache import Body, Cache
from modelkeeper.controller.follow import (
    AliasTarget,
    Event,
    FollowReason,
    RegistryAnswer,
    RegistryFailure,
    decide_follow,
    name_taken,
    seconds_until_due,
)
from modelkeeper.controller.retrainresults import parsed_or_none
from modelkeeper.controller.settings import OperatorSettings
from modelkeeper.controller.statuswrite import StatusWriter, status_document
from modelkeeper.kube import client as kinds
from modelkeeper.kube.client import ApiError, JsonObject, KubeClient
from modelkeeper.registry.mlflow import (
    Connection,
    MlflowRegistry,
    RegistryError,
    RegistryNotFoundError,
    RegistryUnreachableError,
)
from modelkeeper.registry.uris import RegistryUri

log = logging.getLogger("modelkeeper.controller.following")

TIMEOUT_SECONDS = 10.0
"""The longest one registry call may take; a slower registry is reported unreachable."""


def registry_of(settings: OperatorSettings, environ: Mapping[str, str]) -> MlflowRegistry | None:
    """The registry at --mlflow-tracking-uri, with MLflow's credential variables from the
    operator's environment; None without the flag."""
    if settings.mlflow_tracking_uri is None:
        return None
    connection = Connection.from_environ(
        {**environ, "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri}
    )
    return MlflowRegistry(connection, timeout=TIMEOUT_SECONDS)


def _look_up(registry: MlflowRegistry, follow: MlflowFollow) -> AliasTarget:
    """Where the alias points, and the metrics of the run that logged that version."""
    version = registry.model_version(RegistryUri(follow.model, alias=follow.alias))
    metrics: dict[str, float] = {}
    if version.run_id:
        try:
            metrics = registry.run_metrics(version.run_id)
        except RegistryNotFoundError:  # the run was deleted: the version has no metrics to copy
            log.info("run %s of %s is gone; no metrics", version.run_id, follow.model)
    return AliasTarget(version.version, version.run_id, version.source, metrics)


@dataclass(frozen=True)
class RegistryFollowing:
    """Follows the registry aliases of the Deployments that have spec.follow."""

    client: KubeClient
    cache: Cache
    statuses: StatusWriter
    """The Deployments' status writer, shared with their reconcile."""
    registry: MlflowRegistry | None

    async def follow(self, namespace: str, name: str, body: Body) -> float | None:
        """Ask the registry when due; returns the seconds until the next look."""
        deployment = DeploymentResource.from_object(body)
        if deployment.spec.follow is None:
            return None
        now = datetime.now(UTC).replace(microsecond=0)
        if (wait := seconds_until_due(deployment, now)) > 0:
            return wait
        follow = deployment.spec.follow.mlflow
        answer = await self._ask(follow)
        models = [
            model
            for model_body in self.cache.family_models(namespace, deployment.spec.model.name)
            if (model := parsed_or_none(ModelResource.from_object, model_body)) is not None
        ]
        tracking_uri = self.registry.tracking_uri if self.registry is not None else ""
        decision = decide_follow(deployment, answer, models, tracking_uri, now)
        if decision.create is not None:
            created = await self._create(decision.create)
            if created is None:
                decision = name_taken(deployment, decision.create, now)
            elif decision.event is not None:
                # Posted at once, so a failed write below cannot lose it; a Model made by an
                # earlier look (whose status write failed) was announced then.
                if created:
                    await self._post(body, decision.event)
                decision = replace(decision, event=None)
        if decision.approve is not None:
            await self._approve(namespace, *decision.approve)
        if decision.event is not None:
            await self._post(body, decision.event)
        await self.statuses.write(body, deployment.status, decision.status)
        return follow.interval.total_seconds()

    async def _post(self, body: Body, event: Event) -> None:
        await self.client.post_event(body, event.type, event.reason, event.message)

    async def _ask(self, follow: MlflowFollow) -> RegistryAnswer:
        if self.registry is None:
            return RegistryFailure(
                FollowReason.NO_REGISTRY,
                "the operator runs without --mlflow-tracking-uri: it has no registry to follow",
            )
        try:
            return await asyncio.to_thread(_look_up, self.registry, follow)
        except RegistryUnreachableError as error:
            return RegistryFailure(FollowReason.REGISTRY_UNREACHABLE, str(error))
        except RegistryNotFoundError as error:
            return RegistryFailure(FollowReason.ALIAS_NOT_FOUND, str(error))
        except RegistryError as error:
            return RegistryFailure(FollowReason.REGISTRY_REFUSED, str(error))

    async def _create(self, manifest: JsonObject) -> bool | None:
        """Create the Model: True; False when this very Model exists already (the same
        family and artifact); None when another Model has its name."""
        try:
            await self.client.create(kinds.MODEL, created_by(manifest, await self.client.whoami()))
            return True
        except ApiError as error:
            if error.status != 409:
                raise
        metadata = manifest["metadata"]
        existing = await self.client.get(kinds.MODEL, metadata["namespace"], metadata["name"])
        if existing is None:  # deleted since: created on the next look
            raise ApiError(409, "POST", metadata["name"], "created and deleted meanwhile")
        same = ("name", "artifact")
        return (
            False if all(existing["spec"].get(k) == manifest["spec"].get(k) for k in same) else None
        )

    async def _approve(self, namespace: str, name: str, approval: ApprovalRecord) -> None:
        """Record the follow's approval in the Model's status, over its newest state."""
        body = await self.client.get(kinds.MODEL, namespace, name)
        if body is None:
            return
        model = ModelResource.from_object(body)
        status = model.status.model_copy(update={"approval": approval, "approved": True})
        await self.client.apply(status_document(body, status), "status")
