"""One role type: a backend's role is a ServingRole, spelled in lowercase by the router.

The router's config, status page and metric labels say `canary`; the Deployment's status
and labels say `Canary`; both are ServingRole.CANARY. A preview is never the router's.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from pydantic import ValidationError

from modelkeeper.api.types import ServingRole
from modelkeeper.router.config import (
    ROUTER_ROLES,
    Backend,
    ConfigError,
    RoutingConfig,
    parse_config,
    role_name,
)

STABLE = {"name": "1", "role": "stable", "weight": 90, "service": "fraud-1"}


@pytest.mark.parametrize(
    ("spelled", "role"),
    [
        pytest.param("stable", ServingRole.STABLE, id="stable"),
        pytest.param("canary", ServingRole.CANARY, id="canary"),
        pytest.param("shadow", ServingRole.SHADOW, id="shadow"),
    ],
)
def test_a_role_reads_and_writes_in_the_routers_spelling(spelled: str, role: ServingRole) -> None:
    backend = Backend.model_validate({"name": "2", "role": spelled, "service": "fraud-2"})
    assert backend.role is role
    assert role_name(role) == spelled
    assert backend.model_dump(mode="json")["role"] == spelled
    assert Backend(name="2", role=role, service="fraud-2") == backend


def test_the_router_has_no_preview() -> None:
    assert ServingRole.PREVIEW not in ROUTER_ROLES
    assert set(ROUTER_ROLES) == set(ServingRole) - {ServingRole.PREVIEW}


@pytest.mark.parametrize(
    "role",
    [
        pytest.param("Canary", id="the-deployments-spelling"),
        pytest.param("preview", id="preview"),
        pytest.param(ServingRole.PREVIEW, id="preview-given-as-a-role"),
        pytest.param("", id="empty"),
        pytest.param(1, id="not-a-string"),
    ],
)
def test_a_role_the_router_does_not_have_is_refused(role: Any) -> None:
    with pytest.raises(
        ValidationError, match=re.escape("Input should be 'stable', 'canary' or 'shadow'")
    ):
        Backend.model_validate({"name": "2", "role": role, "service": "fraud-2"})


@pytest.mark.parametrize(
    "document",
    [
        pytest.param({"model": "fraud", "backends": [STABLE]}, id="stable-only"),
        pytest.param(
            {
                "model": "fraud",
                "deployment": "fraud",
                "backends": [
                    STABLE,
                    {
                        "name": "2",
                        "role": "canary",
                        "weight": 10,
                        "service": "fraud-2",
                        "port": "http",
                    },
                ],
            },
            id="canary",
        ),
        pytest.param(
            {
                "model": "fraud",
                "mirror_percent": 25,
                "float_tolerance": 0.5,
                "backends": [STABLE, {"name": "3", "role": "shadow", "service": "fraud-3"}],
            },
            id="whole-mirror-percent",
        ),
        pytest.param(
            {
                "model": "fraud",
                "mirror_percent": 12.5,
                "backends": [
                    STABLE,
                    {"name": "3", "role": "shadow", "endpoints": [{"host": "h", "port": 1}]},
                ],
            },
            id="fractional-mirror-percent",
        ),
    ],
)
def test_text_writes_back_exactly_what_was_given(document: dict[str, Any]) -> None:
    text = json.dumps(document, indent=2, sort_keys=True)
    assert parse_config(text).text() == text


@pytest.mark.parametrize(
    ("weights", "share"),
    [
        pytest.param({"stable": 90, "canary": 10}, 10, id="canary-ten"),
        pytest.param({"stable": 3, "canary": 1}, 25, id="weights-as-shares"),
        pytest.param({"stable": 0, "canary": 5}, 100, id="all-to-the-canary"),
        pytest.param({"stable": 100}, 0, id="stable-only"),
        pytest.param({"stable": 100, "shadow": 0}, 0, id="a-shadow-takes-none"),
    ],
)
def test_the_canary_share_is_its_weight_of_the_primaries(
    weights: dict[str, int], share: int
) -> None:
    backends = [
        {"name": role, "role": role, "service": role} | ({"weight": w} if role != "shadow" else {})
        for role, w in weights.items()
    ]
    assert (
        RoutingConfig.model_validate({"model": "fraud", "backends": backends}).canary_share == share
    )


def test_a_config_with_nothing_routed_has_no_share_to_ask() -> None:
    with pytest.raises(ConfigError, match="must not all be 0"):
        parse_config(json.dumps({"model": "fraud", "backends": [STABLE | {"weight": 0}]}))
