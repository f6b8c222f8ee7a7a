"""`kubectl modelkeeper` controls against the real API server.

Given a Deployment and a Model applied from a user's manifest, each control writes its
annotation and nothing else; re-applying the manifest (client-side, and server-side as Argo CD
and Flux do) leaves the controls and the spec as they were. Refusals are one line on stderr,
exit code 1, and write nothing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelkeeper.plugin.main import main
from tests.ground.controlplane import ControlPlane
from tests.ground.ground import Kubectl
from tests.ground.processes import free_port
from tests.integration.plugin.plugin_harness import Plugin, derived_kubeconfig, read, write_status

DEPLOYMENT = """
apiVersion: modelkeeper.io/v1alpha1
kind: Deployment
metadata:
  name: fraud
spec:
  model:
    name: fraud
  replicas: 2
"""
MODEL = """
apiVersion: modelkeeper.io/v1alpha1
kind: Model
metadata:
  name: fraud-2
spec:
  name: fraud
  version: "2"
  image: registry.example.com/fraud:2
  schema:
    inputs:
      - name: amount
        type: Numeric
    output:
      type: Regression
"""
STABLE = {"version": "1", "model": "fraud-1"}
CANDIDATE = {"version": "2", "model": "fraud-2", "role": "Canary", "since": "2026-11-26T23:00:00Z"}
REQUEST_ID = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
CONTROL_KEYS = ("promote", "promote-step", "abort", "paused", "retry", "approved-by")


def given(kubectl: Kubectl, manifest: str, status: dict[str, Any] | None = None) -> None:
    """The user's manifest applied, and for a Deployment the status the operator would write."""
    kubectl("apply", "-f", "-", input=manifest)
    if status is not None:
        name = yaml.safe_load(manifest)["metadata"]["name"]
        write_status(kubectl, f"deployments.modelkeeper.io/{name}", status)


def controls(obj: dict[str, Any]) -> dict[str, str]:
    """The object's modelkeeper.io annotations, by short key."""
    annotations = obj["metadata"].get("annotations", {})
    return {
        key: annotations[f"modelkeeper.io/{key}"]
        for key in CONTROL_KEYS
        if f"modelkeeper.io/{key}" in annotations
    }


def fields_of(obj: dict[str, Any], manager: str) -> dict[str, Any]:
    """What a field manager owns, merged over its entries."""
    owned: dict[str, Any] = {}
    for entry in obj["metadata"]["managedFields"]:
        if entry["manager"] == manager:
            owned.update(entry["fieldsV1"])
    return owned


def test_deployment_controls_write_annotations_that_survive_a_reapply(
    plugin: Plugin, kubectl: Kubectl
) -> None:
    # Given a Deployment rolling out version 2 over version 1
    given(kubectl, DEPLOYMENT, {"stable": STABLE, "candidate": CANDIDATE, "step": 0})
    spec = read(kubectl, "deployments.modelkeeper.io/fraud")["spec"]

    # When a step is promoted, twice: each request is new, and stamped with the time
    before = datetime.now(UTC)
    first = plugin("promote", "fraud")
    assert (first.code, first.err) == (0, "")
    assert first.out == "deployment fraud: end the current step of 2 requested\n"
    step = controls(read(kubectl, "deployments.modelkeeper.io/fraud"))["promote-step"]
    assert REQUEST_ID.match(step), step
    stamped = datetime.fromisoformat(step)
    assert before - timedelta(seconds=1) <= stamped <= datetime.now(UTC)
    assert plugin("promote", "fraud").code == 0
    assert controls(read(kubectl, "deployments.modelkeeper.io/fraud"))["promote-step"] != step

    # When promoted fully, paused and aborted: each names what it acts on
    expected = {
        ("promote", "--full"): "deployment fraud: promote 2 to full traffic requested\n",
        ("pause",): "deployment fraud: pause requested\n",
        ("abort",): "deployment fraud: abort 2 requested\n",
    }
    for argv, said in expected.items():
        result = plugin(argv[0], "fraud", *argv[1:])
        assert (result.code, result.out, result.err) == (0, said, "")
    shown = controls(read(kubectl, "deployments.modelkeeper.io/fraud"))
    assert (shown["promote"], shown["paused"], shown["abort"]) == ("2", "true", "2")

    # When retried (printing the annotations as JSON), the abort goes in the same patch
    retried = plugin("retry", "fraud", "-o", "json")
    assert retried.code == 0
    printed = json.loads(retried.out)
    live = read(kubectl, "deployments.modelkeeper.io/fraud")
    assert printed == live["metadata"]["annotations"]
    assert "modelkeeper.io/abort" not in printed
    assert REQUEST_ID.match(printed["modelkeeper.io/retry"])

    # When resumed, the pause is gone
    assert plugin("resume", "fraud").out == "deployment fraud: resume requested\n"
    after = read(kubectl, "deployments.modelkeeper.io/fraud")
    written = controls(after)
    assert set(written) == {"promote", "promote-step", "retry"}

    # Then the plugin wrote annotations only: the spec and status are as they were
    assert after["spec"] == spec
    assert after["status"]["candidate"]["version"] == "2"
    assert fields_of(after, "kubectl-modelkeeper") == {
        "f:metadata": {"f:annotations": {f"f:modelkeeper.io/{key}": {} for key in written}}
    }

    # When the user's manifest is applied again, client-side, server-side (as Argo CD and
    # Flux do) and with an annotation of its own, the controls survive and spec is unchanged
    kubectl("apply", "-f", "-", input=DEPLOYMENT)
    kubectl("apply", "--server-side", "--field-manager=gitops", "-f", "-", input=DEPLOYMENT)
    annotated = yaml.safe_load(DEPLOYMENT)
    annotated["metadata"]["annotations"] = {"example.com/team": "risk"}
    kubectl("apply", "-f", "-", input=yaml.safe_dump(annotated))
    resynced = read(kubectl, "deployments.modelkeeper.io/fraud")
    assert controls(resynced) == written
    assert resynced["metadata"]["annotations"]["example.com/team"] == "risk"
    assert resynced["spec"] == spec


def test_approve_in_the_callers_name_or_another(plugin: Plugin, kubectl: Kubectl) -> None:
    # Given a Model version, not approved in its manifest
    given(kubectl, MODEL)
    spec = read(kubectl, "models/fraud-2")["spec"]
    caller = kubectl("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}").stdout

    # When approved without --by, the approver is the caller (by a SelfSubjectReview)
    result = plugin("approve", "fraud-2")
    assert (result.code, result.err) == (0, "")
    assert result.out == f"model fraud-2: approval of fraud 2 by {caller} requested\n"
    assert controls(read(kubectl, "models/fraud-2")) == {"approved-by": caller}

    # When approved --by someone too, and the manifest is applied again, both approvals survive
    assert plugin("approve", "fraud-2", "--by", "alice@example.com").code == 0
    kubectl("apply", "-f", "-", input=MODEL)
    model = read(kubectl, "models/fraud-2")
    assert controls(model) == {"approved-by": f"{caller},alice@example.com"}
    assert model["spec"] == spec


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        pytest.param(
            ("abort", "ghost"),
            "kubectl modelkeeper abort: Deployment ghost not found in namespace {namespace}",
            id="deployment-not-found",
        ),
        pytest.param(
            ("approve", "ghost", "--by", "alice"),
            "kubectl modelkeeper approve: Model ghost not found in namespace {namespace}",
            id="model-not-found",
        ),
        pytest.param(
            ("promote", "fraud", "--full"),
            "kubectl modelkeeper promote: deployment fraud: no candidate version to promote "
            "(1 is stable)",
            id="promote-without-candidate",
        ),
        pytest.param(
            ("abort", "fraud"),
            "kubectl modelkeeper abort: deployment fraud: no candidate version to abort "
            "(1 is stable)",
            id="abort-without-candidate",
        ),
        pytest.param(
            ("pause", "fraud", "--context", "elsewhere"),
            "kubectl modelkeeper pause: kubeconfig: Invalid kube-config file. "
            "Expected object with name elsewhere in {kubeconfig}/contexts list",
            id="unknown-context",
        ),
        pytest.param(
            ("pause", "fraud", "--kubeconfig=/nowhere/kubeconfig"),
            "kubectl modelkeeper pause: kubeconfig /nowhere/kubeconfig: no such file",
            id="no-kubeconfig-file",
        ),
    ],
)
def test_refusals_are_one_line_and_write_nothing(
    plugin: Plugin, kubectl: Kubectl, argv: tuple[str, ...], error: str
) -> None:
    given(kubectl, DEPLOYMENT, {"stable": STABLE})
    before = read(kubectl, "deployments.modelkeeper.io/fraud")

    result = plugin(*argv)

    assert (result.code, result.out) == (1, "")
    assert result.err.splitlines() == [
        error.format(namespace=plugin.namespace, kubeconfig=plugin.kubeconfig)
    ]
    after = read(kubectl, "deployments.modelkeeper.io/fraud")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_an_unreachable_server_is_named(plugin: Plugin, tmp_path: Path) -> None:
    server = f"https://127.0.0.1:{free_port()}"
    kubeconfig = derived_kubeconfig(plugin.kubeconfig, tmp_path / "gone", server=server)

    result = plugin("pause", "fraud", kubeconfig=kubeconfig)

    assert (result.code, result.out) == (1, "")
    [line] = result.err.splitlines()
    assert line.startswith(f"kubectl modelkeeper pause: cannot reach the API server at {server}: ")


@pytest.mark.parametrize(
    ("verbs", "refused"),
    [
        pytest.param([], "get", id="no-rights-refused-the-read"),
        pytest.param(["get"], "patch", id="read-only-refused-the-patch"),
    ],
)
def test_forbidden_names_the_verb_and_resource(
    plugin: Plugin, kubectl: Kubectl, tmp_path: Path, verbs: list[str], refused: str
) -> None:
    # Given a user who may at most read Deployments (modelkeeper.io) in the namespace
    given(kubectl, DEPLOYMENT, {"stable": STABLE, "candidate": CANDIDATE})
    kubectl("create", "serviceaccount", "viewer")
    if verbs:
        kubectl(
            "create",
            "role",
            "viewer",
            *(f"--verb={verb}" for verb in verbs),
            "--resource=deployments.modelkeeper.io",
        )
        kubectl(
            "create",
            "rolebinding",
            "viewer",
            "--role=viewer",
            "--serviceaccount=" + plugin.namespace + ":viewer",
        )
    token = kubectl("create", "token", "viewer", "--duration=10m").stdout.strip()
    kubeconfig = derived_kubeconfig(plugin.kubeconfig, tmp_path / "viewer", token=token)

    result = plugin("abort", "fraud", kubeconfig=kubeconfig)

    user = f"system:serviceaccount:{plugin.namespace}:viewer"
    assert (result.code, result.out) == (1, "")
    [line] = result.err.splitlines()
    assert line.startswith("kubectl modelkeeper abort: not allowed: ")
    assert (
        f'User "{user}" cannot {refused} resource "deployments" in API group "modelkeeper.io"'
        in line
    )
    assert "abort" not in controls(read(kubectl, "deployments.modelkeeper.io/fraud"))


def test_the_namespace_defaults_to_the_contexts(
    plugin: Plugin, kubectl: Kubectl, tmp_path: Path
) -> None:
    given(kubectl, DEPLOYMENT)
    kubeconfig = derived_kubeconfig(
        plugin.kubeconfig, tmp_path / "scoped", namespace=plugin.namespace
    )
    plugin.capsys.readouterr()

    assert main(["pause", "fraud", f"--kubeconfig={kubeconfig}"]) == 0

    assert controls(read(kubectl, "deployments.modelkeeper.io/fraud")) == {"paused": "true"}


def test_kubectl_finds_the_plugin_on_path(
    plugin: Plugin, control_plane: ControlPlane, kubectl: Kubectl
) -> None:
    # Given the plugin's console script beside this Python, on PATH
    given(kubectl, DEPLOYMENT)
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"

    # When `kubectl modelkeeper pause` runs through kubectl's plugin mechanism
    result = subprocess.run(
        [
            str(control_plane.kubectl_path),
            "modelkeeper",
            "pause",
            "fraud",
            "-n",
            plugin.namespace,
            f"--kubeconfig={plugin.kubeconfig}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PATH": path},
    )

    # Then it ran the plugin, which paused the Deployment
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        "deployment fraud: pause requested\n",
        "",
    )
    assert controls(read(kubectl, "deployments.modelkeeper.io/fraud")) == {"paused": "true"}
