"""An MLflow-format model served from the registry, and a family that follows its alias.

On the real ground: `mlflow server` (SQLite, artifact proxy) listens on the node's bridge
address, which both the operator (on this machine) and the scoring pods' fetch step reach,
and nothing outside this machine does. A classifier is registered as versions 1 and 2,
with alias `champion` on version 1; a seed Model `models:/iris/1` (format mlflow) is
served by a Canary Deployment that follows `iris@champion`, and answers as the estimator
does; version 2 is not followed while the alias is elsewhere. Then the alias moves to
version 2: the operator makes Model `iris-mlflow-2`, approves it by its risk tier, the
Deployment canaries it under client traffic (ErrorRate analysis on Prometheus) and
promotes it, and the router's answers are version 2's estimator's.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from modelkeeper.profile import build_profile
from tests.ground.controlplane import ControlPlane
from tests.ground.ground import Kubectl
from tests.ground.node import Node
from tests.ground.polling import eventually
from tests.ground.prometheus import Prometheus
from tests.support.kube import (
    POD_START,
    apply,
    event_log,
    get,
    router_address,
    serving_only,
    wait_for,
)
from tests.support.mlflow import Logged, start_mlflow
from tests.support.models import IRIS_FEATURES, iris_frame
from tests.support.objects import APPROVAL, canary_deployment, model
from tests.support.operator_process import operator_flags, running_operator
from tests.support.traffic import SteadyTraffic, infer, v2_body
from tests.support.watch import StatusWatch

FAMILY = "iris"
DEPLOYMENT = f"deployments.modelkeeper.io/{FAMILY}"
INTERVAL = 5
"""Seconds between analysis runs of the one 50 % canary step, as the retraining loop's."""
ROWS = iris_frame()[IRIS_FEATURES].iloc[[0, 60, 120, 149]]


class IrisTraffic(SteadyTraffic):
    """The four rows in one [rows, features] tensor, one request after another."""

    period = 0.02
    tensor = "rows"

    def draw(self) -> tuple[list[list[float]], Any]:
        return ROWS.to_numpy().tolist(), None


def probabilities(address: str) -> tuple[str, np.ndarray]:
    """The answering version and its class probabilities of ROWS, through the router."""
    body = v2_body(ROWS.to_numpy().tolist(), tensor="rows", outputs=[{"name": "predict_proba"}])
    answer = infer(address, FAMILY, body)
    data = {output["name"]: output["data"] for output in answer["outputs"]}
    return answer["model_version"], np.array(data["predict_proba"]).reshape(len(ROWS), 3)


def answered_by(address: str, version: str, estimator: Any) -> bool:
    """Whether `version` answered the next request, with the estimator's probabilities."""
    answering, found = probabilities(address)
    if answering != version:
        return False
    np.testing.assert_allclose(found, estimator.predict_proba(ROWS), rtol=1e-9, atol=1e-12)
    return True


def reasons(log: Sequence[tuple[str, str, str]]) -> list[str]:
    return [reason for _, reason, _ in log]


def test_a_family_follows_an_mlflow_alias_through_one_move(
    no_shared_operator: None,
    crds: Path,
    control_plane: ControlPlane,
    node: Node,
    prometheus: Prometheus,
    kubectl: Kubectl,
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    frame = iris_frame()
    features: pd.DataFrame = frame[IRIS_FEATURES]
    first = LogisticRegression(max_iter=1000).fit(features, frame["target"])
    second = LogisticRegression(C=0.05, max_iter=1000).fit(features, frame["target"])
    assert not np.allclose(first.predict_proba(ROWS), second.predict_proba(ROWS))
    profile = tmp_path / "profile.json"
    profile.write_text(
        build_profile(frame, categorical=["target"], target="target").model_dump_json()
    )
    with ExitStack() as stack:
        mlflow = start_mlflow(tmp_path / "mlflow", host=node.network.address)
        stack.callback(mlflow.component.stop)
        mlflow_up = time.monotonic()
        # Both versions are registered now (one MLflow process to log them); only the alias
        # decides what the family follows, and it points at version 1.
        logged = [
            Logged(FAMILY, first, features, aliases=("champion",)),
            Logged(FAMILY, second, features, metrics={"accuracy": 0.96}),
        ]
        assert mlflow.log(logged) == ["1", "2"]
        registered = time.monotonic()
        flags = operator_flags(
            f"--prometheus-url={prometheus.url}",
            f"--mlflow-tracking-uri={mlflow.url}",
            f"--progress-deadline-seconds={POD_START}",
        )
        stack.enter_context(running_operator(control_plane, tmp_path / "operator", *flags))

        # Given version 1 (format mlflow, from the registry) served by a Canary Deployment
        # that follows iris@champion, which points at version 1
        deployment = canary_deployment(FAMILY, FAMILY, (50,), interval_seconds=INTERVAL)
        deployment["spec"]["follow"] = {
            "mlflow": {
                "model": FAMILY,
                "alias": "champion",
                "interval": "2s",
                "approval": {"autoApproveUpTo": "Low"},
            }
        }
        seed = model(
            f"{FAMILY}-1",
            FAMILY,
            "1",
            artifact={"uri": f"models:/{FAMILY}/1", "format": "mlflow"},
            reference={"uri": f"file://{profile}"},
            governance={"owner": "iris-team", "riskTier": "Low", "approval": APPROVAL},
        )
        apply(kubectl, seed, deployment)
        wait_for(kubectl, DEPLOYMENT, serving_only("1"), "version 1 serves", POD_START)
        address = router_address(kubectl, FAMILY)
        eventually(lambda: answered_by(address, "1", first), 30, "version 1 answers")
        serving_one = time.monotonic()
        assert [m["metadata"]["name"] for m in get(kubectl, "models.modelkeeper.io")["items"]] == [
            f"{FAMILY}-1"
        ], "a registered version the alias does not point at is not followed"

        # When the alias moves to version 2, under client traffic
        traffic = stack.enter_context(IrisTraffic(address, FAMILY))
        statuses = stack.enter_context(StatusWatch(kubectl, DEPLOYMENT))
        mlflow.set_alias(FAMILY, "champion", "2")
        moved = time.monotonic()

        # Then a new Model appears, is canaried at 50 %, promoted, and serves
        created = wait_for(
            kubectl,
            f"models.modelkeeper.io/{FAMILY}-mlflow-2",
            lambda m: m.get("status", {}).get("approved") is True,
            "version mlflow-2 made and approved",
            30,
        )
        appeared = time.monotonic()
        done = wait_for(kubectl, DEPLOYMENT, serving_only("mlflow-2"), "mlflow-2 serves", POD_START)
        promoted = time.monotonic()
        eventually(lambda: answered_by(address, "mlflow-2", second), 30, "version 2 answers")
        answers = traffic.answers
        seen = statuses.changes
        run_id = mlflow.run_id(FAMILY, "2")

    # The new version is version 2 of the registry, pinned, with its run's metrics
    spec = created["spec"]
    assert spec["artifact"] == {"uri": f"models:/{FAMILY}/2", "format": "mlflow"}
    assert spec["metrics"] == {"accuracy": 0.96}
    assert spec["lineage"]["registry"]["runId"] == run_id
    assert created["status"]["approval"]["source"] == "Policy"

    # It was canaried at 50 % with passing analysis, then promoted
    status = done["status"]
    assert [(h["version"], h["outcome"]) for h in status["history"]] == [("mlflow-2", "Promoted")]
    canaried = [
        c.status
        for c in seen
        if c.candidate == "mlflow-2" and c.status.get("candidate", {}).get("role") == "Canary"
    ]
    assert any(s.get("weight") == 50 for s in canaried), "mlflow-2 never took 50 % as a canary"
    passed = [r for r in status["analysisRuns"] if r["phase"] == "Successful"]
    assert passed, status["analysisRuns"]
    assert status["follow"]["registryVersion"] == "2"
    assert status["follow"]["model"] == f"{FAMILY}-mlflow-2"
    log = event_log(kubectl, "Deployment", FAMILY)
    assert reasons(log).count("VersionFollowed") == 1
    assert reasons(log).count("Promoted") == 1

    # And clients were answered throughout, by both versions during the canary
    assert [a for a in answers if not a.ok] == []
    assert {a.version for a in answers} == {"1", "mlflow-2"}
    assert len(get(kubectl, "models.modelkeeper.io")["items"]) == 2
    print(
        f"MEASURED mlflow follow: mlflow server up {mlflow_up - started:.1f}s after the test "
        f"started, two versions registered {registered - mlflow_up:.1f}s later, version 1 "
        f"served {serving_one - registered:.1f}s later (operator start, pod start, fetch); "
        f"alias moved -> Model made and approved {appeared - moved:.1f}s; "
        f"-> mlflow-2 promoted {promoted - moved:.1f}s; {len(answers)} client requests, "
        f"none failed"
    )
