"""The objects of a ServingPool: pure functions from the typed pool to manifests.

Its scoring servers (an apps/v1 Deployment of `modelkeeper serve --pool` and the Service
`pool_service(pool)`), its router (`modelkeeper route --pool`, an apps/v1 Deployment and
Service named `pool_router(pool)`), the account both run as (they follow the pool's
catalogue ConfigMaps, and the router the servers' EndpointSlices) and, when the
monitoring.coreos.com CRDs exist, a PodMonitor. Every object is labelled with the pool,
owned by it, and complete, so server-side apply of the same input writes nothing.
tests/unit/controller/golden/ shows the output.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from modelkeeper.api.labels import COMPONENT, Manifest, app_labels
from modelkeeper.api.pool import POOL_LABEL, pool_router, pool_service
from modelkeeper.api.servingpool import ServingPoolResource
from modelkeeper.api.types import quantity_value
from modelkeeper.controller.builders import SCRATCH_DIR, StoreAccess, store_env
from modelkeeper.controller.manifests import (
    GRPC_PORT,
    HTTP_PORT,
    apps_deployment,
    container_security,
    env_from_field,
    owned,
    probes,
    service,
)

SERVER = "pool-server"
ROUTER = "pool-router"


def pool_labels(pool: ServingPoolResource, component: str) -> dict[str, str]:
    """The labels of every object of the pool: the app.kubernetes.io set and the pool."""
    return app_labels(pool.metadata.name, component) | {POOL_LABEL: pool.metadata.name}


def pool_selector(pool: ServingPoolResource, component: str) -> dict[str, str]:
    """The labels that pick the pool's servers or its router."""
    return {POOL_LABEL: pool.metadata.name, COMPONENT: component}


def account_name(pool: ServingPoolResource) -> str:
    """The ServiceAccount, Role and RoleBinding the pool's servers and router run as."""
    return pool_router(pool.metadata.name)


def _budget(pool: ServingPoolResource) -> list[str]:
    """The servers' --memory-budget, in bytes as they take it; none: theirs by their limit."""
    budget = pool.spec.memory_budget
    return [] if budget is None else ["--memory-budget", str(int(quantity_value(budget)))]


def _servers(pool: ServingPoolResource, image: str, stores: Sequence[StoreAccess]) -> Manifest:
    name, namespace = pool.metadata.name, pool.metadata.namespace or ""
    access = store_env(stores, optional=True)
    container: dict[str, Any] = {
        "name": "server",
        "image": image,
        "args": ["serve", "--pool", name, "--namespace", namespace, *_budget(pool)],
        "ports": [
            {"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"},
            {"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"},
        ],
        "env": [
            env_from_field("MODELKEEPER_HOST", "status.podIP"),
            {"name": "TMPDIR", "value": SCRATCH_DIR},
            {"name": "MODELKEEPER_HTTP_PORT", "value": str(HTTP_PORT)},
            {"name": "MODELKEEPER_GRPC_PORT", "value": str(GRPC_PORT)},
            *access.get("env", []),
        ],
        **({"envFrom": access["envFrom"]} if "envFrom" in access else {}),
        "securityContext": container_security(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [{"name": "tmp", "mountPath": SCRATCH_DIR}],
        **probes(),
    }
    if pool.spec.resources is not None:
        container["resources"] = pool.spec.resources.model_dump(mode="json", by_alias=True)
    labels = pool_labels(pool, SERVER)
    return apps_deployment(
        owned("apps/v1", "Deployment", pool_service(name), pool, labels),
        pool_selector(pool, SERVER),
        labels,
        {
            "serviceAccountName": account_name(pool),
            "containers": [container],
            "volumes": [{"name": "tmp", "emptyDir": {}}],
        },
        pool.spec.replicas,
    )


def _router(pool: ServingPoolResource, image: str) -> Manifest:
    name, namespace = pool.metadata.name, pool.metadata.namespace or ""
    container = {
        "name": "router",
        "image": image,
        "args": [
            "route",
            "--pool",
            name,
            "--namespace",
            namespace,
            "--pool-service",
            pool_service(name),
            "--host",
            "$(MODELKEEPER_HOST)",
            "--http-port",
            str(HTTP_PORT),
        ],
        "ports": [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}],
        "env": [env_from_field("MODELKEEPER_HOST", "status.podIP")],
        "securityContext": container_security(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        **probes(),
    }
    labels = pool_labels(pool, ROUTER)
    return apps_deployment(
        owned("apps/v1", "Deployment", pool_router(name), pool, labels),
        pool_selector(pool, ROUTER),
        labels,
        {"serviceAccountName": account_name(pool), "containers": [container]},
        pool.spec.router.replicas,
    )


def _account(pool: ServingPoolResource) -> list[Manifest]:
    """The servers' and router's account: they read the namespace's ConfigMaps (the
    catalogues, selected by label, so RBAC cannot name them) and EndpointSlices."""
    name = account_name(pool)
    labels = pool_labels(pool, ROUTER)
    read = ["get", "list", "watch"]
    return [
        owned("v1", "ServiceAccount", name, pool, labels),
        owned("rbac.authorization.k8s.io/v1", "Role", name, pool, labels)
        | {
            "rules": [
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": read},
                {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": read},
            ]
        },
        owned("rbac.authorization.k8s.io/v1", "RoleBinding", name, pool, labels)
        | {
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [
                {"kind": "ServiceAccount", "name": name, "namespace": pool.metadata.namespace}
            ],
        },
    ]


def _pod_monitor(pool: ServingPoolResource) -> Manifest:
    """A PodMonitor that scrapes every pod of the pool: scoring servers and router."""
    return owned(
        "monitoring.coreos.com/v1",
        "PodMonitor",
        pool_router(pool.metadata.name),
        pool,
        pool_labels(pool, ROUTER),
    ) | {
        "spec": {
            "selector": {"matchLabels": {POOL_LABEL: pool.metadata.name}},
            "podMetricsEndpoints": [{"port": "http", "path": "/metrics"}],
        }
    }


def build_pool(
    pool: ServingPoolResource,
    default_image: str,
    pod_monitor: bool,
    stores: Sequence[StoreAccess] = (),
) -> list[Manifest]:
    """Every object the pool should own, in the order they are applied."""
    name = pool.metadata.name
    image = pool.spec.image or default_image
    objects = [
        *_account(pool),
        _servers(pool, image, stores),
        service(
            owned("v1", "Service", pool_service(name), pool, pool_labels(pool, SERVER)),
            pool_selector(pool, SERVER),
            grpc=True,
        ),
        _router(pool, image),
        service(
            owned("v1", "Service", pool_router(name), pool, pool_labels(pool, ROUTER)),
            pool_selector(pool, ROUTER),
        ),
    ]
    return objects + ([_pod_monitor(pool)] if pod_monitor else [])
