"""The parts every child object shares: names, labels, ownership, pod hardening.

The version builders (builders.py), the traffic providers (traffic.py) and a pool's
builders (poolobjects.py) all make Deployments, Services and other objects owned by one
Deployment (modelkeeper.io) or ServingPool; this module holds what they make them from,
so that every child is named, labelled, owned and locked down the same way. Pure: it
returns plain dicts.
"""

from __future__ import annotations

from typing import Any

from modelkeeper.api.base import API_VERSION, Resource
from modelkeeper.api.labels import Manifest

HTTP_PORT = 8080  # the container port of scoring servers and of the router
SERVICE_PORT = 80  # the port of every Service, to the container port named http
# A scoring server's V2 gRPC port, in its container and on its version's Service (the
# router forwards HTTP/1.1 only, so its Service has none: docs/serving.md, "gRPC").
GRPC_PORT = 8081
RUN_AS_USER = 10001  # the serving image's user (serving_image/Dockerfile)


def owned(
    api_version: str,
    kind: str,
    name: str,
    owner: Resource[Any, Any],
    object_labels: dict[str, str],
) -> Manifest:
    """An object in the owner's namespace that the owner (a Deployment or a ServingPool)
    controls, so that it is garbage collected with it."""
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": owner.metadata.namespace,
            "labels": object_labels,
            "ownerReferences": [
                {
                    "apiVersion": API_VERSION,
                    "kind": owner.KIND,
                    "name": owner.metadata.name,
                    "uid": owner.metadata.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
    }


def env_from_field(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }


def _pod_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_USER,
        "fsGroup": RUN_AS_USER,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def probes() -> dict[str, Any]:
    """Probes on the V2 health endpoints, which both the server and the router answer."""

    def probe(path: str, period: int, failures: int) -> dict[str, Any]:
        return {
            "httpGet": {"path": path, "port": "http"},
            "periodSeconds": period,
            "failureThreshold": failures,
            "timeoutSeconds": 2,
        }

    return {
        "startupProbe": probe("/v2/health/live", 2, 150),
        "livenessProbe": probe("/v2/health/live", 10, 3),
        "readinessProbe": probe("/v2/health/ready", 2, 2),
    }


def _scrape_annotations() -> dict[str, str]:
    return {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(HTTP_PORT),
        "prometheus.io/path": "/metrics",
    }


def apps_deployment(
    base: Manifest,
    pod_selector: dict[str, str],
    template_labels: dict[str, str],
    pod_spec: dict[str, Any],
    replicas: int | None,
) -> Manifest:
    """An apps/v1 Deployment of hardened, scraped pods that rolls without losing capacity."""
    spec: dict[str, Any] = {
        "selector": {"matchLabels": pod_selector},
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
        },
        "template": {
            "metadata": {"labels": template_labels, "annotations": _scrape_annotations()},
            "spec": {
                "securityContext": _pod_security(),
                "terminationGracePeriodSeconds": 30,
                **pod_spec,
            },
        },
    }
    if replicas is not None:
        spec = {"replicas": replicas, **spec}
    return base | {"spec": spec}


def service(base: Manifest, pod_selector: dict[str, str], grpc: bool = False) -> Manifest:
    """A Service on SERVICE_PORT to the selected pods' port named http, and if `grpc` on
    GRPC_PORT to their port named grpc."""
    ports = [{"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}]
    if grpc:
        ports.append(
            {
                "name": "grpc",
                "port": GRPC_PORT,
                "targetPort": "grpc",
                "protocol": "TCP",
                "appProtocol": "grpc",
            }
        )
    return base | {"spec": {"selector": pod_selector, "ports": ports}}
