"""What the retraining-loop end-to-end tests share: the diabetes family, its traffic, watchers.

The loop is judged from the outside: rows of the example trainer's own training data go
through the router (shifted by a constant to simulate drift), and the tests read what the
operator says in status, Events and metrics. Version 1 is made by running the example
trainer (`modelkeeper train-example`) here, so that it follows the same contract as the
versions a RetrainPolicy's Job makes, and its Model is written from the trainer's result.
"""

from __future__ import annotations

import csv
import json
import subprocess
import threading
from pathlib import Path
from typing import Any

from modelkeeper import __version__
from modelkeeper.api.labels import POLICY_LABEL
from tests.ground.ground import Kubectl
from tests.support import objects
from tests.support.kube import get
from tests.support.objects import APPROVAL
from tests.support.operator_process import MODELKEEPER
from tests.support.traffic import SteadyTraffic

FAMILY = "diabetes"
MONITOR = "diabetes-inputs"
TRAINER_IMAGE = f"ghcr.io/modelkeeper/modelkeeper:{__version__}"
SHIFT = {"bmi": 0.1, "bp": 0.1, "s5": 0.1}
"""The drift: about two reference standard deviations added to three of the ten features."""
ROWS_PER_REQUEST = 10


def shift_args(shift: dict[str, float] = SHIFT) -> list[str]:
    """train-example's flags that train on data shifted like the traffic."""
    return [arg for feature, delta in shift.items() for arg in ("--shift", f"{feature}={delta}")]


def train_locally(directory: Path) -> dict[str, Any]:
    """Run the example trainer here, as a Job's pod would; returns its result document."""
    directory.mkdir(parents=True, exist_ok=True)
    result = directory / "result.json"
    subprocess.run(
        [
            MODELKEEPER,
            "train-example",
            f"--output-uri=file://{directory}/",
            f"--termination-log={result}",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    document: dict[str, Any] = json.loads(result.read_text())
    return document


def trained_model(version: str, result: dict[str, Any], risk_tier: str) -> dict[str, Any]:
    """The family's Model of a trainer's result, approved in its manifest."""
    return objects.model(
        f"{FAMILY}-{version}",
        FAMILY,
        version,
        artifact=result["artifact"],
        schema=result["schema"],
        reference=result["profile"],
        metrics=result["metrics"],
        governance={"owner": "diabetes-team", "riskTier": risk_tier, "approval": APPROVAL},
    )


def drift_monitor(
    deployment: str, interval: int, window: int, enter_after: int, exit_after: int
) -> dict[str, Any]:
    """PSI (0.1 / 0.25) on every numeric feature, judged on at least 100 rows in the window."""
    return objects.drift_monitor(
        MONITOR,
        deployment,
        interval=f"{interval}s",
        window=f"{window}s",
        minSamples=100,
        byType={"numeric": {"method": "PSI", "warning": 0.1, "critical": 0.25}},
        hysteresis={"enterAfter": enter_after, "exitAfter": exit_after},
    )


def retrain_policy(name: str, trainer_args: list[str], **spec: Any) -> dict[str, Any]:
    """A policy for the family whose Job runs train-example with `trainer_args`; r2 gates."""
    container = {"name": "train", "image": TRAINER_IMAGE, "args": ["train-example", *trainer_args]}
    job = {"activeDeadlineSeconds": 180, "template": {"spec": {"containers": [container]}}}
    return objects.retrain_policy(
        name,
        FAMILY,
        cooldown="10m",
        gate={"metric": "r2", "direction": "HigherIsBetter", "minImprovement": 0.0},
        workload={"job": {"spec": job}},
        **spec,
    )


def drift_trigger(held_for: str = "0s") -> dict[str, Any]:
    return {"drift": {"monitor": MONITOR, "state": "Drifted", "for": held_for}}


def read_rows(training_csv: Path, features: list[str]) -> list[list[float]]:
    """The feature columns of a trainer's training.csv, in schema order."""
    with training_csv.open() as file:
        return [[float(row[name]) for name in features] for row in csv.DictReader(file)]


class DiabetesTraffic(SteadyTraffic):
    """Batches of training rows through the router, one request after another.

    Rows are drawn in turn from the training data; `SHIFT` is added to its features while
    `shifted` (settable at any time) is set. An Answer's `x` says whether it was shifted.
    """

    period = 0.02
    tensor = "rows"

    def __init__(self, address: str, rows: list[list[float]], features: list[str]) -> None:
        super().__init__(address, FAMILY)
        self.rows = rows
        self.delta = [SHIFT.get(name, 0.0) for name in features]
        self.shifted = threading.Event()
        self._next = 0

    def draw(self) -> tuple[list[list[float]], Any]:
        shifted = self.shifted.is_set()
        return self.batch(shifted), shifted

    def batch(self, shifted: bool) -> list[list[float]]:
        """The next rows, shifted or not."""
        batch = []
        for _ in range(ROWS_PER_REQUEST):
            row = self.rows[self._next % len(self.rows)]
            self._next += 1
            batch.append([x + d for x, d in zip(row, self.delta, strict=True)] if shifted else row)
        return batch


def jobs_of(kubectl: Kubectl, policy: str) -> list[dict[str, Any]]:
    """The batch/v1 Jobs a RetrainPolicy created."""
    found = kubectl("get", "jobs.batch", "-l", f"{POLICY_LABEL}={policy}", "-o", "json")
    listed: list[dict[str, Any]] = json.loads(found.stdout)["items"]
    return listed


def models_of_family(kubectl: Kubectl) -> dict[str, dict[str, Any]]:
    """The family's Models by name."""
    listed = get(kubectl, "models.modelkeeper.io")["items"]
    return {m["metadata"]["name"]: m for m in listed if m["spec"]["name"] == FAMILY}
