"""Pods really run: the built-in controllers, the real node (kubelet, containerd, runc,
the CNI bridge) and Prometheus together behave like a small cluster, confined to this
machine."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest

from tests.ground.ground import Kubectl
from tests.ground.imagebuild import MODELKEEPER_IMAGE, TESTBOX_IMAGE
from tests.ground.node import Node
from tests.ground.polling import eventually
from tests.ground.prometheus import Prometheus

pytestmark = pytest.mark.usefixtures("node")

TESTBOX = TESTBOX_IMAGE


def get(kubectl: Kubectl, *what: str) -> Any:
    result = kubectl("get", *what, "-o", "json", check=False)
    return json.loads(result.stdout) if result.returncode == 0 else None


def deployment(name: str, image: str = TESTBOX, replicas: int = 1) -> str:
    return json.dumps(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {
                        "labels": {"app": name},
                        "annotations": {
                            "prometheus.io/scrape": "true",
                            "prometheus.io/port": "8080",
                        },
                    },
                    "spec": {
                        "containers": [
                            {
                                "name": "web",
                                "image": image,
                                "args": ["http", "--port", "8080"],
                                "ports": [{"name": "http", "containerPort": 8080}],
                                "readinessProbe": {
                                    "httpGet": {"path": "/healthz", "port": "http"},
                                    "periodSeconds": 1,
                                },
                            }
                        ],
                    },
                },
            },
        }
    )


def service(name: str) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {
                "selector": {"app": name},
                "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
            },
        }
    )


def job(name: str, code: int, message: str) -> str:
    return json.dumps(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name},
            "spec": {
                "backoffLimit": 1,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [
                            {
                                "name": "main",
                                "image": TESTBOX,
                                "args": ["exit", "--code", str(code), "--message", message],
                            }
                        ],
                    },
                },
            },
        }
    )


def test_deployment_becomes_available_and_is_collected(kubectl: Kubectl, node: Node) -> None:
    kubectl("apply", "-f", "-", input=deployment("web"))
    kubectl("apply", "-f", "-", input=service("web"))
    kubectl("wait", "--for=condition=Available", "deployment/web", "--timeout=90s")

    pod = get(kubectl, "pods", "-l", "app=web")["items"][0]
    pod_ip = pod["status"]["podIP"]
    assert ipaddress.ip_address(pod_ip) in ipaddress.ip_network(node.network.subnet)
    assert pod_ip != node.network.address

    def slice_addresses() -> list[str] | None:
        slices = get(kubectl, "endpointslices", "-l", "kubernetes.io/service-name=web")
        return [
            address
            for item in slices["items"]
            for endpoint in item.get("endpoints") or []
            if endpoint.get("conditions", {}).get("ready")
            for address in endpoint["addresses"]
        ] or None

    assert eventually(slice_addresses, what="EndpointSlice lists the pod") == [pod_ip]

    kubectl("delete", "deployment", "web", "--wait=true", "--timeout=60s")
    eventually(
        lambda: not get(kubectl, "replicasets", "-l", "app=web")["items"],
        what="ReplicaSet collected",
    )
    eventually(lambda: not get(kubectl, "pods", "-l", "app=web")["items"], what="pods deleted")


def test_job_completes_with_its_termination_message(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=job("ok", 0, '{"result": "fine"}'))
    kubectl("wait", "--for=condition=Complete", "job/ok", "--timeout=90s")
    pod = get(kubectl, "pods", "-l", "job-name=ok")["items"][0]
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 0
    assert json.loads(terminated["message"]) == {"result": "fine"}
    assert pod["status"]["phase"] == "Succeeded"


def test_failing_job_fails_after_its_backoff_limit(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=job("bad", 1, "it broke"))
    kubectl("wait", "--for=condition=Failed", "job/bad", "--timeout=120s")
    pods = get(kubectl, "pods", "-l", "job-name=bad")["items"]
    assert len(pods) == 2  # the first try and one retry: backoffLimit 1
    for pod in pods:
        assert pod["status"]["phase"] == "Failed"
        terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
        assert (terminated["exitCode"], terminated["message"]) == (1, "it broke")


def test_unknown_image_fails_with_a_clear_reason(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=deployment("mystery", image="docker.io/library/nginx:1.27"))

    def pull_failed() -> dict[str, str] | None:
        pods = get(kubectl, "pods", "-l", "app=mystery")["items"]
        statuses = pods[0].get("status", {}).get("containerStatuses") if pods else None
        waiting: dict[str, str] | None = statuses[0]["state"].get("waiting") if statuses else None
        failed = waiting and waiting.get("reason") in ("ErrImagePull", "ImagePullBackOff")
        return waiting if failed else None

    state = eventually(pull_failed, what="the pod reports why it cannot start")
    assert "docker.io/library/nginx:1.27" in state["message"]


def test_prometheus_scrapes_the_pod(
    kubectl: Kubectl, namespace: str, prometheus: Prometheus
) -> None:
    kubectl("apply", "-f", "-", input=deployment("scraped"))
    kubectl("wait", "--for=condition=Available", "deployment/scraped", "--timeout=90s")
    query = f'up{{namespace="{namespace}", app="scraped"}} == 1'
    eventually(lambda: prometheus.query(query), timeout=30, what="Prometheus scrapes the pod")
    series = eventually(
        lambda: prometheus.query(f'testbox_requests_total{{namespace="{namespace}"}}'),
        timeout=30,
        what="the pod's own metric arrives",
    )
    assert float(series[0]["value"][1]) >= 1


def test_deleted_pod_stops_its_container(kubectl: Kubectl, node: Node) -> None:
    kubectl("apply", "-f", "-", input=deployment("stopper"))
    kubectl("wait", "--for=condition=Available", "deployment/stopper", "--timeout=90s")
    pod = get(kubectl, "pods", "-l", "app=stopper")["items"][0]
    container = pod["status"]["containerStatuses"][0]["containerID"].removeprefix("containerd://")
    assert container in node.ctr("tasks", "list", "--quiet").stdout.split()
    kubectl("scale", "deployment/stopper", "--replicas=0")
    eventually(lambda: not get(kubectl, "pods", "-l", "app=stopper")["items"], what="pod removed")
    eventually(
        lambda: container not in node.ctr("tasks", "list", "--quiet").stdout.split(),
        what="its container stopped",
    )


def test_args_expand_downward_api_variables(kubectl: Kubectl) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "expander"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "main",
                    "image": TESTBOX,
                    "env": [
                        {"name": "ME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                        {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                    ],
                    "args": ["exit", "--message", "$(ME) at $(IP)"],
                }
            ],
        },
    }
    kubectl("apply", "-f", "-", input=json.dumps(pod))
    kubectl("wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/expander", "--timeout=60s")
    status = get(kubectl, "pod", "expander")["status"]
    message = status["containerStatuses"][0]["state"]["terminated"]["message"]
    assert message == f"expander at {status['podIP']}"


def test_a_pod_reaches_the_api_server_and_nothing_outside_the_machine(kubectl: Kubectl) -> None:
    # In-cluster clients find the API server at the `kubernetes` Service's address (the one
    # translation the node makes), with the ServiceAccount token the kubelet mounts; the pod
    # has no default route, so no address outside the machine is reachable from it.
    script = """
import json, os, ssl, urllib.request
sa = "/var/run/secrets/kubernetes.io/serviceaccount"
context = ssl.create_default_context(cafile=sa + "/ca.crt")
host = os.environ["KUBERNETES_SERVICE_HOST"]
token = open(sa + "/token").read()
request = urllib.request.Request(
    f"https://{host}/version", headers={"Authorization": "Bearer " + token}
)
version = json.load(urllib.request.urlopen(request, context=context, timeout=10))["gitVersion"]
routes = [line.split()[1] for line in open("/proc/net/route").read().splitlines()[1:]]
open("/dev/termination-log", "w").write(json.dumps({"version": version, "routes": routes}))
"""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "incluster"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "main",
                    "image": MODELKEEPER_IMAGE,
                    "command": ["python3", "-c", script],
                }
            ],
        },
    }
    kubectl("apply", "-f", "-", input=json.dumps(pod))
    kubectl("wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/incluster", "--timeout=90s")
    status = get(kubectl, "pod", "incluster")["status"]
    found = json.loads(status["containerStatuses"][0]["state"]["terminated"]["message"])
    assert found["version"].startswith("v1.")
    assert "00000000" not in found["routes"]  # no default route
