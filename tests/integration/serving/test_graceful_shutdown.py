"""On SIGTERM the server stops taking connections, finishes every request in flight, and exits 0.

The model takes a second per call, so requests are still being scored when the
signal comes. The signal goes to the server's main process only, as the kubelet
sends it; with two workers the parent passes it on.
"""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.ground.polling import eventually
from tests.integration.serving.serving_harness import ServerLauncher, write_iris_sleepy
from tests.support.traffic import v2_body

IN_FLIGHT = 8


def refused(url: str) -> bool:
    try:
        requests.get(url, timeout=5)
    except requests.ConnectionError:
        return True
    return False


@pytest.fixture(scope="module")
def sleepy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_iris_sleepy(tmp_path_factory.mktemp("sleepy"))


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_loses_no_request_in_flight(
    launch: ServerLauncher, sleepy_dir: Path, workers: str
) -> None:
    server = launch.start(sleepy_dir, "sleepy", "--workers", workers)
    process = server.component.process
    assert process is not None
    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        # A fresh connection each, so that with two workers both take requests.
        answers = [
            pool.submit(
                requests.post,
                f"{server.url}/v2/models/sleepy/infer",
                json=v2_body([[5.1, 3.5, 1.4, 0.2]]),
                timeout=30,
            )
            for _ in range(IN_FLIGHT)
        ]
        time.sleep(0.5)  # every request accepted; the first batch is being scored
        os.kill(process.pid, signal.SIGTERM)
        # With two workers the parent passes the signal on: each closes its own socket.
        eventually(lambda: refused(f"{server.url}/v2/health/live"), 10, "no new connection")
        statuses = [answer.result().status_code for answer in answers]
    assert statuses == [200] * IN_FLIGHT
    assert process.wait(timeout=30) == 0
