"""Watchers on a thread: what changed and when, on the monotonic clock of every recorder here.

A test lines up what it saw (`StatusWatch` changes, `traffic.Answer`s, `traffic.RouterWatch`
changes) by their `at`, all `time.monotonic()`; `wall_clock` turns one into the wall clock
to line it up with the API's timestamps.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Self

from tests.ground.ground import Kubectl
from tests.support.kube import ObjectWatch


def wall_clock(at: float) -> float:
    """The `time.time()` of a `time.monotonic()` reading taken in this process."""
    return at + (time.time() - time.monotonic())


class Poller:
    """A daemon thread that calls `poll` every `period` seconds until stopped."""

    period = 0.2

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def poll(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self.poll()

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


@dataclass(frozen=True)
class StatusChange:
    """An object's status as first seen at `at` (time.monotonic())."""

    at: float
    status: dict[str, Any]

    @property
    def step(self) -> int | None:
        """A Deployment's rollout step."""
        step: int | None = self.status.get("step")
        return step

    @property
    def candidate(self) -> str | None:
        """A Deployment's candidate version."""
        version: str | None = (self.status.get("candidate") or {}).get("version")
        return version


class StatusWatch:
    """Records every change of one object's status (`resource` as kubectl names it:
    TYPE/NAME) as it comes, from an `ObjectWatch`."""

    def __init__(self, kubectl: Kubectl, resource: str) -> None:
        self._watch = ObjectWatch(kubectl, resource, self._seen)
        self._changes: list[StatusChange] = []

    @property
    def changes(self) -> list[StatusChange]:
        """A snapshot of the changes so far, oldest first (a status of {} is not one)."""
        return list(self._changes)

    def _seen(self, at: float, obj: dict[str, Any] | None) -> None:
        status = (obj or {}).get("status") or {}
        if status and (not self._changes or self._changes[-1].status != status):
            self._changes.append(StatusChange(at, status))

    def __enter__(self) -> Self:
        self._watch.__enter__()
        return self

    def __exit__(self, *_: Any) -> None:
        self._watch.__exit__()
