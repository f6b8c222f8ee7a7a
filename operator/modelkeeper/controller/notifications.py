"""What the operator tells the outside world of each decision, and how (pure).

Every Event the operator posts records a decision (promoted, rolled back, drifted, a
retraining run started or ended, approval needed...). Each is also sent to the sinks of
`--notify-sinks`: as a CloudEvent (spec 1.0, structured content mode, over HTTP), or as a
Slack-compatible incoming-webhook message (`{"text": ...}`). This module decides the
sinks, the message and when to try again; `notifier` sends.

A sink's URL may carry a token (a Slack webhook's path is its secret), so only its origin
(scheme, host and port) is ever shown: in logs, in metrics, in errors.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

TYPE_PREFIX = "io.modelkeeper"
SPEC_VERSION = "1.0"
CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
FIRST_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 30.0
ATTEMPTS = 6
"""Tries per notification and sink (about 15 s of backoff in all), then it is given up."""


class SinkFormat(StrEnum):
    """What a sink takes."""

    CLOUDEVENTS = "cloudevents"
    SLACK = "slack"


@dataclass(frozen=True)
class Sink:
    """Where notifications go, and in which format."""

    format: SinkFormat
    url: str = field(repr=False)
    """Never logged: it may carry a token."""

    @property
    def label(self) -> str:
        """The sink as logs and metrics name it: the URL's origin, never its path or query."""
        return f"{self.format}:{_origin(self.url)}"


_URL = re.compile(r"^(?P<scheme>https?)://(?:[^@/?#]*@)?(?P<host>[^@/?#]+)(?P<rest>[/?#].*)?$")


def _origin(url: str) -> str:
    """scheme://host[:port] of an http(s) URL, without user info, path or query."""
    match = _URL.match(url)
    return f"{match['scheme']}://{match['host']}" if match else "invalid"


def parse_sinks(value: str) -> list[Sink]:
    """Sinks from `FORMAT=URL` items separated by spaces (a bare URL is cloudevents).

    A bad item raises ValueError naming its position, never its URL.
    """
    sinks = []
    for position, item in enumerate(value.split(), start=1):
        kind, _, url = item.partition("=") if not item.startswith("http") else ("", "", item)
        try:
            format = SinkFormat(kind) if kind else SinkFormat.CLOUDEVENTS
        except ValueError:
            raise ValueError(
                f"sink {position}: the format must be cloudevents or slack (FORMAT=URL)"
            ) from None
        if not _URL.match(url):
            raise ValueError(f"sink {position}: the URL must be http:// or https:// with a host")
        sinks.append(Sink(format, url))
    return sinks


@dataclass(frozen=True)
class Notice:
    """One decision, as every sink format needs it."""

    id: str
    type: str
    source: str
    subject: str
    time: str
    severity: str
    reason: str
    message: str
    data: dict[str, Any]


def _kebab(reason: str) -> str:
    """RolledBack → rolled-back: the decision part of a CloudEvent type."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", reason).lower()


def event_type(kind: str, reason: str) -> str:
    """io.modelkeeper.<kind>.<decision>, such as io.modelkeeper.deployment.promoted."""
    return f"{TYPE_PREFIX}.{kind.lower()}.{_kebab(reason)}"


def _about(regarding: Mapping[str, Any]) -> dict[str, str | None]:
    """The model family, version and Deployment the object is about, where it says."""
    spec: Mapping[str, Any] = regarding.get("spec") or {}
    if regarding.get("kind") == "Model":
        return {"family": spec.get("name"), "version": spec.get("version")}
    model = spec.get("model")
    target: Mapping[str, Any] = model if isinstance(model, Mapping) else {}
    return {
        "family": target.get("name"),
        "version": target.get("version"),
        "deployment": spec.get("deployment"),
    }


def notice_of(regarding: Mapping[str, Any], event: Mapping[str, Any], id: str) -> Notice:
    """The notice of a core/v1 Event the operator posted about `regarding`."""
    involved = event["involvedObject"]
    group_version = involved["apiVersion"]
    plural = f"{involved['kind'].lower()}s"
    prefix = "/api" if "/" not in group_version else "/apis"
    source = (
        f"{prefix}/{group_version}/namespaces/{involved['namespace']}/{plural}/{involved['name']}"
    )
    data = {
        "kind": involved["kind"],
        "namespace": involved["namespace"],
        "name": involved["name"],
        "uid": involved.get("uid"),
        "reason": event["reason"],
        "severity": event["type"],
        "message": event["message"],
        **_about(regarding),
    }
    return Notice(
        id=id,
        type=event_type(involved["kind"], event["reason"]),
        source=source,
        subject=involved["name"],
        time=event["lastTimestamp"],
        severity=event["type"],
        reason=event["reason"],
        message=event["message"],
        data={key: value for key, value in data.items() if value is not None},
    )


def cloudevent(notice: Notice) -> dict[str, Any]:
    """The CloudEvent in structured content mode (the whole event as one JSON document)."""
    return {
        "specversion": SPEC_VERSION,
        "id": notice.id,
        "type": notice.type,
        "source": notice.source,
        "subject": notice.subject,
        "time": notice.time,
        "datacontenttype": "application/json",
        "data": notice.data,
    }


def slack_text(notice: Notice) -> str:
    """One line for a chat channel: what, where, and the operator's message."""
    where = f"{notice.data['kind']} {notice.data['namespace']}/{notice.subject}"
    mark = ":warning: " if notice.severity == "Warning" else ""
    return f"{mark}*{notice.reason}* {where}: {notice.message}"


def request_of(sink: Sink, notice: Notice) -> tuple[dict[str, str], bytes]:
    """The headers and body one sink is sent."""
    if sink.format is SinkFormat.SLACK:
        body: dict[str, Any] = {"text": slack_text(notice)}
        return {"Content-Type": JSON_CONTENT_TYPE}, json.dumps(body).encode()
    return {"Content-Type": CLOUDEVENTS_CONTENT_TYPE}, json.dumps(cloudevent(notice)).encode()


def retryable(status: int | None) -> bool:
    """Whether to try again: no answer, a server error, a timeout or too many requests.
    Any other 4xx will not change by itself."""
    return status is None or status >= 500 or status in (408, 429)


def retry_delay(attempt: int) -> float | None:
    """Seconds before try `attempt + 1` (doubling from FIRST_RETRY_SECONDS); None: give up."""
    if attempt >= ATTEMPTS:
        return None
    return min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2.0 ** (attempt - 1))
