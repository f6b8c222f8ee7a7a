"""A/B tests on the real ground: outcomes from feedback through the router, decided by mSPRT.

Clients call the router, and for every answer a simulated user gives an outcome that
depends only on the prediction they got, through the router's feedback fan-out to the
scoring pods, which count it per version; the operator reads the counts from Prometheus
every interval. Version 1 predicts 1.0, version 2 predicts 2.0 and version 3 predicts
3.0. First, a conversion (0/1) that is likelier for 2.0 than for 1.0: version 2, truly
better, is promoted. Then, a continuous score that is lower for 3.0 than for 2.0:
version 3, truly worse, is rolled back and not tried again. Both within bounded time.
"""

from __future__ import annotations

import random
import time
import urllib.error
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.ground.ground import Kubectl
from tests.ground.polling import eventually
from tests.support.kube import (
    POD_START,
    apply,
    event_log,
    router_address,
    serving_only,
    wait_for,
)
from tests.support.models import write_constant_model
from tests.support.objects import artifact_model, deployment
from tests.support.operator_process import RunningOperator
from tests.support.traffic import RouterWatch, ask, binomial_tolerance, feedback, v2_body
from tests.support.watch import Poller, StatusWatch

FAMILY = "shop"
DEPLOYMENT = f"deployments.modelkeeper.io/{FAMILY}"
WEIGHT = 50
INTERVAL = 4
"""Seconds between readings of the outcomes."""
MIN_SAMPLES = 40
DECISION_SECONDS = 90
"""The most a decision may take once the split began: at the rate this busy machine
sustains (tens of requests a second), the effects below need about a hundred outcomes."""

CONVERSION = {1.0: 0.25, 2.0: 0.75}
"""The chance a user converts, by the prediction they got."""
SCORE = {2.0: 5.0, 3.0: 3.5}
"""The mean score a user gives (normal, sd 1), by the prediction they got."""


def ab_test(metric: dict[str, str], effect: float) -> dict[str, Any]:
    return deployment(
        FAMILY,
        FAMILY,
        strategy={
            "type": "ABTest",
            "abTest": {
                "weight": WEIGHT,
                "metric": metric,
                "minimumDetectableEffect": effect,
                "alpha": 0.05,
                "minSamples": MIN_SAMPLES,
                "maxSamples": 5000,
                "interval": f"{INTERVAL}s",
            },
        },
    )


@dataclass(frozen=True)
class Outcome:
    at: float
    """time.monotonic() of the answer."""
    version: str
    value: float
    counted: bool
    """Whether a scoring pod joined the feedback to the prediction (200)."""


class UsersWithOutcomes(Poller):
    """Requests one after another through the router; each answer's outcome is fed back."""

    period = 0.005

    def __init__(self, address: str, outcome: Callable[[float, random.Random], float]) -> None:
        super().__init__()
        self.address = address
        self.outcome = outcome
        self._random = random.Random(18)
        self._outcomes: list[Outcome] = []

    @property
    def outcomes(self) -> list[Outcome]:
        return list(self._outcomes)

    def poll(self) -> None:
        request_id = uuid.uuid4().hex
        x = self._random.uniform(0.5, 10.0)
        answer = ask(self.address, FAMILY, v2_body([[x]], request_id, tensor="x"), x)
        if not answer.ok or answer.version is None or answer.prediction is None:
            return
        value = self.outcome(answer.prediction, self._random)
        try:
            feedback(self.address, FAMILY, {"id": request_id, "outcomes": [value]})
            counted = True
        except (urllib.error.URLError, OSError):
            counted = False
        self._outcomes.append(Outcome(answer.at, answer.version, value, counted))


def converts(prediction: float, rng: random.Random) -> float:
    return float(rng.random() < CONVERSION[prediction])


def scores(prediction: float, rng: random.Random) -> float:
    return rng.gauss(SCORE[prediction], 1.0)


def ended(version: str, outcome: str) -> Callable[[dict[str, Any]], bool]:
    def check(obj: dict[str, Any]) -> bool:
        latest = obj.get("status", {}).get("history", [])[:1]
        return [(h["version"], h["outcome"]) for h in latest] == [(version, outcome)]

    return check


@contextmanager
def experiment(
    kubectl: Kubectl, address: str, outcome: Callable[[float, random.Random], float]
) -> Iterator[tuple[UsersWithOutcomes, StatusWatch, RouterWatch]]:
    with (
        UsersWithOutcomes(address, outcome) as users,
        StatusWatch(kubectl, DEPLOYMENT) as seen,
        RouterWatch(address) as routing,
    ):
        yield users, seen, routing


def split_share(outcomes: list[Outcome], routing: RouterWatch, version: str) -> tuple[float, int]:
    """The challenger's share of the answers while the router split at WEIGHT, and how many."""
    changes = routing.changes
    index = next(i for i, c in enumerate(changes) if c.weights.get(version) == WEIGHT)
    end = changes[index + 1].at if index + 1 < len(changes) else float("inf")
    during = [o for o in outcomes if changes[index].at <= o.at < end]
    return sum(o.version == version for o in during) / len(during), len(during)


def split_to_decision(reading: dict[str, Any]) -> float:
    """Seconds from the split's start to the reading that decided, by the operator's clock."""
    since, decided = (datetime.fromisoformat(reading[key]) for key in ("since", "time"))
    return (decided - since).total_seconds()


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def test_better_challenger_promoted_then_worse_one_rolled_back(
    shared_operator: RunningOperator, kubectl: Kubectl, tmp_path: Path
) -> None:
    shas = {v: write_constant_model(tmp_path / f"v{v}", float(v)) for v in (1, 2, 3)}

    def version(v: int) -> dict[str, Any]:
        return artifact_model(f"{FAMILY}-{v}", FAMILY, str(v), tmp_path / f"v{v}", shas[v])

    # Given version 1 served by an A/B test Deployment on a conversion
    apply(kubectl, version(1), ab_test({"type": "Binary"}, effect=0.3))
    wait_for(kubectl, DEPLOYMENT, serving_only("1"), "version 1 serves", POD_START)
    address = router_address(kubectl, FAMILY)
    eventually(lambda: ask(address, FAMILY, v2_body([[1.0]], tensor="x"), 1).ok, 30, "router")

    # When version 2, whose prediction converts more often, is the challenger
    with experiment(kubectl, address, converts) as (users, seen, routing):
        apply(kubectl, version(2))
        promoted = wait_for(
            kubectl,
            DEPLOYMENT,
            ended("2", "Promoted"),
            "version 2 promoted",
            POD_START + DECISION_SECONDS,
        )
        first = users.outcomes
        weights = {c.status.get("weight") for c in seen.changes if c.candidate == "2"}
        share, answered = split_share(first, routing, "2")

    # Then it was split at the fixed weight, and promoted by the test with the figures
    status = promoted["status"]
    reading = status["experiment"]
    first_took = split_to_decision(reading)
    print(f"MEASURED A/B conversion: {reading['message']}; split to promotion {first_took:.1f}s")
    assert weights <= {0, WEIGHT}
    assert WEIGHT in weights
    assert (reading["decision"], reading["challenger"]["version"]) == ("Promote", "2")
    assert reading["pValue"] <= 0.05
    assert 0 < reading["lower"] <= reading["effect"] <= reading["upper"]
    assert reading["samples"] >= MIN_SAMPLES
    assert reading["maxSamples"] == 5000
    print(f"MEASURED A/B split: version 2 answered {share:.1%} of {answered} requests")
    assert abs(share - WEIGHT / 100) <= binomial_tolerance(WEIGHT / 100, answered)
    seen_means = {v: mean([o.value for o in first if o.version == v]) for v in ("1", "2")}
    assert reading["challenger"]["mean"] > reading["champion"]["mean"]
    assert seen_means["2"] > seen_means["1"]
    assert first_took <= DECISION_SECONDS
    assert "A/B test: the challenger is better" in status["history"][0]["reason"]
    eventually(
        lambda: (
            ("Normal", "Promoted")
            in {(t, r) for t, r, _ in event_log(kubectl, "Deployment", FAMILY)}
        ),
        30,
        "a Promoted Event",
    )

    # When version 3, whose prediction earns a lower score, is the challenger on a score
    apply(kubectl, ab_test({"type": "Continuous"}, effect=1.0))
    with experiment(kubectl, address, scores) as (users, seen, _):
        apply(kubectl, version(3))
        rolled = wait_for(
            kubectl,
            DEPLOYMENT,
            ended("3", "RolledBack"),
            "version 3 rolled back",
            POD_START + DECISION_SECONDS,
        )
        time.sleep(2 * INTERVAL + 1)  # two more intervals: time for a retry that must not come
        changes = seen.changes
        second = users.outcomes

    # Then it was rolled back by the test, version 2 still serves, and 3 is not tried again
    status = rolled["status"]
    reading = status["experiment"]
    second_took = split_to_decision(reading)
    print(f"MEASURED A/B score: {reading['message']}; split to rollback {second_took:.1f}s")
    assert (reading["decision"], reading["challenger"]["version"]) == ("RollBack", "3")
    assert reading["lower"] <= reading["effect"] <= reading["upper"] < 0
    assert reading["champion"]["version"] == "2"
    assert status["stable"]["version"] == "2"
    assert status["phase"] == "Degraded"
    assert "A/B test: the challenger is worse" in status["history"][0]["reason"]
    assert second_took <= DECISION_SECONDS
    rolled_at = next(c.at for c in changes if ended("3", "RolledBack")({"status": c.status}))
    assert not any(c.candidate == "3" for c in changes if c.at > rolled_at)
    assert reading["challenger"]["mean"] < reading["champion"]["mean"]
    for outcomes in (first, second):
        assert sum(o.counted for o in outcomes) >= 0.95 * len(outcomes), "feedback not joined"
