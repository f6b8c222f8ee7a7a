"""What the router's tests share: real processes (fake V2 backends, `modelkeeper route`
itself) and the documents they send.

Each process runs on a free loopback port with its own log, and is stopped by its own
PID when the test ends (the `launch` fixture in conftest.py).
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import orjson
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from modelkeeper.serving.runtime import save_model_dir
from modelkeeper.serving.schema import ModelSchema
from tests.ground.processes import Component, free_port

FAKE_BACKEND = Path(__file__).with_name("fake_v2_backend.py")
MODEL = "iris"


@dataclass
class RouterProcess:
    """A running router: its URL, its config file (rewrite it to reload) and its process."""

    url: str
    config_path: Path
    component: Component

    def write_config(self, config: dict[str, Any]) -> None:
        self.write_config_text(orjson.dumps(config).decode())

    def write_config_text(self, text: str) -> None:
        """Whole at once, as a kubelet swaps a mounted ConfigMap: the router never reads half."""
        staged = self.config_path.with_name(f".{self.config_path.name}.new")
        staged.write_text(text)
        os.replace(staged, self.config_path)

    def metric(self, name: str, **labels: str) -> float:
        """The sum of the router's samples of `name` whose labels include `labels`."""
        return scraped(self.url, name, **labels)


def scraped(url: str, name: str, **labels: str) -> float:
    """The sum of the samples of `name` at `url`/metrics whose labels include `labels`."""
    text = requests.get(f"{url}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


class Launcher:
    """Starts processes for one test and stops them all at its end."""

    def __init__(self, workdir: Path) -> None:
        self._workdir = workdir
        self.components: list[Component] = []

    def backend(
        self, name: str, threshold: float = 0.5, delay_ms: float = 0, host: str = "127.0.0.1"
    ) -> dict[str, Any]:
        """Start a fake V2 backend; return it as a static endpoint of the routing config."""
        port = free_port(host)
        argv = [sys.executable, str(FAKE_BACKEND), "--port", str(port), "--name", name]
        argv += ["--threshold", str(threshold), "--delay-ms", str(delay_ms), "--host", host]
        self._start(name, argv, f"http://{host}:{port}/v2/health/ready")
        return {"host": host, "port": port}

    def scoring_server(self, name: str, model_dir: Path, role: str = "stable") -> dict[str, Any]:
        """Start a real scoring server (`modelkeeper serve`); return it as a static endpoint."""
        port = free_port()
        argv = [sys.executable, "-m", "modelkeeper.cli", "serve", "--model-dir", str(model_dir)]
        argv += ["--model-name", MODEL, "--model-version", name, "--role", role]
        argv += ["--host", "127.0.0.1", "--http-port", str(port), "--workers", "1"]
        self._start(name, argv, f"http://127.0.0.1:{port}/v2/health/ready")
        return {"host": "127.0.0.1", "port": port}

    def pool_server(
        self, name: str, host: str, port: int, pool: str, namespace: str, kubeconfig: Path
    ) -> None:
        """Start a real pool scoring server (`modelkeeper serve --pool`) on `host`:`port`,
        following `pool`'s catalogue in `namespace`; return once it has read it (ready)."""
        argv = [sys.executable, "-m", "modelkeeper.cli", "serve", "--pool", pool]
        argv += ["--namespace", namespace, "--host", host, "--http-port", str(port)]
        argv += ["--grpc-port", "0", "--workers", "1"]
        env = os.environ | {"KUBECONFIG": str(kubeconfig)}
        self._start(name, argv, f"http://{host}:{port}/v2/health/ready", env)

    def router(self, config: dict[str, Any], *flags: str) -> RouterProcess:
        """Start `modelkeeper route` with `config`, once it answers its liveness probe."""
        config_path = self._workdir / "routing.json"
        config_path.write_bytes(orjson.dumps(config))
        port = free_port()
        argv = [sys.executable, "-m", "modelkeeper.cli", "route", "--config", str(config_path)]
        argv += [
            "--host",
            "127.0.0.1",
            "--http-port",
            str(port),
            "--reload-interval-seconds",
            "0.2",
        ]
        argv += flags
        url = f"http://127.0.0.1:{port}"
        component = self._start("router", argv, f"{url}/v2/health/live")
        return RouterProcess(url, config_path, component)

    def pool_router(self, pool: str, *flags: str) -> tuple[str, Component]:
        """Start `modelkeeper route --pool`; return its URL once it is ready."""
        port = free_port()
        argv = [sys.executable, "-m", "modelkeeper.cli", "route", "--pool", pool]
        argv += ["--host", "127.0.0.1", "--http-port", str(port), *flags]
        url = f"http://127.0.0.1:{port}"
        return url, self._start("pool-router", argv, f"{url}/v2/health/ready")

    def _start(
        self, name: str, argv: Sequence[str], probe: str, env: Mapping[str, str] | None = None
    ) -> Component:
        component = Component(name, argv, self._workdir / f"{name}.log", env)
        component.start()
        self.components.append(component)
        component.wait_until(lambda: requests.get(probe, timeout=1).ok, timeout=30)
        return component

    def stop_all(self) -> None:
        for component in reversed(self.components):
            component.stop()


def kubeconfig_for_token(admin: Path, token: str, path: Path) -> Path:
    """The admin kubeconfig's cluster, with a service account's token as the user."""
    config: dict[str, Any] = yaml.safe_load(admin.read_text())
    config["users"] = [{"name": "router", "user": {"token": token}}]
    for context in config["contexts"]:
        context["context"]["user"] = "router"
    path.write_text(yaml.safe_dump(config))
    return path


def routing_config(
    *backends: dict[str, Any], mirror_percent: float = 0, **extra: Any
) -> dict[str, Any]:
    """A routing config document for MODEL."""
    return {"model": MODEL, "backends": list(backends), "mirror_percent": mirror_percent, **extra}


def backend(name: str, role: str, *endpoints: dict[str, Any], weight: int = 0) -> dict[str, Any]:
    """One backend of a routing config, with static endpoints."""
    return {"name": name, "role": role, "weight": weight, "endpoints": list(endpoints)}


def v2_request(values: Sequence[float], request_id: str | None = None) -> dict[str, Any]:
    """A V2 inference body with one input, a value per row."""
    body: dict[str, Any] = {
        "inputs": [{"name": "x", "shape": [len(values)], "datatype": "FP64", "data": list(values)}]
    }
    if request_id is not None:
        body["id"] = request_id
    return body


@dataclass(frozen=True)
class Answer:
    """What a client got back: status, headers (lower-case names) and parsed JSON body."""

    status: int
    headers: dict[str, str]
    body: Any
    seconds: float


async def send_all(
    url: str, bodies: Sequence[dict[str, Any]], concurrency: int = 16
) -> list[Answer]:
    """POST every body to `url`, `concurrency` at a time; answers in the order of the bodies."""
    gate = asyncio.Semaphore(concurrency)
    loop = asyncio.get_running_loop()

    async def send(session: aiohttp.ClientSession, body: dict[str, Any]) -> Answer:
        async with gate:
            started = loop.time()
            async with session.post(url, data=orjson.dumps(body)) as response:
                payload = orjson.loads(await response.read())
                headers = {name.lower(): value for name, value in response.headers.items()}
                return Answer(response.status, headers, payload, loop.time() - started)

    async with aiohttp.ClientSession() as session:
        return await asyncio.gather(*(send(session, body) for body in bodies))


def model_dirs(root: Path) -> tuple[Path, Path, Any]:
    """A logistic regression (stable) and a depth-2 tree (shadow) on iris, and the data."""
    frame = load_iris(as_frame=True).frame
    frame.columns = [re.sub(r"\W+", "_", str(column)).strip("_") for column in frame.columns]
    features = [column for column in frame.columns if column != "target"]
    schema = ModelSchema.model_validate(
        {
            "inputs": [{"name": name, "type": "numeric"} for name in features],
            "output": {"type": "classification"},
        }
    )
    x, y = frame[features].to_numpy(), frame["target"].to_numpy()
    stable, shadow = root / "stable", root / "shadow"
    logistic = LogisticRegression(max_iter=1000).fit(x, y)
    tree = DecisionTreeClassifier(max_depth=2, random_state=0).fit(x, y)
    save_model_dir(stable, logistic, schema, frame, target="target")
    save_model_dir(shadow, tree, schema, frame, target="target")
    return stable, shadow, frame


def infer_body(rows: np.ndarray[Any, Any], request_id: str) -> dict[str, Any]:
    tensor = {"name": "x", "shape": list(rows.shape), "datatype": "FP64", "data": rows.tolist()}
    return {"id": request_id, "inputs": [tensor], "outputs": [{"name": "predict"}]}
