"""The router's life: it takes a new routing config without a restart, refuses a bad one
while keeping the last good one, and on SIGTERM finishes what it has started.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import requests

from tests.ground.polling import eventually
from tests.integration.router.harness import (
    MODEL,
    Answer,
    Launcher,
    backend,
    routing_config,
    send_all,
    v2_request,
)


def served_by(url: str) -> str:
    answer = requests.post(f"{url}/v2/models/{MODEL}/infer", json=v2_request([0.1]), timeout=10)
    answer.raise_for_status()
    return answer.headers["x-backend"]


async def until_served_by(url: str, backend: str, batches: int = 100) -> list[Answer]:
    """Traffic in batches of 100 (4 at once) until a batch was answered by `backend`, then
    one batch more: however long the reload takes, requests are in flight across it."""
    answers: list[Answer] = []
    for _ in range(batches):
        batch = await send_all(url, [v2_request([0.3])] * 100, 4)
        answers += batch
        if any(answer.headers.get("x-backend") == backend for answer in batch):
            return answers + await send_all(url, [v2_request([0.3])] * 100, 4)
    return answers


async def test_a_new_config_is_taken_without_a_restart_or_a_failed_request(
    launch: Launcher,
) -> None:
    old, new = launch.backend("v1"), launch.backend("v2")
    router = launch.router(routing_config(backend("v1", "stable", old, weight=1)))
    pid = router.component.pid
    traffic = asyncio.create_task(until_served_by(f"{router.url}/v2/models/{MODEL}/infer", "v2"))
    await asyncio.sleep(0.3)

    router.write_config(routing_config(backend("v2", "stable", new, weight=1)))
    answers = await traffic

    assert Counter(answer.status for answer in answers) == {200: len(answers)}
    assert {answer.headers["x-backend"] for answer in answers} == {"v1", "v2"}
    assert served_by(router.url) == "v2"
    assert router.component.alive()
    assert router.component.pid == pid
    assert router.metric("modelkeeper_router_config_reloads_total", result="success") == 1


def test_a_bad_new_config_is_refused_and_the_last_good_one_kept(launch: Launcher) -> None:
    router = launch.router(routing_config(backend("v1", "stable", launch.backend("v1"), weight=1)))

    router.write_config_text("model: iris\nbackends: [{name: v1, role: stable}]\n")

    eventually(
        lambda: router.metric("modelkeeper_router_config_reloads_total", result="failure") == 1,
        timeout=10,
        what="the bad config refused",
    )
    assert served_by(router.url) == "v1"
    log = router.component.log.read_text()
    assert "kept the previous routing config" in log
    assert "give exactly one of `service` and `endpoints`" in log


@pytest.mark.parametrize(
    ("config", "flags", "message"),
    [
        pytest.param(
            "model: iris\nbackends: [{name: v1, role: stable, weight: x, service: a}]\n",
            [],
            "routing.yaml: backends.0.weight: Input should be a valid integer",
            id="bad-field",
        ),
        pytest.param(
            "model: iris\nbackends: [{name: v1, role: stable, weight: 1, service: a}]\n",
            [],
            "backend 'v1' names a service but the router reads no EndpointSlices",
            id="service-without-namespace",
        ),
        pytest.param(
            "model: iris\nbackends: [{name: v1, role: stable, weight: 1, service: a}]\n",
            ["--namespace", "ns", "--kubeconfig", "/nonexistent/kubeconfig"],
            "cannot read EndpointSlices: no API access from /nonexistent/kubeconfig",
            id="no-api-access",
        ),
        pytest.param(
            "model: iris\nbackends: [{name: v1, role: stable, weight: 1, endpoints: []}]\n",
            ["--config-map", "iris-router"],
            "--config-map needs --namespace",
            id="configmap-without-namespace",
        ),
    ],
)
def test_a_config_that_cannot_be_used_exits_2_saying_why(
    tmp_path: Path, config: str, flags: list[str], message: str
) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(config)

    result = subprocess.run(
        [sys.executable, "-m", "modelkeeper.cli", "route", "--config", str(path), *flags],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


async def test_sigterm_finishes_the_requests_in_flight(launch: Launcher) -> None:
    slow = launch.backend("v1", delay_ms=3000)
    router = launch.router(routing_config(backend("v1", "stable", slow, weight=1)))
    in_flight = asyncio.create_task(
        send_all(f"{router.url}/v2/models/{MODEL}/infer", [v2_request([0.3])] * 8, 8)
    )
    await asyncio.sleep(1.5)  # every request at the backend, which answers after 3 s

    os.kill(router.component.pid, signal.SIGTERM)
    answers = await in_flight

    assert Counter(answer.status for answer in answers) == {200: 8}
    assert router.component.process is not None
    assert await asyncio.to_thread(router.component.process.wait, 10) == 0
