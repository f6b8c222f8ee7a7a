"""Routes become routing objects: the router's config, the HTTPRoute, the preview Service.

Also the pod role: a version's pods keep the role they started with, so that a promotion
never restarts them.
"""

from __future__ import annotations

from typing import Any

import pytest

from modelkeeper.api.labels import Manifest
from modelkeeper.api.types import ServingRole
from modelkeeper.controller.builders import BuildInput, RunningVersion, build_version
from modelkeeper.controller.traffic import ROUTING_FILE, Routes, build_traffic
from modelkeeper.router.config import parse_config, role_name
from tests.unit.controller.factories import deployment, model
from tests.unit.controller.rollout_specs import BLUE_GREEN, CANARY, GATEWAY_API, SHADOW

IMAGE = "ghcr.io/modelkeeper/modelkeeper:0.1.0"
CANDIDATE, SHADOWED, PREVIEWED = ServingRole.CANARY, ServingRole.SHADOW, ServingRole.PREVIEW


@pytest.mark.parametrize(
    ("routes", "message"),
    [
        pytest.param({"candidate": "2"}, "needs a role", id="candidate-without-role"),
        pytest.param({"role": CANDIDATE}, "needs a role", id="role-without-candidate"),
        pytest.param(
            {"candidate": "2", "role": ServingRole.STABLE}, "not Stable", id="stable-candidate"
        ),
        pytest.param({"candidate": "1", "role": CANDIDATE}, "both stable", id="same-version"),
        pytest.param(
            {"candidate": "2", "role": CANDIDATE, "weight": 101}, "from 0 to 100", id="weight-101"
        ),
        pytest.param(
            {"candidate": "2", "role": SHADOWED, "mirror_percent": -1},
            "from 0 to 100",
            id="negative-mirror",
        ),
        pytest.param(
            {"candidate": "2", "role": SHADOWED, "weight": 10},
            "weight applies to a Canary",
            id="weighted-shadow",
        ),
        pytest.param(
            {"candidate": "2", "role": CANDIDATE, "mirror_percent": 10},
            "mirror_percent applies to a Shadow",
            id="mirrored-canary",
        ),
        pytest.param({"weight": 10}, "weight applies to a Canary", id="weight-without-candidate"),
    ],
)
def test_routes_refuse_what_no_provider_can_write(routes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Routes(stable="1", **routes)


# (routes, live versions with router role and weight, shadow version, mirror percent)
SPLITS = [
    pytest.param(Routes("1"), [("1", "stable", 100)], None, 0, id="stable-only"),
    pytest.param(
        Routes("1", "2", CANDIDATE),
        [("1", "stable", 100), ("2", "canary", 0)],
        None,
        0,
        id="canary-at-0-stays-configured",
    ),
    pytest.param(
        Routes("1", "2", CANDIDATE, weight=30),
        [("1", "stable", 70), ("2", "canary", 30)],
        None,
        0,
        id="canary-at-30",
    ),
    pytest.param(
        Routes("1", "2", CANDIDATE, weight=100),
        [("1", "stable", 0), ("2", "canary", 100)],
        None,
        0,
        id="canary-at-100",
    ),
    pytest.param(
        Routes("1", "2", SHADOWED, mirror_percent=25),
        [("1", "stable", 100)],
        "2",
        25,
        id="shadow-mirroring-25",
    ),
    pytest.param(Routes("1", "2", PREVIEWED), [("1", "stable", 100)], None, 0, id="preview"),
]


def _objects(routes: Routes | None, **spec: Any) -> list[Manifest]:
    return build_traffic(deployment(**spec), routes, IMAGE)


def _only(objects: list[Manifest], kind: str) -> Manifest:
    [found] = [obj for obj in objects if obj["kind"] == kind]
    return found


@pytest.mark.parametrize(("routes", "live", "shadow", "mirror"), SPLITS)
def test_router_config_is_one_the_router_accepts(
    routes: Routes, live: list[tuple[str, str, int]], shadow: str | None, mirror: int
) -> None:
    config_map = _only(_objects(routes), "ConfigMap")
    config = parse_config(config_map["data"][ROUTING_FILE])
    assert [(b.name, role_name(b.role), b.weight) for b in config.primaries] == live
    assert [b.service for b in config.primaries] == [f"fraud-{version}" for version, _, _ in live]
    assert (config.shadow.name if config.shadow is not None else None) == shadow
    assert config.mirror_percent == mirror
    assert (config.model, config.deployment) == ("fraud", "fraud")


@pytest.mark.parametrize(("routes", "live", "shadow", "mirror"), SPLITS)
def test_http_route_carries_the_same_split(
    routes: Routes, live: list[tuple[str, str, int]], shadow: str | None, mirror: int
) -> None:
    route = _only(_objects(routes, traffic=GATEWAY_API), "HTTPRoute")
    [rule] = route["spec"]["rules"]
    assert rule["backendRefs"] == [
        {"name": f"fraud-{version}", "port": 80, "weight": weight} for version, _, weight in live
    ]
    mirrors = [f["requestMirror"] for f in rule.get("filters", []) if f["type"] == "RequestMirror"]
    expected = [{"backendRef": {"name": f"fraud-{shadow}", "port": 80}, "percent": mirror}]
    assert mirrors == (expected if shadow is not None else [])
    assert route["metadata"]["name"] == "fraud"
    assert route["spec"]["hostnames"] == ["fraud.example.com"]
    assert route["spec"]["parentRefs"] == [
        {
            "group": "gateway.networking.k8s.io",
            "kind": "Gateway",
            "name": "public",
            "namespace": "gateways",
            "sectionName": "https",
        }
    ]


ROUTER_KINDS = ["ConfigMap", "ServiceAccount", "Role", "RoleBinding", "Deployment", "Service"]


@pytest.mark.parametrize(
    ("traffic", "routes", "kinds"),
    [
        pytest.param({}, Routes("1"), ROUTER_KINDS, id="router"),
        # Finding 4: no router pod without a config to read (it crash-looped on main).
        pytest.param(
            {},
            None,
            ["ServiceAccount", "Role", "RoleBinding", "Service"],
            id="router-with-nothing-to-route-yet",
        ),
        pytest.param(GATEWAY_API, Routes("1"), ["HTTPRoute"], id="gateway-api"),
        pytest.param(GATEWAY_API, None, [], id="gateway-api-with-nothing-to-route-yet"),
    ],
)
def test_each_provider_writes_only_its_own_objects(
    traffic: dict[str, Any], routes: Routes | None, kinds: list[str]
) -> None:
    assert [obj["kind"] for obj in _objects(routes, traffic=traffic)] == kinds


@pytest.mark.parametrize(
    "traffic", [pytest.param({}, id="router"), pytest.param(GATEWAY_API, id="gateway-api")]
)
def test_a_preview_gets_its_own_service_under_either_provider(traffic: dict[str, Any]) -> None:
    previewed = _objects(Routes("1", "2", PREVIEWED), traffic=traffic)
    [preview] = [obj for obj in previewed if obj["metadata"]["name"] == "fraud-preview"]
    assert preview["kind"] == "Service"
    assert preview["spec"]["selector"] == {
        "modelkeeper.io/deployment": "fraud",
        "app.kubernetes.io/component": "server",
        "modelkeeper.io/version": "2",
    }
    canary = _objects(Routes("1", "2", CANDIDATE, weight=10), traffic=traffic)
    assert "fraud-preview" not in {obj["metadata"]["name"] for obj in canary}


def test_gateway_api_without_its_settings_is_refused() -> None:
    with pytest.raises(ValueError, match=r"spec\.traffic\.gatewayAPI"):
        _objects(Routes("1"), traffic={"provider": "GatewayAPI"})


@pytest.mark.parametrize(
    ("strategy", "role", "pod_roles", "pod_role"),
    [
        pytest.param({}, CANDIDATE, {}, "Stable", id="direct-candidate-starts-stable"),
        pytest.param(CANARY, CANDIDATE, {}, "Canary", id="canary-starts-canary"),
        pytest.param(SHADOW, SHADOWED, {}, "Shadow", id="shadow-starts-shadow"),
        pytest.param(BLUE_GREEN, PREVIEWED, {}, "Preview", id="preview-starts-preview"),
        pytest.param(
            CANARY, ServingRole.STABLE, {"2": CANDIDATE}, "Canary", id="promoted-canary-keeps-role"
        ),
        pytest.param(
            BLUE_GREEN,
            ServingRole.STABLE,
            {"2": PREVIEWED},
            "Preview",
            id="switched-preview-keeps-role",
        ),
        pytest.param(
            {}, ServingRole.STABLE, {"2": CANDIDATE}, "Canary", id="direct-keeps-an-earlier-role"
        ),
        pytest.param(
            CANARY, ServingRole.STABLE, {"1": CANDIDATE}, "Stable", id="another-versions-role"
        ),
    ],
)
def test_pods_keep_the_role_they_started_with(
    strategy: dict[str, Any],
    role: ServingRole,
    pod_roles: dict[str, ServingRole],
    pod_role: str,
) -> None:
    running = RunningVersion(model("2", image="registry.example.com/fraud:2"), role)
    build = BuildInput(deployment(strategy=strategy), [running], None, pod_roles, IMAGE, False)
    server = _only(build_version(build, running), "Deployment")
    template = server["spec"]["template"]
    [env] = [e for e in template["spec"]["containers"][0]["env"] if e["name"] == "MODELKEEPER_ROLE"]
    assert (template["metadata"]["labels"]["modelkeeper.io/role"], env["value"]) == (
        pod_role,
        pod_role.lower(),
    )
    assert server["metadata"]["labels"]["modelkeeper.io/role"] == role.value
