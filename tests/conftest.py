"""Fixtures for every tier, and the tiers themselves.

A test's tier is its folder: tests/unit, tests/integration or tests/e2e, marked
`unit`, `integration` or `e2e` here so `-m` selects them. One test ground per
session (started on first use); a fresh namespace per test; on any failure the
tail of each running component's log is added to the report.
"""

from __future__ import annotations

import re
import signal
import subprocess
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path
from types import FrameType

import pytest

from tests.ground.binaries import gateway_api_crds as gateway_api_crd_folder
from tests.ground.controlplane import ControlPlane
from tests.ground.ground import Kubectl
from tests.ground.node import Node
from tests.ground.polling import eventually
from tests.ground.processes import Component, log_tail
from tests.ground.prometheus import Prometheus
from tests.support.s3store import S3Store, start_s3_store

TIERS = ("unit", "integration", "e2e")
_running: list[Component] = []


def pytest_configure(config: pytest.Config) -> None:
    """A SIGTERM (a CI time-out, say) ends the run like Ctrl-C: fixtures stop the ground."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def _tier(item: pytest.Item) -> int:
    parts = Path(str(item.path)).parts
    return next((rank for rank, tier in enumerate(TIERS) if tier in parts), len(TIERS))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its tier, and run the tiers in order: unit, integration, e2e.

    The order matters beyond speed: the integration tier has no node, so its pods never
    run, and the node (session-scoped) starts with the first e2e test.
    """
    for item in items:
        rank = _tier(item)
        if rank < len(TIERS):
            item.add_marker(getattr(pytest.mark, TIERS[rank]))
    items.sort(key=_tier)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        for component in _running:
            report.sections.append(
                (f"{component.name} log tail ({component.log})", log_tail(component.log, 40))
            )
    return report


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """A real control plane for the whole session."""
    plane = ControlPlane.start(tmp_path_factory.mktemp("control-plane"))
    _running.extend(plane.components)
    yield plane
    plane.stop()


@pytest.fixture(scope="session")
def node(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """A real node: kubelet, containerd and runc run pods from the project's own images."""
    started = Node.start(control_plane, tmp_path_factory.mktemp("node"))
    _running.extend(started.components)
    yield started
    started.stop()


@pytest.fixture(scope="session")
def prometheus(
    control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    """Prometheus discovering pods through the test API server."""
    server = Prometheus.start(control_plane, tmp_path_factory.mktemp("prometheus"))
    _running.append(server.component)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Store]:
    """A real S3-compatible store (SeaweedFS) on loopback, with one bucket and one identity."""
    store = start_s3_store(tmp_path_factory.mktemp("seaweedfs"))
    _running.append(store.component)
    yield store
    store.stop()


REPO = Path(__file__).resolve().parents[1]
CRDS = REPO / "crds"
PLURALS = ("models", "deployments", "driftmonitors", "retrainpolicies", "servingpools")


@pytest.fixture(scope="session")
def crds(control_plane: ControlPlane) -> Path:
    """Server-side apply crds/ once, and wait until the API server and kubectl both know them."""
    control_plane.kubectl("apply", "--server-side", "-f", str(CRDS))
    control_plane.kubectl(
        "wait",
        "--for=condition=Established",
        *(f"crd/{plural}.modelkeeper.io" for plural in PLURALS),
        "--timeout=60s",
    )

    def discovered() -> bool:
        listed = control_plane.kubectl(
            "api-resources", "--api-group=modelkeeper.io", "-o", "name", check=False
        ).stdout.split()
        return sorted(listed) == sorted(f"{plural}.modelkeeper.io" for plural in PLURALS)

    eventually(discovered, 30, "kubectl discovers the modelkeeper.io kinds")
    return CRDS


@pytest.fixture(scope="session")
def gateway_api_crds(control_plane: ControlPlane) -> Path:
    """Server-side apply the Gateway API CRDs (standard channel) once; wait as `crds` does."""
    folder = gateway_api_crd_folder()
    control_plane.kubectl("apply", "--server-side", "-f", str(folder))
    control_plane.kubectl("wait", "--for=condition=Established", "-f", str(folder), "--timeout=60s")

    def discovered() -> bool:
        listed = control_plane.kubectl(
            "api-resources", "--api-group=gateway.networking.k8s.io", "-o", "name", check=False
        ).stdout.split()
        return "httproutes.gateway.networking.k8s.io" in listed

    eventually(discovered, 30, "kubectl discovers the Gateway API kinds")
    return folder


@pytest.fixture
def namespace(control_plane: ControlPlane, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace, ready for pods (its default ServiceAccount exists)."""
    stem = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"{stem}-{uuid.uuid4().hex[:6]}"
    control_plane.kubectl("create", "namespace", name)
    control_plane.kubectl(
        "wait",
        "--for=create",
        "serviceaccount/default",
        "-n",
        name,
        "--timeout=60s",
    )
    yield name
    control_plane.kubectl("delete", "namespace", name, "--wait=false", check=False)


class NamespacedKubectl:
    """The real kubectl as cluster admin, in one namespace unless `namespaced=False`."""

    def __init__(self, control_plane: ControlPlane, namespace: str) -> None:
        self.control_plane = control_plane
        self.namespace = namespace

    def _scope(self, namespaced: bool) -> tuple[str, ...]:
        return ("-n", self.namespace) if namespaced else ()

    def __call__(
        self, *args: str, input: str | None = None, check: bool = True, namespaced: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self.control_plane.kubectl(*self._scope(namespaced), *args, input=input, check=check)

    def argv(self, *args: str, namespaced: bool = True) -> list[str]:
        return self.control_plane.kubectl_argv(*self._scope(namespaced), *args)


@pytest.fixture
def kubectl(control_plane: ControlPlane, namespace: str) -> Kubectl:
    """The real kubectl as cluster admin, in the test's namespace unless `namespaced=False`."""
    return NamespacedKubectl(control_plane, namespace)
