"""A real Kubernetes control plane on loopback: etcd, kube-apiserver,
kube-controller-manager and kube-scheduler, started the way envtest starts them.

No kubelet here and no kube-proxy: the e2e tier adds a real node (node.py); nothing
depends on Service ClusterIPs or cluster DNS, except the `kubernetes` Service's address,
which the node translates to this API server for in-cluster clients.
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from tests.ground.binaries import kube_binaries, require
from tests.ground.pki import CertificateAuthority, KeyPair, service_account_keys
from tests.ground.processes import Component, GroundError, free_port

SERVICE_CIDR = "10.96.0.0/16"
KUBERNETES_SERVICE_IP = "10.96.0.1"
"""The `kubernetes` Service's ClusterIP: the first address of the service range."""
START_TIMEOUT = 120.0
AUDITED_GROUP = "system:serviceaccounts:modelkeeper-system"
"""Whose requests the API server's audit log records: the operator's ServiceAccounts', so a
test can count what the operator asked, apart from what the cluster's controllers did."""
AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived", "ResponseStarted"],
    "rules": [
        {"level": "Metadata", "userGroups": [AUDITED_GROUP]},
        {"level": "None"},
    ],
}


def write_kubeconfig(path: Path, server: str, ca: Path, client: KeyPair, user: str) -> Path:
    """A kubeconfig with one cluster, one user authenticated by client certificate."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "ground", "cluster": {"server": server, "certificate-authority": str(ca)}}
        ],
        "users": [
            {
                "name": user,
                "user": {"client-certificate": str(client.cert), "client-key": str(client.key)},
            }
        ],
        "contexts": [{"name": "ground", "context": {"cluster": "ground", "user": user}}],
        "current-context": "ground",
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path


def _https_get(url: str, context: ssl.SSLContext, timeout: float = 2.0) -> str:
    with urllib.request.urlopen(url, context=context, timeout=timeout) as response:
        return str(response.read().decode())


@dataclass
class ControlPlane:
    """A running control plane; `stop()` ends every process it started."""

    workdir: Path
    bin_dir: Path
    server: str
    ca_file: Path
    admin: KeyPair
    kubeconfig: Path
    etcd_data: Path
    components: list[Component] = field(default_factory=list)

    @property
    def audit_log(self) -> Path:
        return self.workdir / "logs" / "audit.log"

    def audited(self, since: datetime) -> list[dict[str, Any]]:
        """The audit events of AUDITED_GROUP's requests answered at or after SINCE (UTC)."""
        if not self.audit_log.exists():
            return []
        events = (json.loads(line) for line in self.audit_log.read_text().splitlines() if line)
        return [
            event
            for event in events
            if datetime.fromisoformat(event["stageTimestamp"].replace("Z", "+00:00")) >= since
        ]

    @property
    def kubectl_path(self) -> Path:
        return self.bin_dir / "kubectl"

    def kubectl_argv(self, *args: str) -> list[str]:
        """The command line of kubectl ARGS against this control plane as the cluster admin."""
        return [
            str(self.kubectl_path),
            f"--kubeconfig={self.kubeconfig}",
            f"--cache-dir={self.workdir / 'kubectl-cache'}",
            *args,
        ]

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl against this control plane as the cluster admin."""
        result = subprocess.run(
            self.kubectl_argv(*args),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise GroundError(
                f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr.strip()}"
            )
        return result

    def admin_ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        context.load_cert_chain(str(self.admin.cert), str(self.admin.key))
        return context

    @classmethod
    def start(cls, workdir: Path) -> ControlPlane:
        """Build (or reuse) the binaries, make the PKI, and start the four components."""
        etcd = require("etcd")
        bin_dir = kube_binaries()
        workdir.mkdir(parents=True, exist_ok=True)
        pki = workdir / "pki"
        ca = CertificateAuthority(pki)
        serving = ca.issue(
            "apiserver",
            "kube-apiserver",
            server_names=(
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
            ),
            server_ips=("127.0.0.1", KUBERNETES_SERVICE_IP),
        )
        admin = ca.issue("admin", "ground-admin", organization="system:masters")
        sa = service_account_keys(pki)
        api_port = free_port()
        server = f"https://127.0.0.1:{api_port}"
        kubeconfig = write_kubeconfig(
            workdir / "admin.kubeconfig", server, ca.cert_path, admin, "admin"
        )
        etcd_data = Path(tempfile.mkdtemp(prefix="modelkeeper-etcd-", dir="/dev/shm"))
        plane = cls(workdir, bin_dir, server, ca.cert_path, admin, kubeconfig, etcd_data)
        logs = workdir / "logs"
        try:
            plane._start_etcd(etcd, logs)
            plane._start_apiserver(logs, api_port, serving, sa)
            plane._start_controllers(logs, sa)
            plane._wait_for_default_service_account()
        except BaseException:
            plane.stop()
            raise
        return plane

    def _start_etcd(self, etcd: str, logs: Path) -> None:
        client, peer = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{client}"
        component = Component(
            "etcd",
            [
                etcd,
                "--name=ground",
                f"--data-dir={self.etcd_data}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=ground=http://127.0.0.1:{peer}",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
            logs / "etcd.log",
        )
        self._launch(
            component,
            lambda: (
                '"health":"true"'
                in urllib.request.urlopen(f"{self.etcd_url}/health", timeout=2).read().decode()
            ),
        )

    def _start_apiserver(self, logs: Path, port: int, serving: KeyPair, sa: KeyPair) -> None:
        policy = self.workdir / "audit-policy.yaml"
        policy.write_text(yaml.safe_dump(AUDIT_POLICY, sort_keys=False))
        component = Component(
            "kube-apiserver",
            [
                str(self.bin_dir / "kube-apiserver"),
                f"--etcd-servers={self.etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={port}",
                f"--tls-cert-file={serving.cert}",
                f"--tls-private-key-file={serving.key}",
                f"--client-ca-file={self.ca_file}",
                f"--requestheader-client-ca-file={self.ca_file}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={sa.cert}",
                f"--service-account-signing-key-file={sa.key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--authorization-mode=RBAC",
                "--allow-privileged=true",
                "--endpoint-reconciler-type=none",
                "--profiling=false",
                f"--cert-dir={self.workdir / 'pki'}",
                # `kubectl logs` and `exec`: the kubelet by its InternalIP (the node's bridge
                # address; not the machine's DNS), as the cluster admin.
                "--kubelet-preferred-address-types=InternalIP",
                f"--kubelet-client-certificate={self.admin.cert}",
                f"--kubelet-client-key={self.admin.key}",
                f"--audit-policy-file={policy}",
                f"--audit-log-path={self.audit_log}",
                "--audit-log-format=json",
                "--audit-log-maxsize=0",
            ],
            logs / "kube-apiserver.log",
        )
        context = self.admin_ssl_context()
        self._launch(component, lambda: _https_get(f"{self.server}/readyz", context) == "ok")

    def _start_controllers(self, logs: Path, sa: KeyPair) -> None:
        common = [
            f"--kubeconfig={self.kubeconfig}",
            f"--authentication-kubeconfig={self.kubeconfig}",
            f"--authorization-kubeconfig={self.kubeconfig}",
            "--bind-address=127.0.0.1",
            "--leader-elect=false",
        ]
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE
        kcm_port, scheduler_port = free_port(), free_port()
        controller_manager = Component(
            "kube-controller-manager",
            [
                str(self.bin_dir / "kube-controller-manager"),
                *common,
                f"--secure-port={kcm_port}",
                f"--service-account-private-key-file={sa.key}",
                f"--root-ca-file={self.ca_file}",
                "--use-service-account-credentials=true",
                f"--cluster-signing-cert-file={self.ca_file}",
                f"--cluster-signing-key-file={self.workdir / 'pki' / 'ca.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--cert-dir=" + str(self.workdir / "pki" / "kcm"),
            ],
            logs / "kube-controller-manager.log",
        )
        scheduler = Component(
            "kube-scheduler",
            [
                str(self.bin_dir / "kube-scheduler"),
                *common,
                f"--secure-port={scheduler_port}",
                "--cert-dir=" + str(self.workdir / "pki" / "scheduler"),
            ],
            logs / "kube-scheduler.log",
        )
        self._launch(
            controller_manager,
            lambda: _https_get(f"https://127.0.0.1:{kcm_port}/healthz", insecure) == "ok",
        )
        self._launch(
            scheduler,
            lambda: _https_get(f"https://127.0.0.1:{scheduler_port}/healthz", insecure) == "ok",
        )

    def _launch(self, component: Component, ready: Callable[[], bool]) -> None:
        self.components.append(component)
        component.start()
        component.wait_until(ready, START_TIMEOUT)

    def _wait_for_default_service_account(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while self.kubectl(
            "get", "serviceaccount", "default", "-n", "default", check=False
        ).returncode:
            if time.monotonic() > deadline:
                raise self.components[-2].failure("created no default ServiceAccount")
            time.sleep(0.3)

    def logs(self) -> dict[str, Path]:
        return {component.name: component.log for component in self.components}

    def stop(self) -> None:
        for component in reversed(self.components):
            component.stop()
        shutil.rmtree(self.etcd_data, ignore_errors=True)

    def state(self) -> dict[str, object]:
        """What `python -m tests.ground` records to stop a ground it left running."""
        return {
            "kubeconfig": str(self.kubeconfig),
            "server": self.server,
            "pids": {c.name: c.pid for c in self.components},
            "etcd_data": str(self.etcd_data),
        }

    def __str__(self) -> str:
        return json.dumps(self.state())
