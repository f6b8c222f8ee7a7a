"""The scoring server as a pod: the real node runs `modelkeeper serve` from the project's
image, and Prometheus scrapes its per-feature bin counters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.ground.ground import Kubectl
from tests.ground.imagebuild import MODELKEEPER_IMAGE
from tests.ground.polling import eventually
from tests.ground.prometheus import Prometheus
from tests.support.models import IRIS_FEATURES, iris_frame, write_iris_forest
from tests.support.traffic import infer

pytestmark = pytest.mark.usefixtures("node")


def server_deployment(model_dir: Path) -> dict[str, Any]:
    env = {
        "MODELKEEPER_MODEL_DIR": str(model_dir),
        "MODELKEEPER_MODEL_NAME": "iris",
        "MODELKEEPER_MODEL_VERSION": "1",
        "MODELKEEPER_DEPLOYMENT": "iris",
        "MODELKEEPER_ROLE": "stable",
        "MODELKEEPER_HTTP_PORT": "8080",
    }
    container = {
        "name": "server",
        "image": MODELKEEPER_IMAGE,
        "args": ["serve"],
        "env": [
            {"name": "MODELKEEPER_HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            *({"name": k, "value": v} for k, v in env.items()),
        ],
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {
            "httpGet": {"path": "/v2/health/ready", "port": "http"},
            "periodSeconds": 1,
            "failureThreshold": 60,
        },
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "iris"},
        "spec": {
            "selector": {"matchLabels": {"app": "iris"}},
            "template": {
                "metadata": {
                    "labels": {"app": "iris"},
                    "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "8080"},
                },
                "spec": {"enableServiceLinks": False, "containers": [container]},
            },
        },
    }


def columns(rows: list[list[float]]) -> dict[str, Any]:
    """A V2 request with one [rows] FP64 tensor per iris feature."""
    return {
        "inputs": [
            {"name": name, "shape": [len(rows)], "datatype": "FP64", "data": [r[i] for r in rows]}
            for i, name in enumerate(IRIS_FEATURES)
        ]
    }


def test_prometheus_scrapes_the_feature_counters_of_a_serving_pod(
    kubectl: Kubectl, namespace: str, prometheus: Prometheus, tmp_path: Path
) -> None:
    model_dir = write_iris_forest(tmp_path / "model")
    kubectl("apply", "-f", "-", input=json.dumps(server_deployment(model_dir)))
    kubectl("wait", "--for=condition=Available", "deployment/iris", "--timeout=120s")
    pod = json.loads(kubectl("get", "pods", "-l", "app=iris", "-o", "json").stdout)["items"][0]
    address = pod["status"]["podIP"]

    rows = iris_frame()[IRIS_FEATURES].head(30).to_numpy().tolist()
    for start in range(0, len(rows), 10):
        answer = infer(f"{address}:8080", "iris", columns(rows[start : start + 10]))
        assert answer["outputs"][0]["shape"][0] == 10

    def counted() -> float | None:
        series = prometheus.query(
            f'modelkeeper_feature_value_count{{namespace="{namespace}", feature="petal_length"}}'
        )
        total = sum(float(s["value"][1]) for s in series)
        return total if total == len(rows) else None

    assert eventually(counted, timeout=30, what="Prometheus has all rows counted") == 30
    selector = f'namespace="{namespace}", feature="petal_length", le="+Inf"'
    inf_bucket = prometheus.query(f"modelkeeper_feature_value_bucket{{{selector}}}")
    assert sum(float(s["value"][1]) for s in inf_bucket) == 30
    labels = inf_bucket[0]["metric"]
    assert (labels["model"], labels["version"], labels["role"]) == ("iris", "1", "stable")
