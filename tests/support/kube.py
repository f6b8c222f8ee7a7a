"""Reading objects through the `kubectl` fixture, waiting on them, and their Events."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any, Self

import pytest
import yaml

from tests.ground.ground import Kubectl

MODELKEEPER_API = "modelkeeper.io/v1alpha1"
POD_START = 240
"""Seconds to wait for anything that starts a pod (a scoring server, a trainer): these are
deadlines, not durations, and a loaded two-core machine can take over a minute to start one."""


def apply(kubectl: Kubectl, *objects: dict[str, Any]) -> None:
    kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))


def get(kubectl: Kubectl, resource: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(kubectl("get", resource, "-o", "json").stdout)
    return found


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    conditions = obj.get("status", {}).get("conditions", [])
    return next((c for c in conditions if c["type"] == kind), None)


def read_status(kubectl: Kubectl, resource: str) -> dict[str, Any]:
    """An object's status; {} while it has none, or is not there."""
    found = kubectl("get", resource, "-o", "json", check=False)
    if found.returncode != 0:
        return {}
    status: dict[str, Any] = json.loads(found.stdout).get("status") or {}
    return status


Change = Callable[[float, dict[str, Any] | None], None]
"""Told of every change of an object: when (time.monotonic()), and the object (None: gone)."""


class ObjectWatch:
    """One object (`resource` as kubectl names it: TYPE/NAME) in every state it takes, as
    one `kubectl get --watch` streams it, read on a thread: no process per look.

    `latest` is the object as last seen (None while it is not there); `on_change`, if
    given, is told of each change as it comes. A watch the API server ends is started again.
    """

    def __init__(self, kubectl: Kubectl, resource: str, on_change: Change | None = None) -> None:
        kind, _, name = resource.partition("/")
        if not name:
            raise ValueError(f"watch TYPE/NAME, not {resource!r}")
        self._argv = kubectl.argv(
            "get",
            kind,
            f"--field-selector=metadata.name={name}",
            "--watch",
            "--output-watch-events",
            "-o",
            "json",
        )
        self.latest: dict[str, Any] | None = None
        self._on_change = on_change
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                if self._stop.is_set():
                    return
                process = subprocess.Popen(
                    self._argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
                )
                self._process = process
            assert process.stdout is not None
            with process.stdout:
                for line in process.stdout:
                    if line.strip():
                        self._seen(json.loads(line))
            process.wait()
            self._stop.wait(0.5)

    def _seen(self, event: dict[str, Any]) -> None:
        obj: dict[str, Any] | None = None
        if event.get("type") in ("ADDED", "MODIFIED"):
            obj = event["object"]
            obj["metadata"].pop("managedFields", None)  # as `kubectl get` shows it
        elif event.get("type") != "DELETED":
            return  # BOOKMARK, ERROR: no news of the object
        at = time.monotonic()
        with self._changed:
            self.latest = obj
            self._changed.notify_all()
        if self._on_change is not None:
            self._on_change(at, obj)

    def wait(
        self, check: Callable[[dict[str, Any]], bool], timeout: float, what: str
    ) -> dict[str, Any]:
        """The object as soon as `check` holds of it; fails the test after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                obj = self.latest
                if obj is not None and check(obj):
                    return obj
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    pytest.fail(f"not within {timeout:.0f}s: {what}")
                self._changed.wait(remaining)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        with self._lock:
            if self._process is not None:
                self._process.kill()
        self._thread.join(timeout=15)


def wait_for(
    kubectl: Kubectl,
    resource: str,
    check: Callable[[dict[str, Any]], bool],
    what: str,
    timeout: float = 60,
) -> dict[str, Any]:
    """Watch `resource` (TYPE/NAME) until `check` holds of it; return the object."""
    with ObjectWatch(kubectl, resource) as watch:
        return watch.wait(check, timeout, what)


def serving_only(version: str) -> Callable[[dict[str, Any]], bool]:
    """A `wait_for` check on a Deployment: Healthy, `version` stable, no candidate."""

    def check(obj: dict[str, Any]) -> bool:
        status = obj.get("status", {})
        return bool(
            status.get("phase") == "Healthy"
            and status.get("stable", {}).get("version") == version
            and "candidate" not in status
        )

    return check


def _events_about(kubectl: Kubectl, name: str, kind: str | None) -> list[dict[str, Any]]:
    """The Events about the modelkeeper.io object(s) named `name` (of `kind`, if given)."""
    listed: list[dict[str, Any]] = json.loads(kubectl("get", "events", "-o", "json").stdout)[
        "items"
    ]
    return [
        event
        for event in listed
        if event["involvedObject"]["name"] == name
        and (
            event["involvedObject"]["kind"] == kind
            if kind is not None
            else event["involvedObject"].get("apiVersion") == MODELKEEPER_API
        )
    ]


def events(kubectl: Kubectl, name: str) -> list[str]:
    """The reasons of the Events about a modelkeeper.io object named `name`."""
    return [event["reason"] for event in _events_about(kubectl, name, None)]


def event_log(kubectl: Kubectl, kind: str, name: str) -> list[tuple[str, str, str]]:
    """(type, reason, message) of the Events about one object of `kind`, oldest first."""
    about = _events_about(kubectl, name, kind)
    about.sort(key=lambda event: (event.get("firstTimestamp") or "", event["metadata"]["name"]))
    return [(event["type"], event["reason"], event["message"]) for event in about]


def owned(kubectl: Kubectl, name: str) -> dict[str, set[str]]:
    """Names of the objects labelled as this Deployment's, by kind."""
    found: dict[str, set[str]] = {}
    kinds = "deployments.apps,services,configmaps,serviceaccounts,roles,rolebindings,hpa,pdb"
    listed = json.loads(
        kubectl("get", kinds, "-l", f"modelkeeper.io/deployment={name}", "-o", "json").stdout
    )["items"]
    for obj in listed:
        found.setdefault(obj["kind"], set()).add(obj["metadata"]["name"])
    return found


def router_address(kubectl: Kubectl, name: str) -> str:
    """host:port of the Deployment's one router pod."""
    pods = json.loads(
        kubectl(
            "get",
            "pods",
            "-l",
            f"modelkeeper.io/deployment={name},app.kubernetes.io/component=router",
            "-o",
            "json",
        ).stdout
    )["items"]
    ready = [pod for pod in pods if pod.get("status", {}).get("podIP")]
    assert len(ready) == 1, f"expected one router pod, found {len(ready)}"
    return f"{ready[0]['status']['podIP']}:8080"
