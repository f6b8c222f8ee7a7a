"""The desired child objects of a Deployment: pure functions from typed resources to manifests.

For each version it runs: an apps/v1 Deployment of scoring servers and its Service (plus a
ConfigMap with the Model's schema, an HPA when autoscaling is set, a PodDisruptionBudget
when it runs more than one replica). For the Deployment: the objects of its traffic
provider (traffic.py: the router, or a Gateway API HTTPRoute; a preview Service) and, when
the monitoring.coreos.com CRDs exist, a PodMonitor. Every object is labelled, owned by the
Deployment, and complete, so server-side apply of the same input writes nothing.
tests/unit/controller/golden/ shows the output.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modelkeeper.api.deployment import DeploymentResource
from modelkeeper.api.labels import (
    DEPLOYMENT_LABEL,
    ROLE_LABEL,
    VERSION_LABEL,
    Manifest,
    child_labels,
    selector,
    version_name,
)
from modelkeeper.api.model import ArtifactFormat, ModelResource
from modelkeeper.api.strategy import StrategyType
from modelkeeper.api.types import ServingRole, claim_path
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
from modelkeeper.controller.traffic import Routes, build_traffic

MODEL_DIR = "/model"
SCHEMA_DIR = "/etc/modelkeeper/schema"
SCRATCH_DIR = "/var/tmp"  # writable under a read-only root; TMPDIR points here


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
    routes: Routes | None
    """Where requests go; None: nothing to route to yet, so no routing config or HTTPRoute."""
    pod_roles: Mapping[str, ServingRole]
    """The role each existing version's pods were started with, read from their template."""
    default_image: str
    pod_monitor: bool
    stores: Sequence[StoreAccess] = ()
    """How the fetch steps reach the stores that URIs name (models:, s3:); none: defaults."""


@dataclass(frozen=True)
class StoreAccess:
    """How a fetch step reaches the store of one URI scheme: where it is, and who we are.

    Only the steps that fetch a URI of that scheme receive them, so a Secret reaches no
    container that does not need it."""

    scheme: str
    env: tuple[tuple[str, str], ...] = ()
    """Variables that say where the store is (MLFLOW_TRACKING_URI, AWS_ENDPOINT_URL_S3)."""
    credentials_secret: str | None = None
    """A Secret in the Deployment's namespace, its keys passed as variables (envFrom)."""


def _model_file(artifact_format: ArtifactFormat) -> str:
    """The name the scoring server loads (serving.runtime.model_file_name, kept light here)."""
    if artifact_format is ArtifactFormat.MLFLOW:
        return "mlflow"  # a directory
    return "model.onnx" if artifact_format is ArtifactFormat.ONNX else "model.joblib"


def store_env(stores: Sequence[StoreAccess], *, optional: bool = False) -> dict[str, Any]:
    """A container's variables for these stores: where each is, and who we are there.
    `optional`: a Secret the namespace lacks leaves those keys out rather than the
    container unable to start (a pool's servers, which serve any family's stores)."""
    env = [{"name": name, "value": value} for store in stores for name, value in store.env]
    secrets = [
        {"secretRef": {"name": store.credentials_secret} | ({"optional": True} if optional else {})}
        for store in stores
        if store.credentials_secret is not None
    ]
    return ({"env": env} if env else {}) | ({"envFrom": secrets} if secrets else {})


def _store_env(uri: str, stores: Sequence[StoreAccess]) -> dict[str, Any]:
    """The fetch step's variables for the store `uri` names."""
    scheme = uri.split(":", 1)[0]
    return store_env([store for store in stores if store.scheme == scheme])


def _fetch(
    name: str, image: str, uri: str, out: str, sha256: str | None, *mounts: dict[str, Any]
) -> dict[str, Any]:
    """An init step: `modelkeeper fetch-artifact` copies a file into the model directory."""
    args = ["fetch-artifact", uri, "--out", out] + (["--sha256", sha256] if sha256 else [])
    return {
        "name": name,
        "image": image,
        "args": args,
        "securityContext": container_security(),
        # Its error (a missing file, a digest that differs) becomes the container's
        # termination message, which the operator shows in the Deployment's conditions.
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [{"name": "model", "mountPath": MODEL_DIR}, *mounts],
    }


def _claims(uris: Sequence[str]) -> tuple[list[Any], dict[str, list[Any]]]:
    """A read-only volume for each claim that pvc:// URIs name, and each such URI's mount."""
    volumes: dict[str, dict[str, Any]] = {}
    mounts: dict[str, list[Any]] = {}
    for uri in uris:
        where = claim_path(uri)
        if where is None:
            continue
        if where.claim not in volumes:
            volumes[where.claim] = {
                "name": f"claim-{len(volumes)}",
                "persistentVolumeClaim": {"claimName": where.claim, "readOnly": True},
            }
        name = volumes[where.claim]["name"]
        mounts[uri] = [{"name": name, "mountPath": where.mount_path, "readOnly": True}]
    return list(volumes.values()), mounts


def _server_env(build: BuildInput, model: ModelResource, pod_role: ServingRole) -> list[Any]:
    spec = build.deployment.spec
    env: list[Any] = [
        env_from_field("MODELKEEPER_HOST", "status.podIP"),
        {"name": "TMPDIR", "value": SCRATCH_DIR},
        {"name": "MODELKEEPER_HTTP_PORT", "value": str(HTTP_PORT)},
        {"name": "MODELKEEPER_GRPC_PORT", "value": str(GRPC_PORT)},
        {"name": "MODELKEEPER_MODEL_NAME", "value": model.spec.name},
        {"name": "MODELKEEPER_MODEL_VERSION", "value": model.spec.version},
        {"name": "MODELKEEPER_DEPLOYMENT", "value": build.deployment.metadata.name},
        {"name": "MODELKEEPER_ROLE", "value": pod_role.value.lower()},
        {"name": "MODELKEEPER_WORKERS", "value": str(spec.serving.workers)},
        {"name": "MODELKEEPER_PAYLOAD_LOG_SAMPLE", "value": str(spec.serving.payload_log_sampling)},
        {
            "name": "MODELKEEPER_PROBABILITY_SAMPLE",
            "value": str(spec.serving.probability_sampling),
        },
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


def _pod_role(build: BuildInput, running: RunningVersion) -> ServingRole:
    """The role a version's pods are labelled with for its life; changing it restarts them.

    A running version keeps the role its pods started with, through promotion too. A new
    one starts with its current role, but under Direct a candidate takes no traffic
    before it becomes stable, so its pods start as Stable and the promotion restarts nothing.
    """
    started = build.pod_roles.get(running.model.spec.version)
    if started is not None:
        return started
    direct = build.deployment.spec.strategy.type is StrategyType.DIRECT
    return ServingRole.STABLE if direct else running.role


def build_version(build: BuildInput, running: RunningVersion) -> list[Manifest]:
    """The objects of one served version: scoring servers, their Service, and what they need."""
    deployment = build.deployment
    model = running.model
    spec = deployment.spec
    name = version_name(deployment.metadata.name, model.spec.version)
    pod_role = _pod_role(build, running)
    server_labels = child_labels(deployment, "server") | {
        VERSION_LABEL: model.spec.version,
        ROLE_LABEL: running.role.value,
    }
    template_labels = server_labels | {ROLE_LABEL: pod_role.value}
    pod_selector = selector(deployment, "server", model.spec.version)
    image = model.spec.image or build.default_image
    mounts: list[Any] = [{"name": "tmp", "mountPath": SCRATCH_DIR}]
    volumes: list[Any] = [{"name": "tmp", "emptyDir": {}}]
    init: list[Any] = []
    objects: list[Manifest] = []

    artifact = model.spec.artifact
    if artifact is not None:
        mounts.append({"name": "model", "mountPath": MODEL_DIR})
        volumes.append({"name": "model", "emptyDir": {}})
        reference = model.spec.reference
        profile_uri = reference.uri if reference is not None else None
        claim_volumes, claim_mounts = _claims([artifact.uri, profile_uri or ""])
        volumes += claim_volumes
        init.append(
            _fetch(
                "fetch-model",
                build.default_image,
                artifact.uri,
                f"{MODEL_DIR}/{_model_file(artifact.format)}",
                artifact.sha256,
                *claim_mounts.get(artifact.uri, []),
            )
            | _store_env(artifact.uri, build.stores)
        )
        if reference is not None and profile_uri is not None:
            init.append(
                _fetch(
                    "fetch-profile",
                    build.default_image,
                    profile_uri,
                    f"{MODEL_DIR}/profile.json",
                    reference.sha256,
                    *claim_mounts.get(profile_uri, []),
                )
                | _store_env(profile_uri, build.stores)
            )
        if model.spec.signature is not None:
            schema = model.spec.signature.model_dump(mode="json", by_alias=True, exclude_none=True)
            objects.append(
                owned("v1", "ConfigMap", name, deployment, server_labels)
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
        "ports": [
            {"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"},
            {"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"},
        ],
        "env": _server_env(build, model, pod_role),
        "securityContext": container_security(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": mounts,
        **probes(),
    }
    if spec.resources is not None:
        container["resources"] = spec.resources.model_dump(mode="json", by_alias=True)
    pod_spec: dict[str, Any] = {"containers": [container], "volumes": volumes}
    if init:
        pod_spec = {"initContainers": init, **pod_spec}
    autoscaling = spec.autoscaling
    objects += [
        apps_deployment(
            owned("apps/v1", "Deployment", name, deployment, server_labels),
            pod_selector,
            template_labels,
            pod_spec,
            None if autoscaling is not None else spec.replicas,
        ),
        service(owned("v1", "Service", name, deployment, server_labels), pod_selector, grpc=True),
    ]
    if autoscaling is not None:
        objects.append(
            owned("autoscaling/v2", "HorizontalPodAutoscaler", name, deployment, server_labels)
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
            owned("policy/v1", "PodDisruptionBudget", name, deployment, server_labels)
            | {"spec": {"maxUnavailable": 1, "selector": {"matchLabels": pod_selector}}}
        )
    return objects


def _pod_monitor(deployment: DeploymentResource) -> Manifest:
    """A PodMonitor that scrapes every pod of the Deployment: scoring servers and router."""
    return owned(
        "monitoring.coreos.com/v1",
        "PodMonitor",
        deployment.metadata.name,
        deployment,
        child_labels(deployment, "router"),
    ) | {
        "spec": {
            "selector": {"matchLabels": {DEPLOYMENT_LABEL: deployment.metadata.name}},
            "podMetricsEndpoints": [{"port": "http", "path": "/metrics"}],
        }
    }


def build_children(build: BuildInput) -> list[Manifest]:
    """Every object the Deployment should own now, in the order they are applied."""
    objects = [obj for running in build.running for obj in build_version(build, running)]
    objects += build_traffic(build.deployment, build.routes, build.default_image)
    return objects + ([_pod_monitor(build.deployment)] if build.pod_monitor else [])
