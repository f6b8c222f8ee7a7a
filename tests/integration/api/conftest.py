"""The CRDs, installed once per session into the real API server, for the API tests.

`api` is the `kubectl` fixture (a fresh namespace) once the CRDs are Established and
kubectl's discovery knows the kinds, so short names and `kubectl get modelkeeper`
work from the first test on.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ground.controlplane import ControlPlane
from tests.ground.ground import Kubectl
from tests.ground.polling import eventually

REPO = Path(__file__).resolve().parents[3]
CRDS = REPO / "crds"
PLURALS = ("models", "deployments", "driftmonitors", "retrainpolicies")


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

    eventually(discovered, 30, "kubectl discovers the four modelkeeper.io kinds")
    return CRDS


@pytest.fixture
def api(crds: Path, kubectl: Kubectl) -> Kubectl:
    """kubectl in a fresh namespace, with the CRDs installed."""
    return kubectl
