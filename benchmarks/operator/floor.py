"""The framework's floor: a bare kopf operator that creates one ConfigMap per object.

Started by run.py in place of Modelkeeper, on the same objects, so the ratio between the
two says what Modelkeeper's own work costs above kopf's. Handler durations go to the
JSON file named by $FLOOR_DURATIONS when it stops.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import kopf
from kubernetes import client, config

DURATIONS: list[float] = []


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.posting.level = 40
    config.load_kube_config()


def _config_map(kind: str, body: kopf.Body) -> None:
    started = time.perf_counter()
    manifest: dict[str, Any] = {
        "metadata": {"name": f"{kind}-{body['metadata']['name']}"},
        "data": {"for": body["metadata"]["name"]},
    }
    kopf.adopt(manifest, owner=body)
    client.CoreV1Api().create_namespaced_config_map(body["metadata"]["namespace"], manifest)
    DURATIONS.append(time.perf_counter() - started)


@kopf.on.create("modelkeeper.io", "v1alpha1", "deployments")
def deployment_created(body: kopf.Body, **_: Any) -> None:
    _config_map("deployment", body)


@kopf.on.create("modelkeeper.io", "v1alpha1", "models")
def model_created(body: kopf.Body, **_: Any) -> None:
    _config_map("model", body)


@kopf.on.create("modelkeeper.io", "v1alpha1", "driftmonitors")
def drift_monitor_created(body: kopf.Body, **_: Any) -> None:
    _config_map("driftmonitor", body)


@kopf.on.cleanup()
def dump(**_: Any) -> None:
    with open(os.environ["FLOOR_DURATIONS"], "w") as file:
        json.dump(DURATIONS, file)


if __name__ == "__main__":
    kopf.configure(verbose=False)
    kopf.run(standalone=True, namespaces=sys.argv[1:])
