"""Notifications sent, never in a reconcile's way.

`publish` only appends to each sink's bounded queue and returns; one thread per sink sends
the queue in order, trying again with backoff while the sink answers 5xx, 408 or 429 or
not at all, and giving up after `notifications.ATTEMPTS`. A slow sink holds back only its
own queue; a full queue drops its oldest notification. Each outcome is counted in
`modelkeeper_operator_notifications_total{sink, outcome}`. A sink is named by its origin
only (`Sink.label`): its URL, which may carry a token, is never logged.
"""

from __future__ import annotations

import logging
import threading
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import uuid4

from modelkeeper.controller.metrics import NOTIFICATIONS
from modelkeeper.controller.notifications import (
    Notice,
    Sink,
    notice_of,
    request_of,
    retry_delay,
    retryable,
)

log = logging.getLogger("modelkeeper.controller.notify")

QUEUE_SIZE = 1000
TIMEOUT_SECONDS = 5.0


class Outbox:
    """One sink's queue and the thread that empties it."""

    def __init__(self, sink: Sink, size: int = QUEUE_SIZE) -> None:
        self.sink = sink
        self._queue: deque[Notice] = deque()
        self._size = size
        self._ready = threading.Condition()
        """Notified by put() and close(): the queue has a notice, or it is closing."""
        self._closing = threading.Event()
        """Set by close(); it also ends a backoff early. (A new notice must not end one: it
        would cut every backoff short while decisions keep coming.)"""
        self._thread = threading.Thread(target=self._run, name=f"notify {sink.label}", daemon=True)
        self._thread.start()

    def put(self, notice: Notice) -> None:
        with self._ready:
            if len(self._queue) >= self._size:
                self._queue.popleft()
                NOTIFICATIONS.labels(self.sink.label, "dropped").inc()
            self._queue.append(notice)
            self._ready.notify()

    @property
    def pending(self) -> int:
        """Notices waiting (not counting one being sent)."""
        with self._ready:
            return len(self._queue)

    def close(self, timeout: float) -> None:
        """Stop once the queue is empty (or after `timeout` seconds)."""
        self._closing.set()
        with self._ready:
            self._ready.notify()
        self._thread.join(timeout)

    def _next(self) -> Notice | None:
        with self._ready:
            while not self._queue and not self._closing.is_set():
                self._ready.wait()
            return self._queue.popleft() if self._queue else None

    def _run(self) -> None:
        while (notice := self._next()) is not None:
            self._deliver(notice)

    def _deliver(self, notice: Notice) -> None:
        headers, body = request_of(self.sink, notice)
        attempt = 1
        while True:
            status, problem = self._send(headers, body)
            if problem is None:
                NOTIFICATIONS.labels(self.sink.label, "delivered").inc()
                return
            delay = retry_delay(attempt) if retryable(status) else None
            if delay is not None and self._closing.wait(delay):
                delay = None  # closing: shutdown is not held up by a failing sink
            if delay is None:
                NOTIFICATIONS.labels(self.sink.label, "failed").inc()
                log.warning(
                    "notification %s (%s) to %s given up after %d tries: %s",
                    notice.id,
                    notice.type,
                    self.sink.label,
                    attempt,
                    problem,
                )
                return
            NOTIFICATIONS.labels(self.sink.label, "retried").inc()
            attempt += 1

    def _send(self, headers: Mapping[str, str], body: bytes) -> tuple[int | None, str | None]:
        """POST once: (HTTP status or None, None when delivered else what went wrong)."""
        request = urllib.request.Request(self.sink.url, data=body, headers=dict(headers))
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                return response.status, None
        except urllib.error.HTTPError as error:
            return error.code, f"HTTP {error.code}"
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            return None, type(reason).__name__


class Notifier:
    """The sinks' outboxes; `notify` is an Event listener of the Kubernetes client."""

    def __init__(self, sinks: Sequence[Sink], size: int = QUEUE_SIZE) -> None:
        self.outboxes = [Outbox(sink, size) for sink in sinks]

    def notify(self, regarding: Mapping[str, Any], event: Mapping[str, Any]) -> None:
        """Queue the notice of an Event for every sink; returns at once."""
        if not self.outboxes:
            return
        notice = notice_of(regarding, event, str(uuid4()))
        for outbox in self.outboxes:
            outbox.put(notice)

    def close(self, timeout: float = 5.0) -> None:
        for outbox in self.outboxes:
            outbox.close(timeout)
