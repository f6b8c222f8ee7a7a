"""Where a Deployment's requests go: the routing objects, written by one provider per kind.

The rollout decides the Routes: the stable version, and the candidate with its role,
weight and mirrored share. A provider turns them into objects: the built-in router (its
Deployment, Service, RBAC and a routing ConfigMap in router/config.py's format) or a
Gateway API HTTPRoute with backend weights and a RequestMirror filter. A preview
candidate also gets a Service of its own under either provider. Pure: builders.py adds
these objects to the Deployment's children.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from modelkeeper.api.deployment import DeploymentResource, TrafficProvider
from modelkeeper.api.labels import (
    VERSION_LABEL,
    Manifest,
    child_labels,
    child_name,
    selector,
    version_name,
)
from modelkeeper.api.types import ServingRole
from modelkeeper.controller.manifests import (
    HTTP_PORT,
    SERVICE_PORT,
    apps_deployment,
    container_security,
    env_from_field,
    owned,
    probes,
    service,
)
from modelkeeper.router.config import Backend, RoutingConfig

ROUTING_DIR = "/etc/modelkeeper/routing"
ROUTING_FILE = "routing.yaml"
HTTP_ROUTE_API_VERSION = "gateway.networking.k8s.io/v1"

_CANDIDATE_ROLES = (ServingRole.CANARY, ServingRole.SHADOW, ServingRole.PREVIEW)


@dataclass(frozen=True)
class Routes:
    """Where the Deployment's requests go after this reconcile."""

    stable: str
    """The version taking the rest of the traffic."""
    candidate: str | None = None
    """The version being rolled out."""
    role: ServingRole | None = None
    """The candidate's: CANARY (weighted), SHADOW (mirrored) or PREVIEW (own Service only)."""
    weight: int = 0
    """The candidate's percent of live requests (CANARY only)."""
    mirror_percent: int = 0
    """The percent of requests copied to a SHADOW candidate."""

    def __post_init__(self) -> None:
        """Refuse routes no provider can write, with the reason."""
        if (self.candidate is None) != (self.role is None):
            raise ValueError("a candidate needs a role, and a role a candidate")
        if self.role is not None and self.role not in _CANDIDATE_ROLES:
            raise ValueError(f"a candidate's role is Canary, Shadow or Preview, not {self.role}")
        if self.candidate == self.stable:
            raise ValueError(f"version {self.stable} cannot be both stable and candidate")
        for field, value, role in (
            ("weight", self.weight, ServingRole.CANARY),
            ("mirror_percent", self.mirror_percent, ServingRole.SHADOW),
        ):
            if not 0 <= value <= 100:
                raise ValueError(f"{field} must be a percent from 0 to 100, not {value}")
            if value and self.role is not role:
                raise ValueError(f"{field} applies to a {role} candidate only")

    def live(self) -> list[tuple[str, ServingRole, int]]:
        """The versions that answer clients, each with its role and percent of requests."""
        split = [(self.stable, ServingRole.STABLE, 100 - self.weight)]
        if self.role is ServingRole.CANARY and self.candidate is not None:
            split.append((self.candidate, ServingRole.CANARY, self.weight))
        return split

    @property
    def shadow(self) -> str | None:
        """The version that mirrored requests go to, if any."""
        return self.candidate if self.role is ServingRole.SHADOW else None

    @property
    def preview(self) -> str | None:
        """The version reachable only through the preview Service, if any."""
        return self.candidate if self.role is ServingRole.PREVIEW else None


class Provider(Protocol):
    """Turns the routes into the objects that carry them (none while routes is None)."""

    def __call__(
        self, deployment: DeploymentResource, routes: Routes | None, image: str
    ) -> list[Manifest]: ...


def router_name(deployment: str) -> str:
    return child_name(deployment, "router")


def preview_name(deployment: str) -> str:
    return child_name(deployment, "preview")


def routing_config(deployment: DeploymentResource, routes: Routes) -> RoutingConfig:
    """The router's config: the live split, and a shadow's mirrored share.

    Only what the routes decide is given (the rest is the router's default), and only what
    is given is written (`RoutingConfig.text`).
    """
    name = deployment.metadata.name

    def backend(version: str, role: ServingRole, weight: int | None = None) -> Backend:
        service = version_name(name, version)
        if weight is None:  # a shadow's: it takes none
            return Backend(name=version, role=role, service=service, port="http")
        return Backend(name=version, role=role, weight=weight, service=service, port="http")

    backends = [backend(version, role, weight=weight) for version, role, weight in routes.live()]
    shadow = deployment.spec.strategy.shadow
    mirroring: dict[str, Any] = {}
    if routes.shadow is not None:
        backends.append(backend(routes.shadow, ServingRole.SHADOW))
        mirroring["mirror_percent"] = routes.mirror_percent
        if shadow is not None and shadow.agreement_tolerance > 0:
            # The shadow's agreementTolerance is what counts as the same regression answer.
            mirroring["float_tolerance"] = shadow.agreement_tolerance
    return RoutingConfig(
        model=deployment.spec.model.name, deployment=name, backends=tuple(backends), **mirroring
    )


def build_router(
    deployment: DeploymentResource, routes: Routes | None, image: str
) -> list[Manifest]:
    """The router's objects; its config and its pods only once there is a version to route to.

    A router without a config could only fail to start (and crash-loop while, say, the
    family has no Model yet), so until then there is its Service, account and Role, and
    no pod: the Deployment's status says why nothing serves.
    """
    name = router_name(deployment.metadata.name)
    router_labels = child_labels(deployment, "router")
    objects: list[Manifest] = []
    if routes is not None:
        text = routing_config(deployment, routes).text()
        objects.append(
            owned("v1", "ConfigMap", name, deployment, router_labels)
            | {"data": {ROUTING_FILE: text}}
        )
    container = {
        "name": "router",
        "image": image,
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
            # Followed through the API: the kubelet refreshes the mounted file only about
            # once a minute, too late for a canary step's new weight.
            "--config-map",
            name,
        ],
        "ports": [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}],
        "env": [
            env_from_field("MODELKEEPER_HOST", "status.podIP"),
            env_from_field("POD_NAMESPACE", "metadata.namespace"),
        ],
        "securityContext": container_security(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [{"name": "routing", "mountPath": ROUTING_DIR, "readOnly": True}],
        **probes(),
    }
    pod_spec = {
        "serviceAccountName": name,
        "containers": [container],
        "volumes": [{"name": "routing", "configMap": {"name": name}}],
    }
    objects += [
        owned("v1", "ServiceAccount", name, deployment, router_labels),
        owned("rbac.authorization.k8s.io/v1", "Role", name, deployment, router_labels)
        | {
            "rules": [
                {
                    "apiGroups": ["discovery.k8s.io"],
                    "resources": ["endpointslices"],
                    "verbs": ["get", "list", "watch"],
                },
                {
                    "apiGroups": [""],
                    "resources": ["configmaps"],
                    "resourceNames": [name],
                    "verbs": ["get", "list", "watch"],
                },
            ]
        },
        owned("rbac.authorization.k8s.io/v1", "RoleBinding", name, deployment, router_labels)
        | {
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [
                {"kind": "ServiceAccount", "name": name, "namespace": deployment.metadata.namespace}
            ],
        },
    ]
    if routes is not None:
        objects.append(
            apps_deployment(
                owned("apps/v1", "Deployment", name, deployment, router_labels),
                selector(deployment, "router"),
                router_labels,
                pod_spec,
                1,
            )
        )
    objects.append(
        service(
            owned("v1", "Service", deployment.metadata.name, deployment, router_labels),
            selector(deployment, "router"),
        )
    )
    return objects


def build_http_route(
    deployment: DeploymentResource, routes: Routes | None, image: str
) -> list[Manifest]:
    """One HTTPRoute named after the Deployment: weighted version Services, and a mirror.

    The version Services are the backends (their port, SERVICE_PORT); the Gateway's
    implementation does the split, so there is no router and `image` is not used.
    """
    gateway = deployment.spec.traffic.gateway_api
    if gateway is None:
        raise ValueError("traffic provider GatewayAPI needs spec.traffic.gatewayAPI")
    if routes is None:
        return []
    name = deployment.metadata.name

    def backend_ref(version: str) -> dict[str, Any]:
        return {"name": version_name(name, version), "port": SERVICE_PORT}

    rule: dict[str, Any] = {
        "backendRefs": [
            backend_ref(version) | {"weight": weight} for version, _, weight in routes.live()
        ]
    }
    if routes.shadow is not None:
        mirror = {"backendRef": backend_ref(routes.shadow), "percent": routes.mirror_percent}
        rule["filters"] = [{"type": "RequestMirror", "requestMirror": mirror}]
    spec: dict[str, Any] = {
        "parentRefs": [
            {"group": "gateway.networking.k8s.io", "kind": "Gateway"}
            | ref.model_dump(mode="json", exclude_none=True)
            for ref in gateway.parent_refs
        ],
        "rules": [rule],
    }
    if gateway.hostnames:
        spec["hostnames"] = list(gateway.hostnames)
    return [
        owned(
            HTTP_ROUTE_API_VERSION, "HTTPRoute", name, deployment, child_labels(deployment, "route")
        )
        | {"spec": spec}
    ]


PROVIDERS: Mapping[TrafficProvider, Provider] = {
    TrafficProvider.ROUTER: build_router,
    TrafficProvider.GATEWAY_API: build_http_route,
}


def build_traffic(
    deployment: DeploymentResource, routes: Routes | None, image: str
) -> list[Manifest]:
    """The objects of the Deployment's provider, and the preview Service of a preview."""
    objects = PROVIDERS[deployment.spec.traffic.provider](deployment, routes, image)
    if routes is not None and routes.preview is not None:
        objects.append(
            service(
                owned(
                    "v1",
                    "Service",
                    preview_name(deployment.metadata.name),
                    deployment,
                    child_labels(deployment, "preview") | {VERSION_LABEL: routes.preview},
                ),
                selector(deployment, "server", routes.preview),
            )
        )
    return objects
