"""The notifier against a real HTTP sink on loopback: in order, retried, never blocking.

No control plane: the Notifier is handed Events as the Kubernetes client hands them over.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY

from modelkeeper.controller.notifications import Sink as SinkConfig
from modelkeeper.controller.notifications import SinkFormat
from modelkeeper.controller.notifier import Notifier
from tests.ground.polling import eventually
from tests.support.sink import Sink, running_sink

DEPLOYMENT = {
    "apiVersion": "modelkeeper.io/v1alpha1",
    "kind": "Deployment",
    "metadata": {"name": "fraud", "namespace": "risk", "uid": "u-1"},
    "spec": {"model": {"name": "fraud"}},
}


def event(reason: str, number: int) -> dict[str, Any]:
    return {
        "involvedObject": {
            "apiVersion": "modelkeeper.io/v1alpha1",
            "kind": "Deployment",
            "name": "fraud",
            "namespace": "risk",
            "uid": "u-1",
        },
        "type": "Normal",
        "reason": reason,
        "message": f"decision {number}",
        "lastTimestamp": f"2026-12-06T08:00:{number:02d}Z",
    }


def count(label: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "modelkeeper_operator_notifications_total", {"sink": label, "outcome": outcome}
    )
    return value or 0.0


@pytest.fixture
def sink() -> Iterator[Sink]:
    with running_sink() as running:
        yield running


def test_notices_arrive_in_order_after_retries(sink: Sink) -> None:
    config = SinkConfig(SinkFormat.CLOUDEVENTS, f"{sink.url}/events")
    retried = count(config.label, "retried")
    sink.statuses.extend([503, 429])
    notifier = Notifier([config])
    for number, reason in enumerate(("Deploying", "RolloutStarted", "Promoted"), start=1):
        notifier.notify(DEPLOYMENT, event(reason, number))
    eventually(lambda: len(sink.bodies("/events")) == 3, 20, "three CloudEvents delivered")
    notifier.close()
    types = [body["type"] for body in sink.bodies("/events")]
    assert types == [
        "io.modelkeeper.deployment.deploying",
        "io.modelkeeper.deployment.rollout-started",
        "io.modelkeeper.deployment.promoted",
    ]
    assert sink.received[0].content_type.startswith("application/cloudevents+json")
    assert count(config.label, "retried") - retried == 2


def test_new_notices_do_not_cut_a_backoff_short(sink: Sink) -> None:
    config = SinkConfig(SinkFormat.CLOUDEVENTS, f"{sink.url}/busy")
    sink.statuses.append(503)
    notifier = Notifier([config])
    notifier.notify(DEPLOYMENT, event("Deploying", 0))
    eventually(lambda: sink.arrivals, 10, "the first try")
    for number in range(1, 21):  # decisions keep coming during the first backoff (0.5 s)
        notifier.notify(DEPLOYMENT, event("StepStarted", number))
        time.sleep(0.02)
    eventually(lambda: len(sink.bodies("/busy")) == 21, 20, "all delivered")
    notifier.close()
    first, retry = sink.arrivals[:2]
    assert retry - first >= 0.45, f"retried after {retry - first:.2f}s"
    assert [body["data"]["message"] for body in sink.bodies("/busy")] == [
        f"decision {number}" for number in range(21)
    ]


def test_a_refused_notice_is_not_tried_again(sink: Sink) -> None:
    config = SinkConfig(SinkFormat.SLACK, f"{sink.url}/services/T0/B0/token")
    failed = count(config.label, "failed")
    sink.statuses.append(400)
    notifier = Notifier([config])
    notifier.notify(DEPLOYMENT, event("RolledBack", 1))
    notifier.notify(DEPLOYMENT, event("Deploying", 2))
    eventually(lambda: len(sink.bodies("/services/T0/B0/token")) == 1, 20, "the second delivered")
    notifier.close()
    assert sink.bodies("/services/T0/B0/token") == [
        {"text": "*Deploying* Deployment risk/fraud: decision 2"}
    ]
    assert count(config.label, "failed") - failed == 1
    assert "token" not in config.label


def test_a_stuck_sink_blocks_no_caller_and_loses_the_oldest(sink: Sink) -> None:
    config = SinkConfig(SinkFormat.CLOUDEVENTS, f"{sink.url}/stuck")
    dropped = count(config.label, "dropped")
    sink.open.clear()  # every request waits
    notifier = Notifier([config], size=3)
    notifier.notify(DEPLOYMENT, event("Deploying", 0))
    eventually(lambda: notifier.outboxes[0].pending == 0, 10, "the first notice is being sent")
    started = time.monotonic()
    for number in range(1, 11):
        notifier.notify(DEPLOYMENT, event("StepStarted", number))
    took = time.monotonic() - started
    assert took < 2.0, f"notify waited {took:.2f}s for a stuck sink"
    assert count(config.label, "dropped") - dropped == 7
    sink.open.set()
    eventually(lambda: len(sink.bodies("/stuck")) == 4, 20, "the first and the newest three")
    notifier.close()
    messages = [body["data"]["message"] for body in sink.bodies("/stuck")]
    assert messages == ["decision 0", "decision 8", "decision 9", "decision 10"]
