"""One operator process for the module's tests, as its own ServiceAccount, with the CRDs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ground.controlplane import ControlPlane
from tests.support.operator_process import RunningOperator, running_operator


@pytest.fixture(scope="module")
def operator(
    crds: Path, control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningOperator]:
    """`modelkeeper run` with short deadlines, so failures show within seconds."""
    with running_operator(
        control_plane,
        tmp_path_factory.mktemp("operator"),
        "--progress-deadline-seconds=8",
        "--drain-seconds=2",
        "--resync-seconds=5",
    ) as running:
        yield running
