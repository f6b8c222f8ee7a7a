"""The keys and names on every object Modelkeeper creates, for all who read them back.

The operator labels what it makes (scoring servers, routers, retraining runs) and finds
it again by those labels; the retraining workload carries its run in them; the kubectl
plugin and the tests select by them. So the keys, the naming rule and the label sets
live here, in the API layer, below everyone who uses them. (The annotations a person
writes to steer a rollout are in `annotations`.)
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from modelkeeper.api.deployment import DeploymentResource

Manifest = dict[str, Any]
"""A Kubernetes object as a plain dict, ready to apply."""

MANAGED_BY = "app.kubernetes.io/managed-by"
COMPONENT = "app.kubernetes.io/component"
DEPLOYMENT_LABEL = "modelkeeper.io/deployment"
FAMILY_LABEL = "modelkeeper.io/family"
VERSION_LABEL = "modelkeeper.io/version"
ROLE_LABEL = "modelkeeper.io/role"
MANAGER = "modelkeeper"
POLICY_LABEL = "modelkeeper.io/retrain-policy"
RUN_LABEL = "modelkeeper.io/run"
TRIGGER_LABEL = "modelkeeper.io/trigger"
PARENT_LABEL = "modelkeeper.io/parent-version"
REASON_ANNOTATION = "modelkeeper.io/trigger-reason"
FOLLOW_LABEL = "modelkeeper.io/followed-by"
"""On a Model made by following a registry alias: the Deployment that followed it."""


def child_name(deployment: str, suffix: str) -> str:
    """`<deployment>-<suffix>` made a DNS label; a hash keeps cut or rewritten names apart."""
    clean = re.sub(r"[^a-z0-9-]+", "-", suffix.lower()).strip("-")
    name = f"{deployment}-{clean}"
    if clean == suffix and len(name) <= 63:
        return name
    digest = hashlib.sha256(suffix.encode()).hexdigest()[:6]
    return f"{name[:56].rstrip('-')}-{digest}"


def version_name(deployment: str, version: str) -> str:
    """The name of a version's apps/v1 Deployment, Service, ConfigMap, HPA and PDB."""
    return child_name(deployment, version)


def app_labels(instance: str, component: str) -> dict[str, str]:
    """The app.kubernetes.io set every object Modelkeeper runs carries."""
    return {
        "app.kubernetes.io/name": "modelkeeper",
        "app.kubernetes.io/instance": instance,
        COMPONENT: component,
        "app.kubernetes.io/part-of": "modelkeeper",
        MANAGED_BY: MANAGER,
    }


def child_labels(deployment: DeploymentResource, component: str) -> dict[str, str]:
    """The labels of every child: the app.kubernetes.io set and the Deployment it serves."""
    return app_labels(deployment.metadata.name, component) | {
        DEPLOYMENT_LABEL: deployment.metadata.name,
        FAMILY_LABEL: deployment.spec.model.name,
    }


def selector(
    deployment: DeploymentResource, component: str, version: str | None = None
) -> dict[str, str]:
    """The labels that pick a component's pods, and of one version when given."""
    picked = {DEPLOYMENT_LABEL: deployment.metadata.name, COMPONENT: component}
    return picked | ({VERSION_LABEL: version} if version is not None else {})
