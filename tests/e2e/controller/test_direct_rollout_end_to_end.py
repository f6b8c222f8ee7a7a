"""A model's production life on the real ground: pods run the real scoring server and router.

Given an artifact Model and a Deployment, the router answers V2 inference with that
version's predictions; a new version (baked-image form) replaces it by the Direct
strategy without one failed request in a steady stream; an operator killed mid-rollout
and started again converges without duplicates or a second rollout; deleting the
Deployment removes everything it owned.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from tests.e2e.controller.rollout_harness import kill_operator, router_address, serving_only
from tests.ground.controlplane import ControlPlane
from tests.ground.ground import Kubectl
from tests.ground.imagebuild import TEST_MODEL_CONSTANT, TEST_MODEL_IMAGE
from tests.ground.node import Node
from tests.ground.polling import eventually
from tests.ground.prometheus import Prometheus
from tests.integration.controller.operator_harness import (
    apply,
    artifact_model,
    deployment,
    events,
    get,
    image_model,
    owned,
    running_operator,
    wait_for,
    write_model,
)

FLAGS = ("--progress-deadline-seconds=120", "--drain-seconds=4", "--resync-seconds=5")
BODY = json.dumps(
    {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP64", "data": [5.0]}]}
).encode()


def infer(address: str) -> tuple[str, float]:
    """One V2 inference through the router: (model version, prediction)."""
    request = urllib.request.Request(
        f"http://{address}/v2/models/fleet/infer",
        data=BODY,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.load(response)
    return answer["model_version"], float(answer["outputs"][0]["data"][0])


class SteadyTraffic:
    """Requests one after another from a thread, counting answers by version and failures."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.answers: Counter[tuple[str, float]] = Counter()
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            try:
                self.answers[infer(self.address)] += 1
            except (urllib.error.URLError, OSError, KeyError, ValueError) as error:
                self.failures.append(repr(error))

    def __enter__(self) -> SteadyTraffic:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


def test_serve_roll_out_survive_restart_and_delete(
    crds: Path,
    control_plane: ControlPlane,
    node: Node,
    prometheus: Prometheus,
    kubectl: Kubectl,
    tmp_path: Path,
) -> None:
    sha1 = write_model(tmp_path / "v1", 1.0)
    sha3 = write_model(tmp_path / "v3", 3.0)

    with running_operator(control_plane, tmp_path / "operator-a", *FLAGS) as operator:
        # Given version 1 (artifact form) served by a Deployment tracking the family
        apply(kubectl, artifact_model("fleet-1", "fleet", "1", tmp_path / "v1", sha1))
        apply(kubectl, deployment("fleet", "fleet"))
        served = wait_for(
            kubectl, "deployments.modelkeeper.io/fleet", serving_only("1"), "version 1 serves", 120
        )
        assert served["status"]["stable"]["readyReplicas"] == 1
        address = router_address(kubectl, "fleet")
        assert eventually(lambda: _answer(address), 30, "the router answers") == ("1", 1.0)
        scraped = eventually(
            lambda: prometheus.query('modelkeeper_requests_total{deployment="fleet"}'),
            60,
            "Prometheus scrapes the scoring server through its annotations",
        )
        assert scraped[0]["metric"]["version"] == "1"

        # When version 2 (the test model image, FROM the serving image) appears, under traffic
        with SteadyTraffic(address) as traffic:
            apply(kubectl, image_model("fleet-2", "fleet", "2", TEST_MODEL_IMAGE))
            wait_for(
                kubectl,
                "deployments.modelkeeper.io/fleet",
                serving_only("2"),
                "version 2 serves",
                120,
            )
            eventually(
                lambda: set(owned(kubectl, "fleet")["Deployment"]) == {"fleet-2", "fleet-router"},
                60,
                "version 1 is removed after the drain",
            )
        # Then no request failed, and both versions answered with their own predictions
        assert traffic.failures == []
        assert set(traffic.answers) == {("1", 1.0), ("2", TEST_MODEL_CONSTANT)}
        assert "Promoted" in events(kubectl, "fleet")
        assert get(kubectl, "models/fleet-1")["status"]["stage"] == "Retired"

        # When version 3 starts rolling out and the operator is killed mid-rollout
        apply(kubectl, artifact_model("fleet-3", "fleet", "3", tmp_path / "v3", sha3))
        wait_for(
            kubectl,
            "deployments.modelkeeper.io/fleet",
            lambda d: d.get("status", {}).get("candidate", {}).get("version") == "3",
            "version 3 is the candidate",
        )
        kill_operator(operator)

    # Then a new operator process converges on version 3 with one rollout and no duplicates
    with running_operator(control_plane, tmp_path / "operator-b", *FLAGS):
        done = wait_for(
            kubectl, "deployments.modelkeeper.io/fleet", serving_only("3"), "version 3 serves", 120
        )
        eventually(
            lambda: set(owned(kubectl, "fleet")["Deployment"]) == {"fleet-3", "fleet-router"},
            60,
            "only version 3 and the router run",
        )
        assert [(h["version"], h["outcome"]) for h in done["status"]["history"]] == [
            ("3", "Promoted"),
            ("2", "Promoted"),
        ]
        # One RolloutStarted per rollout, except that the kill may land between version 3's
        # status write and its event; a second rollout of version 3 would make three.
        assert 1 <= events(kubectl, "fleet").count("RolloutStarted") <= 2
        assert events(kubectl, "fleet").count("Promoted") == 2
        assert eventually(lambda: _answer(address), 30, "the router answers") == ("3", 3.0)

        # When the Deployment is deleted, everything it owned goes
        kubectl("delete", "deployments.modelkeeper.io", "fleet", "--wait=true", "--timeout=60s")
        eventually(lambda: owned(kubectl, "fleet") == {}, 60, "the children are gone")


def _answer(address: str) -> tuple[str, float] | None:
    try:
        return infer(address)
    except (urllib.error.URLError, OSError):
        return None
