"""`kubectl modelkeeper` as kubectl users type it, and a failing pod shown as kubectl shows it.

Given a Deployment (modelkeeper.io) and a scoring server's pod whose fetch step crash-loops
(its status written through the status subresource, as a kubelet would), `status` with the
cluster flags before the subcommand (`kubectl modelkeeper -n NS status NAME`, finding 8)
shows the pod as `Init:CrashLoopBackOff` with its restarts (finding 5), not
`ContainerCreating`.
"""

from __future__ import annotations

import json

import pytest

from modelkeeper.plugin.main import main
from tests.ground.ground import Kubectl
from tests.integration.plugin.plugin_harness import Plugin, write_status

DEPLOYMENT = """
apiVersion: modelkeeper.io/v1alpha1
kind: Deployment
metadata:
  name: wine
spec:
  model:
    name: wine
"""
POD = """
apiVersion: v1
kind: Pod
metadata:
  name: wine-1-server
  labels:
    modelkeeper.io/deployment: wine
    modelkeeper.io/version: "1"
    app.kubernetes.io/component: server
spec:
  initContainers:
    - name: fetch-artifact
      image: registry.example.com/modelkeeper:1
  containers:
    - name: server
      image: registry.example.com/modelkeeper:1
"""
POD_STATUS = {
    "phase": "Pending",
    "initContainerStatuses": [
        {
            "name": "fetch-artifact",
            "image": "registry.example.com/modelkeeper:1",
            "imageID": "",
            "ready": False,
            "restartCount": 19,
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}},
            "lastState": {
                "terminated": {
                    "exitCode": 1,
                    "reason": "Error",
                    "message": "no such file: /tmp/wine/model.joblib",
                    "startedAt": "2026-11-26T23:00:00Z",
                    "finishedAt": "2026-11-26T23:00:01Z",
                }
            },
        }
    ],
    "containerStatuses": [
        {
            "name": "server",
            "image": "registry.example.com/modelkeeper:1",
            "imageID": "",
            "ready": False,
            "restartCount": 0,
            "state": {"waiting": {"reason": "PodInitializing"}},
        }
    ],
}
STATUS = {
    "phase": "Degraded",
    "message": "version 1 fails to start: pod wine-1-server: init container fetch-artifact "
    "CrashLoopBackOff (exit code 1, 19 restarts): no such file: /tmp/wine/model.joblib",
    "stable": {"version": "1", "model": "wine-1", "replicas": 1, "readyReplicas": 0},
}


@pytest.mark.parametrize(
    "flags_first",
    [pytest.param(True, id="kubectl-order-n-first"), pytest.param(False, id="n-after")],
)
def test_status_takes_the_cluster_flags_before_the_subcommand_and_shows_init_failures(
    flags_first: bool, plugin: Plugin, kubectl: Kubectl, capsys: pytest.CaptureFixture[str]
) -> None:
    kubectl("apply", "-f", "-", input=DEPLOYMENT)
    kubectl("apply", "-f", "-", input=POD)
    kubectl(
        "patch",
        "pod/wine-1-server",
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": POD_STATUS}),
    )
    write_status(kubectl, "deployments.modelkeeper.io/wine", STATUS)
    flags = ["-n", plugin.namespace, f"--kubeconfig={plugin.kubeconfig}"]
    argv = [*flags, "status", "wine"] if flags_first else ["status", "wine", *flags]
    capsys.readouterr()

    code = main(argv)

    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert "Status:    ✖ Degraded" in out
    assert "init container fetch-artifact CrashLoopBackOff" in out
    [row] = [line for line in out.splitlines() if "── wine-1-server" in line]
    assert row.split()[-4:-1] == ["0/1", "Init:CrashLoopBackOff", "19"]
