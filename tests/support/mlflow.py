"""A real MLflow tracking server with its model registry, and models logged into it.

`mlflow server` (from PyPI, the test extra) runs as a process on a free port of loopback
(or, for the end-to-end tier, of the node's bridge address, which pods and the operator
both reach) with a SQLite backend and its artifact proxy (`--serve-artifacts`), its files
in a temporary directory. Models (and their run's metrics) are logged by
`mlflow.sklearn.log_model` in a child Python process, so that MLflow's own warnings and
state stay out of the test process; aliases move through the registry's REST API.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
import requests

from tests.ground.processes import Component, free_port

LOG_MODELS = """
import json, sys
import joblib, mlflow, pandas as pd
from mlflow.models import infer_signature

tracking_uri, plan = sys.argv[1], json.loads(sys.argv[2])
mlflow.set_tracking_uri(tracking_uri)
client = mlflow.MlflowClient()
versions = []
for entry in plan:
    estimator = joblib.load(entry["estimator"])
    frame = pd.read_parquet(entry["frame"])
    with mlflow.start_run():
        mlflow.log_metrics(entry["metrics"])
        info = mlflow.sklearn.log_model(
            estimator,
            name="model",
            signature=infer_signature(frame, estimator.predict(frame)),
            serialization_format=entry["serialization"],
            **({"skops_trusted_types": entry["trusted"]} if entry["trusted"] else {}),
            registered_model_name=entry["name"],
        )
    version = str(info.registered_model_version)
    for alias in entry.get("aliases", []):
        client.set_registered_model_alias(entry["name"], alias, version)
    versions.append(version)
print(json.dumps(versions))
"""


@dataclass(frozen=True)
class Logged:
    """What to log: an estimator fitted on `frame`, under a registered name, with aliases."""

    name: str
    estimator: Any
    frame: pd.DataFrame
    serialization: str = "skops"
    aliases: tuple[str, ...] = ()
    trusted: tuple[str, ...] = ()
    """Types beyond skops's own trusted ones, written into MLmodel (a forest's trees)."""
    metrics: dict[str, float] = field(default_factory=dict)
    """Logged in the model's run, as a training script logs its evaluation."""


@dataclass
class MlflowServer:
    url: str
    component: Component
    workdir: Path

    def log(self, models: list[Logged]) -> list[str]:
        """Log and register each model (with its aliases); the registry's version numbers."""
        plan = []
        for index, logged in enumerate(models):
            estimator = self.workdir / f"estimator-{index}.joblib"
            frame = self.workdir / f"frame-{index}.parquet"
            joblib.dump(logged.estimator, estimator)
            logged.frame.to_parquet(frame)
            plan.append(
                {
                    "name": logged.name,
                    "estimator": str(estimator),
                    "frame": str(frame),
                    "serialization": logged.serialization,
                    "aliases": list(logged.aliases),
                    "trusted": list(logged.trusted),
                    "metrics": logged.metrics,
                }
            )
        done = subprocess.run(
            [sys.executable, "-c", LOG_MODELS, self.url, json.dumps(plan)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        versions: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
        return versions

    def set_alias(self, name: str, alias: str, version: str) -> None:
        """Point a registered model's alias at a version, as `MlflowClient` does."""
        answer = requests.post(
            f"{self.url}/api/2.0/mlflow/registered-models/alias",
            json={"name": name, "alias": alias, "version": version},
            timeout=30,
        )
        assert answer.ok, answer.text

    def delete_alias(self, name: str, alias: str) -> None:
        answer = requests.delete(
            f"{self.url}/api/2.0/mlflow/registered-models/alias",
            json={"name": name, "alias": alias},
            timeout=30,
        )
        assert answer.ok, answer.text

    def run_id(self, name: str, version: str) -> str:
        """The run that logged a registered version."""
        answer = requests.get(
            f"{self.url}/api/2.0/mlflow/model-versions/get",
            params={"name": name, "version": version},
            timeout=30,
        )
        assert answer.ok, answer.text
        run: str = answer.json()["model_version"]["run_id"]
        return run


def start_mlflow(workdir: Path, host: str = "127.0.0.1") -> MlflowServer:
    """`mlflow server` on `host` (loopback, or the node's bridge address: never a public
    one) with SQLite and the artifact proxy, ready to answer."""
    port = free_port(host)
    mlflow = Path(sys.executable).with_name("mlflow")
    component = Component(
        "mlflow",
        [
            str(mlflow),
            "server",
            "--backend-store-uri",
            f"sqlite:///{workdir / 'mlflow.db'}",
            "--serve-artifacts",
            "--artifacts-destination",
            str(workdir / "artifacts"),
            "--host",
            host,
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        workdir / "mlflow.log",
    )
    component.start()
    url = f"http://{host}:{port}"
    try:
        component.wait_until(lambda: requests.get(f"{url}/health", timeout=2).ok, timeout=120)
    except BaseException:
        component.stop()
        raise
    return MlflowServer(url, component, workdir)
