"""The whole test ground in one place: the control plane, the node agent and
Prometheus, for the pytest fixtures and for `make cluster-up` alike.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tests.ground.controlplane import ControlPlane
from tests.ground.processes import Component, GroundError, pid_alive, stop_pid
from tests.ground.prometheus import Prometheus

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE = "ground-node"


class Kubectl(Protocol):
    """The `kubectl` fixture: the real kubectl, in the test's namespace unless told not."""

    def __call__(
        self, *args: str, input: str | None = None, check: bool = True, namespaced: bool = True
    ) -> subprocess.CompletedProcess[str]: ...


def start_node_agent(plane: ControlPlane, workdir: Path) -> Component:
    """Start the node agent and wait until its Node is Ready."""
    agent = Component(
        "node-agent",
        [
            sys.executable,
            "-m",
            "tests.ground.nodeagent",
            f"--kubeconfig={plane.kubeconfig}",
            f"--workdir={workdir}",
            f"--node={NODE}",
        ],
        workdir / "node-agent.log",
        cwd=REPO_ROOT,
    )
    agent.start()
    jsonpath = '{.status.conditions[?(@.type=="Ready")].status}'
    agent.wait_until(
        lambda: (
            plane.kubectl("get", "node", NODE, "-o", f"jsonpath={jsonpath}", check=False).stdout
            == "True"
        ),
        60,
        "registered as a Ready node",
    )
    return agent


@dataclass
class Ground:
    plane: ControlPlane
    agent: Component
    prometheus: Prometheus

    @classmethod
    def up(cls, workdir: Path) -> Ground:
        plane = ControlPlane.start(workdir / "control-plane")
        agent: Component | None = None
        try:
            agent = start_node_agent(plane, workdir / "node-agent")
            prometheus = Prometheus.start(plane, workdir / "prometheus")
        except BaseException:
            if agent is not None:
                agent.stop()
            plane.stop()
            raise
        return cls(plane, agent, prometheus)

    def record(self, path: Path) -> None:
        """Write what `down` needs to stop this ground from another process."""
        pids = {
            c.name: c.pid for c in [*self.plane.components, self.agent, self.prometheus.component]
        }
        state = {
            "kubeconfig": str(self.plane.kubeconfig),
            "prometheus": self.prometheus.url,
            "pids": pids,
            "etcd_data": str(self.plane.etcd_data),
        }
        path.write_text(json.dumps(state, indent=2))


def down(state_file: Path) -> list[str]:
    """Stop a ground recorded by `Ground.record`, newest component first, by PID."""
    if not state_file.exists():
        raise GroundError(f"no ground is recorded in {state_file}")
    state = json.loads(state_file.read_text())
    stopped = []
    for name, pid in reversed(list(state["pids"].items())):
        if pid_alive(pid):
            stop_pid(pid)
            stopped.append(name)
    shutil.rmtree(state["etcd_data"], ignore_errors=True)
    state_file.unlink()
    return stopped
