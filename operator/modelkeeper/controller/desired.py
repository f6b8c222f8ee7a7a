"""What a Deployment should be after one reconcile: the pure glue between reading and writing.

`desired` takes what a reconcile read (the Deployment, its family's Models, its owned
apps/v1 Deployments or, when pooled, its pool, the analysis run taken this tick, the clock)
and decides: it selects the version (selection.py), takes the rollout one tick (rollout/),
builds the children (builders.py; a pooled Deployment's catalogue: pooled.py) and gathers
what the status is computed from (status.py). reconcile.py
reads, calls it, and writes what it says.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from modelkeeper.api.deployment import AnalysisStatus, DeploymentResource, ExperimentStatus
from modelkeeper.api.labels import COMPONENT, ROLE_LABEL, VERSION_LABEL, Manifest, version_name
from modelkeeper.api.model import ModelResource
from modelkeeper.api.pool import catalogue_name
from modelkeeper.api.selection import Selection, select_model
from modelkeeper.api.types import ServingRole
from modelkeeper.controller.builders import (
    BuildInput,
    RunningVersion,
    build_children,
)
from modelkeeper.controller.pooled import (
    PoolView,
    build_catalogue,
    check_pool,
    pool_replicas,
    pooled_readiness,
    readiness,
)
from modelkeeper.controller.rollout import Controls, Plan, Readiness, Tick, is_ready, plan_rollout
from modelkeeper.controller.settings import OperatorSettings
from modelkeeper.controller.status import Observation

POD_POLL_SECONDS = 10.0
"""How often the pods of a version that is not ready are looked at for why."""


@dataclass(frozen=True)
class Seen:
    """What one reconcile of a Deployment read."""

    deployment: DeploymentResource
    models: Sequence[ModelResource]
    """The Models of its family."""
    children: Sequence[Mapping[str, Any]]
    """The apps/v1 Deployments it owns (its scoring servers and its router)."""
    run: AnalysisStatus | ExperimentStatus | None
    """The analysis run (or an A/B test's reading) taken this tick, if one was due."""
    now: datetime
    pool: PoolView | None = None
    """With spec.pool: what was read of the pool and of the Deployment's catalogue."""

    @property
    def controls(self) -> Controls:
        return Controls.read(self.deployment.metadata.annotations)


@dataclass(frozen=True)
class Desired:
    """What to write: the objects, what to keep, and what the status is computed from."""

    plan: Plan
    objects: list[Manifest]
    keep: set[str]
    """Objects of versions whose Model is gone: they cannot be rebuilt, only kept."""
    observation: Observation
    """Without `failing` from pods: the pods of the versions in `unready` are read only when
    there are any (a pooled Deployment's come from its pool instead)."""
    unready: set[str]
    """The versions that run on pods of their own but are not ready."""

    def wake_after(self) -> float | None:
        """Seconds until the Deployment wants its next reconcile without an event, if ever."""
        wake_at, now = self.plan.wake_at, self.observation.now
        wake = None if wake_at is None else (wake_at - now).total_seconds() + 1.0
        if self.unready:  # pod states change without an event of the objects watched
            wake = min(wake or POD_POLL_SECONDS, POD_POLL_SECONDS)
        return wake


def desired(seen: Seen, settings: OperatorSettings, *, pod_monitor: bool) -> Desired:
    """Decide one reconcile of a Deployment from what it read."""
    deployment, spec, now = seen.deployment, seen.deployment.spec, seen.now
    selection = select_model(spec.model, seen.models, now)
    servers = [child for child in seen.children if _labels(child).get(COMPONENT) == "server"]
    view = seen.pool or PoolView(None, None)
    if spec.pool is not None:
        observed = pooled_readiness(view)
        replicas = pool_replicas(view)
    else:
        observed = {_version(child): readiness(child) for child in servers}
        replicas = spec.autoscaling.min_replicas if spec.autoscaling else spec.replicas
    plan = plan_rollout(
        Tick(
            strategy=spec.strategy,
            status=deployment.status,
            target=selection.model.spec.version if selection.model is not None else None,
            waiting=selection.waiting.spec.version if selection.waiting is not None else None,
            observed=observed,
            replicas=replicas,
            controls=seen.controls,
            run=seen.run,
            now=now,
            progress_deadline=timedelta(seconds=settings.progress_deadline_seconds),
            drain=timedelta(seconds=settings.drain_seconds),
        )
    )
    by_version = {model.spec.version: model for model in seen.models}
    if spec.pool is not None:
        return _pooled(seen, plan, by_version, view, selection, observed, replicas)
    build = BuildInput(
        deployment=deployment,
        running=[
            RunningVersion(by_version[version], _role(plan, version))
            for version in sorted(plan.run)
            if version in by_version
        ],
        routes=plan.routes(),
        pod_roles={_version(child): _pod_role(child) for child in servers},
        default_image=settings.default_image,
        pod_monitor=pod_monitor,
        stores=settings.stores(),
    )
    name = deployment.metadata.name
    return Desired(
        plan=plan,
        objects=build_children(build),
        keep={version_name(name, v) for v in plan.run if v not in by_version},
        observation=Observation(
            deployment, selection, plan, model_names(seen, plan), observed, replicas, now
        ),
        unready={v for v in plan.run if not is_ready(observed.get(v), replicas)},
    )


def _pooled(
    seen: Seen,
    plan: Plan,
    by_version: Mapping[str, ModelResource],
    view: PoolView,
    selection: Selection,
    observed: Mapping[str, Readiness],
    replicas: int,
) -> Desired:
    """A pooled Deployment's one child, its catalogue, and its pool's word on its versions."""
    deployment = seen.deployment
    routes = plan.routes()
    draining = plan.run - {plan.stable, plan.candidate}
    catalogue = None
    if view.taken_by is None:
        catalogue = build_catalogue(deployment, routes, draining, by_version)
    stays = catalogue is None and view.taken_by is None and routes is not None
    check = check_pool(deployment, view, by_version, plan.run)
    return Desired(
        plan=plan,
        objects=[catalogue] if catalogue is not None else [],
        keep={catalogue_name(deployment.metadata.name)} if stays else set(),
        observation=Observation(
            deployment,
            selection,
            plan,
            model_names(seen, plan),
            observed,
            replicas,
            seen.now,
            failing=check.problems,
            pool=check,
        ),
        unready=set(),
    )


def model_names(seen: Seen, plan: Plan) -> dict[str, str]:
    """The Model object's name of each version: a version whose Model is gone keeps the name
    the status had for it (or, never known, its version)."""
    names = {model.spec.version: model.metadata.name for model in seen.models}
    last = seen.deployment.status
    known = {v.version: v.model for v in (last.stable, last.candidate) if v is not None}
    for version in plan.run - set(names):
        names[version] = known.get(version, version)
    return names


def _role(plan: Plan, version: str) -> ServingRole:
    """The part a version plays now: the candidate's role, or stable."""
    if version == plan.candidate:
        return plan.role or ServingRole.CANARY
    return ServingRole.STABLE


def _labels(child: Mapping[str, Any]) -> Mapping[str, str]:
    labels: Mapping[str, str] = child["metadata"].get("labels") or {}
    return labels


def _version(child: Mapping[str, Any]) -> str:
    return str(_labels(child)[VERSION_LABEL])


def _pod_role(child: Mapping[str, Any]) -> ServingRole:
    """The role a version's pods were started with: its pod template's role label."""
    template = child["spec"]["template"]["metadata"].get("labels", {})
    return ServingRole(template.get(ROLE_LABEL, ServingRole.STABLE.value))
