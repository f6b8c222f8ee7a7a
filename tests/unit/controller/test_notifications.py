"""Decisions as CloudEvents and chat lines, the sinks from settings, and when to try again."""

from __future__ import annotations

from typing import Any

import pytest

from modelkeeper.controller.notifications import (
    ATTEMPTS,
    Sink,
    SinkFormat,
    cloudevent,
    event_type,
    notice_of,
    parse_sinks,
    request_of,
    retry_delay,
    retryable,
)

GROUP = "modelkeeper.io/v1alpha1"


def obj(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": GROUP,
        "kind": kind,
        "metadata": {"name": name, "namespace": "risk", "uid": f"uid-{name}"},
        "spec": spec,
    }


def event(regarding: dict[str, Any], reason: str, kind: str = "Normal") -> dict[str, Any]:
    metadata = regarding["metadata"]
    return {
        "involvedObject": {
            "apiVersion": regarding["apiVersion"],
            "kind": regarding["kind"],
            "name": metadata["name"],
            "namespace": metadata["namespace"],
            "uid": metadata["uid"],
        },
        "type": kind,
        "reason": reason,
        "message": "what happened",
        "lastTimestamp": "2026-12-06T08:00:00Z",
    }


@pytest.mark.parametrize(
    ("kind", "reason", "expected"),
    [
        ("Deployment", "Promoted", "io.modelkeeper.deployment.promoted"),
        ("Deployment", "RolledBack", "io.modelkeeper.deployment.rolled-back"),
        ("Deployment", "RolloutStarted", "io.modelkeeper.deployment.rollout-started"),
        ("Deployment", "AnalysisInconclusive", "io.modelkeeper.deployment.analysis-inconclusive"),
        ("DriftMonitor", "Drifted", "io.modelkeeper.driftmonitor.drifted"),
        ("RetrainPolicy", "RunStarted", "io.modelkeeper.retrainpolicy.run-started"),
        ("RetrainPolicy", "RunSucceeded", "io.modelkeeper.retrainpolicy.run-succeeded"),
        ("Model", "ApprovalNeeded", "io.modelkeeper.model.approval-needed"),
    ],
)
def test_each_decision_has_a_cloudevent_type(kind: str, reason: str, expected: str) -> None:
    assert event_type(kind, reason) == expected


@pytest.mark.parametrize(
    ("regarding", "about"),
    [
        pytest.param(
            obj("Model", "fraud-2", {"name": "fraud", "version": "2"}),
            {"family": "fraud", "version": "2"},
            id="model",
        ),
        pytest.param(
            obj("Deployment", "fraud", {"model": {"name": "fraud"}}),
            {"family": "fraud"},
            id="deployment",
        ),
        pytest.param(
            obj("Deployment", "fraud", {"model": {"name": "fraud", "version": "3"}}),
            {"family": "fraud", "version": "3"},
            id="pinned-deployment",
        ),
        pytest.param(
            obj("DriftMonitor", "fraud-drift", {"deployment": "fraud"}),
            {"deployment": "fraud"},
            id="driftmonitor",
        ),
        pytest.param(
            obj("RetrainPolicy", "nightly", {"model": {"name": "fraud"}}),
            {"family": "fraud"},
            id="retrainpolicy",
        ),
    ],
)
def test_a_cloudevent_says_what_it_is_about(
    regarding: dict[str, Any], about: dict[str, str]
) -> None:
    kind, name = regarding["kind"], regarding["metadata"]["name"]
    sent = cloudevent(notice_of(regarding, event(regarding, "Promoted", "Warning"), "id-1"))
    assert sent == {
        "specversion": "1.0",
        "id": "id-1",
        "type": event_type(kind, "Promoted"),
        "source": f"/apis/{GROUP}/namespaces/risk/{kind.lower()}s/{name}",
        "subject": name,
        "time": "2026-12-06T08:00:00Z",
        "datacontenttype": "application/json",
        "data": {
            "kind": kind,
            "namespace": "risk",
            "name": name,
            "uid": f"uid-{name}",
            "reason": "Promoted",
            "severity": "Warning",
            "message": "what happened",
            **about,
        },
    }


@pytest.mark.parametrize(
    ("severity", "text"),
    [
        ("Normal", "*Promoted* Deployment risk/fraud: what happened"),
        ("Warning", ":warning: *Promoted* Deployment risk/fraud: what happened"),
    ],
)
def test_a_slack_sink_gets_one_line_of_text(severity: str, text: str) -> None:
    regarding = obj("Deployment", "fraud", {"model": {"name": "fraud"}})
    notice = notice_of(regarding, event(regarding, "Promoted", severity), "id-1")
    headers, body = request_of(Sink(SinkFormat.SLACK, "https://hooks.example.com/x"), notice)
    assert headers == {"Content-Type": "application/json; charset=utf-8"}
    assert body.decode() == f'{{"text": "{text}"}}'


@pytest.mark.parametrize(
    ("value", "sinks"),
    [
        pytest.param("", [], id="none"),
        pytest.param(
            "http://sink:8080/events",
            [("cloudevents", "cloudevents:http://sink:8080")],
            id="bare-url-is-cloudevents",
        ),
        pytest.param(
            "cloudevents=http://a/x  slack=https://user:pw@hooks.example.com/services/T/B/token",
            [("cloudevents", "cloudevents:http://a"), ("slack", "slack:https://hooks.example.com")],
            id="two-label-shows-no-path-no-user",
        ),
    ],
)
def test_sinks_from_settings(value: str, sinks: list[tuple[str, str]]) -> None:
    assert [(sink.format.value, sink.label) for sink in parse_sinks(value)] == sinks
    assert all("token" not in repr(sink) for sink in parse_sinks(value))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param(
            "smtp=mailto:ops",
            "sink 1: the format must be cloudevents or slack (FORMAT=URL)",
            id="format",
        ),
        pytest.param(
            "http://a/ slack=ftp://secret@host/token",
            "sink 2: the URL must be http:// or https:// with a host",
            id="scheme-never-echoing-the-url",
        ),
    ],
)
def test_a_bad_sink_is_refused_without_its_url(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=r"^sink \d") as refused:
        parse_sinks(value)
    assert str(refused.value) == message


@pytest.mark.parametrize(
    ("status", "again"),
    [(None, True), (500, True), (503, True), (408, True), (429, True), (400, False), (404, False)],
)
def test_what_is_tried_again(status: int | None, again: bool) -> None:
    assert retryable(status) is again


def test_backoff_doubles_and_gives_up() -> None:
    delays = [retry_delay(attempt) for attempt in range(1, ATTEMPTS + 1)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, None]
