"""The operator tells a real HTTP sink on loopback of its decisions, each object's in order.

The operator runs as its ServiceAccount with two sinks: CloudEvents and a Slack-style
incoming webhook whose path is its secret. No node here: a version waits for approval, is
approved, is deployed and, never ready, is Degraded at the progress deadline. (A whole
rollout, with pods that become ready, is notified in tests/e2e/controller/
test_notifications_end_to_end.py.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.ground.controlplane import ControlPlane
from tests.ground.ground import Kubectl
from tests.ground.polling import eventually
from tests.support.kube import apply
from tests.support.models import write_constant_model
from tests.support.objects import artifact_model, deployment
from tests.support.operator_process import RunningOperator, running_operator
from tests.support.sink import Sink, running_sink

SECRET_PATH = "/services/T0000/B0000/do-not-log-me"


@pytest.fixture(scope="module")
def sink() -> Iterator[Sink]:
    with running_sink() as running:
        yield running


@pytest.fixture(scope="module")
def notifying_operator(
    crds: Path,
    control_plane: ControlPlane,
    sink: Sink,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningOperator]:
    sinks = f"{sink.url}/events slack={sink.url}{SECRET_PATH}"
    with running_operator(
        control_plane,
        tmp_path_factory.mktemp("operator"),
        "--progress-deadline-seconds=8",
        "--resync-seconds=5",
        f"--notify-sinks={sinks}",
    ) as running:
        yield running


def cloudevents(sink: Sink, source: str) -> list[dict[str, Any]]:
    return [body for body in sink.bodies("/events") if body["source"] == source]


def test_a_sink_receives_each_decision_as_a_cloudevent_in_order(
    notifying_operator: RunningOperator,
    sink: Sink,
    kubectl: Kubectl,
    namespace: str,
    tmp_path: Path,
) -> None:
    apis = f"/apis/modelkeeper.io/v1alpha1/namespaces/{namespace}"
    model_source, deployment_source = f"{apis}/models/bell-1", f"{apis}/deployments/bell"

    # Given a Low-risk version nobody approved yet, and a Deployment of its family
    sha = write_constant_model(tmp_path / "v1", 1.0)
    version = artifact_model("bell-1", "bell", "1", tmp_path / "v1", sha)
    version["spec"]["governance"] = {"riskTier": "Low"}
    apply(kubectl, version, deployment("bell", "bell"))

    # Then the sink hears that it needs approval
    needed = eventually(lambda: cloudevents(sink, model_source), 60, "approval needed is notified")
    assert needed[0]["type"] == "io.modelkeeper.model.approval-needed"
    assert needed[0]["data"]["family"] == "bell"
    assert needed[0]["data"]["version"] == "1"
    assert "risk tier Low needs one approver" in needed[0]["data"]["message"]

    # When it is approved, it is deployed and (no node here) Degraded at the deadline
    kubectl("annotate", "models/bell-1", "modelkeeper.io/approved-by=ops@example.com")
    eventually(
        lambda: any(
            body["type"] == "io.modelkeeper.deployment.degraded"
            for body in cloudevents(sink, deployment_source)
        ),
        90,
        "the deadline is notified",
    )

    # Then each object's decisions arrived in the order they were made, as CloudEvents 1.0
    assert [body["type"] for body in cloudevents(sink, model_source)] == [
        "io.modelkeeper.model.approval-needed",
        "io.modelkeeper.model.approved",
    ]
    received = cloudevents(sink, deployment_source)
    assert [body["type"] for body in received] == [
        "io.modelkeeper.deployment.deploying",
        "io.modelkeeper.deployment.degraded",
    ]
    for body in received:
        assert body["specversion"] == "1.0"
        assert body["subject"] == "bell"
        assert body["datacontenttype"] == "application/json"
        assert body["data"]["namespace"] == namespace
        assert body["data"]["family"] == "bell"
    assert received[1]["data"]["severity"] == "Warning"
    assert "progress deadline" in received[1]["data"]["message"]
    everything = sink.bodies("/events")
    assert len({body["id"] for body in everything}) == len(everything)

    # And the webhook gets the same decisions as chat lines
    texts = [body["text"] for body in sink.bodies(SECRET_PATH)]
    assert any(f"*Degraded* Deployment {namespace}/bell" in text for text in texts), texts

    # And the webhook's secret path is in no log line and no metric
    def delivered() -> dict[str, float]:
        return {
            sample.labels["sink"]: sample.value
            for family in text_string_to_metric_families(notifying_operator.metrics())
            for sample in family.samples
            if sample.name == "modelkeeper_operator_notifications_total"
            and sample.labels["outcome"] == "delivered"
        }

    eventually(
        lambda: delivered().get(f"slack:{sink.url}", 0) >= len(texts),
        10,
        "each delivery is counted under the sink's origin",
    )
    metrics = notifying_operator.metrics()
    assert "do-not-log-me" not in metrics
    assert "do-not-log-me" not in notifying_operator.component.log.read_text()
