"""V2 inference as a client sends it: one body builder, one POST, and steady traffic.

`SteadyTraffic` sends requests one after another from a thread and records every answer
(when, HTTP status, which version answered, its prediction, the input); `RouterWatch`
records what a router routes by (`/router/status`). Both use the monotonic clock of
`tests.support.watch`, so a test can line them up with status changes.
"""

from __future__ import annotations

import json
import math
import random
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tests.support.models import NEGATIVE_INPUTS, POSITIVE_INPUTS
from tests.support.watch import Poller


def v2_body(
    rows: Sequence[Sequence[float]],
    request_id: str | None = None,
    *,
    tensor: str = "input-0",
    **extra: Any,
) -> dict[str, Any]:
    """A V2 request with one [rows, features] FP64 tensor named `tensor`."""
    body: dict[str, Any] = {
        "inputs": [
            {
                "name": tensor,
                "shape": [len(rows), len(rows[0])],
                "datatype": "FP64",
                "data": [list(row) for row in rows],
            }
        ],
        **extra,
    }
    if request_id is not None:
        body["id"] = request_id
    return body


def post(address: str, path: str, body: dict[str, Any], timeout: float = 10) -> dict[str, Any]:
    """POST `body` as JSON to `path` at `address` (host:port); the parsed answer.

    Raises urllib's HTTPError on an HTTP error status, URLError or OSError without one."""
    request = urllib.request.Request(
        f"http://{address}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return dict(json.load(response))


def infer(address: str, model: str, body: dict[str, Any], timeout: float = 10) -> dict[str, Any]:
    """V2 inference of `body` by `model` at `address`; the parsed answer (see `post`)."""
    return post(address, f"/v2/models/{model}/infer", body, timeout)


def feedback(address: str, model: str, body: dict[str, Any], timeout: float = 10) -> dict[str, Any]:
    """Feedback (labels, outcomes) for `model` at `address`; the parsed 200 answer (a request
    id no replica holds is an HTTPError 404; see `post`)."""
    return post(address, f"/v2/models/{model}/feedback", body, timeout)


def predict(address: str, model: str, x: float) -> tuple[str, float]:
    """One row (input `x`) through `address`: (the answering version, its prediction)."""
    answer = infer(address, model, v2_body([[x]], tensor="x"))
    return answer["model_version"], float(answer["outputs"][0]["data"][0])


@dataclass(frozen=True)
class Answer:
    """One request, as the client saw it."""

    at: float
    """time.monotonic() when the answer came."""
    code: int
    """The HTTP status; 0 when no HTTP answer came (refused, reset, timed out)."""
    version: str | None
    """The model_version of a 200 answer."""
    x: Any
    """What was sent, as the sender labels it (the input x, or whether rows were shifted)."""
    detail: str = ""
    """The error body or exception, for failed requests."""
    prediction: float | None = None
    """The first output value of a 200 answer."""

    @property
    def ok(self) -> bool:
        return self.code == 200


def ask(address: str, model: str, body: dict[str, Any], x: Any) -> Answer:
    """One request, as the client sees it: never raises."""
    try:
        answer = infer(address, model, body)
        prediction = float(answer["outputs"][0]["data"][0])
        return Answer(time.monotonic(), 200, answer["model_version"], x, prediction=prediction)
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")[:300]
        return Answer(time.monotonic(), error.code, None, x, detail)
    except (urllib.error.URLError, OSError, KeyError, IndexError, ValueError) as error:
        return Answer(time.monotonic(), 0, None, x, repr(error))


def between(answers: Sequence[Answer], start: float, end: float) -> list[Answer]:
    """The answers that came within [start, end)."""
    return [answer for answer in answers if start <= answer.at < end]


def binomial_tolerance(share: float, n: int, sds: float = 3.0) -> float:
    """`sds` standard deviations of an observed share of `n` draws with probability `share`."""
    return sds * math.sqrt(share * (1.0 - share) / max(n, 1))


class SteadyTraffic(Poller):
    """V2 inference requests one after another, each answer recorded as an `Answer`.

    By default one row of input x: drawn from NEGATIVE_INPUTS with probability
    `negative_share`, else from POSITIVE_INPUTS, by a seeded generator (a fixed pattern
    could alias with the router's weighted round robin). A subclass sends other rows by
    overriding `draw`.
    """

    period = 0.01
    tensor = "x"

    def __init__(
        self,
        address: str,
        model: str = "fleet",
        negative_share: float = 0.0,
        seed: int = 6,
        period: float | None = None,
    ) -> None:
        super().__init__()
        if period is not None:
            self.period = period
        self.address = address
        self.model = model
        self.negative_share = negative_share
        self._random = random.Random(seed)
        self._answers: list[Answer] = []

    @property
    def answers(self) -> list[Answer]:
        """A snapshot of the answers so far, oldest first."""
        return list(self._answers)

    def draw(self) -> tuple[list[list[float]], Any]:
        """The next request's rows, and what its Answer records as `x`."""
        low, high = (
            NEGATIVE_INPUTS if self._random.random() < self.negative_share else POSITIVE_INPUTS
        )
        x = self._random.uniform(low, high)
        return [[x]], x

    def poll(self) -> None:
        self._answers.append(self.send(*self.draw()))

    def send(self, rows: list[list[float]], x: Any) -> Answer:
        """One request of `rows`, as the client sees it (not recorded)."""
        return ask(self.address, self.model, v2_body(rows, tensor=self.tensor), x)

    def request(self, x: float) -> Answer:
        """One request with input x, as the client sees it (not recorded)."""
        return self.send([[x]], x)


@dataclass(frozen=True)
class RoutingChange:
    """The router began routing by these weights (backend name -> weight) at `at`."""

    at: float
    weights: dict[str, int]


class RouterWatch(Poller):
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


def v2_datatype(values: np.ndarray) -> str:
    """The V2 datatype of a numpy array: BYTES for objects, else FP/INT by width, or BOOL."""
    if values.dtype == object:
        return "BYTES"
    if values.dtype.kind == "b":
        return "BOOL"
    return {"f": "FP", "i": "INT"}[values.dtype.kind] + str(values.dtype.itemsize * 8)
