"""Two grounds on one machine do not collide, and one's teardown leaves the other whole.

`make test` runs tiers side by side and a developer may keep `make cluster-up` running
beside a test run: each node has its own bridge and range, containerd, kubelet folders,
ports, cgroup root and mount namespace, and removes exactly what it added.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.ground.controlplane import ControlPlane
from tests.ground.ground import Kubectl
from tests.ground.imagebuild import TESTBOX_IMAGE
from tests.ground.node import Node, cgroup_hierarchies
from tests.ground.polling import eventually


def _pod(name: str) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {
                "containers": [
                    {
                        "name": "web",
                        "image": TESTBOX_IMAGE,
                        "args": ["http", "--port", "8080"],
                        "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
                    }
                ]
            },
        }
    )


def _links() -> str:
    return subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout


def _rules() -> str:
    found = [
        subprocess.run(["iptables", "-t", table, "-S"], capture_output=True, text=True).stdout
        for table in ("filter", "nat")
    ]
    return "".join(found)


def test_a_second_ground_runs_beside_this_one_and_leaves_it_whole(
    node: Node, kubectl: Kubectl, tmp_path: Path
) -> None:
    # Given a pod running on this session's node
    kubectl("apply", "-f", "-", input=_pod("here"))
    kubectl("wait", "--for=condition=Ready", "pod/here", "--timeout=90s")

    # When a second ground starts beside it, runs a pod, and stops
    plane = ControlPlane.start(tmp_path / "control-plane")
    try:
        second = Node.start(plane, tmp_path / "node", images=[TESTBOX_IMAGE])
        try:
            assert second.network.subnet != node.network.subnet
            assert second.network.bridge != node.network.bridge
            assert second.socket != node.socket
            assert second.kubelet_port != node.kubelet_port
            plane.kubectl("apply", "-n", "default", "-f", "-", input=_pod("there"))
            plane.kubectl(
                "wait", "-n", "default", "--for=condition=Ready", "pod/there", "--timeout=90s"
            )
            assert second.containers() == ["there/web"]
            assert "here/web" in node.containers()
        finally:
            second.stop()
    finally:
        plane.stop()

    # Then what the second added is gone, and this node and its pod still run
    assert second.network.bridge not in _links()
    assert second.firewall.chain not in _rules()
    assert not any((h / second.cgroup).exists() for h in cgroup_hierarchies())
    assert node.network.bridge in _links()
    assert node.firewall.chain in _rules()
    assert "here/web" in node.containers()
    kubectl("delete", "pod", "here", "--wait=false")
    eventually(lambda: "here/web" not in node.containers(), 60, "this node still works")
