"""A pool's router fed by its catalogue follower: each family put, refused or removed, a
model name handed over when its holder goes, and a relisting that changes nothing counted
as nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from modelkeeper.api.pool import PooledFamily
from modelkeeper.router.config import Backend, Endpoint, ProxySettings, RoutingConfig
from modelkeeper.router.messages import Request
from modelkeeper.router.metrics import RouterMetrics
from modelkeeper.router.proxy import Router
from modelkeeper.router.reload import CatalogueRoutes

NOON = "2026-12-06T12:00:00Z"
LATER = "2026-12-06T12:05:00Z"


class ServiceEndpoints:
    """Every backend names a service, none has an endpoint: routing decisions only."""

    def check(self, config: RoutingConfig) -> None:
        pass

    def ready_endpoints(self, backend: Backend) -> tuple[Endpoint, ...]:
        return ()

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass


def family(deployment: str, created: str, mirror_percent: int = 0) -> PooledFamily:
    """A family of model fraud as read from its ConfigMap, created at `created`."""
    made = PooledFamily.model_validate(
        {
            "deployment": deployment,
            "model": "fraud",
            "versions": [
                {
                    "version": "v1",
                    "model": "fraud-v1",
                    "role": "Stable",
                    "weight": 100,
                    "uri": f"s3://models/{deployment}/model.joblib",
                    "format": "sklearn",
                }
            ],
            "mirror_percent": mirror_percent,
        }
    )
    return PooledFamily.from_config_map(
        {
            "metadata": {"name": f"{deployment}-catalogue", "creationTimestamp": created},
            "data": made.to_data(),
        }
    )


A = family("a", NOON)
B = family("b", LATER)
Step = tuple[str, str, Any]  # (replace | put | remove, source, families or family)


@pytest.mark.parametrize(
    ("steps", "routed", "counted"),
    [
        pytest.param(
            [("replace", "", {"a": A}), ("put", "b", B), ("remove", "a", None)],
            "b",
            [True, False, True],
            id="handover-b-waits-then-routed",
        ),
        pytest.param(
            [("replace", "", {"b": B}), ("put", "a", A)],
            "a",
            [True, True],
            id="an-elder-claim-takes-the-name",
        ),
        pytest.param(
            [("replace", "", {"a": A, "b": B}), ("replace", "", {"a": A, "b": B})],
            "a",
            [True, False],
            id="a-relisting-unchanged-counts-nothing",
        ),
        pytest.param(
            [("replace", "", {"a": A, "b": B}), ("replace", "", {"b": B})],
            "b",
            [True, False, True],
            id="a-relisting-without-the-holder-hands-over",
        ),
        pytest.param(
            [("replace", "", {"a": A}), ("put", "a", family("a", NOON, mirror_percent=10))],
            "a",
            [True, False],
            id="a-family-the-router-cannot-route-keeps-its-last-good",
        ),
    ],
)
def test_the_routes_follow_the_catalogue(
    steps: list[Step], routed: str, counted: list[bool]
) -> None:
    router = Router(ServiceEndpoints(), RouterMetrics(), ProxySettings())
    reloads: list[bool] = []
    routes = CatalogueRoutes(router, "ns", "pool-a-servers", reloads.append)
    for action, source, what in steps:
        if action == "replace":
            routes.replace(what)
        elif action == "put":
            routes.put(source, what)
        else:
            routes.remove(source)

    status = asyncio.run(router.handle(Request(b"GET", b"/router/status", [], b"")))
    assert status.status == 200
    assert [family["deployment"] for family in orjson.loads(status.body)["families"]] == [routed]
    assert reloads == counted
