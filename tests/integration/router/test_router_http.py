"""The router's HTTP contract: health, limits, errors as JSON, request ids, pass-through,
and ground-truth feedback that reaches whichever replica served the request.
"""

from __future__ import annotations

import re
from collections import Counter

import orjson
import requests

from tests.ground.processes import free_port
from tests.integration.router.harness import (
    MODEL,
    Launcher,
    backend,
    routing_config,
    send_all,
    v2_request,
)


def test_health_endpoints(launch: Launcher) -> None:
    router = launch.router(routing_config(backend("v1", "stable", launch.backend("v1"), weight=1)))

    live = requests.get(f"{router.url}/v2/health/live", timeout=10)
    ready = requests.get(f"{router.url}/v2/health/ready", timeout=10)

    assert (live.status_code, live.json()) == (200, {"live": True})
    assert (ready.status_code, ready.json()) == (200, {"ready": True})


def test_a_body_over_the_limit_gets_413_as_json_and_the_router_carries_on(
    launch: Launcher,
) -> None:
    stable = launch.backend("v1")
    router = launch.router(
        routing_config(backend("v1", "stable", stable, weight=1)), "--max-body-bytes", "2048"
    )
    url = f"{router.url}/v2/models/{MODEL}/infer"

    too_big = requests.post(url, data=orjson.dumps(v2_request([0.5] * 1000)), timeout=10)
    fits = requests.post(url, json=v2_request([0.5] * 10), timeout=10)

    assert too_big.status_code == 413
    assert too_big.headers["content-type"].startswith("application/json")
    assert "2048" in too_big.json()["error"]
    assert fits.status_code == 200


def test_an_unreachable_backend_gets_502_as_json(launch: Launcher) -> None:
    dead = {"host": "127.0.0.1", "port": free_port()}
    router = launch.router(routing_config(backend("v1", "stable", dead, weight=1)))

    answer = requests.post(
        f"{router.url}/v2/models/{MODEL}/infer", json=v2_request([1]), timeout=10
    )

    assert answer.status_code == 502
    assert f"127.0.0.1:{dead['port']} failed" in answer.json()["error"]
    assert router.metric("modelkeeper_router_requests_total", backend="v1", code="502") == 1


def test_every_request_carries_an_id_that_the_backend_sees(launch: Launcher) -> None:
    router = launch.router(routing_config(backend("v1", "stable", launch.backend("v1"), weight=1)))
    url = f"{router.url}/v2/models/{MODEL}/infer"

    generated = requests.post(url, json=v2_request([0.1]), timeout=10)
    given = requests.post(url, json=v2_request([0.1]), headers={"X-Request-Id": "abc"}, timeout=10)

    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])
    assert generated.headers["x-seen-request-id"] == generated.headers["x-request-id"]
    assert generated.json()["id"] == generated.headers["x-request-id"]
    assert given.headers["x-seen-request-id"] == "abc"


def test_v1_predict_is_split_like_v2_and_other_reads_go_to_the_stable(launch: Launcher) -> None:
    stable, canary = launch.backend("v1"), launch.backend("v2")
    router = launch.router(
        routing_config(
            backend("v1", "stable", stable, weight=0), backend("v2", "canary", canary, weight=1)
        )
    )

    predicted = requests.post(
        f"{router.url}/v1/models/{MODEL}:predict", json={"instances": [[0.9], [0.1]]}, timeout=10
    )
    metadata = requests.get(f"{router.url}/v2/models/{MODEL}", timeout=10)
    head = requests.head(f"{router.url}/v2/models/{MODEL}", timeout=10)
    put = requests.put(f"{router.url}/v2/models/{MODEL}", data=b"{}", timeout=10)

    assert (predicted.status_code, predicted.json()) == (200, {"predictions": [1, 0]})
    assert predicted.headers["x-backend"] == "v2"
    assert metadata.json() == {"name": MODEL, "versions": ["v1"]}
    assert (head.status_code, head.content, head.headers["x-backend"]) == (200, b"", "v1")
    assert (put.status_code, put.json()["error"]) == (405, "405: Method Not Allowed")


async def test_feedback_reaches_the_replica_that_served_the_request(launch: Launcher) -> None:
    stable = [launch.backend("v1-a"), launch.backend("v1-b")]
    router = launch.router(
        routing_config(
            backend("v1", "stable", *stable, weight=3),
            backend("v2", "canary", launch.backend("v2"), weight=1),
            backend("v3", "shadow", launch.backend("v3"), weight=0),
            mirror_percent=100,
        )
    )
    ids = [f"req-{index}" for index in range(40)]
    served = await send_all(
        f"{router.url}/v2/models/{MODEL}/infer", [v2_request([0.1, 0.9], id) for id in ids]
    )
    feedback = [{"id": id, "labels": [0, 1]} for id in ids]
    url = f"{router.url}/v2/models/{MODEL}/feedback"

    first = await send_all(url, feedback)
    again = await send_all(url, feedback[:5])
    unknown = await send_all(url, [{"id": "never-served", "labels": [1]}])

    assert Counter(answer.headers["x-backend"] for answer in served) == {
        "v1-a": 15,
        "v1-b": 15,
        "v2": 10,
    }
    assert [answer.status for answer in first] == [200] * len(ids)
    assert [answer.body["rows"] for answer in first] == [2] * len(ids)
    assert [answer.headers["x-backend"] for answer in first] == [
        answer.headers["x-backend"] for answer in served
    ]
    assert [answer.status for answer in again] == [404] * 5
    assert (unknown[0].status, unknown[0].body["matched"]) == (404, False)
    assert router.metric("modelkeeper_router_feedback_requests_total", code="200") == len(ids)
    assert router.metric("modelkeeper_router_feedback_requests_total", code="404") == 6
