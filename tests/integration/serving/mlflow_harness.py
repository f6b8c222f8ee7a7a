"""A real MLflow tracking server with its model registry, and models logged into it.

`mlflow server` (from PyPI, the test extra) runs as a process on a free loopback port with
a SQLite backend and its artifact proxy (`--serve-artifacts`), its files in a temporary
directory. Models are logged by `mlflow.sklearn.log_model` in a child Python process, so
that MLflow's own warnings and state stay out of the test process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
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


def start_mlflow(workdir: Path) -> MlflowServer:
    """`mlflow server` on loopback with SQLite and the artifact proxy, ready to answer."""
    port = free_port()
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
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        workdir / "mlflow.log",
    )
    component.start()
    url = f"http://127.0.0.1:{port}"
    try:
        component.wait_until(lambda: requests.get(f"{url}/health", timeout=2).ok, timeout=120)
    except BaseException:
        component.stop()
        raise
    return MlflowServer(url, component, workdir)
