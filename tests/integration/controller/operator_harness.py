"""The operator as a separate process, authenticated as its own ServiceAccount.

It gets exactly the ClusterRole rules the chart ships (charts/modelkeeper/files/
clusterrole-rules.yaml) through a token from `kubectl create token`, so a missing
permission fails the test that needs it. Manifests for Models and Deployments are
built here too, so every test reads as Given / When / Then.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sklearn.dummy import DummyRegressor

from modelkeeper.serving.runtime import save_model_dir
from modelkeeper.serving.schema import ModelSchema
from tests.ground.controlplane import ControlPlane
from tests.ground.polling import eventually
from tests.ground.processes import Component, free_port

REPO = Path(__file__).resolve().parents[3]
RULES = REPO / "charts" / "modelkeeper" / "files" / "clusterrole-rules.yaml"
MODELKEEPER = str(Path(sys.executable).parent / "modelkeeper")
SYSTEM_NAMESPACE = "modelkeeper-system"
SCHEMA = {"inputs": [{"name": "x", "type": "Numeric"}], "output": {"type": "Regression"}}

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def write_model(directory: Path, constant: float) -> str:
    """A model directory whose model predicts `constant` for every row; returns its sha256."""
    frame = pd.DataFrame({"x": np.linspace(0.0, 10.0, 200)})
    frame["target"] = constant
    schema = ModelSchema.model_validate(
        {"inputs": [{"name": "x", "type": "numeric"}], "output": {"type": "regression"}}
    )
    estimator = DummyRegressor(strategy="constant", constant=constant).fit(
        frame[["x"]], frame.target
    )
    save_model_dir(directory, estimator, schema, frame, target="target")
    return hashlib.sha256((directory / "model.joblib").read_bytes()).hexdigest()


def _model(name: str, family: str, version: str, **source: Any) -> dict[str, Any]:
    """A Model approved in its manifest, with the test schema."""
    return {
        "apiVersion": "modelkeeper.io/v1alpha1",
        "kind": "Model",
        "metadata": {"name": name},
        "spec": {
            "name": family,
            "version": version,
            **source,
            "schema": SCHEMA,
            "governance": {"approval": {"by": "lead@example.com", "at": "2026-01-01T00:00:00Z"}},
        },
    }


def artifact_model(
    name: str, family: str, version: str, directory: Path, sha256: str
) -> dict[str, Any]:
    """A Model in artifact-URI form: the model file and its profile as file:// URIs."""
    return _model(
        name,
        family,
        version,
        artifact={"uri": f"file://{directory}/model.joblib", "sha256": sha256, "format": "sklearn"},
        reference={"uri": f"file://{directory}/profile.json"},
    )


def image_model(name: str, family: str, version: str, image: str) -> dict[str, Any]:
    """A Model in baked-image form."""
    return _model(name, family, version, image=image)


def deployment(name: str, family: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "modelkeeper.io/v1alpha1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {"model": {"name": family}, **spec},
    }


def apply(kubectl: Kubectl, *objects: dict[str, Any]) -> None:
    kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))


def get(kubectl: Kubectl, resource: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(kubectl("get", resource, "-o", "json").stdout)
    return found


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    conditions = obj.get("status", {}).get("conditions", [])
    return next((c for c in conditions if c["type"] == kind), None)


@dataclass
class RunningOperator:
    component: Component
    metrics_url: str
    liveness_url: str

    def metrics(self) -> str:
        with urllib.request.urlopen(self.metrics_url, timeout=5) as response:
            text: str = response.read().decode()
            return text


def service_account_kubeconfig(control_plane: ControlPlane, directory: Path) -> Path:
    """A kubeconfig for the operator's ServiceAccount, bound to the shipped ClusterRole rules."""
    rules = yaml.safe_load(RULES.read_text())
    objects = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SYSTEM_NAMESPACE}},
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "modelkeeper", "namespace": SYSTEM_NAMESPACE},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "modelkeeper-operator"},
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "modelkeeper-operator"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "modelkeeper-operator",
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": "modelkeeper", "namespace": SYSTEM_NAMESPACE}
            ],
        },
    ]
    control_plane.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))
    token = control_plane.kubectl(
        "create", "token", "modelkeeper", "-n", SYSTEM_NAMESPACE, "--duration=2h"
    ).stdout.strip()
    admin = yaml.safe_load(control_plane.kubeconfig.read_text())
    cluster = admin["clusters"][0]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": "modelkeeper", "user": {"token": token}}],
        "contexts": [
            {"name": "modelkeeper", "context": {"cluster": cluster["name"], "user": "modelkeeper"}}
        ],
        "current-context": "modelkeeper",
    }
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "operator.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


@contextmanager
def running_operator(
    control_plane: ControlPlane, directory: Path, *flags: str
) -> Iterator[RunningOperator]:
    """`modelkeeper run` as its ServiceAccount; stopped (by its PID) on exit."""
    kubeconfig = service_account_kubeconfig(control_plane, directory)
    metrics_port, liveness_port = free_port(), free_port()
    component = Component(
        name="modelkeeper-operator",
        argv=[
            MODELKEEPER,
            "run",
            "--host=127.0.0.1",
            f"--metrics-port={metrics_port}",
            f"--liveness-port={liveness_port}",
            *flags,
        ],
        log=directory / "operator.log",
        env={**_clean_environ(), "KUBECONFIG": str(kubeconfig)},
    )
    operator = RunningOperator(
        component,
        f"http://127.0.0.1:{metrics_port}/metrics",
        f"http://127.0.0.1:{liveness_port}/healthz",
    )
    component.start()
    try:
        component.wait_until(lambda: bool(operator.metrics()), timeout=60, what="serving /metrics")
        yield operator
    finally:
        component.stop()


def _clean_environ() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("MODELKEEPER_")}


def wait_for(
    kubectl: Kubectl,
    resource: str,
    check: Callable[[dict[str, Any]], bool],
    what: str,
    timeout: float = 60,
) -> dict[str, Any]:
    """Poll `kubectl get resource -o json` until `check` holds; return the object."""

    def probe() -> dict[str, Any] | None:
        found = kubectl("get", resource, "-o", "json", check=False)
        if found.returncode != 0:
            return None
        obj: dict[str, Any] = json.loads(found.stdout)
        return obj if check(obj) else None

    return eventually(probe, timeout, what)


def events(kubectl: Kubectl, name: str) -> list[str]:
    """The reasons of the Events about a Deployment (modelkeeper.io) named `name`."""
    listed = json.loads(kubectl("get", "events", "-o", "json").stdout)["items"]
    return [
        event["reason"]
        for event in listed
        if event["involvedObject"]["name"] == name
        and event["involvedObject"].get("apiVersion") == "modelkeeper.io/v1alpha1"
    ]


def owned(kubectl: Kubectl, name: str) -> dict[str, set[str]]:
    """Names of the objects labelled as this Deployment's, by kind."""
    found: dict[str, set[str]] = {}
    kinds = "deployments.apps,services,configmaps,serviceaccounts,roles,rolebindings,hpa,pdb"
    listed = json.loads(
        kubectl("get", kinds, "-l", f"modelkeeper.io/deployment={name}", "-o", "json").stdout
    )["items"]
    for obj in listed:
        found.setdefault(obj["kind"], set()).add(obj["metadata"]["name"])
    return found
