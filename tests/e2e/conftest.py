"""The end-to-end tier's fixtures: every test runs on the real node.

A test's scratch folder (`tmp_path`) lies in the node's shared folder, which every
container sees at the same path: a model a test writes there is the same file for the
operator (validation, drift profiles), for the scoring pod's init step that fetches it
and for a training Job that writes beside it, as on a cluster whose nodes mount one
shared file system.

One operator serves every test that asks for `shared_operator`: it watches all
namespaces, and each test works in a namespace of its own. It notifies its decisions to
the session's `notification_sink`, a real HTTP receiver on loopback. A test that runs an operator
of its own (to kill it, or the chart's) asks for `no_shared_operator`, which stops the
shared one first; those tests run first, so the shared one starts once.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ground.controlplane import ControlPlane
from tests.ground.ground import prometheus_for_pods
from tests.ground.node import Node
from tests.ground.prometheus import Prometheus
from tests.support.kube import POD_START
from tests.support.operator_process import OperatorSlot, RunningOperator, operator_flags
from tests.support.sink import Sink, running_sink


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """End-to-end tests that stop the shared operator run before those that use it."""

    def key(item: pytest.Item) -> tuple[bool, bool]:
        e2e = "e2e" in Path(str(item.path)).parts
        return e2e, "no_shared_operator" not in getattr(item, "fixturenames", ())

    items.sort(key=key)


@pytest.fixture
def tmp_path(node: Node, request: pytest.FixtureRequest) -> Path:
    """A fresh folder for the test on the node's shared file system, writable by pods."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name)[:60]
    folder = node.shared / f"{stem}-{uuid.uuid4().hex[:6]}"
    folder.mkdir()
    folder.chmod(0o777)  # the mode mkdir gives passes through the umask
    return folder


@pytest.fixture
def pod_prometheus_url(node: Node, prometheus: Prometheus) -> str:
    """The ground's Prometheus as pods reach it (the chart's operator reads analysis there)."""
    return prometheus_for_pods(node, prometheus)


@pytest.fixture(scope="session")
def notification_sink() -> Iterator[Sink]:
    """Where the shared operator sends its CloudEvents (path /events)."""
    with running_sink() as sink:
        yield sink


@pytest.fixture(scope="session")
def operator_slot(
    notification_sink: Sink,
    crds: Path,
    gateway_api_crds: Path,
    control_plane: ControlPlane,
    node: Node,
    prometheus: Prometheus,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorSlot]:
    """Where the shared operator runs: with the session's Prometheus for analysis, an
    artifact root on the node's shared folder for training Jobs, and the Gateway API's
    CRDs there before it starts (it looks for them once)."""
    artifacts = node.shared / f"artifacts-{uuid.uuid4().hex[:6]}"
    artifacts.mkdir()
    artifacts.chmod(0o777)
    flags = operator_flags(
        f"--prometheus-url={prometheus.url}",
        f"--artifact-root=file://{artifacts}",
        f"--progress-deadline-seconds={POD_START}",
        f"--notify-sinks={notification_sink.url}/events",
    )
    slot = OperatorSlot(control_plane, tmp_path_factory.mktemp("shared-operator"), flags)
    yield slot
    slot.stop()


@pytest.fixture
def shared_operator(operator_slot: OperatorSlot) -> RunningOperator:
    """The session's operator, started if it is not running."""
    return operator_slot.start()


@pytest.fixture
def no_shared_operator(operator_slot: OperatorSlot) -> None:
    """No shared operator runs during the test: it runs an operator of its own."""
    operator_slot.stop()
