"""The kopf handlers: thin. Indices hold the objects, events queue keys, workers reconcile.

No handler here writes to the object it is called for (no kopf progress or diff-base
annotations, no finalizers): the operator writes only status, Events and the objects it
owns, so a manifest applied twice changes nothing and deleting a Deployment never waits
for the operator. Decisions live in the pure modules; `reconcile` does the writing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from uuid import uuid4

import kopf
from prometheus_client import start_http_server

from modelkeeper.api.base import GROUP, VERSION
from modelkeeper.api.labels import COMPONENT, DEPLOYMENT_LABEL, MANAGED_BY, MANAGER, POLICY_LABEL
from modelkeeper.api.pool import POOL_LABEL, PooledFamily, pool_service
from modelkeeper.controller import metrics
from modelkeeper.controller.applied import managed_fingerprint
from modelkeeper.controller.cache import Cache, lean, owned_view, pod_view
from modelkeeper.controller.driftmonitor import DriftMonitors
from modelkeeper.controller.following import RegistryFollowing, registry_of
from modelkeeper.controller.leadership import Leadership
from modelkeeper.controller.notifier import Notifier
from modelkeeper.controller.pools import Pools
from modelkeeper.controller.reconcile import OWNED_KINDS, Reconciler
from modelkeeper.controller.reconciler import KindReconciler, Opening
from modelkeeper.controller.retraining import RetrainPolicies
from modelkeeper.controller.settings import OperatorSettings
from modelkeeper.controller.workqueue import Key, WorkQueue
from modelkeeper.kube import client as kinds
from modelkeeper.kube.client import FIELD_MANAGER, ApiError, Kind, KubeClient
from modelkeeper.kube.connection import connect
from modelkeeper.prometheus.client import ProviderPool

log = logging.getLogger("modelkeeper.controller")

MODEL = "Model"
DEPLOYMENT = "Deployment"
DRIFT_MONITOR = "DriftMonitor"
RETRAIN_POLICY = "RetrainPolicy"
SERVING_POOL = "ServingPool"
SHARDED = ("models", "deployments", "driftmonitors", "retrainpolicies", "servingpools")
"""The kinds --shard-selector selects: a family's four kinds carry its shard's label, and so
does the ServingPool its Deployment names (a pool serves the families of one shard)."""
_NEVER = object()
OWNED = f"{MANAGED_BY}={MANAGER}"
SERVER_PODS = f"{OWNED},{COMPONENT}=server"
"""What the operator watches of the kinds it owns: the API server sends only these."""
FOLLOW = "Follow"
"""A Deployment's registry alias, followed under a key of its own (`following`)."""
MAX_BACKOFF_SECONDS = 60.0
CONFLICT_RETRY_SECONDS = 0.2


@dataclass(frozen=True)
class Controllers:
    """The controllers of the five kinds; Deployments and Models share theirs, and a
    Deployment's registry alias is followed apart."""

    deployments: Reconciler
    drift_monitors: DriftMonitors
    retrain_policies: RetrainPolicies
    following: RegistryFollowing
    pools: Pools

    @property
    def cache(self) -> Cache:
        return self.deployments.cache

    @cached_property
    def by_kind(self) -> dict[str, KindReconciler]:
        """The reconciler of each kind, which the workers call for its keys."""
        shared = self.deployments
        return {
            MODEL: Opening(self.cache.model, shared.model_statuses, shared.model),
            DEPLOYMENT: Opening(
                self.cache.deployment, shared.statuses, shared.deployment, shared.forget_deployment
            ),
            DRIFT_MONITOR: self.drift_monitors,
            RETRAIN_POLICY: self.retrain_policies,
            FOLLOW: Opening(self.cache.deployment, shared.statuses, self.following.follow),
            SERVING_POOL: Opening(
                self.cache.serving_pool, self.pools.statuses, self.pools.pool, self.pools.forget
            ),
        }


@dataclass
class Operator:
    """The running operator: its client, queue and workers; the reconciler once indices exist.

    kopf gives each object a shallow copy of the operator's memo, so this one object,
    made at startup, is what every handler shares.
    """

    settings: OperatorSettings
    client: KubeClient
    pod_monitor: bool
    gateway_api: bool
    prometheus: ProviderPool
    notifier: Notifier
    leadership: Leadership | None = None
    """The Lease election, with --leader-election-lease; without it this replica leads."""
    election: asyncio.Task[None] | None = None
    controllers: Controllers | None = None
    queue: WorkQueue = field(default_factory=WorkQueue)
    failures: dict[Key, int] = field(default_factory=dict)
    workers: list[asyncio.Task[None]] = field(default_factory=list)
    last_seen: dict[tuple[str, ...], object] = field(default_factory=dict)
    """What members of a pool read of it (its spec, its servers' readiness) and the pool each
    Deployment named, as last seen: an event that changes neither wakes no one else."""

    def changed(self, key: tuple[str, ...], value: object) -> bool:
        """Whether `value` differs from the one last seen under `key` (and remember it)."""
        last = self.last_seen.get(key, _NEVER)
        self.last_seen[key] = value
        return last != value

    def attach(self, indices: Mapping[str, Any]) -> Controllers:
        """On the first event (kopf hands out indices only to handlers), start the workers."""
        if self.controllers is None:
            cache = Cache(
                models=indices["models"],
                model_families=indices["model_families"],
                deployments=indices["deployments"],
                deployment_families=indices["deployment_families"],
                drift_monitors=indices["drift_monitors"],
                retrain_policies=indices["retrain_policies"],
                retrain_policy_families=indices["retrain_policy_families"],
                owned_deployments=indices["owned_deployments"],
                serving_pools=indices["serving_pools"],
                pool_members=indices["pool_members"],
                pool_workloads=indices["pool_workloads"],
                catalogues=indices["catalogues"],
                owned_objects=tuple(indices[_owned_index(kind)] for kind in OWNED_KINDS),
                server_pods=indices["server_pods"],
            )
            deployments = Reconciler(
                self.client,
                self.settings,
                cache,
                metrics.DeploymentGauges(),
                metrics.RolloutMetrics(),
                self.prometheus,
                self.pod_monitor,
                self.gateway_api,
            )
            self.controllers = Controllers(
                deployments,
                DriftMonitors(
                    self.client,
                    cache,
                    self.prometheus,
                    profile_timeout_seconds=self.settings.prometheus_timeout_seconds,
                ),
                RetrainPolicies(self.client, cache, self.settings.artifact_root),
                RegistryFollowing(
                    self.client,
                    cache,
                    deployments.statuses,
                    registry_of(self.settings, os.environ),
                ),
                Pools(self.client, self.settings, cache, self.pod_monitor),
            )
            self.workers = [
                asyncio.create_task(self._work(self.controllers), name=f"reconcile-{index}")
                for index in range(self.settings.workers)
            ]
        return self.controllers

    def wake_family(self, namespace: str, family: str, dependents: bool = True) -> None:
        """Queue the family's Models (their servedBy may change) and, with `dependents`, its
        Deployments and RetrainPolicies (a version appeared or changed: the champion may have)."""
        assert self.controllers is not None
        cache = self.controllers.cache
        for body in cache.family_models(namespace, family):
            self.queue.add((MODEL, namespace, body["metadata"]["name"]))
        if dependents:
            for name in cache.family_deployments(namespace, family):
                self.queue.add((DEPLOYMENT, namespace, name))
            for name in cache.family_retrain_policies(namespace, family):
                self.queue.add((RETRAIN_POLICY, namespace, name))

    def wake_pool(self, namespace: str, pool: str, *, members: bool) -> None:
        """Queue a pool, and its Deployments when what they read of it changed: their
        versions are as ready as its servers. (Waking them on every status write of the
        pool or its router would make N members cost N² reconciles.)"""
        assert self.controllers is not None
        self.queue.add((SERVING_POOL, namespace, pool))
        if members:
            for name in self.controllers.cache.members(namespace, pool):
                self.queue.add((DEPLOYMENT, namespace, name))

    def wake_policies(self, namespace: str) -> None:
        """Queue a namespace's RetrainPolicies: a DriftMonitor's state may trigger any."""
        assert self.controllers is not None
        for policy_namespace, name in self.controllers.cache.retrain_policy_keys():
            if policy_namespace == namespace:
                self.queue.add((RETRAIN_POLICY, namespace, name))

    async def _work(self, controllers: Controllers) -> None:
        if self.leadership is not None:  # a standby queues keys; the leader works them off
            await self.leadership.leading.wait()
        while True:
            key = await self.queue.get()
            try:
                await self._reconcile(controllers, key)
            finally:
                self.queue.done(key)

    async def _reconcile(self, controllers: Controllers, key: Key) -> None:
        kind, namespace, name = key
        metrics.RECONCILIATIONS.labels(kind).inc()
        wake: float | None = None
        try:
            with metrics.DURATION.labels(kind).time():
                wake = await controllers.by_kind[kind].reconcile(namespace, name)
        except ApiError as error:
            if error.status != 409:
                self._retry_later(key, kind)
                return
            log.info("%s %s/%s changed meanwhile; reconciling again", kind, namespace, name)
            wake = CONFLICT_RETRY_SECONDS
        except Exception:  # any failure is retried with backoff; the operator never dies of one
            self._retry_later(key, kind)
            return
        self.failures.pop(key, None)
        resync = self.settings.resync_seconds * random.uniform(0.9, 1.1)
        self.queue.add_after(key, min(wake, resync) if wake is not None else resync)

    def _retry_later(self, key: Key, kind: str) -> None:
        metrics.ERRORS.labels(kind).inc()
        attempt = self.failures.get(key, 0) + 1
        self.failures[key] = attempt
        delay = min(MAX_BACKOFF_SECONDS, 0.5 * 2**attempt) * random.uniform(0.8, 1.2)
        log.exception("reconcile of %s %s/%s failed; retry in %.1fs", *key, delay)
        self.queue.add_after(key, delay)


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Connect, look for the optional CRDs (monitoring, Gateway API), serve metrics."""
    operator_settings: OperatorSettings = memo.settings
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    # Given namespaces need no cluster-wide list of namespaces and CRDs, which Namespaced RBAC
    # does not grant (kopf would retry that for most of a minute before falling back).
    settings.scanning.disabled = bool(operator_settings.namespaces)
    if operator_settings.shard_selector:  # server-side: the API server sends only the shard
        for plural in SHARDED:
            settings.watching.label_selectors[GROUP, plural] = operator_settings.shard_selector
    for kind in OWNED_KINDS:  # not every ConfigMap and Service of the namespaces: only the owned
        settings.watching.label_selectors[kind.api_version, kind.plural] = OWNED
    settings.watching.label_selectors["v1", "pods"] = SERVER_PODS
    identity = operator_settings.identity or f"{socket.gethostname()}-{uuid4().hex[:6]}"
    notifier = Notifier(operator_settings.notify_sinks)
    client = KubeClient(connect(), listeners=[notifier.notify], instance=identity)
    pod_monitor = await client.serves("monitoring.coreos.com/v1")
    gateway_api = await client.serves("gateway.networking.k8s.io/v1")
    if operator_settings.metrics_port:
        start_http_server(operator_settings.metrics_port, addr=operator_settings.host)
    operator = Operator(
        operator_settings,
        client,
        pod_monitor,
        gateway_api,
        ProviderPool(operator_settings),
        notifier,
    )
    if operator_settings.leader_election_lease:
        namespace, name = operator_settings.leader_election_lease.split("/")
        operator.leadership = Leadership(client, namespace, name, identity)
        operator.election = asyncio.create_task(operator.leadership.run(), name="election")
    else:
        metrics.LEADER.set(1)
    memo.operator = operator


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    operator: Operator = memo.operator
    tasks = [*operator.workers, *([operator.election] if operator.election else [])]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if operator.leadership is not None:
        await operator.leadership.release()
    await operator.prometheus.close()
    if operator.controllers is not None:
        await operator.controllers.drift_monitors.close()
    await operator.client.close()
    await asyncio.to_thread(operator.notifier.close)


# The indices are coroutines: kopf runs a plain function in its thread pool, a thread
# hop per index per event.
@kopf.index(GROUP, VERSION, "models")
async def models(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> dict[Any, Any]:
    return {(namespace or "", name): lean(body)}


@kopf.index(GROUP, VERSION, "models")
async def model_families(
    namespace: str | None, name: str, spec: kopf.Spec, **_: Any
) -> dict[Any, Any]:
    return {(namespace or "", spec.get("name", "")): name}


@kopf.index(GROUP, VERSION, "deployments")
async def deployments(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[Any, Any]:
    return {(namespace or "", name): lean(body)}


@kopf.index(GROUP, VERSION, "deployments")
async def deployment_families(
    namespace: str | None, name: str, spec: kopf.Spec, **_: Any
) -> dict[Any, Any]:
    return {(namespace or "", spec.get("model", {}).get("name", "")): name}


@kopf.index(GROUP, VERSION, "driftmonitors")
async def drift_monitors(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[Any, Any]:
    return {(namespace or "", name): lean(body)}


@kopf.index(GROUP, VERSION, "retrainpolicies")
async def retrain_policies(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[Any, Any]:
    return {(namespace or "", name): lean(body)}


@kopf.index(GROUP, VERSION, "retrainpolicies")
async def retrain_policy_families(
    namespace: str | None, name: str, spec: kopf.Spec, **_: Any
) -> dict[Any, Any]:
    return {(namespace or "", spec.get("model", {}).get("name", "")): name}


@kopf.index(GROUP, VERSION, "servingpools")
async def serving_pools(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[Any, Any]:
    return {(namespace or "", name): lean(body)}


@kopf.index(GROUP, VERSION, "deployments")
async def pool_members(
    namespace: str | None, name: str, spec: kopf.Spec, **_: Any
) -> dict[Any, Any]:
    pool = spec.get("pool")
    return {(namespace or "", pool): name} if pool else {}


@kopf.index("apps", "v1", "deployments", labels={POOL_LABEL: kopf.PRESENT})
async def pool_workloads(
    namespace: str | None, labels: kopf.Labels, body: kopf.Body, **_: Any
) -> dict[Any, Any]:
    """A pool's servers and router by their pool: its reconcile and its Deployments' read
    their readiness without a call."""
    return {(namespace or "", labels[POOL_LABEL]): owned_view(body)}


@kopf.index("", "v1", "configmaps", labels={POOL_LABEL: kopf.PRESENT, MANAGED_BY: MANAGER})
async def catalogues(
    namespace: str | None, labels: kopf.Labels, body: kopf.Body, **_: Any
) -> dict[Any, Any]:
    """The versions in each pooled Deployment's catalogue: they run, as a version's apps/v1
    Deployment does for one that is not pooled."""
    owner = labels.get(DEPLOYMENT_LABEL)
    try:
        family = PooledFamily.from_config_map(body)
    except ValueError:  # not the operator's writing: no version of it runs
        return {}
    return {(namespace or "", owner): tuple(v.version for v in family.versions)} if owner else {}


@kopf.index("apps", "v1", "deployments", labels={MANAGED_BY: MANAGER})
async def owned_deployments(
    namespace: str | None, labels: kopf.Labels, body: kopf.Body, **_: Any
) -> dict[Any, Any]:
    """Scoring servers and routers by their Deployment: a reconcile reads them without a call."""
    owner = labels.get(DEPLOYMENT_LABEL)
    return {(namespace or "", owner): owned_view(body)} if owner else {}


@kopf.on.event(GROUP, VERSION, "deployments")
async def deployment_event(
    type: str | None,
    namespace: str | None,
    name: str,
    spec: kopf.Spec,
    memo: kopf.Memo,
    **indices: Any,
) -> None:
    """A Deployment changed (its status too): look at it, at its registry alias if it follows
    one, and at the Models it may serve."""
    operator: Operator = memo.operator
    controllers = operator.attach(indices)
    operator.queue.add((DEPLOYMENT, namespace or "", name))
    if spec.get("follow"):
        operator.queue.add((FOLLOW, namespace or "", name))
    # A pool's count of families may change, the pool it left's too (which no event names;
    # before this Deployment's first event since the start, any pool of the namespace).
    key, joined = ("pool-of", namespace or "", name), spec.get("pool")
    left = operator.last_seen.pop(key, _NEVER)
    if type != "DELETED":  # a deleted Deployment's entry goes with it
        operator.last_seen[key] = joined
    pools = controllers.cache.pools_in(namespace or "") if left is _NEVER else {left, joined}
    for pool in set(pools) - {None}:
        operator.queue.add((SERVING_POOL, namespace or "", str(pool)))
    operator.wake_family(namespace or "", spec.get("model", {}).get("name", ""), dependents=False)


@kopf.on.event(GROUP, VERSION, "models")
async def model_event(
    namespace: str | None, name: str, spec: kopf.Spec, memo: kopf.Memo, **indices: Any
) -> None:
    """A version appeared, changed or went: look at it and at its family's Deployments."""
    operator: Operator = memo.operator
    operator.attach(indices)
    operator.queue.add((MODEL, namespace or "", name))
    operator.wake_family(namespace or "", spec.get("name", ""))


@kopf.index("v1", "pods", labels={MANAGED_BY: MANAGER, COMPONENT: "server"})
async def server_pods(
    namespace: str | None, labels: kopf.Labels, body: kopf.Body, **_: Any
) -> dict[Any, Any]:
    """Scoring servers' pods by their Deployment: why a version does not start, without a call."""
    owner = labels.get(DEPLOYMENT_LABEL)
    return {(namespace or "", owner): pod_view(body)} if owner else {}


def _replicas(body: Mapping[str, Any]) -> tuple[int, int]:
    """An apps/v1 Deployment's replicas and ready replicas: what a pool's members read."""
    status = body.get("status") or {}
    return status.get("replicas", 0), status.get("readyReplicas", 0)


def _owned_index(kind: Kind) -> str:
    return f"{kind.plural}_owned"


def _follow_owned(kind: Kind) -> None:
    """Index the owned objects of a kind (key and the fingerprint of the operator's fields, by
    Deployment) and wake their owner (a Deployment, or a ServingPool for a pool's objects)
    when one is deleted or edited by someone else; for the apps/v1 Deployments, on every
    change (their readiness is read)."""

    async def index(
        namespace: str | None, name: str, labels: kopf.Labels, body: kopf.Body, **_: Any
    ) -> dict[Any, Any]:
        owner = labels.get(DEPLOYMENT_LABEL)
        if not owner:
            return {}
        managed = managed_fingerprint(body, FIELD_MANAGER)
        return {(namespace or "", owner): (kind.kind, name, managed)}

    async def event(
        type: str | None,
        namespace: str | None,
        name: str,
        labels: kopf.Labels,
        body: kopf.Body,
        memo: kopf.Memo,
        **indices: Any,
    ) -> None:
        operator: Operator = memo.operator
        controllers = operator.attach(indices)
        cache, namespace = controllers.cache, namespace or ""
        owner, pool = labels.get(DEPLOYMENT_LABEL), labels.get(POOL_LABEL)
        key, woken = (kind.kind, name), kind is kinds.APPS_DEPLOYMENT
        seen = None if type == "DELETED" else managed_fingerprint(body, FIELD_MANAGER)
        # Owners of another shard are not in the cache: their objects are theirs to restore.
        if owner and cache.deployment(namespace, owner) is not None:
            if controllers.deployments.owned.seen((namespace, owner), key, seen) or woken:
                operator.queue.add((DEPLOYMENT, namespace, owner))
        elif (
            pool
            and cache.serving_pool(namespace, pool) is not None
            and (controllers.pools.owned.seen((namespace, pool), key, seen) or woken)
        ):
            # Members read the servers' readiness, never the router's.
            servers = woken and name == pool_service(pool)
            readiness = None if type == "DELETED" else _replicas(body)
            members = servers and operator.changed(("servers", namespace, pool), readiness)
            operator.wake_pool(namespace, pool, members=members)

    owned = {MANAGED_BY: MANAGER}
    kopf.index(kind.api_version, kind.plural, id=_owned_index(kind), labels=owned)(index)
    kopf.on.event(kind.api_version, kind.plural, id=f"{kind.plural}_event", labels=owned)(event)


for _kind in OWNED_KINDS:
    _follow_owned(_kind)


@kopf.on.event("v1", "pods", labels={MANAGED_BY: MANAGER, COMPONENT: "server"})
async def server_pod_event(
    namespace: str | None, labels: kopf.Labels, memo: kopf.Memo, **indices: Any
) -> None:
    """A scoring server's pod changed (it may be failing to start): look at its owner again."""
    operator: Operator = memo.operator
    controllers = operator.attach(indices)
    owner, namespace = labels.get(DEPLOYMENT_LABEL), namespace or ""
    if owner and controllers.cache.deployment(namespace, owner) is not None:
        operator.queue.add((DEPLOYMENT, namespace, owner))


@kopf.on.event("", "v1", "configmaps", labels={POOL_LABEL: kopf.PRESENT, MANAGED_BY: MANAGER})
async def catalogue_event(
    namespace: str | None, labels: kopf.Labels, memo: kopf.Memo, **indices: Any
) -> None:
    """A pooled Deployment's catalogue changed: the versions in it now run, so look at it
    again (a canary written into it may take its first step)."""
    operator: Operator = memo.operator
    operator.attach(indices)
    if owner := labels.get(DEPLOYMENT_LABEL):
        operator.queue.add((DEPLOYMENT, namespace or "", owner))


@kopf.on.event(GROUP, VERSION, "servingpools")
async def serving_pool_event(
    type: str | None,
    namespace: str | None,
    name: str,
    meta: kopf.Meta,
    memo: kopf.Memo,
    **indices: Any,
) -> None:
    """A pool appeared, changed or went: look at it, and at the Deployments that name it
    unless only its status moved."""
    operator: Operator = memo.operator
    operator.attach(indices)
    generation = None if type == "DELETED" else meta.get("generation")
    members = operator.changed(("pool", namespace or "", name), generation)
    if type == "DELETED":  # what members read of it goes with it
        for what in ("pool", "servers"):
            operator.last_seen.pop((what, namespace or "", name), None)
    operator.wake_pool(namespace or "", name, members=members)


@kopf.on.event(GROUP, VERSION, "driftmonitors")
async def drift_monitor_event(
    namespace: str | None, name: str, memo: kopf.Memo, **indices: Any
) -> None:
    """A monitor appeared or changed (its state too): evaluate it, and look at the policies."""
    operator: Operator = memo.operator
    operator.attach(indices)
    operator.queue.add((DRIFT_MONITOR, namespace or "", name))
    operator.wake_policies(namespace or "")


@kopf.on.event(GROUP, VERSION, "retrainpolicies")
async def retrain_policy_event(
    namespace: str | None, name: str, memo: kopf.Memo, **indices: Any
) -> None:
    operator: Operator = memo.operator
    operator.attach(indices)
    operator.queue.add((RETRAIN_POLICY, namespace or "", name))


@kopf.on.event("batch", "v1", "jobs", labels={POLICY_LABEL: kopf.PRESENT})
async def run_event(
    namespace: str | None, labels: kopf.Labels, memo: kopf.Memo, **indices: Any
) -> None:
    """A retraining run's Job changed (it may have ended): look at its policy again."""
    operator: Operator = memo.operator
    operator.attach(indices)
    operator.queue.add((RETRAIN_POLICY, namespace or "", labels[POLICY_LABEL]))
