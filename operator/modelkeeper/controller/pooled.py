"""A pooled Deployment's decisions: its catalogue, its versions' readiness, its pool's health.

A Deployment with spec.pool runs no scoring servers and no router of its own: its one
child is its catalogue (api/pool.py), the versions the pool's servers may load and the
split the pool's router follows, built from the rollout's routes. The pool's servers
load on demand, so a version in the catalogue is ready when they are. What can go wrong
is said in the Pooled condition and never stops the operator: the pool does not exist
or is not ready, an older Deployment of the pool serves the same model name (the path
could not tell them apart), or a version is an image, which a pool cannot load.
Pure: desired.py calls it, reconcile.py reads the cache and writes.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from modelkeeper.api.conditions import ConditionStatus, set_condition
from modelkeeper.api.deployment import DeploymentResource
from modelkeeper.api.labels import Manifest, child_labels
from modelkeeper.api.model import ModelResource
from modelkeeper.api.pool import POOL_LABEL, PooledFamily, PooledVersion, catalogue_name
from modelkeeper.api.servingpool import (
    ServingPoolConditionType,
    ServingPoolResource,
    ServingPoolStatus,
)
from modelkeeper.api.types import ServingRole
from modelkeeper.controller.manifests import owned
from modelkeeper.controller.podstates import PodProblem
from modelkeeper.controller.rollout import Readiness
from modelkeeper.controller.traffic import Routes

NOT_FOUND = "PoolNotFound"
NOT_READY = "PoolNotReady"
NAME_TAKEN = "ModelNameTaken"
NOT_AN_ARTIFACT = "NotAnArtifact"


@dataclass(frozen=True)
class PoolView:
    """What a reconcile of a pooled Deployment read of its pool."""

    pool: ServingPoolResource | None
    """The ServingPool that spec.pool names; None when there is none."""
    servers: Readiness | None
    """Its scoring servers' apps/v1 Deployment's readiness; None before it exists."""
    catalogued: Collection[str] = ()
    """The versions in the Deployment's catalogue as it is now."""
    taken_by: str | None = None
    """An older Deployment of the same pool that serves the same model name, if any."""


@dataclass(frozen=True)
class PoolCheck:
    """The Pooled condition: whether the pool serves the Deployment, and if not, why."""

    holds: bool
    reason: str
    message: str
    problems: Mapping[str, PodProblem] = field(default_factory=dict)
    """Why each version cannot be served, by version, as a pod problem is reported."""


def readiness(workload: Mapping[str, Any]) -> Readiness:
    """An apps/v1 Deployment's replicas and ready replicas, from its status."""
    status = workload.get("status") or {}
    return Readiness(replicas=status.get("replicas", 0), ready=status.get("readyReplicas", 0))


def path_owner(rivals: Sequence[tuple[datetime | None, str]]) -> str:
    """Of the Deployments (creation time, name) of one pool that serve one model name, the
    one that keeps it: the oldest, and by name among equals."""
    return min(rivals, key=lambda rival: (rival[0] is None, rival[0] or datetime.min, rival[1]))[1]


def pool_replicas(view: PoolView) -> int:
    """The scoring servers a version waits for: the pool's (a pool scaled to zero counts as
    ready, as a version scaled to zero does), and one while there is no pool."""
    return view.pool.spec.replicas if view.pool is not None else 1


def pooled_readiness(view: PoolView) -> dict[str, Readiness]:
    """Each catalogued version is as ready as the pool's servers: they load it on demand.

    A Deployment whose model name an older one has is not served: nothing of it is ready.
    """
    ready = view.servers if view.pool is not None and view.taken_by is None else None
    return {version: ready or Readiness(0, 0) for version in view.catalogued}


def check_pool(
    deployment: DeploymentResource,
    view: PoolView,
    models: Mapping[str, ModelResource],
    running: Collection[str],
) -> PoolCheck:
    """Whether the pool serves the Deployment's running versions, and if not, why."""
    name = deployment.spec.pool
    images = sorted(
        version
        for version in running
        if version in models and models[version].spec.artifact is None
    )
    if view.pool is None:
        reason, message = NOT_FOUND, f"ServingPool {name} does not exist in this namespace"
    elif view.taken_by is not None:
        reason = NAME_TAKEN
        message = (
            f"Deployment {view.taken_by} serves model {deployment.spec.model.name} in "
            f"ServingPool {name} already; a pool's path tells models apart by name only"
        )
    elif images:
        message = (
            f"version {', '.join(images)} is a model image: a ServingPool loads artifacts only"
        )
        problem = PodProblem(NOT_AN_ARTIFACT, message)
        return PoolCheck(False, NOT_AN_ARTIFACT, message, dict.fromkeys(images, problem))
    else:
        ready = view.servers.ready if view.servers is not None else 0
        wanted = pool_replicas(view)
        message = f"ServingPool {name}: {ready} of {wanted} scoring servers ready"
        if ready < wanted:
            problem = PodProblem(NOT_READY, message, stuck=False)
            return PoolCheck(False, NOT_READY, message, dict.fromkeys(running, problem))
        return PoolCheck(True, "PoolServes", message)
    problem = PodProblem(reason, message)
    return PoolCheck(False, reason, message, dict.fromkeys(running, problem))


def _versions(
    routes: Routes, draining: Collection[str], models: Mapping[str, ModelResource]
) -> list[PooledVersion]:
    """The versions the pool may load, each with its part and share; a version draining
    after a promotion stays loadable by its version (as Preview, weight 0) until it ends."""
    parts = [(version, role, weight) for version, role, weight in routes.live()]
    parts += [(version, ServingRole(role), 0) for version, role in _unweighted(routes)]
    parts += [(version, ServingRole.PREVIEW, 0) for version in sorted(draining)]
    found = []
    for version, role, weight in parts:
        model = models.get(version)
        artifact = model.spec.artifact if model is not None else None
        if model is None or artifact is None:
            continue
        found.append(
            PooledVersion(
                version=version,
                model=model.metadata.name,
                role=role,
                weight=weight,
                uri=artifact.uri,
                sha256=artifact.sha256,
                format=artifact.format,
                signature=model.spec.signature,
                reference=model.spec.reference,
            )
        )
    return found


def _unweighted(routes: Routes) -> list[tuple[str, ServingRole]]:
    """A shadow (mirrored) or preview (by version only) candidate: it takes no share."""
    return [
        (version, role)
        for version, role in (
            (routes.shadow, ServingRole.SHADOW),
            (routes.preview, ServingRole.PREVIEW),
        )
        if version is not None
    ]


def build_catalogue(
    deployment: DeploymentResource,
    routes: Routes | None,
    draining: Collection[str],
    models: Mapping[str, ModelResource],
) -> Manifest | None:
    """The Deployment's catalogue ConfigMap; None while it cannot be built (nothing to route
    to, or the stable version's Model is gone or is an image): the last one then stays."""
    pool = deployment.spec.pool
    if routes is None or pool is None:
        return None
    versions = _versions(routes, draining, models)
    if routes.stable not in {v.version for v in versions}:
        return None
    serving = deployment.spec.serving
    family = PooledFamily(
        deployment=deployment.metadata.name,
        model=deployment.spec.model.name,
        versions=tuple(versions),
        mirror_percent=routes.mirror_percent
        if routes.shadow in {v.version for v in versions}
        else 0,
        payload_log_sampling=serving.payload_log_sampling,
        probability_sampling=serving.probability_sampling,
    )
    labels = child_labels(deployment, "catalogue") | {POOL_LABEL: pool}
    name = catalogue_name(deployment.metadata.name)
    return owned("v1", "ConfigMap", name, deployment, labels) | {"data": family.to_data()}


def pool_status(
    pool: ServingPoolResource,
    servers: Readiness | None,
    router_ready: int,
    families: int,
    now: datetime,
) -> ServingPoolStatus:
    """The whole next status of a ServingPool: Ready once every asked-for server and
    router replica is."""
    spec = pool.spec
    ready = servers.ready if servers is not None else 0
    holds = ready >= spec.replicas and router_ready >= spec.router.replicas
    message = (
        f"{ready} of {spec.replicas} scoring servers and {router_ready} of "
        f"{spec.router.replicas} routers ready; {families} Deployments in the pool"
    )
    conditions = set_condition(
        pool.status.conditions,
        ServingPoolConditionType.READY,
        ConditionStatus.TRUE if holds else ConditionStatus.FALSE,
        "AllReady" if holds else ("ServersNotReady" if ready < spec.replicas else "RouterNotReady"),
        message,
        now,
        pool.metadata.generation,
    )
    return ServingPoolStatus(
        observed_generation=pool.metadata.generation,
        replicas=spec.replicas,
        ready_replicas=ready,
        router_ready_replicas=router_ready,
        families=families,
        message=message,
        conditions=conditions,
    )
