"""What the progressive-delivery end-to-end tests share: models, traffic, and watchers.

A rollout is judged by what clients see, so the tests drive a steady stream of requests
through the router and record every answer (when, HTTP status, which version answered,
the input); beside it, watchers record what the router routes by (`/router/status`) and
what the Deployment's status says, on the same monotonic clock, so a test can line up
"status moved to step 1" with "the router sends 50 % to the candidate" and with the
answers in between.

Models: `write_constant_model` (operator_harness.write_model: predicts one number for
any input) and `write_failing_model`, a log-linear model that raises for x < 0, which
the scoring server answers with 500. `SteadyTraffic` draws a known share of negative
inputs at random: a fixed pattern could alias with the router's deterministic weighted
round robin and send all (or none) of the bad rows to the candidate.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from modelkeeper.serving.runtime import save_model_dir
from modelkeeper.serving.schema import ModelSchema
from tests.ground.prometheus import Prometheus
from tests.integration.controller.operator_harness import (
    Kubectl,
    RunningOperator,
    artifact_model,
    deployment,
    write_model,
)

FAMILY = "fleet"
BASE_FLAGS = ("--progress-deadline-seconds=120", "--drain-seconds=4", "--resync-seconds=5")
POSITIVE_INPUTS = (0.5, 10.0)
NEGATIVE_INPUTS = (-10.0, -0.5)

write_constant_model = write_model
"""A model that predicts `constant` for every row (never fails); returns its sha256."""


def write_failing_model(directory: Path) -> str:
    """A model that answers for x > 0 and raises for x < 0 (log of a negative is NaN).

    Pipeline(log, LinearRegression) fitted on positive x: the regression refuses the NaN
    row ("Input X contains NaN"), which the scoring server answers with 500. Returns the
    model file's sha256.
    """
    x = np.linspace(*POSITIVE_INPUTS, 200)
    frame = pd.DataFrame({"x": x, "target": 2.0 * np.log(x) + 1.0})
    schema = ModelSchema.model_validate(
        {"inputs": [{"name": "x", "type": "numeric"}], "output": {"type": "regression"}}
    )
    estimator = Pipeline([("log", FunctionTransformer(np.log)), ("fit", LinearRegression())])
    estimator.fit(frame[["x"]], frame.target)
    save_model_dir(directory, estimator, schema, frame, target="target")
    return hashlib.sha256((directory / "model.joblib").read_bytes()).hexdigest()


def canary_deployment(
    name: str,
    family: str,
    weights: Sequence[int],
    *,
    interval_seconds: int,
    max_error_rate: float = 0.05,
    min_requests: int = 5,
    failure_limit: int = 2,
) -> dict[str, Any]:
    """A Deployment tracking `family` by Canary: one setWeight step per weight, judged by
    an ErrorRate check (`error-rate`) every `interval_seconds`; Inconclusive pauses."""
    return deployment(
        name,
        family,
        strategy={
            "type": "Canary",
            "canary": {
                "steps": [{"setWeight": weight} for weight in weights],
                "analysis": {
                    "interval": f"{interval_seconds}s",
                    "minRequests": min_requests,
                    "failureLimit": failure_limit,
                    "onMissingData": "Pause",
                    "metrics": [{"name": "error-rate", "type": "ErrorRate", "max": max_error_rate}],
                },
            },
        },
    )


def operator_flags(prometheus: Prometheus, *extra: str) -> tuple[str, ...]:
    """Short deadlines and resyncs, and the session's Prometheus for analysis."""
    return (*BASE_FLAGS, f"--prometheus-url={prometheus.url}", *extra)


def kill_operator(operator: RunningOperator) -> None:
    """SIGKILL the operator's process group, as a node failure would, and reap it."""
    os.killpg(operator.component.pid, signal.SIGKILL)
    assert operator.component.process is not None
    operator.component.process.wait()


def serving_only(version: str) -> Callable[[dict[str, Any]], bool]:
    """A `wait_for` check: Healthy, `version` stable, no candidate."""

    def check(obj: dict[str, Any]) -> bool:
        status = obj.get("status", {})
        return bool(
            status.get("phase") == "Healthy"
            and status.get("stable", {}).get("version") == version
            and "candidate" not in status
        )

    return check


def router_address(kubectl: Kubectl, name: str = FAMILY) -> str:
    """host:port of the Deployment's one router pod."""
    pods = json.loads(
        kubectl(
            "get",
            "pods",
            "-l",
            f"modelkeeper.io/deployment={name},app.kubernetes.io/component=router",
            "-o",
            "json",
        ).stdout
    )["items"]
    ready = [pod for pod in pods if pod.get("status", {}).get("podIP")]
    assert len(ready) == 1, f"expected one router pod, found {len(ready)}"
    return f"{ready[0]['status']['podIP']}:8080"


def read_status(kubectl: Kubectl, name: str = FAMILY) -> dict[str, Any]:
    """The Deployment's (modelkeeper.io) status; {} before the operator wrote one."""
    found = kubectl("get", f"deployments.modelkeeper.io/{name}", "-o", "json", check=False)
    if found.returncode != 0:
        return {}
    status: dict[str, Any] = json.loads(found.stdout).get("status") or {}
    return status


def binomial_tolerance(share: float, n: int, sds: float = 3.0) -> float:
    """`sds` standard deviations of an observed share of `n` draws with probability `share`."""
    return sds * math.sqrt(share * (1.0 - share) / max(n, 1))


@dataclass(frozen=True)
class Answer:
    """One request through the router, as the client saw it."""

    at: float
    """time.monotonic() when the answer came."""
    code: int
    """The HTTP status; 0 when no HTTP answer came (refused, reset, timed out)."""
    version: str | None
    """The model_version of a 200 answer."""
    x: float
    detail: str = ""
    """The error body or exception, for failed requests."""

    @property
    def ok(self) -> bool:
        return self.code == 200


def between(answers: Sequence[Answer], start: float, end: float) -> list[Answer]:
    """The answers that came within [start, end)."""
    return [answer for answer in answers if start <= answer.at < end]


class _Poller:
    """A daemon thread that calls `poll` every `period` seconds until stopped."""

    period = 0.2

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def poll(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self.poll()

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


class SteadyTraffic(_Poller):
    """V2 inference requests one after another, each answer recorded as an `Answer`.

    x is drawn from NEGATIVE_INPUTS with probability `negative_share`, else from
    POSITIVE_INPUTS, by a seeded generator.
    """

    period = 0.01

    def __init__(
        self, address: str, model: str = FAMILY, negative_share: float = 0.0, seed: int = 6
    ) -> None:
        super().__init__()
        self.url = f"http://{address}/v2/models/{model}/infer"
        self.negative_share = negative_share
        self._random = random.Random(seed)
        self._answers: list[Answer] = []

    @property
    def answers(self) -> list[Answer]:
        """A snapshot of the answers so far, oldest first."""
        return list(self._answers)

    def poll(self) -> None:
        low, high = (
            NEGATIVE_INPUTS if self._random.random() < self.negative_share else POSITIVE_INPUTS
        )
        x = self._random.uniform(low, high)
        self._answers.append(self.request(x))

    def request(self, x: float) -> Answer:
        """One request with input x, as the client sees it."""
        body = json.dumps(
            {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP64", "data": [x]}]}
        ).encode()
        request = urllib.request.Request(
            self.url, data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                version = json.load(response)["model_version"]
            return Answer(time.monotonic(), 200, version, x)
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")[:300]
            return Answer(time.monotonic(), error.code, None, x, detail)
        except (urllib.error.URLError, OSError, KeyError, ValueError) as error:
            return Answer(time.monotonic(), 0, None, x, repr(error))


@dataclass(frozen=True)
class RoutingChange:
    """The router began routing by these weights (backend name -> weight) at `at`."""

    at: float
    weights: dict[str, int]


class RouterWatch(_Poller):
    """Records every change of what the router routes by, from its /router/status."""

    def __init__(self, address: str) -> None:
        super().__init__()
        self.url = f"http://{address}/router/status"
        self._changes: list[RoutingChange] = []

    @property
    def changes(self) -> list[RoutingChange]:
        return list(self._changes)

    def poll(self) -> None:
        try:
            with urllib.request.urlopen(self.url, timeout=5) as response:
                document = json.load(response)
        except (urllib.error.URLError, OSError, ValueError):
            return
        weights = {b["name"]: int(b["weight"] or 0) for b in document["backends"]}
        if not self._changes or self._changes[-1].weights != weights:
            self._changes.append(RoutingChange(time.monotonic(), weights))


@dataclass(frozen=True)
class StatusChange:
    """The Deployment's status as first seen at `at` (time.monotonic())."""

    at: float
    status: dict[str, Any]

    @property
    def step(self) -> int | None:
        step: int | None = self.status.get("step")
        return step

    @property
    def candidate(self) -> str | None:
        version: str | None = (self.status.get("candidate") or {}).get("version")
        return version


class StatusWatch(_Poller):
    """Records every change of a Deployment's (modelkeeper.io) status, polled by kubectl."""

    def __init__(self, kubectl: Kubectl, name: str = FAMILY) -> None:
        super().__init__()
        self.kubectl = kubectl
        self.name = name
        self._changes: list[StatusChange] = []

    @property
    def changes(self) -> list[StatusChange]:
        return list(self._changes)

    def poll(self) -> None:
        status = read_status(self.kubectl, self.name)
        if status and (not self._changes or self._changes[-1].status != status):
            self._changes.append(StatusChange(time.monotonic(), status))


def constant_versions(tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Models fleet-1 and fleet-2 (artifact form), predicting 1.0 and 2.0."""

    def version(v: int) -> dict[str, Any]:
        folder = tmp_path / f"v{v}"
        sha256 = write_constant_model(folder, float(v))
        return artifact_model(f"{FAMILY}-{v}", FAMILY, str(v), folder, sha256)

    return version(1), version(2)
