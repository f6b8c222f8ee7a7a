"""The whole test ground in one place: the control plane, a real node and Prometheus, for
the pytest fixtures and for `make cluster-up` alike.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tests.ground.controlplane import ControlPlane
from tests.ground.node import Network, Node, stop_node
from tests.ground.processes import GroundError, pid_alive, stop_pid
from tests.ground.prometheus import Prometheus

REPO_ROOT = Path(__file__).resolve().parents[2]


class Kubectl(Protocol):
    """The `kubectl` fixture: the real kubectl, in the test's namespace unless told not."""

    def __call__(
        self, *args: str, input: str | None = None, check: bool = True, namespaced: bool = True
    ) -> subprocess.CompletedProcess[str]: ...

    def argv(self, *args: str, namespaced: bool = True) -> list[str]:
        """The command line that `self(*args)` runs, for a process that streams (--watch)."""
        ...


def prometheus_for_pods(node: Node, prometheus: Prometheus) -> str:
    """The ground's Prometheus as pods reach it (the chart's operator, for analysis)."""
    return f"http://{node.expose(prometheus.port)}"


@dataclass
class Ground:
    plane: ControlPlane
    node: Node
    prometheus: Prometheus

    @classmethod
    def up(cls, workdir: Path) -> Ground:
        plane = ControlPlane.start(workdir / "control-plane")
        node: Node | None = None
        try:
            node = Node.start(plane, workdir / "node")
            prometheus = Prometheus.start(plane, workdir / "prometheus")
        except BaseException:
            if node is not None:
                node.stop()
            plane.stop()
            raise
        return cls(plane, node, prometheus)

    @property
    def prometheus_for_pods(self) -> str:
        return prometheus_for_pods(self.node, self.prometheus)

    def record(self, path: Path) -> None:
        """Write what `down` needs to stop this ground from another process."""
        pids = {c.name: c.pid for c in [*self.plane.components, self.prometheus.component]}
        state = {
            "kubeconfig": str(self.plane.kubeconfig),
            "prometheus": self.prometheus.url,
            "prometheus_for_pods": self.prometheus_for_pods,
            "pids": pids,
            "node": self.node.state(),
            "etcd_data": str(self.plane.etcd_data),
        }
        path.write_text(json.dumps(state, indent=2))


def down(state_file: Path) -> list[str]:
    """Stop a ground recorded by `Ground.record`: its node, then the rest newest first."""
    if not state_file.exists():
        raise GroundError(f"no ground is recorded in {state_file}")
    state = json.loads(state_file.read_text())
    node = state["node"]
    stop_node(
        Path(node["workdir"]), node["id"], Network(node["bridge"], node["prefix"]), node["pids"]
    )
    stopped = ["node"]
    for name, pid in reversed(list(state["pids"].items())):
        if pid_alive(pid):
            stop_pid(pid)
            stopped.append(name)
    shutil.rmtree(state["etcd_data"], ignore_errors=True)
    state_file.unlink()
    return stopped
