"""Given a stable and a canary behind the router, the traffic splits by the configured weights.

The split is smooth weighted round robin, so the stated tolerance is none: over any
multiple of the total weight, each backend gets exactly its share, however many
requests are in flight at once.
"""

from __future__ import annotations

import random
from collections import Counter

from tests.integration.router.harness import (
    MODEL,
    Launcher,
    backend,
    routing_config,
    send_all,
    v2_request,
)


async def test_weights_converge_exactly_to_the_configured_split(launch: Launcher) -> None:
    stable, canary = launch.backend("v1"), launch.backend("v2")
    router = launch.router(
        routing_config(
            backend("v1", "stable", stable, weight=80), backend("v2", "canary", canary, weight=20)
        )
    )
    rows = random.Random(1)
    bodies = [v2_request([rows.random()]) for _ in range(2000)]

    answers = await send_all(f"{router.url}/v2/models/{MODEL}/infer", bodies, concurrency=32)

    assert Counter(answer.status for answer in answers) == {200: 2000}
    assert Counter(answer.headers["x-backend"] for answer in answers) == {"v1": 1600, "v2": 400}
    assert router.metric("modelkeeper_router_requests_total", backend="v1", code="200") == 1600
    assert router.metric("modelkeeper_router_requests_total", backend="v2", code="200") == 400
    assert router.metric("modelkeeper_router_backend_weight", backend="v2", role="canary") == 20


async def test_requests_are_balanced_across_the_ready_endpoints_of_a_backend(
    launch: Launcher,
) -> None:
    replicas = [launch.backend(name) for name in ("v1-a", "v1-b", "v1-c")]
    router = launch.router(routing_config(backend("v1", "stable", *replicas, weight=1)))

    answers = await send_all(
        f"{router.url}/v2/models/{MODEL}/infer", [v2_request([0.1])] * 90, concurrency=8
    )

    counts = Counter(answer.headers["x-backend"] for answer in answers)
    assert counts == {"v1-a": 30, "v1-b": 30, "v1-c": 30}
    assert router.metric("modelkeeper_router_ready_endpoints", backend="v1") == 3


async def test_a_backend_with_weight_zero_gets_nothing(launch: Launcher) -> None:
    stable, canary = launch.backend("v1"), launch.backend("v2")
    router = launch.router(
        routing_config(
            backend("v1", "stable", stable, weight=0), backend("v2", "canary", canary, weight=5)
        )
    )

    answers = await send_all(f"{router.url}/v2/models/{MODEL}/infer", [v2_request([0.1])] * 50)

    assert Counter(answer.headers["x-backend"] for answer in answers) == {"v2": 50}
