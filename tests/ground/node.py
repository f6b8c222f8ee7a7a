"""A real node for the test ground: kubelet (built from the same Kubernetes module as the
control plane), containerd and runc from Debian, the project's own images, and pods
networked by the CNI bridge plugin on a bridge that lives only inside this machine.

Confinement (../shared/design/real-node.md): the bridge has no gateway, pods have no
default route, nothing is masqueraded, and anything that would be forwarded off the
bridge is dropped. The only translations go to loopback: the `kubernetes` Service's
address to the API server (for in-cluster clients: the router, the chart's operator) and
the ports the ground exposes to pods at the bridge's own address (Prometheus).

Grounds side by side do not collide: each node has its own id and with it its own bridge
and /24, containerd root, state and socket, kubelet root directory, ports and cgroup
root. containerd and kubelet share a private mount namespace, so the kubelet's hard-coded
/var/lib/kubelet/device-plugins is this node's own and every mount the node makes (pod
volumes, network namespaces) goes away with it; the pods' network namespaces are mounted
under containerd's own state folder, so not even their empty files stay in /var/run/netns.

One folder, `shared`, is bind-mounted at the same path into every container (containerd's
base runtime spec): the ground's stand-in for a shared file system mounted on every node,
so that a `file://` URI written by a training Job, fetched by a scoring pod's init step
and read by the operator names the same file for all of them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.ground.controlplane import KUBERNETES_SERVICE_IP, SERVICE_CIDR, ControlPlane
from tests.ground.imagebuild import PAUSE_IMAGE, image_archives
from tests.ground.processes import Component, GroundError, free_port, stop_pid

NODE = "ground-node"
CNI_BIN = Path("/usr/lib/cni")
CGROUP_ROOT = Path("/sys/fs/cgroup")
NODE_OWN_FOLDERS = {
    Path("/var/lib/kubelet/device-plugins"): "device-plugins",
    Path("/var/log/pods"): "pod-logs",
    Path("/var/log/containers"): "container-logs",
}
"""Fixed paths each node gets a folder of its own at, in its mount namespace: a kubelet's
garbage collection removes the pod log folders of pods it does not know, so nodes side by
side sharing /var/log/pods removed each other's logs (a Job's last words with them)."""
SHARED_ROOT = Path("/var/lib/modelkeeper-ground")
"""Outside /tmp on purpose: a pod's emptyDir at /tmp must not hide the shared folder."""
RUN_DIR = Path("/run/modelkeeper-ground")
"""Sockets (their paths must stay short) and the lock that hands out subnets."""
POD_PREFIXES = [f"10.244.{n}" for n in range(1, 255)]
"""Candidate pod ranges, one /24 per node; the first one free on this machine is taken."""
START_TIMEOUT = 120.0


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """A short command; a failure names it and shows what it printed."""
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)
    if check and done.returncode != 0:
        raise GroundError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


@contextlib.contextmanager
def _machine_lock() -> Iterator[None]:
    """One node at a time picks a subnet and creates its bridge."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    with (RUN_DIR / "subnets.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _taken_subnets() -> set[str]:
    """The /24s that this machine's interfaces already have addresses in."""
    found = json.loads(run("ip", "-j", "-4", "addr").stdout)
    return {
        ".".join(info["local"].split(".")[:3])
        for link in found
        for info in link.get("addr_info", [])
    }


def cgroup_hierarchies() -> list[Path]:
    """Every cgroup v1 controller mount (and the unified one beside them) of this machine."""
    return sorted(path for path in CGROUP_ROOT.iterdir() if path.is_dir() and not path.is_symlink())


def _cgroup(node_id: str) -> str:
    return f"modelkeeper-{node_id}"


def _socket(node_id: str) -> Path:
    return RUN_DIR / node_id / "containerd.sock"


@dataclass(frozen=True)
class Network:
    """The node's bridge and its /24: the bridge holds .1, pods get .10 to .250."""

    bridge: str
    prefix: str
    """The first three octets, e.g. `10.244.3`."""

    @property
    def address(self) -> str:
        return f"{self.prefix}.1"

    @property
    def subnet(self) -> str:
        return f"{self.prefix}.0/24"

    def cni_config(self, ipam_dir: Path) -> dict[str, Any]:
        """The bridge plugin without gateway or masquerade; the only route is to Services."""
        return {
            "cniVersion": "0.4.0",
            "name": self.bridge,
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": self.bridge,
                    "isGateway": False,
                    "isDefaultGateway": False,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [
                            [
                                {
                                    "subnet": self.subnet,
                                    "rangeStart": f"{self.prefix}.10",
                                    "rangeEnd": f"{self.prefix}.250",
                                }
                            ]
                        ],
                        "routes": [{"dst": SERVICE_CIDR, "gw": self.address}],
                        "dataDir": str(ipam_dir),
                    },
                }
            ],
        }


@dataclass(frozen=True)
class Firewall:
    """This node's iptables chains: the translations to loopback and the confinement."""

    chain: str
    bridge: str

    @classmethod
    def of(cls, node_id: str, bridge: str) -> Firewall:
        return cls(f"MK-{node_id.upper()}", bridge)

    def rules(self) -> list[tuple[str, list[str]]]:
        """(table, rule) pairs of the chains' fixed part, in order."""
        return [
            ("filter", ["-i", self.bridge, "-o", self.bridge, "-j", "ACCEPT"]),
            ("filter", ["-i", self.bridge, "-j", "DROP"]),
            ("filter", ["-o", self.bridge, "-j", "DROP"]),
        ]

    def create(self) -> None:
        for table, hook in (("nat", "PREROUTING"), ("filter", "FORWARD")):
            run("iptables", "-t", table, "-N", self.chain)
            jump = ["-i", self.bridge] if table == "nat" else []
            run("iptables", "-t", table, "-I", hook, *jump, "-j", self.chain)
        for table, rule in self.rules():
            run("iptables", "-t", table, "-A", self.chain, *rule)

    def translate(self, address: str, port: int, to_port: int) -> None:
        """Pods' connections to address:port go to 127.0.0.1:to_port (and nowhere else)."""
        run(
            "iptables", "-t", "nat", "-A", self.chain, "-d", f"{address}/32", "-p", "tcp",
            "--dport", str(port), "-j", "DNAT", "--to-destination", f"127.0.0.1:{to_port}",
        )  # fmt: skip

    def remove(self) -> None:
        for table, hook in (("nat", "PREROUTING"), ("filter", "FORWARD")):
            jump = ["-i", self.bridge] if table == "nat" else []
            run("iptables", "-t", table, "-D", hook, *jump, "-j", self.chain, check=False)
            run("iptables", "-t", table, "-F", self.chain, check=False)
            run("iptables", "-t", table, "-X", self.chain, check=False)


def containerd_config(node: Node, base_spec: Path) -> str:
    """containerd's configuration: its own root, state and socket; the CRI as real-node.md
    found it works here (no AppArmor, OOM score adjustments restricted, no hugetlb)."""
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = "{node.workdir / "containerd" / "root"}"
state = "{node.run_dir / "state"}"
disabled_plugins = [
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing",
]
[grpc]
  address = "{node.socket}"
[ttrpc]
  address = "{node.socket}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{node.workdir / "containerd" / "opt"}"
[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  disable_apparmor = true
  disable_hugetlb_controller = true
  enable_selinux = false
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      base_runtime_spec = "{base_spec}"
      [{cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false
  [{cri}.cni]
    bin_dir = "{CNI_BIN}"
    conf_dir = "{node.workdir / "cni"}"
    max_conf_num = 1
"""


def kubelet_config(node: Node, plane: ControlPlane) -> dict[str, Any]:
    """The kubelet's configuration: cgroupfs on cgroup v1 under the node's own cgroup root,
    served on the bridge address to the API server only, images never collected (they are
    imported, not pulled), no iptables chains of its own."""
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": node.network.address,
        "port": node.kubelet_port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": node.healthz_port,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(plane.ca_file)},
        },
        "authorization": {"mode": "Webhook"},
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": f"/{node.cgroup}",
        "failCgroupV1": False,
        "containerRuntimeEndpoint": f"unix://{node.socket}",
        "failSwapOn": False,
        "makeIPTablesUtilChains": False,
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "serializeImagePulls": False,
        "nodeStatusUpdateFrequency": "2s",
        "nodeStatusReportFrequency": "10s",
        "shutdownGracePeriod": "0s",
        "resolvConf": "",
        "staticPodPath": "",
        "logging": {"format": "text"},
    }


def _base_runtime_spec(shared: Path) -> dict[str, Any]:
    """containerd's default OCI spec plus the shared folder, bound at its own path."""
    spec: dict[str, Any] = json.loads(run("ctr", "oci", "spec").stdout)
    spec["mounts"].append(
        {
            "destination": str(shared),
            "type": "bind",
            "source": str(shared),
            "options": ["rbind", "rw"],
        }
    )
    return spec


@dataclass
class Node:
    """A running node; `stop()` ends what it started and removes what it added."""

    workdir: Path
    id: str
    network: Network
    kubelet_port: int = field(default_factory=free_port)
    healthz_port: int = field(default_factory=free_port)
    components: list[Component] = field(default_factory=list)
    exposed: set[int] = field(default_factory=set)

    @property
    def run_dir(self) -> Path:
        return RUN_DIR / self.id

    @property
    def socket(self) -> Path:
        return _socket(self.id)

    @property
    def cgroup(self) -> str:
        return _cgroup(self.id)

    @property
    def shared(self) -> Path:
        """Mounted at this same path in every container of the node, read-write."""
        return SHARED_ROOT / self.id

    @property
    def firewall(self) -> Firewall:
        return Firewall.of(self.id, self.network.bridge)

    @classmethod
    def start(
        cls, plane: ControlPlane, workdir: Path, images: Collection[str] | None = None
    ) -> Node:
        """Network, containerd with the images imported, kubelet; back when Ready.

        `images`: only the archives holding these of imagebuild's IMAGES are imported (the
        pause image's always is); a node that needs only a small one starts in seconds
        instead of most of a minute."""
        archives = list(
            dict.fromkeys(
                archive
                for name, archive in image_archives().items()
                if images is None or name in images or name == PAUSE_IMAGE
            )
        )
        node_id = secrets.token_hex(3)
        workdir.mkdir(parents=True, exist_ok=True)
        with _machine_lock():
            taken = _taken_subnets()
            prefix = next((p for p in POD_PREFIXES if p not in taken), None)
            if prefix is None:
                raise GroundError("no free 10.244.N.0/24 for a node's pods on this machine")
            node = cls(workdir, node_id, Network(f"mk-{node_id}", prefix))
            try:
                node._create_network()
            except BaseException:
                node.stop()
                raise
        try:
            node._create_cgroups()
            node.firewall.translate(KUBERNETES_SERVICE_IP, 443, int(plane.server.rsplit(":", 1)[1]))
            node._start_runtime(archives)
            node._start_kubelet(plane)
        except BaseException:
            node.stop()
            raise
        return node

    def _create_network(self) -> None:
        bridge = self.network.bridge
        run("ip", "link", "add", "name", bridge, "type", "bridge")
        run("ip", "addr", "add", f"{self.network.address}/24", "dev", bridge)
        run("ip", "link", "set", bridge, "up")
        # Connections DNATed to 127.0.0.1 arrive on the bridge: let them be routed locally.
        Path(f"/proc/sys/net/ipv4/conf/{bridge}/route_localnet").write_text("1")
        self.firewall.create()

    def _create_cgroups(self) -> None:
        """The kubelet's cgroup root must exist in every hierarchy; cpuset needs its sets."""
        for hierarchy in cgroup_hierarchies():
            path = hierarchy / self.cgroup
            path.mkdir(exist_ok=True)
            for name in ("cpuset.cpus", "cpuset.mems"):
                if (path / name).exists():
                    (path / name).write_text((hierarchy / name).read_text())

    def _in_namespace(self, *argv: str) -> list[str]:
        return ["nsenter", f"--target={self.components[0].pid}", "--mount", "--", *argv]

    def _start_runtime(self, archives: list[Path]) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.shared.mkdir(parents=True, exist_ok=True)
        self.shared.chmod(0o1777)
        logs = self.workdir / "logs"
        mounts = Component(
            "node-mounts",
            ["unshare", "--mount", "--propagation", "private", "--", "sleep", "infinity"],
            logs / "node-mounts.log",
        )
        self.components.append(mounts)
        mounts.start()
        mounts.wait_until(lambda: os.readlink(f"/proc/{mounts.pid}/exe").endswith("sleep"), 10)
        for shared, own in NODE_OWN_FOLDERS.items():
            (self.workdir / own).mkdir(exist_ok=True)
            shared.mkdir(parents=True, exist_ok=True)
            run(*self._in_namespace("mount", "--bind", str(self.workdir / own), str(shared)))

        cni = self.workdir / "cni"
        cni.mkdir(exist_ok=True)
        (cni / "10-ground.conflist").write_text(
            json.dumps(self.network.cni_config(self.workdir / "cni-ipam"), indent=2)
        )
        base_spec = self.workdir / "base-runtime-spec.json"
        base_spec.write_text(json.dumps(_base_runtime_spec(self.shared), indent=2))
        config = self.workdir / "containerd.toml"
        config.write_text(containerd_config(self, base_spec))
        containerd = Component(
            "containerd",
            self._in_namespace("containerd", f"--config={config}", "--log-level=warn"),
            logs / "containerd.log",
        )
        self.components.append(containerd)
        containerd.start()
        containerd.wait_until(lambda: self.ctr("version").returncode == 0, START_TIMEOUT)
        for archive in archives:
            imported = self.ctr("images", "import", str(archive))
            if imported.returncode != 0:
                raise containerd.failure(f"could not import {archive}: {imported.stderr.strip()}")

    def _start_kubelet(self, plane: ControlPlane) -> None:
        config = self.workdir / "kubelet.yaml"
        config.write_text(yaml.safe_dump(kubelet_config(self, plane), sort_keys=False))
        kubelet = Component(
            "kubelet",
            self._in_namespace(
                str(plane.bin_dir / "kubelet"),
                f"--config={config}",
                f"--kubeconfig={plane.kubeconfig}",
                # Short: the kubelet makes unix sockets here, whose paths may not pass 107 bytes.
                f"--root-dir={self.run_dir / 'kubelet'}",
                f"--cert-dir={self.workdir / 'kubelet-pki'}",
                f"--node-ip={self.network.address}",
                f"--hostname-override={NODE}",
                "--v=1",
            ),
            self.workdir / "logs" / "kubelet.log",
        )
        self.components.append(kubelet)
        kubelet.start()
        jsonpath = '{.status.conditions[?(@.type=="Ready")].status}'
        kubelet.wait_until(
            lambda: (
                plane.kubectl(
                    "get", "node", NODE, "-o", f"jsonpath={jsonpath}", check=False
                ).stdout.strip()
                == "True"
            ),
            START_TIMEOUT,
            "registered as a Ready node",
        )

    def ctr(self, *args: str) -> subprocess.CompletedProcess[str]:
        return ctr(self.socket, *args)

    def expose(self, port: int) -> str:
        """Make a ground service on 127.0.0.1:port reachable from pods; its address for them."""
        if port not in self.exposed:
            self.firewall.translate(self.network.address, port, port)
            self.exposed.add(port)
        return f"{self.network.address}:{port}"

    def containers(self) -> list[str]:
        return running_containers(self.socket)

    def logs(self) -> dict[str, Path]:
        return {component.name: component.log for component in self.components}

    def state(self) -> dict[str, Any]:
        """What `python -m tests.ground down` needs to stop this node from another process."""
        return {
            "workdir": str(self.workdir),
            "id": self.id,
            "bridge": self.network.bridge,
            "prefix": self.network.prefix,
            "socket": str(self.socket),
            "shared": str(self.shared),
            "pids": {c.name: c.pid for c in self.components},
        }

    def stop(self) -> None:
        alive = {c.name: c.pid for c in self.components if c.alive()}
        stop_node(self.workdir, self.id, self.network, alive)
        for component in self.components:
            if component.process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    component.process.wait(timeout=5)


def ctr(socket: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """containerd's own client, in the Kubernetes namespace of the containerd at `socket`."""
    return run("ctr", f"--address={socket}", "--namespace=k8s.io", *args, check=False)


def running_containers(socket: Path) -> list[str]:
    """`pod/container` of each container running under a node's containerd, as `crictl ps`
    lists them (the pods' sandboxes left out)."""
    names = []
    for container in ctr(socket, "tasks", "list", "--quiet").stdout.split():
        info = ctr(socket, "containers", "info", container)
        if info.returncode == 0:
            labels = json.loads(info.stdout).get("Labels", {})
            name = labels.get("io.kubernetes.container.name")
            if name and name != "POD":
                names.append(f"{labels.get('io.kubernetes.pod.name')}/{name}")
    return sorted(names)


def _cgroup_tree(root: Path) -> list[Path]:
    """The cgroups of a tree, deepest first; os.walk passes over one removed while it is
    walked (the kubelet tearing down a pod), where Path.rglob raises."""
    found = [Path(directory) for directory, _, _ in os.walk(root)]
    return sorted(found, key=lambda path: len(path.parts), reverse=True)


def _cgroup_pids(root: Path) -> set[int]:
    """The processes in a cgroup tree."""
    pids: set[int] = set()
    for cgroup in _cgroup_tree(root):
        with contextlib.suppress(OSError):  # ENOENT or ENODEV: removed meanwhile
            pids.update(int(pid) for pid in (cgroup / "cgroup.procs").read_text().split())
    return pids


def _remove_cgroups(name: str) -> None:
    """End every process in the node's cgroups (its containers and their shims' children),
    then remove the cgroups, deepest first."""
    roots = [hierarchy / name for hierarchy in cgroup_hierarchies() if (hierarchy / name).is_dir()]
    for _ in range(50):
        pids = set().union(*(_cgroup_pids(root) for root in roots)) if roots else set()
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
    for root in roots:
        for cgroup in _cgroup_tree(root):
            with contextlib.suppress(OSError):
                cgroup.rmdir()


def _shims_of(socket: Path) -> list[int]:
    """The containerd shims this node's containerd started (they outlive it otherwise)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                if any(part == str(socket).encode() for part in argv) and b"shim" in argv[0]:
                    found.append(int(entry.name))
    return found


def stop_node(workdir: Path, node_id: str, network: Network, pids: dict[str, int]) -> None:
    """Stop a node by what it recorded: the kubelet, the containers, containerd and its
    shims, the mount namespace; then remove its cgroups, iptables chains, bridge and
    folders. Safe to call on a node that started only in part; a step that fails does not
    keep the later ones from running (its error is raised after them)."""
    cgroup = _cgroup(node_id)

    def stop(name: str, **options: float) -> None:
        if name in pids:
            stop_pid(pids[name], **options)

    def kill_shims() -> None:
        for shim in _shims_of(_socket(node_id)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(shim, signal.SIGKILL)

    def remove_folders() -> None:
        for folder in (RUN_DIR / node_id, SHARED_ROOT / node_id, workdir / "containerd"):
            shutil.rmtree(folder, ignore_errors=True)

    _every(
        lambda: stop("kubelet"),
        lambda: _remove_cgroups(cgroup),
        lambda: stop("containerd"),
        kill_shims,
        lambda: stop("node-mounts", grace=2),
        lambda: _remove_cgroups(cgroup),
        lambda: Firewall.of(node_id, network.bridge).remove(),
        lambda: run("ip", "link", "delete", network.bridge, check=False),
        remove_folders,
    )


def _every(*steps: Callable[[], object]) -> None:
    """Run every step even when one fails; then raise what failed, together."""
    errors: list[Exception] = []
    for step in steps:
        try:
            step()
        except Exception as error:
            errors.append(error)
    if errors:
        raise ExceptionGroup("stopping a node", errors)
