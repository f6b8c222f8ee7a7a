"""A Deployment follows an MLflow alias: the real operator, API server and `mlflow server`.

The operator (as its ServiceAccount, with the chart's rules) asks a real tracking server on
loopback where `iris@champion` points. No node runs here: the loop is what is under test,
not the pods. Given a seed Model `models:/iris/1` and the alias on version 1, nothing new is
made; when version 2 is registered and the alias moves, Model `iris-mlflow-2` appears,
copied from the seed, pinned to `models:/iris/2`, with the run's metrics and lineage, and
approved by the Deployment's follow (risk tier Low); moved back to version 1, nothing new
is made; a deleted alias and a stopped registry are reported in the Following condition.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sklearn.linear_model import LogisticRegression

from modelkeeper.profile import build_profile
from tests.ground.controlplane import ControlPlane
from tests.ground.ground import Kubectl
from tests.support.kube import apply, condition, event_log, get, wait_for
from tests.support.mlflow import Logged, MlflowServer, start_mlflow
from tests.support.models import IRIS_FEATURES, iris_frame
from tests.support.objects import APPROVAL, deployment, model
from tests.support.operator_process import RunningOperator, operator_flags, running_operator

DEPLOYMENT = "deployments.modelkeeper.io/iris"


@pytest.fixture(scope="module")
def mlflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    server = start_mlflow(tmp_path_factory.mktemp("mlflow"))
    try:
        yield server
    finally:
        server.component.stop()


@pytest.fixture(scope="module")
def operator(
    crds: Path,
    control_plane: ControlPlane,
    mlflow: MlflowServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningOperator]:
    flags = operator_flags(f"--mlflow-tracking-uri={mlflow.url}")
    with running_operator(control_plane, tmp_path_factory.mktemp("operator"), *flags) as running:
        yield running


def following(reason: str, registry_version: str | None = None) -> Any:
    """A `wait_for` check: the Following condition has `reason` (and status.follow the version)."""

    def check(obj: dict[str, Any]) -> bool:
        found = condition(obj, "Following") or {}
        seen = obj.get("status", {}).get("follow", {}).get("registryVersion")
        return found.get("reason") == reason and (registry_version in (None, seen))

    return check


def models_of(kubectl: Kubectl, family: str) -> dict[str, dict[str, Any]]:
    listed = json.loads(kubectl("get", "models", "-o", "json").stdout)["items"]
    return {m["metadata"]["name"]: m for m in listed if m["spec"]["name"] == family}


def test_an_alias_move_becomes_a_new_approved_model_version(
    operator: RunningOperator, mlflow: MlflowServer, kubectl: Kubectl, tmp_path: Path
) -> None:
    frame = iris_frame()
    features = frame[IRIS_FEATURES]
    first = LogisticRegression(max_iter=1000).fit(features, frame["target"])
    second = LogisticRegression(C=0.05, max_iter=1000).fit(features, frame["target"])
    assert mlflow.log([Logged("iris", first, features, aliases=("champion",))]) == ["1"]
    profile = tmp_path / "profile.json"
    profile.write_text(
        build_profile(frame, categorical=["target"], target="target").model_dump_json()
    )

    # Given a seed Model of version 1 and a Deployment that follows iris@champion
    seed = model(
        "iris-1",
        "iris",
        "1",
        artifact={"uri": "models:/iris/1", "format": "mlflow"},
        reference={"uri": f"file://{profile}"},
        governance={"owner": "iris-team", "riskTier": "Low", "approval": APPROVAL},
    )
    follow = {
        "mlflow": {
            "model": "iris",
            "alias": "champion",
            "interval": "1s",
            "approval": {"autoApproveUpTo": "Low"},
        }
    }
    apply(kubectl, seed, deployment("iris", "iris", follow=follow))
    seen = wait_for(kubectl, DEPLOYMENT, following("AliasResolved", "1"), "alias on version 1")
    assert seen["status"]["follow"]["model"] == "iris-1"
    assert set(models_of(kubectl, "iris")) == {"iris-1"}, "the seed is version 1 already"

    # When version 2 is registered with its run's metrics and the alias moves to it
    logged = Logged("iris", second, features, metrics={"accuracy": 0.97, "log_loss": 0.21})
    assert mlflow.log([logged]) == ["2"]
    mlflow.set_alias("iris", "champion", "2")

    # Then the family gets version mlflow-2, copied from the seed and pinned to models:/iris/2
    wait_for(kubectl, DEPLOYMENT, following("AliasResolved", "2"), "alias on version 2", 30)
    created = wait_for(
        kubectl,
        "models/iris-mlflow-2",
        lambda m: m.get("status", {}).get("approved") is True,
        "version mlflow-2 approved",
        30,
    )
    spec = created["spec"]
    assert spec["version"] == "mlflow-2"
    assert spec["artifact"] == {"uri": "models:/iris/2", "format": "mlflow"}
    assert spec["reference"] == seed["spec"]["reference"]
    assert spec["metrics"] == {"accuracy": 0.97, "log_loss": 0.21}
    assert spec["governance"] == {"owner": "iris-team", "riskTier": "Low"}
    registry = spec["lineage"]["registry"]
    assert registry["runId"] == mlflow.run_id("iris", "2")
    assert (registry["trackingUri"], registry["model"], registry["version"]) == (
        mlflow.url,
        "iris",
        "2",
    )
    assert registry["alias"] == "champion"
    assert spec["lineage"]["parentVersion"] == "1"
    assert created["metadata"]["labels"]["modelkeeper.io/followed-by"] == "iris"
    approval = created["status"]["approval"]
    assert (approval["by"], approval["source"]) == ("deployment/iris", "Policy")
    followed = [e for e in event_log(kubectl, "Deployment", "iris") if e[1] == "VersionFollowed"]
    assert len(followed) == 1, followed
    assert "created Model iris-mlflow-2 (version mlflow-2)" in followed[0][2]
    status = get(kubectl, DEPLOYMENT)["status"]
    assert status["follow"]["model"] == "iris-mlflow-2"

    # When the alias moves back to version 1: nothing new, and status says so
    mlflow.set_alias("iris", "champion", "1")
    back = wait_for(kubectl, DEPLOYMENT, following("AliasResolved", "1"), "alias back on 1", 30)
    message = (condition(back, "Following") or {})["message"]
    assert "older than the family's newest Model iris-mlflow-2" in message, message
    assert set(models_of(kubectl, "iris")) == {"iris-1", "iris-mlflow-2"}

    # When the alias is deleted, and then the registry stops
    mlflow.delete_alias("iris", "champion")
    gone = wait_for(kubectl, DEPLOYMENT, following("AliasNotFound"), "alias not found", 30)
    assert "champion" in (condition(gone, "Following") or {})["message"]
    assert gone["status"]["follow"]["registryVersion"] == "1", "what was seen last stays"
    mlflow.component.stop()
    down = wait_for(kubectl, DEPLOYMENT, following("RegistryUnreachable"), "unreachable", 30)
    assert "unreachable" in (condition(down, "Following") or {})["message"]
    warnings = [e[1] for e in event_log(kubectl, "Deployment", "iris") if e[0] == "Warning"]
    assert warnings.count("AliasNotFound") == 1
    assert warnings.count("RegistryUnreachable") == 1

    # And the operator made exactly one Model, and is still alive
    assert set(models_of(kubectl, "iris")) == {"iris-1", "iris-mlflow-2"}
    assert operator.component.alive()
