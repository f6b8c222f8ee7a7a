"""A model's production life on the real ground: pods run the real scoring server and router.

Given an artifact Model and a Deployment, the router answers V2 inference with that
version's predictions; a new version (baked-image form) replaces it by the Direct
strategy without one failed request in a steady stream; an operator killed mid-rollout
and started again converges without duplicates or a second rollout; deleting the
Deployment removes everything it owned.
"""

from __future__ import annotations

import urllib.error
from pathlib import Path

from tests.ground.controlplane import ControlPlane
from tests.ground.ground import Kubectl
from tests.ground.imagebuild import TEST_MODEL_CONSTANT, TEST_MODEL_IMAGE
from tests.ground.node import Node
from tests.ground.polling import eventually
from tests.ground.prometheus import Prometheus
from tests.support.kube import (
    apply,
    events,
    get,
    owned,
    router_address,
    serving_only,
    wait_for,
)
from tests.support.models import write_constant_model
from tests.support.objects import artifact_model, deployment, image_model
from tests.support.operator_process import TEST_FLAGS, running_operator
from tests.support.traffic import SteadyTraffic, predict


def test_serve_roll_out_survive_restart_and_delete(
    no_shared_operator: None,
    crds: Path,
    control_plane: ControlPlane,
    node: Node,
    prometheus: Prometheus,
    kubectl: Kubectl,
    tmp_path: Path,
) -> None:
    sha1 = write_constant_model(tmp_path / "v1", 1.0)
    sha3 = write_constant_model(tmp_path / "v3", 3.0)

    with running_operator(control_plane, tmp_path / "operator-a", *TEST_FLAGS) as operator:
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
        with SteadyTraffic(address, period=0.02) as traffic:
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
        answers = traffic.answers
        assert [a.detail for a in answers if not a.ok] == []
        assert {(a.version, a.prediction) for a in answers} == {
            ("1", 1.0),
            ("2", TEST_MODEL_CONSTANT),
        }
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
        operator.kill()

    # Then a new operator process converges on version 3 with one rollout and no duplicates
    with running_operator(control_plane, tmp_path / "operator-b", *TEST_FLAGS):
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
        return predict(address, "fleet", 5.0)
    except (urllib.error.URLError, OSError):
        return None
