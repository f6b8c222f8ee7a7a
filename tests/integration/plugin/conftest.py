"""The `plugin` fixture: the kubectl plugin against the test API server, in a fresh namespace."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ground.controlplane import ControlPlane
from tests.integration.plugin.plugin_harness import Plugin


@pytest.fixture
def plugin(
    crds: Path, control_plane: ControlPlane, namespace: str, capsys: pytest.CaptureFixture[str]
) -> Plugin:
    return Plugin(control_plane.kubeconfig, namespace, capsys)
