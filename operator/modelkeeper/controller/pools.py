"""The ServingPool controller, and what a pooled Deployment's reconcile reads of its pool.

A pool's reconcile: build its objects (poolobjects.py), apply those that changed since
the last apply, or that were deleted or edited by someone else (applied.py), and write
its status (pooled.py's `pool_status`): its servers' and router's readiness from the
cache, and how many Deployments name it. A pool's objects are the same set whatever its
spec, so nothing is pruned: they go with the pool, by their owner references.
`pool_view` gathers from the cache what a pooled Deployment's decisions need of its pool.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import ValidationError

from modelkeeper.api.deployment import DeploymentResource
from modelkeeper.api.pool import pool_router, pool_service
from modelkeeper.api.servingpool import ServingPoolResource
from modelkeeper.controller.applying import OwnedObjects
from modelkeeper.controller.cache import Body, Cache
from modelkeeper.controller.pooled import PoolView, path_owner, pool_status, readiness
from modelkeeper.controller.poolobjects import build_pool
from modelkeeper.controller.settings import OperatorSettings
from modelkeeper.controller.statuswrite import StatusWriter
from modelkeeper.kube.client import KubeClient

log = logging.getLogger("modelkeeper.controller")


def _pool(body: Body | None) -> ServingPoolResource | None:
    if body is None:
        return None
    try:
        return ServingPoolResource.from_object(body)
    except ValidationError as error:  # the CRD's schema keeps this out; an old object may not
        log.warning("ServingPool %s does not parse: %s", body["metadata"].get("name"), error)
        return None


def pool_view(cache: Cache, deployment: DeploymentResource) -> PoolView | None:
    """What a pooled Deployment's reconcile reads of its pool; None when it is not pooled."""
    name = deployment.spec.pool
    if name is None:
        return None
    namespace = deployment.metadata.namespace or ""
    servers = cache.workloads(namespace, name).get(pool_service(name))
    rivals = []
    for other in cache.family_deployments(namespace, deployment.spec.model.name):
        body = cache.deployment(namespace, other)
        if body is not None and (body.get("spec") or {}).get("pool") == name:
            created = body["metadata"].get("creationTimestamp")
            rivals.append((datetime.fromisoformat(created) if created else None, other))
    owner = path_owner(rivals) if rivals else deployment.metadata.name
    return PoolView(
        pool=_pool(cache.serving_pool(namespace, name)),
        servers=readiness(servers) if servers is not None else None,
        catalogued=cache.catalogued(namespace, deployment.metadata.name),
        taken_by=owner if owner != deployment.metadata.name else None,
    )


@dataclass
class Pools:
    """Reconciles ServingPools: their objects and their status."""

    client: KubeClient
    settings: OperatorSettings
    cache: Cache
    pod_monitor: bool
    statuses: StatusWriter = field(init=False)
    owned: OwnedObjects = field(init=False)
    """What was last applied for each owner, and what the watch saw deleted or edited."""

    def __post_init__(self) -> None:
        self.statuses = StatusWriter(self.client)
        self.owned = OwnedObjects(self.client)

    def forget(self, namespace: str, name: str) -> None:
        self.owned.forget((namespace, name))

    async def pool(self, namespace: str, name: str, body: Body) -> float | None:
        """Bring the pool's objects to its spec and report their readiness."""
        pool = ServingPoolResource.from_object(body)
        workloads = self.cache.workloads(namespace, name)
        desired = build_pool(
            pool, self.settings.default_image, self.pod_monitor, self.settings.stores()
        )
        await self.owned.apply((namespace, name), desired, (), {})
        servers = workloads.get(pool_service(name))
        router = workloads.get(pool_router(name))
        status = pool_status(
            pool,
            readiness(servers) if servers is not None else None,
            readiness(router).ready if router is not None else 0,
            len(self.cache.members(namespace, name)),
            datetime.now(UTC).replace(microsecond=0),
        )
        await self.statuses.write(body, pool.status, status)
        return None
