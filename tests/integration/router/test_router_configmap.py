"""Against the real API server: a router run with --config-map follows its ConfigMap
through the API, so a new weight is taken within moments, not when the kubelet next
refreshes the mounted file (about a minute); a bad config there is refused and counted,
and a change that leaves the config's text as it was counts nothing.

The router's account holds only what the operator's Role for it grants: EndpointSlices,
and get, list and watch on this one ConfigMap by name. The file (what a mounted
ConfigMap would be) is left as it was at start throughout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import requests

from tests.ground.controlplane import ControlPlane
from tests.ground.ground import Kubectl
from tests.ground.polling import eventually
from tests.integration.router.harness import (
    Launcher,
    RouterProcess,
    kubeconfig_for_token,
    routing_config,
)

CONFIG_MAP = "iris-router"
KEY = "routing.json"  # the harness's config file name: a ConfigMap volume's key is the file's


def split(stable: int, canary: int) -> dict[str, Any]:
    return routing_config(
        {"name": "v1", "role": "stable", "weight": stable, "service": "iris-v1"},
        {"name": "v2", "role": "canary", "weight": canary, "service": "iris-v2"},
    )


def config_map(text: str) -> str:
    document = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": CONFIG_MAP},
        "data": {KEY: text},
    }
    return orjson.dumps(document).decode()


def router_role(namespace: str) -> str:
    """The least the router needs, as the operator's Role for it (controller/traffic.py)."""
    document = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "router", "namespace": namespace},
        "rules": [
            {
                "apiGroups": ["discovery.k8s.io"],
                "resources": ["endpointslices"],
                "verbs": ["get", "list", "watch"],
            },
            {
                "apiGroups": [""],
                "resources": ["configmaps"],
                "resourceNames": [CONFIG_MAP],
                "verbs": ["get", "list", "watch"],
            },
        ],
    }
    return orjson.dumps(document).decode()


def weights(router: RouterProcess) -> dict[str, int]:
    status = requests.get(f"{router.url}/router/status", timeout=5).json()
    return {backend["name"]: backend["weight"] for backend in status["backends"]}


def reloads(router: RouterProcess, result: str) -> float:
    return router.metric("modelkeeper_router_config_reloads_total", result=result)


def test_the_router_takes_its_configmap_from_the_api_not_waiting_for_the_file(
    launch: Launcher,
    kubectl: Kubectl,
    namespace: str,
    control_plane: ControlPlane,
    tmp_path: Path,
) -> None:
    # Given a router whose account may read only its own ConfigMap, started from a file
    # with the ConfigMap's text
    kubectl("create", "serviceaccount", "router")
    kubectl("apply", "-f", "-", input=router_role(namespace))
    kubectl(
        "create", "rolebinding", "router", "--role=router", f"--serviceaccount={namespace}:router"
    )
    token = kubectl("create", "token", "router").stdout.strip()
    kubeconfig = kubeconfig_for_token(control_plane.kubeconfig, token, tmp_path / "kubeconfig")
    start = split(90, 10)
    kubectl("apply", "-f", "-", input=config_map(orjson.dumps(start).decode()))
    router = launch.router(
        start,
        "--namespace",
        namespace,
        "--kubeconfig",
        str(kubeconfig),
        "--config-map",
        CONFIG_MAP,
    )
    file_at_start = router.config_path.read_bytes()
    assert weights(router) == {"v1": 90, "v2": 10}

    # When the ConfigMap gets new weights, the router routes by them within seconds
    kubectl("apply", "-f", "-", input=config_map(orjson.dumps(split(70, 30)).decode()))
    eventually(lambda: weights(router) == {"v1": 70, "v2": 30}, 30, "the new weights taken")
    assert router.config_path.read_bytes() == file_at_start  # from the API, not the file
    assert reloads(router, "success") == 1  # the start's list, with the file's text, counts none
    assert router.metric("modelkeeper_router_backend_weight", backend="v2") == 30

    # A change that leaves the text as it was counts nothing; a bad config is refused,
    # counted, and the last good one kept (events arrive in order: the second is the barrier)
    kubectl("annotate", "configmap", CONFIG_MAP, "touched=yes")
    bad = "model: iris\nbackends: [{name: v1, role: stable}]\n"
    kubectl("apply", "-f", "-", input=config_map(bad))
    eventually(lambda: reloads(router, "failure") == 1, 30, "the bad config refused")
    assert reloads(router, "success") == 1
    assert weights(router) == {"v1": 70, "v2": 30}
    log = router.component.log.read_text()
    assert f"kept the previous routing config: ConfigMap {namespace}/{CONFIG_MAP}: " in log
    assert "give exactly one of `service` and `endpoints`" in log
    assert "watch failed" not in log  # the Role's resourceNames admit the list and the watch

    # And a good one after it is taken again
    kubectl("apply", "-f", "-", input=config_map(orjson.dumps(split(50, 50)).decode()))
    eventually(lambda: weights(router) == {"v1": 50, "v2": 50}, 30, "the next weights taken")
    assert reloads(router, "success") == 2
    assert router.config_path.read_bytes() == file_at_start
