"""The control plane is the real thing: the released version, CRDs served and
explained, validation enforced, RBAC on."""

from __future__ import annotations

import json
from pathlib import Path

from tests.ground.controlplane import ControlPlane
from tests.ground.ground import Kubectl
from tests.ground.polling import eventually

TESTDATA = Path(__file__).parent / "testdata"


def test_reports_the_pinned_release(control_plane: ControlPlane) -> None:
    version = json.loads(control_plane.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == "v1.34.4"
    assert version["clientVersion"]["gitVersion"] == "v1.34.4"


def test_crd_is_served_and_explained(kubectl: Kubectl) -> None:
    kubectl("apply", "--server-side", "-f", str(TESTDATA / "widgets-crd.yaml"), namespaced=False)
    kubectl(
        "wait",
        "--for=condition=Established",
        "crd/widgets.ground.modelkeeper.io",
        "--timeout=60s",
        namespaced=False,
    )
    # The API server publishes a new CRD's OpenAPI a moment after it is Established.
    explained = eventually(
        lambda: kubectl("explain", "widgets.spec.size", namespaced=False, check=False).stdout,
        what="kubectl explain finds the new kind",
    )
    assert "How many sprockets the widget carries" in explained

    kubectl(
        "apply",
        "-f",
        "-",
        input="apiVersion: ground.modelkeeper.io/v1\nkind: Widget\n"
        "metadata: {name: w1}\nspec: {size: 3}\n",
    )
    assert kubectl("get", "widget", "w1", "-o", "jsonpath={.spec.size}").stdout == "3"

    rejected = kubectl(
        "apply",
        "-f",
        "-",
        check=False,
        input="apiVersion: ground.modelkeeper.io/v1\n"
        "kind: Widget\nmetadata: {name: w2}\nspec: {size: 0}\n",
    )
    assert rejected.returncode != 0
    assert "spec.size" in rejected.stderr


def test_rbac_denies_a_service_account_without_roles(kubectl: Kubectl, namespace: str) -> None:
    allowed = kubectl(
        "auth",
        "can-i",
        "list",
        "pods",
        f"--as=system:serviceaccount:{namespace}:default",
        check=False,
    )
    assert allowed.stdout.strip() == "no"
