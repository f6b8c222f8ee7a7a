"""The operator the chart deploys runs: its pod starts, passes its probes, reconciles, is scraped.

The real node runs the chart's pod from the project's image under the chart's security
context, with its ServiceAccount's token, reaching the API server at the `kubernetes`
Service's address, so what is checked is the chart's own wiring: the image's command,
MODELKEEPER_* settings, probes on named ports, the RBAC it binds, and the annotations
Prometheus discovers the metrics by. Namespaced scope keeps this operator to
the test's namespace, away from every other test's objects.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.ground.ground import Kubectl
from tests.ground.imagebuild import TEST_MODEL_IMAGE
from tests.ground.polling import eventually
from tests.ground.prometheus import Prometheus
from tests.support.chart import rendered_objects
from tests.support.kube import apply, condition, wait_for
from tests.support.objects import image_model

RELEASE = "smoke"


def test_operator_from_the_chart_reconciles_and_is_scraped(
    no_shared_operator: None,
    crds: Path,
    prometheus: Prometheus,
    pod_prometheus_url: str,
    kubectl: Kubectl,
    namespace: str,
) -> None:
    # Given the chart installed in Namespaced scope, pointed at the ground's Prometheus
    objects = rendered_objects(
        RELEASE,
        namespace,
        "rbac.scope=Namespaced",
        f"operator.prometheusUrl={pod_prometheus_url}",
        "operator.logFormat=text",
        "dashboards.enabled=false",
    )
    selector = f"app.kubernetes.io/instance={RELEASE}"
    try:
        kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(objects))

        # When its pod runs, it becomes ready through the chart's probes
        kubectl("wait", "--for=create", "pod", "-l", selector, "--timeout=60s")
        # (the first pod of an e2e session may take minutes on a busy two-core machine)
        eventually(lambda: _ready(kubectl, selector), 240, "the chart's operator pod is Ready")

        # Then it reconciles a Model in its namespace as the chart's ServiceAccount
        apply(kubectl, image_model("smoke-1", "smoke", "1.0.0", TEST_MODEL_IMAGE))
        model = wait_for(
            kubectl,
            "model/smoke-1",
            lambda m: (condition(m, "Validated") or {}).get("status") == "True",
            "the chart's operator validates the Model",
            timeout=120,
        )
        assert model["status"]["conditions"]

        # And Prometheus scrapes its metrics as the operator's job, reconciles counted
        def scraped() -> list[dict[str, Any]] | None:
            found = prometheus.query(
                f'modelkeeper_operator_reconciliations_total{{job="modelkeeper-operator", '
                f'namespace="{namespace}", app_kubernetes_io_instance="{RELEASE}", kind="Model"}}'
                " >= 1"
            )
            return found or None

        eventually(scraped, 60, "Prometheus scrapes the chart's operator")
    except BaseException:
        _show_pods(kubectl, selector)
        raise
    finally:
        kubectl("delete", "deployment.apps", "-l", selector, "--wait=true", "--timeout=60s")
        kubectl("wait", "--for=delete", "pod", "-l", selector, "--timeout=60s", check=False)
        cluster_kinds = "clusterrole,clusterrolebinding,validatingadmissionpolicy,"
        cluster_kinds += "validatingadmissionpolicybinding"
        kubectl("delete", cluster_kinds, "-l", selector, namespaced=False)


def _ready(kubectl: Kubectl, selector: str) -> bool:
    pods = json.loads(kubectl("get", "pods", "-l", selector, "-o", "json").stdout)["items"]
    return any(
        condition["type"] == "Ready" and condition["status"] == "True"
        for pod in pods
        for condition in pod.get("status", {}).get("conditions", [])
    )


def _show_pods(kubectl: Kubectl, selector: str) -> None:
    """The operator pods' status and container logs, in a failed test's report."""
    pods = json.loads(kubectl("get", "pods", "-l", selector, "-o", "json").stdout)["items"]
    for pod in pods:
        print(f"pod {pod['metadata']['name']}: {json.dumps(pod.get('status'), indent=1)}")
        logs = kubectl(
            "logs", pod["metadata"]["name"], "--all-containers", "--tail=60", check=False
        )
        print(f"--- logs\n{logs.stdout}{logs.stderr}")
    print(kubectl("get", "events", "--sort-by=.lastTimestamp").stdout)
