"""Routes become a typed RoutingConfig: written as the operator always wrote it, and refused by
the router's own rules (the one place they are checked) when the backends do not fit together."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from modelkeeper.api.types import ServingRole
from modelkeeper.controller.traffic import ROUTING_FILE, Routes, build_router, routing_config
from modelkeeper.router.config import Backend, RoutingConfig, parse_config
from tests.unit.controller.factories import deployment
from tests.unit.controller.rollout_specs import SHADOW

CANARY, SHADOWED, PREVIEWED = ServingRole.CANARY, ServingRole.SHADOW, ServingRole.PREVIEW


def _backend(version: str, role: str, weight: int | None = None) -> dict[str, Any]:
    found = {"name": version, "role": role, "service": f"fraud-{version}", "port": "http"}
    return found if weight is None else found | {"weight": weight}


TOLERANT_SHADOW = {**SHADOW, "shadow": {**SHADOW["shadow"], "agreementTolerance": 0.01}}


@pytest.mark.parametrize(
    ("routes", "strategy", "document"),
    [
        pytest.param(
            Routes("1"),
            {},
            {"model": "fraud", "deployment": "fraud", "backends": [_backend("1", "stable", 100)]},
            id="stable-only",
        ),
        pytest.param(
            Routes("1", "2", CANARY, weight=30),
            {},
            {
                "model": "fraud",
                "deployment": "fraud",
                "backends": [_backend("1", "stable", 70), _backend("2", "canary", 30)],
            },
            id="canary-at-30",
        ),
        pytest.param(
            Routes("1", "2", SHADOWED, mirror_percent=50),
            SHADOW,
            {
                "model": "fraud",
                "deployment": "fraud",
                "mirror_percent": 50,
                "backends": [_backend("1", "stable", 100), _backend("2", "shadow")],
            },
            id="shadow-mirroring-50",
        ),
        pytest.param(
            Routes("1", "2", SHADOWED, mirror_percent=50),
            TOLERANT_SHADOW,
            {
                "model": "fraud",
                "deployment": "fraud",
                "mirror_percent": 50,
                "float_tolerance": 0.01,
                "backends": [_backend("1", "stable", 100), _backend("2", "shadow")],
            },
            id="shadow-with-an-agreement-tolerance",
        ),
        pytest.param(
            Routes("1", "2", PREVIEWED),
            {},
            {"model": "fraud", "deployment": "fraud", "backends": [_backend("1", "stable", 100)]},
            id="a-preview-is-not-routed",
        ),
    ],
)
def test_routes_become_the_config_the_router_reads(
    routes: Routes, strategy: dict[str, Any], document: dict[str, Any]
) -> None:
    fraud = deployment(strategy=strategy)
    config = routing_config(fraud, routes)
    assert isinstance(config, RoutingConfig)
    text = json.dumps(document, indent=2, sort_keys=True)
    assert config.text() == text
    [config_map] = [
        obj for obj in build_router(fraud, routes, "image") if obj["kind"] == "ConfigMap"
    ]
    assert config_map["data"][ROUTING_FILE] == text
    assert parse_config(text) == config


STABLE_1 = Backend(name="1", role=ServingRole.STABLE, weight=100, service="fraud-1")


@pytest.mark.parametrize(
    ("backends", "mirror_percent", "message"),
    [
        pytest.param(
            [STABLE_1, Backend(name="1", role=CANARY, service="fraud-1")],
            0,
            "backend names must be unique",
            id="candidate-is-the-stable",
        ),
        pytest.param(
            [STABLE_1, Backend(name="2", role=ServingRole.STABLE, weight=1, service="fraud-2")],
            0,
            "exactly one backend must have role `stable`",
            id="two-stables",
        ),
        pytest.param(
            [
                STABLE_1,
                Backend(name="2", role=CANARY, service="fraud-2"),
                Backend(name="3", role=CANARY, service="fraud-3"),
            ],
            0,
            "at most one backend may have role `canary`",
            id="two-canaries",
        ),
        pytest.param(
            [STABLE_1, Backend(name="2", role=CANARY, service="fraud-2")],
            10,
            "`mirror_percent` needs a backend with role `shadow`",
            id="a-mirrored-canary",
        ),
        pytest.param(
            [
                STABLE_1.model_copy(update={"weight": 0}),
                Backend(name="2", role=CANARY, service="s"),
            ],
            0,
            "the stable and canary weights must not all be 0",
            id="nothing-routed",
        ),
    ],
)
def test_backends_that_do_not_fit_together_are_refused(
    backends: list[Backend], mirror_percent: int, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        RoutingConfig(model="fraud", backends=tuple(backends), mirror_percent=mirror_percent)


@pytest.mark.parametrize(
    ("role", "weight", "message"),
    [
        pytest.param(SHADOWED, 5, "a shadow takes no weight", id="weighted-shadow"),
        pytest.param(PREVIEWED, 0, "Input should be 'stable', 'canary' or 'shadow'", id="preview"),
    ],
)
def test_a_backend_the_router_cannot_route_is_refused(
    role: ServingRole, weight: int, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        Backend(name="2", role=role, weight=weight, service="fraud-2")
