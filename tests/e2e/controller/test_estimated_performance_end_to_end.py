"""Estimated performance on the real ground: no labels, a shift that lowers accuracy, a run.

A calibrated binary classifier (a logistic regression fitted here on data drawn from a
logistic model) is served by a Deployment; its Model's `spec.metrics.accuracy` is its
held-out accuracy. A DriftMonitor estimates accuracy from the probabilities the scoring
server counts (CBPE) and a RetrainPolicy retrains on the monitor's PerformanceDegraded.
Traffic first comes from the training distribution, then moves toward the decision
boundary, where the model is right less often. Labels never reach the server: the test
draws them itself from the true probabilities, only to compare the estimate with the
realised accuracy.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.linear_model import LogisticRegression

from modelkeeper.serving.runtime import save_model_dir
from tests.e2e.controller.loop_harness import TRAINER_IMAGE, jobs_of
from tests.ground.ground import Kubectl
from tests.ground.polling import eventually
from tests.support import objects
from tests.support.kube import POD_START, apply, condition, router_address, serving_only, wait_for
from tests.support.models import numeric_schema, sha256_of
from tests.support.operator_process import RunningOperator
from tests.support.traffic import SteadyTraffic, binomial_tolerance

FAMILY = "churn"
MONITOR = "churn-estimate"
POLICY = "retrain-churn"
FEATURES = ["tenure", "usage"]
WEIGHTS = np.array([2.0, 1.0])
"""The true model: P(churn | x) = sigmoid(2 tenure + usage)."""
TRAINING_SCALE = 1.5
"""Inputs ~ N(0, 1.5²) each: mostly far from the boundary, accuracy about 0.85."""
SHIFTED_SCALE = 0.25
"""Inputs ~ N(0, 0.25²): near the boundary, accuracy about 0.6."""
ROWS_PER_REQUEST = 10
SAMPLING = 0.5
"""The share of model calls whose probabilities the server counts (0.1 unless set)."""
MAX_DROP = 0.1
DEPLOYMENT = f"deployments.modelkeeper.io/{FAMILY}"
MONITOR_RESOURCE = f"driftmonitors.modelkeeper.io/{MONITOR}"


def draw(generator: np.random.Generator, rows: int, scale: float) -> tuple[Any, Any]:
    """Inputs and their labels, drawn from the true model."""
    inputs = generator.normal(scale=scale, size=(rows, len(FEATURES)))
    labels = (generator.uniform(size=rows) < expit(inputs @ WEIGHTS)).astype(int)
    return inputs, labels


def write_model(directory: Path) -> tuple[LogisticRegression, float]:
    """The classifier's model directory; returns it and its held-out accuracy."""
    generator = np.random.default_rng(0)
    inputs, labels = draw(generator, 6000, TRAINING_SCALE)
    estimator = LogisticRegression().fit(inputs[:4000], labels[:4000])
    accuracy = float(estimator.score(inputs[4000:], labels[4000:]))
    frame = pd.DataFrame(inputs[:4000], columns=FEATURES).assign(target=labels[:4000])
    schema = numeric_schema(FEATURES, "classification")
    save_model_dir(directory, estimator, schema, frame, target="target")
    return estimator, accuracy


class ChurnTraffic(SteadyTraffic):
    """Batches of inputs from the training distribution, or near the boundary while
    `shifted` is set; every row sent is kept with its label and the phase it belongs to."""

    period = 0.02
    tensor = "rows"

    def __init__(self, address: str) -> None:
        super().__init__(address, FAMILY)
        self.shifted = threading.Event()
        self.sent: dict[bool, list[tuple[Any, Any]]] = {False: [], True: []}
        self._generator = np.random.default_rng(1)

    def draw(self) -> tuple[list[list[float]], Any]:
        shifted = self.shifted.is_set()
        scale = SHIFTED_SCALE if shifted else TRAINING_SCALE
        inputs, labels = draw(self._generator, ROWS_PER_REQUEST, scale)
        self.sent[shifted].append((inputs, labels))
        return inputs.tolist(), shifted

    def realised(self, estimator: LogisticRegression, shifted: bool) -> tuple[float, int]:
        """The accuracy the labels give on the rows of a phase, and how many rows."""
        batches = list(self.sent[shifted])
        inputs = np.vstack([batch for batch, _ in batches])
        labels = np.concatenate([label for _, label in batches])
        return float(np.mean(estimator.predict(inputs) == labels)), int(labels.size)


def estimate_of(monitor: dict[str, Any]) -> dict[str, Any]:
    estimate: dict[str, Any] = monitor.get("status", {}).get("estimatedPerformance") or {}
    return estimate


def estimated_after(at: float, level: str) -> Any:
    """A `wait_for` check: an evaluation later than `at` (epoch seconds) found `level`."""

    def check(monitor: dict[str, Any]) -> bool:
        status = monitor.get("status", {})
        evaluated = status.get("lastEvaluation")
        return (
            evaluated is not None
            and time_of(evaluated) >= at
            and estimate_of(monitor).get("level") == level
        )

    return check


def test_estimated_accuracy_falls_with_the_real_one_and_retrains(
    shared_operator: RunningOperator, kubectl: Kubectl, tmp_path: Path
) -> None:
    # Given the classifier served, its held-out accuracy in its Model's spec.metrics, the
    # server counting the probabilities of half its model calls
    estimator, reference = write_model(tmp_path)
    model = objects.artifact_model(f"{FAMILY}-1", FAMILY, "1", tmp_path, sha256_of(tmp_path))
    model["spec"]["schema"] = {
        "inputs": [{"name": name, "type": "Numeric"} for name in FEATURES],
        "output": {"type": "Classification", "classes": ["0", "1"]},
    }
    model["spec"]["metrics"] = {"accuracy": reference}
    served = objects.deployment(FAMILY, FAMILY, serving={"probabilitySampling": SAMPLING})
    apply(kubectl, model, served)
    wait_for(kubectl, DEPLOYMENT, serving_only("1"), "version 1 serves", POD_START)

    # And a monitor estimating accuracy over 20 s, and a policy retraining on its verdict
    container = {"name": "train", "image": TRAINER_IMAGE, "args": ["train-example", "--fail"]}
    job = {"backoffLimit": 0, "template": {"spec": {"containers": [container]}}}
    apply(
        kubectl,
        objects.drift_monitor(
            MONITOR,
            FAMILY,
            interval="5s",
            window="20s",
            estimatedPerformance={"metric": "Accuracy", "maxDrop": MAX_DROP, "minSamples": 200},
        ),
        objects.retrain_policy(
            POLICY,
            FAMILY,
            cooldown="10m",
            triggers=[{"performance": {"monitor": MONITOR, "for": "0s"}}],
            workload={"job": {"spec": job}},
        ),
    )
    traffic = ChurnTraffic(router_address(kubectl, FAMILY))
    eventually(lambda: traffic.send(*traffic.draw()).ok, 30, "the router answers")

    with traffic:
        # Then on the training distribution the estimate is the realised accuracy, within
        # the reference's bound, and nothing retrains
        started = time.time()
        within = wait_for(
            kubectl, MONITOR_RESOURCE, estimated_after(started + 20, "OK"), "estimate OK", 120
        )
        before = estimate_of(within)
        realised, rows = traffic.realised(estimator, shifted=False)
        assert before["reference"] == reference
        assert before["samples"] >= 200
        assert abs(before["value"] - realised) <= binomial_tolerance(realised, before["samples"], 4)
        degraded = condition(within, "PerformanceDegraded")
        assert degraded is not None
        assert (degraded["status"], degraded["reason"]) == ("False", "WithinBound")
        assert jobs_of(kubectl, POLICY) == []

        # When the inputs move toward the decision boundary
        shifted_at = time.time()
        traffic.shifted.set()

        # Then the estimate falls beyond the bound once the window holds only shifted rows,
        # close to the accuracy the labels give those rows
        fallen = wait_for(
            kubectl,
            MONITOR_RESOURCE,
            estimated_after(shifted_at + 20, "Critical"),
            "estimate beyond its bound",
            120,
        )
        after = estimate_of(fallen)
        realised_shifted, _ = traffic.realised(estimator, shifted=True)
        assert after["value"] < reference - MAX_DROP
        assert realised_shifted < reference - MAX_DROP
        assert abs(after["value"] - realised_shifted) <= binomial_tolerance(
            realised_shifted, after["samples"], 4
        )
        degraded = condition(fallen, "PerformanceDegraded")
        assert degraded is not None
        assert (degraded["status"], degraded["reason"]) == ("True", "EstimateBeyondBound")

        # And the policy starts a retraining run on it
        policy = wait_for(
            kubectl,
            f"retrainpolicies.modelkeeper.io/{POLICY}",
            lambda found: bool(runs_of(found)),
            "a retraining run",
            60,
        )
        [run] = runs_of(policy)
        assert run["trigger"] == "Performance"
        assert MONITOR in run["reason"]
        eventually(lambda: jobs_of(kubectl, POLICY), 30, "the run's Job")
    print(
        f"MEASURED estimated accuracy {before['value']:.3f} (realised {realised:.3f}, "
        f"{rows} rows) -> {after['value']:.3f} (realised {realised_shifted:.3f}); reference "
        f"{reference:.3f}; shift -> run start {time_of(run['startTime']) - shifted_at:.1f} s"
    )


def runs_of(policy: dict[str, Any]) -> list[dict[str, Any]]:
    """A RetrainPolicy's runs, going on and done."""
    status = policy.get("status", {})
    return [*status.get("active", []), *status.get("history", [])]


def time_of(value: str) -> float:
    return pd.Timestamp(value).timestamp()
