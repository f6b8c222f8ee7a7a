"""The latest objects of the five kinds, read from kopf's indices, by key and by family.

Reconciles read from here instead of asking the API server again, and the family
indices tell which Deployments to wake when a version appears or is approved. kopf
fills the indices from its watch streams and calls no handler before every index has
its initial listing, so the first reconcile after a restart already sees every Model
of a family (a partial view would start a rollout to the wrong version). The indices
hold nothing the API server does not. The objects the operator owns are indexed too,
by their Deployment (or ServingPool): the apps/v1 Deployments' readiness, every owned
object's key and the fingerprint of the fields the operator owns in it (to prune and to
notice an edit), the scoring servers' pods' states and the versions in each pooled
Deployment's catalogue, so a reconcile reads them all without a call. Only what a
reconcile reads is kept, not whole objects.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Body = Mapping[str, Any]
ObjectKey = tuple[str, str]
"""(namespace, name), or (namespace, family) in the family indices."""
Index = Mapping[ObjectKey, Collection[Any]]


def _one(index: Index, key: ObjectKey) -> Any:
    found = index.get(key)
    return next(iter(found), None) if found else None


@dataclass(frozen=True)
class Cache:
    models: Index
    """(namespace, name) -> the Model's body."""
    model_families: Index
    """(namespace, family) -> the names of its Models."""
    deployments: Index
    """(namespace, name) -> the Deployment's body."""
    deployment_families: Index
    """(namespace, family) -> the names of the Deployments that serve it."""
    drift_monitors: Index
    """(namespace, name) -> the DriftMonitor's body."""
    retrain_policies: Index
    """(namespace, name) -> the RetrainPolicy's body."""
    retrain_policy_families: Index
    """(namespace, family) -> the names of the RetrainPolicies that retrain it."""
    owned_deployments: Index = field(default_factory=dict)
    """(namespace, Deployment) -> `owned_view`s of its apps/v1 Deployments."""
    owned_objects: Sequence[Index] = ()
    """One index per owned kind: (namespace, Deployment) -> (kind, name, fingerprint of
    the fields the operator owns) of each of its objects of that kind."""
    server_pods: Index = field(default_factory=dict)
    """(namespace, Deployment) -> `pod_view`s of its scoring servers' pods."""
    serving_pools: Index = field(default_factory=dict)
    """(namespace, name) -> the ServingPool's body."""
    pool_members: Index = field(default_factory=dict)
    """(namespace, pool) -> the names of the Deployments whose spec.pool names it."""
    pool_workloads: Index = field(default_factory=dict)
    """(namespace, pool) -> `owned_view`s of its apps/v1 Deployments (servers and router)."""
    catalogues: Index = field(default_factory=dict)
    """(namespace, Deployment) -> the versions in its catalogue ConfigMap, as a tuple."""

    def model(self, namespace: str, name: str) -> Body | None:
        body: Body | None = _one(self.models, (namespace, name))
        return body

    def deployment(self, namespace: str, name: str) -> Body | None:
        body: Body | None = _one(self.deployments, (namespace, name))
        return body

    def drift_monitor(self, namespace: str, name: str) -> Body | None:
        body: Body | None = _one(self.drift_monitors, (namespace, name))
        return body

    def retrain_policy(self, namespace: str, name: str) -> Body | None:
        body: Body | None = _one(self.retrain_policies, (namespace, name))
        return body

    def family_retrain_policies(self, namespace: str, family: str) -> list[str]:
        return sorted(self.retrain_policy_families.get((namespace, family), ()))

    def retrain_policy_keys(self) -> list[ObjectKey]:
        """Every RetrainPolicy's (namespace, name): a DriftMonitor's change may trigger any."""
        return sorted(self.retrain_policies.keys())

    def family_models(self, namespace: str, family: str) -> list[Body]:
        names = sorted(self.model_families.get((namespace, family), ()))
        return [body for name in names if (body := self.model(namespace, name)) is not None]

    def family_deployments(self, namespace: str, family: str) -> list[str]:
        return sorted(self.deployment_families.get((namespace, family), ()))

    def serving_pool(self, namespace: str, name: str) -> Body | None:
        body: Body | None = _one(self.serving_pools, (namespace, name))
        return body

    def pools_in(self, namespace: str) -> list[str]:
        """The ServingPools of a namespace, by name."""
        return sorted(
            name for pool_namespace, name in self.serving_pools if pool_namespace == namespace
        )

    def members(self, namespace: str, pool: str) -> list[str]:
        """The Deployments of a pool, by name."""
        return sorted(self.pool_members.get((namespace, pool), ()))

    def workloads(self, namespace: str, pool: str) -> dict[str, Body]:
        """The apps/v1 Deployments of a pool (its servers and its router), by name."""
        found = self.pool_workloads.get((namespace, pool), ())
        return {str(body["metadata"]["name"]): body for body in found}

    def catalogued(self, namespace: str, deployment: str) -> tuple[str, ...]:
        """The versions in a pooled Deployment's catalogue as the watch last saw it."""
        versions: tuple[str, ...] = _one(self.catalogues, (namespace, deployment)) or ()
        return versions

    def owned(self, namespace: str, deployment: str) -> list[Body]:
        """The apps/v1 Deployments (scoring servers and router) of a Deployment, by name."""
        found = self.owned_deployments.get((namespace, deployment), ())
        return sorted(found, key=lambda body: str(body["metadata"]["name"]))

    def observed(self, namespace: str, deployment: str) -> dict[tuple[str, str], str]:
        """Every object of a Deployment: (kind, name) -> the fingerprint of its fields the
        operator owns."""
        return {
            (kind, name): managed
            for index in self.owned_objects
            for kind, name, managed in index.get((namespace, deployment), ())
        }

    def pods(self, namespace: str, deployment: str) -> list[Body]:
        """The `pod_view`s of a Deployment's scoring servers' pods."""
        return list(self.server_pods.get((namespace, deployment), ()))


def lean(body: Body) -> dict[str, Any]:
    """An object of the operator's own kinds as the indices keep it: whole, but for
    `metadata.managedFields`, which no reconcile reads and which the operator's own status
    applies make about as large as the rest of a small object."""
    metadata = {key: value for key, value in body["metadata"].items() if key != "managedFields"}
    return {**body, "metadata": metadata}


def owned_view(body: Body) -> dict[str, Any]:
    """What a reconcile reads of an owned apps/v1 Deployment: its name, labels, pod labels
    and status; the index keeps only this, not the whole pod template."""
    metadata, spec = body["metadata"], body.get("spec") or {}
    template = (spec.get("template") or {}).get("metadata") or {}
    return {
        "metadata": {"name": metadata["name"], "labels": dict(metadata.get("labels") or {})},
        "spec": {"template": {"metadata": {"labels": dict(template.get("labels") or {})}}},
        "status": dict(body.get("status") or {}),
    }


def pod_view(body: Body) -> dict[str, Any]:
    """What a reconcile reads of a scoring server's pod (`podstates.pod_problem`): its name,
    labels, whether it is going, its phase, whether it could be scheduled, and its
    containers' states; not its spec, addresses or other conditions."""
    metadata, status = body["metadata"], body.get("status") or {}
    view: dict[str, Any] = {
        key: status[key] for key in ("phase", "reason", "message") if key in status
    }
    view["conditions"] = [
        condition
        for condition in status.get("conditions") or []
        if condition.get("type") == "PodScheduled"
    ]
    for key in ("initContainerStatuses", "containerStatuses"):
        if key in status:
            view[key] = [
                {
                    part: one[part]
                    for part in ("name", "state", "lastState", "restartCount")
                    if part in one
                }
                for one in status[key]
            ]
    return {
        "metadata": {
            "name": metadata["name"],
            "labels": dict(metadata.get("labels") or {}),
            "deletionTimestamp": metadata.get("deletionTimestamp"),
        },
        "status": view,
    }
