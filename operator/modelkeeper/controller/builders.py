"""The desired child objects of a Deployment: pure functions from typed resources to manifests.

For each version it runs: an apps/v1 Deployment of scoring servers and its Service (plus a
ConfigMap with the Model's schema, an HPA when autoscaling is set, a PodDisruptionBudget
when it runs more than one replica). For the Deployment: the router (Deployment, Service,
ServiceAccount, Role and RoleBinding to read EndpointSlices, ConfigMap with its routing
config) and, when the monitoring.coreos.com CRDs exist, a PodMonitor. Every object is
labelled, owned by the Deployment, and complete, so server-side apply of the same input
writes nothing. tests/unit/controller/golden/ shows the output.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from modelkeeper.api.base import API_VERSION
from modelkeeper.api.deployment import DeploymentResource
from modelkeeper.api.model import ArtifactFormat, ModelResource
from modelkeeper.api.strategy import StrategyType
from modelkeeper.api.types import ServingRole

Manifest = dict[str, Any]

HTTP_PORT = 8080
MODEL_DIR = "/model"
SCHEMA_DIR = "/etc/modelkeeper/schema"
ROUTING_DIR = "/etc/modelkeeper/routing"
ROUTING_FILE = "routing.yaml"
SCRATCH_DIR = "/var/tmp"  # writable under a read-only root; TMPDIR points here
RUN_AS_USER = 10001  # the serving image's user (serving_image/Dockerfile)

MANAGED_BY = "app.kubernetes.io/managed-by"
COMPONENT = "app.kubernetes.io/component"
DEPLOYMENT_LABEL = "modelkeeper.io/deployment"
FAMILY_LABEL = "modelkeeper.io/family"
VERSION_LABEL = "modelkeeper.io/version"
ROLE_LABEL = "modelkeeper.io/role"
MANAGER = "modelkeeper"


@dataclass(frozen=True)
class RunningVersion:
    """A version the Deployment runs, and the part it plays now."""

    model: ModelResource
    role: ServingRole


@dataclass(frozen=True)
class BuildInput:
    """Everything the builders read: the Deployment, what it runs, and the cluster's features."""

    deployment: DeploymentResource
    running: Sequence[RunningVersion]
    routed_version: str | None
    """The version the router sends all traffic to (Direct); None: no router config yet."""
    default_image: str
    pod_monitor: bool


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


def router_name(deployment: str) -> str:
    return child_name(deployment, "router")


def _owner(deployment: DeploymentResource) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Deployment",
        "name": deployment.metadata.name,
        "uid": deployment.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _labels(deployment: DeploymentResource, component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "modelkeeper",
        "app.kubernetes.io/instance": deployment.metadata.name,
        COMPONENT: component,
        "app.kubernetes.io/part-of": "modelkeeper",
        MANAGED_BY: MANAGER,
        DEPLOYMENT_LABEL: deployment.metadata.name,
        FAMILY_LABEL: deployment.spec.model.name,
    }


def _selector(deployment: DeploymentResource, component: str, version: str | None = None) -> Any:
    labels = {DEPLOYMENT_LABEL: deployment.metadata.name, COMPONENT: component}
    return labels | ({VERSION_LABEL: version} if version is not None else {})


def _object(
    api_version: str, kind: str, name: str, deployment: DeploymentResource, labels: Any
) -> Manifest:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": deployment.metadata.namespace,
            "labels": labels,
            "ownerReferences": [_owner(deployment)],
        },
    }


def _env_from_field(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def _container_security() -> dict[str, Any]:
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


def _probes() -> dict[str, Any]:
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


def _apps_deployment(
    base: Manifest,
    selector: dict[str, str],
    template_labels: dict[str, str],
    pod_spec: dict[str, Any],
    replicas: int | None,
) -> Manifest:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": selector},
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


def _service(base: Manifest, selector: dict[str, str]) -> Manifest:
    return base | {
        "spec": {
            "selector": selector,
            "ports": [
                {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
            ],
        }
    }


def _model_file(artifact_format: ArtifactFormat) -> str:
    """The name the scoring server loads (serving.runtime.model_file_name, kept light here)."""
    return "model.onnx" if artifact_format is ArtifactFormat.ONNX else "model.joblib"


def _fetch(
    name: str, image: str, uri: str, out: str, sha256: str | None, *mounts: dict[str, Any]
) -> dict[str, Any]:
    """An init step: `modelkeeper fetch-artifact` copies a file into the model directory."""
    args = ["fetch-artifact", uri, "--out", out] + (["--sha256", sha256] if sha256 else [])
    return {
        "name": name,
        "image": image,
        "args": args,
        "securityContext": _container_security(),
        "volumeMounts": [{"name": "model", "mountPath": MODEL_DIR}, *mounts],
    }


def _server_env(build: BuildInput, model: ModelResource, pod_role: ServingRole) -> list[Any]:
    spec = build.deployment.spec
    env: list[Any] = [
        _env_from_field("MODELKEEPER_HOST", "status.podIP"),
        {"name": "TMPDIR", "value": SCRATCH_DIR},
        {"name": "MODELKEEPER_HTTP_PORT", "value": str(HTTP_PORT)},
        {"name": "MODELKEEPER_MODEL_NAME", "value": model.spec.name},
        {"name": "MODELKEEPER_MODEL_VERSION", "value": model.spec.version},
        {"name": "MODELKEEPER_DEPLOYMENT", "value": build.deployment.metadata.name},
        {"name": "MODELKEEPER_ROLE", "value": pod_role.value.lower()},
        {"name": "MODELKEEPER_WORKERS", "value": str(spec.serving.workers)},
        {"name": "MODELKEEPER_PAYLOAD_LOG_SAMPLE", "value": str(spec.serving.payload_log_sampling)},
    ]
    if spec.serving.batching is not None:
        batching = spec.serving.batching
        env += [
            {"name": "MODELKEEPER_MAX_BATCH_SIZE", "value": str(batching.max_batch_size)},
            {
                "name": "MODELKEEPER_MAX_BATCH_WAIT_MS",
                "value": str(batching.max_latency.total_seconds() * 1000),
            },
        ]
    if model.spec.artifact is not None:
        env += [
            {"name": "MODELKEEPER_MODEL_DIR", "value": MODEL_DIR},
            {"name": "MODELKEEPER_MODEL_FORMAT", "value": model.spec.artifact.format.value},
        ]
    return env


def _pod_role(build: BuildInput, role: ServingRole) -> ServingRole:
    """The role a pod is labelled with for its life; changing it would restart the pods.

    Under Direct a candidate takes no traffic before it becomes stable, so its pods are
    labelled Stable from the start and the promotion restarts nothing.
    """
    direct = build.deployment.spec.strategy.type is StrategyType.DIRECT
    return ServingRole.STABLE if direct else role


def build_version(build: BuildInput, running: RunningVersion) -> list[Manifest]:
    """The objects of one served version: scoring servers, their Service, and what they need."""
    deployment = build.deployment
    model = running.model
    spec = deployment.spec
    name = version_name(deployment.metadata.name, model.spec.version)
    pod_role = _pod_role(build, running.role)
    labels = _labels(deployment, "server") | {
        VERSION_LABEL: model.spec.version,
        ROLE_LABEL: running.role.value,
    }
    template_labels = labels | {ROLE_LABEL: pod_role.value}
    selector = _selector(deployment, "server", model.spec.version)
    image = model.spec.image or build.default_image
    mounts: list[Any] = [{"name": "tmp", "mountPath": SCRATCH_DIR}]
    volumes: list[Any] = [{"name": "tmp", "emptyDir": {}}]
    init: list[Any] = []
    objects: list[Manifest] = []

    artifact = model.spec.artifact
    if artifact is not None:
        mounts.append({"name": "model", "mountPath": MODEL_DIR})
        volumes.append({"name": "model", "emptyDir": {}})
        init.append(
            _fetch(
                "fetch-model",
                build.default_image,
                artifact.uri,
                f"{MODEL_DIR}/{_model_file(artifact.format)}",
                artifact.sha256,
            )
        )
        reference = model.spec.reference
        if reference is not None and reference.uri is not None:
            init.append(
                _fetch(
                    "fetch-profile",
                    build.default_image,
                    reference.uri,
                    f"{MODEL_DIR}/profile.json",
                    reference.sha256,
                )
            )
        if model.spec.signature is not None:
            schema = model.spec.signature.model_dump(mode="json", by_alias=True, exclude_none=True)
            objects.append(
                _object("v1", "ConfigMap", name, deployment, labels)
                | {"data": {"schema.json": json.dumps(schema, indent=2, sort_keys=True)}}
            )
            volumes.append({"name": "schema", "configMap": {"name": name}})
            init.append(
                _fetch(
                    "copy-schema",
                    build.default_image,
                    f"file://{SCHEMA_DIR}/schema.json",
                    f"{MODEL_DIR}/schema.json",
                    None,
                    {"name": "schema", "mountPath": SCHEMA_DIR, "readOnly": True},
                )
            )

    container: dict[str, Any] = {
        "name": "server",
        "image": image,
        "args": ["serve"],
        "ports": [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}],
        "env": _server_env(build, model, pod_role),
        "securityContext": _container_security(),
        "volumeMounts": mounts,
        **_probes(),
    }
    if spec.resources is not None:
        container["resources"] = spec.resources.model_dump(mode="json", by_alias=True)
    pod_spec: dict[str, Any] = {"containers": [container], "volumes": volumes}
    if init:
        pod_spec = {"initContainers": init, **pod_spec}
    autoscaling = spec.autoscaling
    objects += [
        _apps_deployment(
            _object("apps/v1", "Deployment", name, deployment, labels),
            selector,
            template_labels,
            pod_spec,
            None if autoscaling is not None else spec.replicas,
        ),
        _service(_object("v1", "Service", name, deployment, labels), selector),
    ]
    if autoscaling is not None:
        objects.append(
            _object("autoscaling/v2", "HorizontalPodAutoscaler", name, deployment, labels)
            | {
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                    "minReplicas": autoscaling.min_replicas,
                    "maxReplicas": autoscaling.max_replicas,
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {
                                "name": "cpu",
                                "target": {
                                    "type": "Utilization",
                                    "averageUtilization": autoscaling.target_cpu_utilization,
                                },
                            },
                        }
                    ],
                }
            }
        )
    if (autoscaling.min_replicas if autoscaling is not None else spec.replicas) > 1:
        objects.append(
            _object("policy/v1", "PodDisruptionBudget", name, deployment, labels)
            | {"spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector}}}
        )
    return objects


def routing_config(build: BuildInput) -> dict[str, Any]:
    """The router's config (router/config.py): all traffic to the routed version."""
    deployment = build.deployment
    version = build.routed_version
    assert version is not None, "a routing config needs a version to route to"
    return {
        "model": deployment.spec.model.name,
        "backends": [
            {
                "name": version,
                "role": "stable",
                "weight": 100,
                "service": version_name(deployment.metadata.name, version),
                "port": "http",
            }
        ],
    }


def build_router(build: BuildInput) -> list[Manifest]:
    """The router's objects; its config only once there is a version to route to."""
    deployment = build.deployment
    name = router_name(deployment.metadata.name)
    labels = _labels(deployment, "router")
    selector = _selector(deployment, "router")
    objects: list[Manifest] = []
    if build.routed_version is not None:
        objects.append(
            _object("v1", "ConfigMap", name, deployment, labels)
            | {"data": {ROUTING_FILE: json.dumps(routing_config(build), indent=2, sort_keys=True)}}
        )
    container = {
        "name": "router",
        "image": build.default_image,
        "args": [
            "route",
            "--config",
            f"{ROUTING_DIR}/{ROUTING_FILE}",
            "--host",
            "$(MODELKEEPER_HOST)",
            "--http-port",
            str(HTTP_PORT),
            "--namespace",
            "$(POD_NAMESPACE)",
        ],
        "ports": [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}],
        "env": [
            _env_from_field("MODELKEEPER_HOST", "status.podIP"),
            _env_from_field("POD_NAMESPACE", "metadata.namespace"),
        ],
        "securityContext": _container_security(),
        "volumeMounts": [{"name": "routing", "mountPath": ROUTING_DIR, "readOnly": True}],
        **_probes(),
    }
    pod_spec = {
        "serviceAccountName": name,
        "containers": [container],
        "volumes": [{"name": "routing", "configMap": {"name": name}}],
    }
    objects += [
        _object("v1", "ServiceAccount", name, deployment, labels),
        _object("rbac.authorization.k8s.io/v1", "Role", name, deployment, labels)
        | {
            "rules": [
                {
                    "apiGroups": ["discovery.k8s.io"],
                    "resources": ["endpointslices"],
                    "verbs": ["get", "list", "watch"],
                }
            ]
        },
        _object("rbac.authorization.k8s.io/v1", "RoleBinding", name, deployment, labels)
        | {
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [
                {"kind": "ServiceAccount", "name": name, "namespace": deployment.metadata.namespace}
            ],
        },
        _apps_deployment(
            _object("apps/v1", "Deployment", name, deployment, labels),
            selector,
            labels,
            pod_spec,
            1,
        ),
        _service(_object("v1", "Service", deployment.metadata.name, deployment, labels), selector),
    ]
    if build.pod_monitor:
        objects.append(
            _object(
                "monitoring.coreos.com/v1",
                "PodMonitor",
                deployment.metadata.name,
                deployment,
                labels,
            )
            | {
                "spec": {
                    "selector": {"matchLabels": {DEPLOYMENT_LABEL: deployment.metadata.name}},
                    "podMetricsEndpoints": [{"port": "http", "path": "/metrics"}],
                }
            }
        )
    return objects


def build_children(build: BuildInput) -> list[Manifest]:
    """Every object the Deployment should own now, in the order they are applied."""
    objects = [obj for running in build.running for obj in build_version(build, running)]
    return objects + build_router(build)
