"""The latest objects of the four kinds, read from kopf's indices, by key and by family.

Reconciles read from here instead of asking the API server again, and the family
indices tell which Deployments to wake when a version appears or is approved. kopf
fills the indices from its watch streams and calls no handler before every index has
its initial listing, so the first reconcile after a restart already sees every Model
of a family (a partial view would start a rollout to the wrong version). The indices
hold nothing the API server does not.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
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
