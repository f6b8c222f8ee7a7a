"""The operator as a separate process, authenticated as its own ServiceAccount.

It gets exactly the ClusterRole rules the chart ships (charts/modelkeeper/files/
clusterrole-rules.yaml) through a token from `kubectl create token`, so a missing
permission fails the test that needs it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.ground.controlplane import ControlPlane
from tests.ground.processes import Component, free_port

REPO = Path(__file__).resolve().parents[2]
SYSTEM_NAMESPACE = "modelkeeper-system"
RULES = REPO / "charts" / "modelkeeper" / "files" / "clusterrole-rules.yaml"
LEASE_RULES = REPO / "charts" / "modelkeeper" / "files" / "leader-election-rules.yaml"
LEASE = f"{SYSTEM_NAMESPACE}/modelkeeper"
"""The Lease of the tests' leader elections (--leader-election-lease)."""
MODELKEEPER = str(Path(sys.executable).parent / "modelkeeper")
TEST_FLAGS = ("--progress-deadline-seconds=120", "--drain-seconds=4", "--resync-seconds=5")
"""Deadlines and resyncs short enough for a test to see them pass."""


@dataclass
class RunningOperator:
    component: Component
    metrics_url: str
    liveness_url: str

    def metrics(self) -> str:
        with urllib.request.urlopen(self.metrics_url, timeout=5) as response:
            text: str = response.read().decode()
            return text

    def sample(self, name: str, labels: str = "") -> float:
        """One sample of /metrics by its name and labels as printed (`{kind="Model"}`); 0 if
        there is none."""
        pattern = re.compile(rf"^{re.escape(name)}{re.escape(labels)} (\S+)$", re.MULTILINE)
        found = pattern.search(self.metrics())
        return float(found.group(1)) if found else 0.0

    def leads(self) -> bool:
        """Whether it reconciles: it holds the Lease, or runs without leader election."""
        return self.sample("modelkeeper_operator_leader") == 1.0

    def kill(self) -> None:
        """SIGKILL the operator's process group, as a node failure would, and reap it."""
        os.killpg(self.component.pid, signal.SIGKILL)
        assert self.component.process is not None
        self.component.process.wait()


def service_account_kubeconfig(control_plane: ControlPlane, directory: Path) -> Path:
    """A kubeconfig for the operator's ServiceAccount, bound to the shipped ClusterRole rules
    and, in its own namespace, to the chart's leader election Role."""
    rules = yaml.safe_load(RULES.read_text())
    subjects = [{"kind": "ServiceAccount", "name": "modelkeeper", "namespace": SYSTEM_NAMESPACE}]
    objects = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SYSTEM_NAMESPACE}},
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "modelkeeper", "namespace": SYSTEM_NAMESPACE},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "modelkeeper-operator"},
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "modelkeeper-operator"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "modelkeeper-operator",
            },
            "subjects": subjects,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "modelkeeper-leader-election", "namespace": SYSTEM_NAMESPACE},
            "rules": yaml.safe_load(LEASE_RULES.read_text()),
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "modelkeeper-leader-election", "namespace": SYSTEM_NAMESPACE},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "modelkeeper-leader-election",
            },
            "subjects": subjects,
        },
    ]
    control_plane.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))
    token = control_plane.kubectl(
        "create", "token", "modelkeeper", "-n", SYSTEM_NAMESPACE, "--duration=2h"
    ).stdout.strip()
    admin = yaml.safe_load(control_plane.kubeconfig.read_text())
    cluster = admin["clusters"][0]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": "modelkeeper", "user": {"token": token}}],
        "contexts": [
            {"name": "modelkeeper", "context": {"cluster": cluster["name"], "user": "modelkeeper"}}
        ],
        "current-context": "modelkeeper",
    }
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "operator.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


@contextmanager
def running_operator(
    control_plane: ControlPlane, directory: Path, *flags: str
) -> Iterator[RunningOperator]:
    """`modelkeeper run` as its ServiceAccount; stopped (by its PID) on exit."""
    kubeconfig = service_account_kubeconfig(control_plane, directory)
    metrics_port, liveness_port = free_port(), free_port()
    component = Component(
        name="modelkeeper-operator",
        argv=[
            MODELKEEPER,
            "run",
            "--host=127.0.0.1",
            f"--metrics-port={metrics_port}",
            f"--liveness-port={liveness_port}",
            *flags,
        ],
        log=directory / "operator.log",
        env={**_clean_environ(), "KUBECONFIG": str(kubeconfig)},
    )
    operator = RunningOperator(
        component,
        f"http://127.0.0.1:{metrics_port}/metrics",
        f"http://127.0.0.1:{liveness_port}/healthz",
    )
    component.start()
    try:
        component.wait_until(lambda: bool(operator.metrics()), timeout=60, what="serving /metrics")
        yield operator
    finally:
        component.stop()


def lease_spec(control_plane: ControlPlane) -> dict[str, Any]:
    """The spec of the tests' Lease (LEASE)."""
    namespace, name = LEASE.split("/")
    found = control_plane.kubectl("get", "lease", name, "-n", namespace, "-o", "json").stdout
    spec: dict[str, Any] = json.loads(found)["spec"]
    return spec


def delete_lease(control_plane: ControlPlane) -> None:
    """No Lease: the next test's operators elect afresh."""
    namespace, name = LEASE.split("/")
    control_plane.kubectl("delete", "lease", name, "-n", namespace, "--ignore-not-found")


def _clean_environ() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("MODELKEEPER_")}


def operator_flags(*extra: str) -> tuple[str, ...]:
    """TEST_FLAGS and `extra`, an extra flag in place of a test flag of the same name."""
    names = {flag.split("=", 1)[0] for flag in extra}
    return (*(flag for flag in TEST_FLAGS if flag.split("=", 1)[0] not in names), *extra)


class OperatorSlot:
    """One operator process that many tests share, started on demand and stoppable between
    tests (for a test that runs an operator of its own); stopped by its PID."""

    def __init__(self, control_plane: ControlPlane, directory: Path, flags: tuple[str, ...]):
        self.control_plane = control_plane
        self.directory = directory
        self.flags = flags
        self._stack = ExitStack()
        self._running: RunningOperator | None = None
        self._starts = 0

    def start(self) -> RunningOperator:
        """The running operator, started if it is not running (or died)."""
        if self._running is not None and self._running.component.alive():
            return self._running
        self.stop()
        self._starts += 1
        directory = self.directory / f"run-{self._starts}"
        self._running = self._stack.enter_context(
            running_operator(self.control_plane, directory, *self.flags)
        )
        return self._running

    def stop(self) -> None:
        self._running = None
        self._stack.close()
        self._stack = ExitStack()
