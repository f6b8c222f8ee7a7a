"""Given a shadow, the router mirrors requests to it, never touching the primary's answers,
and counts exactly how often the two models agree.

The stable predicts 1 for values above 0.5 and the shadow for values above 0.7, so
they disagree on exactly the rows in (0.5, 0.7], which the test counts in advance.
"""

from __future__ import annotations

import random
import statistics
from collections import Counter
from typing import Any

import orjson
import requests

from tests.ground.polling import eventually
from tests.ground.processes import free_port
from tests.integration.router.harness import (
    MODEL,
    Launcher,
    RouterProcess,
    backend,
    routing_config,
    send_all,
    v2_request,
)

OUTCOMES = ("agree", "disagree", "incomparable", "shadow_error", "primary_error", "dropped")


def mirroring_router(
    launch: Launcher, stable: dict[str, Any], shadow: dict[str, Any], *flags: str
) -> RouterProcess:
    """A router that sends everything to `stable` and mirrors everything to `shadow`."""
    config = routing_config(
        backend("v1", "stable", stable, weight=1),
        backend("v3", "shadow", shadow),
        mirror_percent=100,
    )
    return launch.router(config, *flags)


def mirror_outcomes(router: RouterProcess, settled: int) -> dict[str, float]:
    """The mirror outcome counts, once they add up to `settled` requests."""

    def counts() -> dict[str, float] | None:
        found = {
            outcome: router.metric("modelkeeper_router_mirror_requests_total", outcome=outcome)
            for outcome in OUTCOMES
        }
        return found if sum(found.values()) == settled else None

    return eventually(counts, timeout=30, what=f"{settled} mirrored requests judged")


async def test_agreement_counts_are_exact_and_primary_answers_unchanged(
    launch: Launcher,
) -> None:
    stable = launch.backend("v1", threshold=0.5)
    # Room for every mirror at once: one dropped under load would make the counts inexact
    router = mirroring_router(
        launch, stable, launch.backend("v3", threshold=0.7), "--shadow-max-in-flight", "1000"
    )
    draw = random.Random(3)
    batches = [[draw.random() for _ in range(draw.randint(1, 4))] for _ in range(400)]
    bodies = [v2_request(values, f"req-{index}") for index, values in enumerate(batches)]
    disagreeing_rows = [sum(0.5 < value <= 0.7 for value in values) for values in batches]

    answers = await send_all(f"{router.url}/v2/models/{MODEL}/infer", bodies, concurrency=16)

    direct = await send_all(
        f"http://{stable['host']}:{stable['port']}/v2/models/{MODEL}/infer", bodies
    )
    assert [answer.body for answer in answers] == [answer.body for answer in direct]
    assert {answer.headers["x-backend"] for answer in answers} == {"v1"}
    outcomes = mirror_outcomes(router, settled=len(bodies))
    assert outcomes["agree"] == sum(rows == 0 for rows in disagreeing_rows)
    assert outcomes["disagree"] == sum(rows > 0 for rows in disagreeing_rows)
    assert outcomes["agree"] + outcomes["disagree"] == len(bodies)
    rows = "modelkeeper_router_shadow_predictions_total"
    assert router.metric(rows, outcome="disagree") == sum(disagreeing_rows)
    assert router.metric(rows, outcome="agree") == sum(map(len, batches)) - sum(disagreeing_rows)
    shadow_latency = "modelkeeper_router_upstream_latency_seconds_count"
    assert router.metric(shadow_latency, role="shadow") == len(bodies)


async def test_a_slow_shadow_does_not_delay_the_primary(launch: Launcher) -> None:
    slow = launch.backend("v3", delay_ms=3000)
    router = mirroring_router(launch, launch.backend("v1"), slow, "--shadow-max-in-flight", "1000")

    answers = await send_all(
        f"{router.url}/v2/models/{MODEL}/infer", [v2_request([0.2])] * 100, concurrency=2
    )

    assert Counter(answer.status for answer in answers) == {200: 100}
    latencies = [answer.seconds for answer in answers]
    # Waiting for the shadow would cost 3 s per request; a busy machine costs far less.
    assert statistics.median(latencies) < 0.5
    assert max(latencies) < 1.5
    assert mirror_outcomes(router, settled=100)["agree"] == 100


async def test_mirrors_beyond_the_in_flight_limit_are_dropped_and_counted(
    launch: Launcher,
) -> None:
    slow = launch.backend("v3", delay_ms=300)
    router = mirroring_router(launch, launch.backend("v1"), slow, "--shadow-max-in-flight", "4")

    answers = await send_all(
        f"{router.url}/v2/models/{MODEL}/infer", [v2_request([0.2])] * 60, concurrency=10
    )

    assert Counter(answer.status for answer in answers) == {200: 60}
    outcomes = mirror_outcomes(router, settled=60)
    assert outcomes["dropped"] > 0
    assert outcomes["agree"] + outcomes["dropped"] == 60


async def test_shadow_errors_are_counted_apart(launch: Launcher) -> None:
    nobody = {"host": "127.0.0.1", "port": free_port()}  # every mirror fails to connect
    router = mirroring_router(launch, launch.backend("v1"), nobody)
    malformed = requests.post(f"{router.url}/v2/models/{MODEL}/infer", data=b"{", timeout=10)

    answers = await send_all(f"{router.url}/v2/models/{MODEL}/infer", [v2_request([0.9])] * 20)

    assert malformed.status_code == 400
    assert Counter(answer.status for answer in answers) == {200: 20}
    outcomes = mirror_outcomes(router, settled=21)
    assert outcomes["shadow_error"] == 20
    assert outcomes["primary_error"] == 1
    assert orjson.loads(malformed.content)["error"].startswith("bad request")
