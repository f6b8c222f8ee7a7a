"""Against the real API server: the router balances across the ready endpoints it reads
from EndpointSlices, follows them as they change, and needs only list and watch on them.

The Service's EndpointSlices are made by hand with kubectl, no pods needed. Their
endpoints are fake V2 backends, local processes on loopback addresses in 127.64.0.0/10,
which the test ground's API server admits in EndpointSlices (its one change to
Kubernetes; the real node's pods have addresses on its bridge).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson
import requests

from tests.ground.controlplane import ControlPlane
from tests.ground.ground import Kubectl
from tests.ground.polling import eventually
from tests.integration.router.harness import (
    MODEL,
    Launcher,
    RouterProcess,
    kubeconfig_for_token,
    routing_config,
)

SERVICE = "iris-v1"


def endpoint_slice(name: str, port: int, endpoints: dict[str, bool]) -> str:
    """An EndpointSlice of SERVICE (address -> ready), as kubectl input."""
    document = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/service-name": SERVICE,
                "endpointslice.kubernetes.io/managed-by": "modelkeeper-tests",
            },
        },
        "addressType": "IPv4",
        "ports": [
            {"name": "metrics", "port": 9090, "protocol": "TCP"},
            {"name": "http", "port": port, "protocol": "TCP"},
        ],
        "endpoints": [
            {"addresses": [address], "conditions": {"ready": ready}}
            for address, ready in endpoints.items()
        ],
    }
    return orjson.dumps(document).decode()


def served_by(router: RouterProcess, count: int) -> Counter[str]:
    """Which backend answered each of `count` requests (the status code when none did)."""
    body = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [0.4]}]}
    counts: Counter[str] = Counter()
    for _ in range(count):
        answer = requests.post(f"{router.url}/v2/models/{MODEL}/infer", json=body, timeout=10)
        counts[answer.headers.get("x-backend", str(answer.status_code))] += 1
    return counts


def test_the_router_follows_the_ready_endpoints_in_endpointslices(
    launch: Launcher,
    kubectl: Kubectl,
    namespace: str,
    control_plane: ControlPlane,
    tmp_path: Path,
) -> None:
    first = launch.backend("v1-a", host="127.127.255.1")
    second = launch.backend("v1-b", host="127.127.255.2")
    kubectl("create", "serviceaccount", "router")
    kubectl(
        "create",
        "role",
        "router",
        "--verb=list,watch",
        "--resource=endpointslices.discovery.k8s.io",
    )
    kubectl(
        "create", "rolebinding", "router", "--role=router", f"--serviceaccount={namespace}:router"
    )
    token = kubectl("create", "token", "router").stdout.strip()
    kubeconfig = kubeconfig_for_token(control_plane.kubeconfig, token, tmp_path / "kubeconfig")
    kubectl(
        "apply", "-f", "-", input=endpoint_slice("iris-v1-a", first["port"], {first["host"]: True})
    )
    config = routing_config(
        {"name": "v1", "role": "stable", "weight": 1, "service": SERVICE, "port": "http"}
    )

    router = launch.router(config, "--namespace", namespace, "--kubeconfig", str(kubeconfig))

    eventually(lambda: requests.get(f"{router.url}/v2/health/ready", timeout=5).ok, 30, "ready")
    assert served_by(router, 4) == {"v1-a": 4}

    # A second slice: one ready endpoint, and one that is not (nothing listens there).
    slice_b = {second["host"]: True, "127.127.255.3": False}
    kubectl("apply", "-f", "-", input=endpoint_slice("iris-v1-b", second["port"], slice_b))
    eventually(lambda: served_by(router, 10) == {"v1-a": 5, "v1-b": 5}, 30, "slice b balanced")
    assert router.metric("modelkeeper_router_ready_endpoints", backend="v1") == 2
    status = requests.get(f"{router.url}/router/status", timeout=5).json()
    assert status["backends"][0]["ready_endpoints"] == [
        f"{first['host']}:{first['port']}",
        f"{second['host']}:{second['port']}",
    ]

    not_ready = {first["host"]: False}
    kubectl("apply", "-f", "-", input=endpoint_slice("iris-v1-a", first["port"], not_ready))
    eventually(lambda: served_by(router, 4) == {"v1-b": 4}, 30, "v1-a left out")

    kubectl("delete", "endpointslice", "iris-v1-a", "iris-v1-b")
    eventually(lambda: served_by(router, 1) == {"503": 1}, 30, "no endpoint left")
    unready = requests.get(f"{router.url}/v2/health/ready", timeout=5)
    assert unready.status_code == 503
    assert "no ready endpoint for stable 'v1'" in unready.json()["error"]
