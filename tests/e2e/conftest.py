"""The end-to-end tier's fixtures: every test runs on the real node.

A test's scratch folder (`tmp_path`) lies in the node's shared folder, which every
container sees at the same path: a model a test writes there is the same file for the
operator (validation, drift profiles), for the scoring pod's init step that fetches it
and for a training Job that writes beside it, as on a cluster whose nodes mount one
shared file system.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from tests.ground.ground import prometheus_for_pods
from tests.ground.node import Node
from tests.ground.prometheus import Prometheus


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
