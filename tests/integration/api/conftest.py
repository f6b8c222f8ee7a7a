"""`api`: the `kubectl` fixture (a fresh namespace) once the CRDs are installed, so short
names and `kubectl get modelkeeper` work from the first test on."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ground.ground import Kubectl


@pytest.fixture
def api(crds: Path, kubectl: Kubectl) -> Kubectl:
    """kubectl in a fresh namespace, with the CRDs installed."""
    return kubectl
