"""A rollout on the real ground, told to a real HTTP sink on loopback as CloudEvents, in order.

The shared operator sends every decision to the session's sink (tests/e2e/conftest.py);
version 1 serves, version 2 replaces it by the Direct strategy once its pods are ready.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from modelkeeper.controller.notifications import event_type
from tests.ground.ground import Kubectl
from tests.ground.polling import eventually
from tests.support.kube import apply, event_log, serving_only, wait_for
from tests.support.models import write_constant_model
from tests.support.objects import artifact_model, deployment
from tests.support.operator_process import RunningOperator
from tests.support.sink import Sink


def test_a_sink_receives_the_cloudevents_of_a_rollout_in_order(
    shared_operator: RunningOperator,
    notification_sink: Sink,
    kubectl: Kubectl,
    namespace: str,
    tmp_path: Path,
) -> None:
    source = f"/apis/modelkeeper.io/v1alpha1/namespaces/{namespace}/deployments/tide"

    def received() -> list[dict[str, Any]]:
        return [body for body in notification_sink.bodies("/events") if body["source"] == source]

    # Given version 1 served, when version 2 comes and its pods become ready
    for version in ("1", "2"):
        sha = write_constant_model(tmp_path / version, float(version))
        apply(kubectl, artifact_model(f"tide-{version}", "tide", version, tmp_path / version, sha))
        if version == "1":
            apply(kubectl, deployment("tide", "tide"))
        wait_for(
            kubectl,
            "deployments.modelkeeper.io/tide",
            serving_only(version),
            f"version {version} serves",
            180,
        )

    # Then every Event of the rollout came to the sink as a CloudEvent (read again each
    # time: the operator posts an Event just after the status write that shows it)
    def posted() -> Counter[str]:
        return Counter(
            event_type("Deployment", reason)
            for _, reason, _ in event_log(kubectl, "Deployment", "tide")
        )

    eventually(
        lambda: Counter(body["type"] for body in received()) == posted(),
        30,
        "the sink receives every Event posted",
    )
    # And in the order of the decisions: deployed, started, promoted
    types = [body["type"] for body in received()]
    decisions = [
        f"io.modelkeeper.deployment.{kebab}"
        for kebab in ("deploying", "rollout-started", "promoted")
    ]
    positions = [types.index(decision) for decision in decisions]
    assert positions == sorted(positions), types
    promoted = received()[positions[-1]]
    assert promoted["specversion"] == "1.0"
    assert promoted["data"]["family"] == "tide"
    assert "2" in promoted["data"]["message"]
