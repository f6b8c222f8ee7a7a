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
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelkeeper import __version__
from modelkeeper.api.labels import POLICY_LABEL
from tests.e2e.controller.rollout_harness import _Poller
from tests.integration.controller.operator_harness import MODELKEEPER, Kubectl, get

FAMILY = "diabetes"
MONITOR = "diabetes-inputs"
TRAINER_IMAGE = f"ghcr.io/modelkeeper/modelkeeper:{__version__}"
SHIFT = {"bmi": 0.1, "bp": 0.1, "s5": 0.1}
"""The drift: about two reference standard deviations added to three of the ten features."""
ROWS_PER_REQUEST = 10
APPROVED = {"by": "lead@example.com", "at": "2026-01-01T00:00:00Z"}


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
    return {
        "apiVersion": "modelkeeper.io/v1alpha1",
        "kind": "Model",
        "metadata": {"name": f"{FAMILY}-{version}"},
        "spec": {
            "name": FAMILY,
            "version": version,
            "artifact": result["artifact"],
            "schema": result["schema"],
            "reference": result["profile"],
            "metrics": result["metrics"],
            "governance": {"owner": "diabetes-team", "riskTier": risk_tier, "approval": APPROVED},
        },
    }


def drift_monitor(
    deployment: str, interval: int, window: int, enter_after: int, exit_after: int
) -> dict[str, Any]:
    """PSI (0.1 / 0.25) on every numeric feature, judged on at least 100 rows in the window."""
    return {
        "apiVersion": "modelkeeper.io/v1alpha1",
        "kind": "DriftMonitor",
        "metadata": {"name": MONITOR},
        "spec": {
            "deployment": deployment,
            "interval": f"{interval}s",
            "window": f"{window}s",
            "minSamples": 100,
            "byType": {"numeric": {"method": "PSI", "warning": 0.1, "critical": 0.25}},
            "hysteresis": {"enterAfter": enter_after, "exitAfter": exit_after},
        },
    }


def retrain_policy(name: str, trainer_args: list[str], **spec: Any) -> dict[str, Any]:
    """A policy for the family whose Job runs train-example with `trainer_args`; r2 gates."""
    return {
        "apiVersion": "modelkeeper.io/v1alpha1",
        "kind": "RetrainPolicy",
        "metadata": {"name": name},
        "spec": {
            "model": {"name": FAMILY},
            "cooldown": "10m",
            "gate": {"metric": "r2", "direction": "HigherIsBetter", "minImprovement": 0.0},
            "workload": {
                "job": {
                    "spec": {
                        "activeDeadlineSeconds": 180,
                        "template": {
                            "spec": {
                                "containers": [
                                    {
                                        "name": "train",
                                        "image": TRAINER_IMAGE,
                                        "args": ["train-example", *trainer_args],
                                    }
                                ]
                            }
                        },
                    }
                }
            },
            **spec,
        },
    }


def drift_trigger(held_for: str = "0s") -> dict[str, Any]:
    return {"drift": {"monitor": MONITOR, "state": "Drifted", "for": held_for}}


def read_rows(training_csv: Path, features: list[str]) -> list[list[float]]:
    """The feature columns of a trainer's training.csv, in schema order."""
    with training_csv.open() as file:
        return [[float(row[name]) for name in features] for row in csv.DictReader(file)]


@dataclass(frozen=True)
class Reply:
    """One request through the router, as the client saw it."""

    at: float
    """time.time() when the answer came (wall clock, to line up with API timestamps)."""
    code: int
    """The HTTP status; 0 when no HTTP answer came."""
    version: str | None
    shifted: bool


class DiabetesTraffic(_Poller):
    """Batches of training rows through the router, one request after another.

    Rows are drawn in turn from the training data; `shift` (settable at any time) is added
    to its features while `shifted` is set.
    """

    period = 0.02

    def __init__(self, address: str, rows: list[list[float]], features: list[str]) -> None:
        super().__init__()
        self.url = f"http://{address}/v2/models/{FAMILY}/infer"
        self.rows = rows
        self.delta = [SHIFT.get(name, 0.0) for name in features]
        self.shifted = threading.Event()
        self._next = 0
        self._replies: list[Reply] = []

    @property
    def replies(self) -> list[Reply]:
        return list(self._replies)

    def poll(self) -> None:
        self._replies.append(self.send(self.shifted.is_set()))

    def send(self, shifted: bool) -> Reply:
        """One request of the next rows, as the client sees it (not recorded)."""
        batch = []
        for _ in range(ROWS_PER_REQUEST):
            row = self.rows[self._next % len(self.rows)]
            self._next += 1
            batch.append([x + d for x, d in zip(row, self.delta, strict=True)] if shifted else row)
        body = {
            "inputs": [
                {
                    "name": "rows",
                    "datatype": "FP64",
                    "shape": [len(batch), len(batch[0])],
                    "data": batch,
                }
            ]
        }
        request = urllib.request.Request(
            self.url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                version = json.load(response)["model_version"]
            return Reply(time.time(), 200, version, shifted)
        except urllib.error.HTTPError as error:
            return Reply(time.time(), error.code, None, shifted)
        except (urllib.error.URLError, OSError, KeyError, ValueError):
            return Reply(time.time(), 0, None, shifted)


@dataclass(frozen=True)
class Sighting:
    """A resource's status as first seen at `at` (time.time())."""

    at: float
    status: dict[str, Any]


class StatusLog(_Poller):
    """Records every change of one resource's status, polled by kubectl."""

    period = 0.5

    def __init__(self, kubectl: Kubectl, resource: str) -> None:
        super().__init__()
        self.kubectl = kubectl
        self.resource = resource
        self._sightings: list[Sighting] = []

    @property
    def sightings(self) -> list[Sighting]:
        return list(self._sightings)

    def poll(self) -> None:
        found = self.kubectl("get", self.resource, "-o", "json", check=False)
        if found.returncode != 0:
            return
        status = json.loads(found.stdout).get("status") or {}
        if not self._sightings or self._sightings[-1].status != status:
            self._sightings.append(Sighting(time.time(), status))


def event_log(kubectl: Kubectl, kind: str, name: str) -> list[tuple[str, str, str]]:
    """(type, reason, message) of the Events about one modelkeeper.io object, oldest first."""
    listed = json.loads(kubectl("get", "events", "-o", "json").stdout)["items"]
    about = [
        event
        for event in listed
        if event["involvedObject"]["kind"] == kind and event["involvedObject"]["name"] == name
    ]
    about.sort(key=lambda event: (event.get("firstTimestamp") or "", event["metadata"]["name"]))
    return [(event["type"], event["reason"], event["message"]) for event in about]


def jobs_of(kubectl: Kubectl, policy: str) -> list[dict[str, Any]]:
    """The batch/v1 Jobs a RetrainPolicy created."""
    found = kubectl("get", "jobs.batch", "-l", f"{POLICY_LABEL}={policy}", "-o", "json")
    listed: list[dict[str, Any]] = json.loads(found.stdout)["items"]
    return listed


def models_of_family(kubectl: Kubectl) -> dict[str, dict[str, Any]]:
    """The family's Models by name."""
    listed = get(kubectl, "models.modelkeeper.io")["items"]
    return {m["metadata"]["name"]: m for m in listed if m["spec"]["name"] == FAMILY}
