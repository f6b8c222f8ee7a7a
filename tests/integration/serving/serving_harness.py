"""What the serving tests share: real server processes, and models that misbehave.

Models are trained at test time (tests.support.models). Each server is a real
`modelkeeper serve` process on a free loopback port with its own log, stopped by its
own PID at the end of the test.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import requests
from prometheus_client.parser import text_string_to_metric_families
from sklearn.linear_model import LogisticRegression

from tests.ground.processes import Component, free_port
from tests.support.models import write_iris


@dataclass
class Server:
    """A running `modelkeeper serve`: its base URL, model name and process."""

    url: str
    model: str
    component: Component
    grpc: str | None = None  # host:port of the V2 gRPC service, when it was started with one

    def post(self, path: str, body: Any, **kwargs: Any) -> requests.Response:
        return requests.post(f"{self.url}{path}", json=body, timeout=30, **kwargs)

    def infer(self, body: Any, **kwargs: Any) -> requests.Response:
        return self.post(f"/v2/models/{self.model}/infer", body, **kwargs)

    def feedback(self, request_id: str, labels: list[Any]) -> requests.Response:
        return self.post(f"/v2/models/{self.model}/feedback", {"id": request_id, "labels": labels})

    def metric(self, name: str, path: str = "/metrics", **labels: str) -> float:
        """The sum of the samples of `name` whose labels include `labels` (0 when none)."""
        total: float = sum(
            sample.value
            for sample in self.samples(path)
            if sample.name == name and labels.items() <= sample.labels.items()
        )
        return total

    def samples(self, path: str = "/metrics") -> list[Any]:
        text = requests.get(f"{self.url}{path}", timeout=10).text
        return [
            sample for family in text_string_to_metric_families(text) for sample in family.samples
        ]


def serve_command(port: int, grpc_port: int, *flags: str) -> list[str]:
    """`modelkeeper serve` on loopback, on these ports (a gRPC port 0 turns gRPC off)."""
    return [
        sys.executable,
        "-m",
        "modelkeeper.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--http-port",
        str(port),
        "--grpc-port",
        str(grpc_port),
        *flags,
    ]


class ServerLauncher:
    """Starts `modelkeeper serve` processes for one test and stops them all at its end."""

    def __init__(self, workdir: Path) -> None:
        self._workdir = workdir
        self._running: list[Component] = []

    def command(
        self, model_dir: Path, model: str, port: int, *flags: str, grpc_port: int = 0
    ) -> list[str]:
        """The server's command; gRPC is off unless given a port (0 turns it off)."""
        return serve_command(
            port, grpc_port, "--model-dir", str(model_dir), "--model-name", model, *flags
        )

    def start(
        self,
        model_dir: Path,
        model: str,
        *flags: str,
        env: dict[str, str] | None = None,
        grpc: bool = False,
    ) -> Server:
        """Start a server (with V2 gRPC on a free port of its own if `grpc`) and wait until
        it is ready."""
        port = free_port()
        grpc_port = free_port() if grpc else 0
        command = self.command(model_dir, model, port, *flags, grpc_port=grpc_port)
        return self._launch(f"serve-{model}", command, port, grpc_port, model, env)

    def start_pool(self, *flags: str, env: dict[str, str] | None = None) -> Server:
        """Start a pool server (`--pool` or `--catalogue-dir` among `flags`) with V2 gRPC,
        its model cache (TMPDIR) in this launcher's directory, and wait until it is ready
        (it has read its catalogue)."""
        port, grpc_port = free_port(), free_port()
        command = serve_command(port, grpc_port, *flags)
        environ = {**os.environ, "TMPDIR": str(self._workdir), **(env or {})}
        return self._launch("serve-pool", command, port, grpc_port, "", environ)

    def _launch(
        self,
        stem: str,
        command: list[str],
        port: int,
        grpc_port: int,
        model: str,
        env: dict[str, str] | None,
    ) -> Server:
        name = f"{stem}-{len(self._running)}"
        component = Component(name, command, self._workdir / f"{name}.log", env)
        component.start()
        self._running.append(component)
        server = Server(
            f"http://127.0.0.1:{port}",
            model,
            component,
            f"127.0.0.1:{grpc_port}" if grpc_port else None,
        )
        component.wait_until(
            lambda: requests.get(f"{server.url}/v2/health/ready", timeout=1).ok, timeout=60
        )
        return server

    def stop_all(self) -> None:
        for component in self._running:
            component.stop()


class PickyClassifier(LogisticRegression):  # type: ignore[misc]
    """A classifier that raises on a sepal length above 7, to show how model errors surface."""

    def predict(self, X: Any) -> Any:  # noqa: N803 (scikit-learn's name)
        if np.any(np.asarray(X)[:, 0] > 7):
            raise ValueError("sepal_length above 7 is outside this model's domain")
        return super().predict(X)


def write_iris_picky(directory: Path) -> Path:
    return write_iris(directory, PickyClassifier(max_iter=1000))


class SleepyClassifier(LogisticRegression):  # type: ignore[misc]
    """A classifier that takes a second per call, to keep requests in flight."""

    def predict(self, X: Any) -> Any:  # noqa: N803 (scikit-learn's name)
        time.sleep(1.0)
        return super().predict(X)


def write_iris_sleepy(directory: Path) -> Path:
    return write_iris(directory, SleepyClassifier(max_iter=1000))
