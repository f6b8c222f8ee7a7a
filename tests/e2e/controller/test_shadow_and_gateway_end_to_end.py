"""Shadow and Gateway API rollouts on the real ground.

Shadow: the router mirrors every request to the candidate and compares the two
predictions; the agreement the analysis reads back from Prometheus must be the share of
inputs on which the two models agree offline, while every client gets the stable
version's answer. Gateway API: the operator writes an HTTPRoute (accepted by the API
server with the official CRDs) whose backend weights follow the canary's steps, and no
router at all.
"""

from __future__ import annotations

import json
import math
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from prometheus_client.parser import text_string_to_metric_families
from sklearn.tree import DecisionTreeRegressor

from modelkeeper.plugin.main import main as plugin
from modelkeeper.router.config import RoutingConfig
from modelkeeper.serving.runtime import save_model_dir
from modelkeeper.serving.schema import ModelSchema
from tests.ground.controlplane import ControlPlane
from tests.ground.ground import Kubectl
from tests.ground.polling import eventually
from tests.support.kube import (
    apply,
    get,
    owned,
    read_status,
    router_address,
    serving_only,
    wait_for,
)
from tests.support.models import constant_versions, sha256_of
from tests.support.objects import artifact_model, deployment
from tests.support.operator_process import RunningOperator
from tests.support.traffic import predict

FAMILY = "fleet"
FLEET = f"deployments.modelkeeper.io/{FAMILY}"
THRESHOLDS = {"1": 4.0, "2": 6.0}
"""Each version predicts LOW below its threshold and HIGH from it on: they disagree on [4, 6)."""
LOW, HIGH = 1.0, 3.0
INPUTS: list[float] = np.round(np.random.default_rng(6).uniform(0.0, 10.0, 300), 3).tolist()
"""The requests sent, in a random order so that disagreements spread evenly over time."""
TOLERANCE = RoutingConfig.model_fields["float_tolerance"].default
"""The router compares regression predictions with this relative and absolute tolerance."""
AGREEMENT_TOLERANCE = 1e-9
"""The analysis counts the rows mirrored since the shadow began exactly (each counter now
minus its value at the start, not increase(), which extrapolates), so once every request
has been scraped its agreement is the offline share, up to float rounding."""


def write_step_model(directory: Path, threshold: float) -> tuple[str, DecisionTreeRegressor]:
    """A depth-1 tree: LOW below `threshold`, HIGH from it on; returns its sha256 and itself."""
    frame = pd.DataFrame({"x": np.linspace(0.0, 10.0, 201)})
    frame["target"] = np.where(frame.x < threshold, LOW, HIGH)
    tree = DecisionTreeRegressor(max_depth=1).fit(frame[["x"]], frame.target)
    schema = ModelSchema.model_validate(
        {"inputs": [{"name": "x", "type": "numeric"}], "output": {"type": "regression"}}
    )
    save_model_dir(directory, tree, schema, frame, target="target")
    return sha256_of(directory), tree


def router_document(address: str, path: str) -> str:
    with urllib.request.urlopen(f"http://{address}{path}", timeout=5) as response:
        text: str = response.read().decode()
        return text


def shadow_ready(address: str) -> bool:
    """The router mirrors everything to version 2, which has a ready endpoint."""
    try:
        document = json.loads(router_document(address, "/router/status"))
    except OSError:  # the router is not listening yet
        return False
    shadows = [b for b in document["backends"] if b["role"] == "shadow"]
    return bool(
        document["mirror_percent"] == 100
        and [b["name"] for b in shadows] == ["2"]
        and shadows[0]["ready_endpoints"]
    )


def compared_rows(address: str) -> dict[str, float]:
    """The router's own count of compared prediction rows, by outcome (its /metrics)."""
    return {
        sample.labels["outcome"]: sample.value
        for family in text_string_to_metric_families(router_document(address, "/metrics"))
        if family.name == "modelkeeper_router_shadow_predictions"
        for sample in family.samples
        if sample.name.endswith("_total")
    }


def all_compared(address: str) -> dict[str, float] | None:
    """The router's compared rows by outcome, once it has compared one per input."""
    counts = compared_rows(address)
    return counts if sum(counts.values()) >= len(INPUTS) else None


def progressing(status: dict[str, Any]) -> dict[str, Any]:
    """The status' Progressing condition ({} while there is none)."""
    return next((c for c in status.get("conditions", []) if c["type"] == "Progressing"), {})


def run_since(kubectl: Kubectl, moment: datetime) -> dict[str, Any] | None:
    """The newest analysis run, if it was taken at `moment` or later."""
    runs: list[dict[str, Any]] = read_status(kubectl, FLEET).get("analysisRuns", [])
    return runs[0] if runs and datetime.fromisoformat(runs[0]["time"]) >= moment else None


def test_shadow_agreement_matches_offline_and_clients_get_stable_answers(
    shared_operator: RunningOperator,
    control_plane: ControlPlane,
    kubectl: Kubectl,
    namespace: str,
    tmp_path: Path,
) -> None:
    trees = {}
    models = []
    for version, threshold in THRESHOLDS.items():
        folder = tmp_path / f"v{version}"
        sha256, trees[version] = write_step_model(folder, threshold)
        models.append(artifact_model(f"{FAMILY}-{version}", FAMILY, version, folder, sha256))
    frame = pd.DataFrame({"x": INPUTS})
    predicted = {version: tree.predict(frame[["x"]]) for version, tree in trees.items()}
    offline = float(
        np.mean(
            [
                math.isclose(a, b, rel_tol=TOLERANCE, abs_tol=TOLERANCE)
                for a, b in zip(predicted["1"], predicted["2"], strict=True)
            ]
        )
    )
    assert 0.6 < offline < 0.9, "the two versions must partly disagree on the inputs"
    fleet = deployment(
        FAMILY,
        FAMILY,
        strategy={
            "type": "Shadow",
            "shadow": {
                "mirrorPercent": 100,
                "interval": "5s",
                "duration": "3s",
                "minRequests": 50,
                "minAgreement": 0.5,
                # Latency is not what this test judges; two cores make it noisy.
                "maxLatencyRatio": 20,
                "onSuccess": "Hold",
            },
        },
    )
    # Given version 1 serving, and version 2 as a shadow mirrored every request
    apply(kubectl, models[0], fleet)
    wait_for(kubectl, FLEET, serving_only("1"), "version 1 serves", 120)
    address = router_address(kubectl, FAMILY)
    apply(kubectl, models[1])
    eventually(lambda: shadow_ready(address), 120, "the router mirrors to version 2")

    # When the fixed inputs go through the router
    answers = [predict(address, FAMILY, x) for x in INPUTS]
    sent = datetime.now(UTC)

    # Then every client got version 1's prediction
    assert answers == [("1", float(p)) for p in predicted["1"]]
    # ...the router compared every row, agreeing exactly where the models agree offline
    rows = eventually(lambda: all_compared(address), 30, "the router compares every row")
    assert sum(rows.values()) == len(INPUTS)
    assert rows.get("agree", 0) / len(INPUTS) == offline
    # ...and the analysis, from Prometheus, reads the same agreement
    # (a run three seconds after the last request: Prometheus scrapes every second)
    run = eventually(
        lambda: run_since(kubectl, sent + timedelta(seconds=3)),
        30,
        "an analysis run after the last request was scraped",
    )
    [agreement] = [m for m in run["metrics"] if m["name"] == "agreement"]
    print(
        f"MEASURED shadow agreement: offline {offline:.4f}, "
        f"router counters {rows.get('agree', 0) / len(INPUTS):.4f}, "
        f"analysis (Prometheus) {agreement['value']:.4f}, "
        f"difference {abs(agreement['value'] - offline):.4f}, "
        f"mirrored requests counted {run['requests']}"
    )
    assert abs(agreement["value"] - offline) <= AGREEMENT_TOLERANCE
    assert agreement["phase"] == "Successful"

    # ...and with onSuccess Hold, the shadow waits for a person (the hold follows the newest
    # run at the operator's next reconcile, which may come just after the run is recorded)
    def holding() -> dict[str, Any] | None:
        status = read_status(kubectl, FLEET)
        return status if progressing(status).get("reason") == "AwaitingPromotion" else None

    status = eventually(holding, 60, "the shadow holds, awaiting promotion")
    assert (status["phase"], progressing(status)["reason"]) == ("Paused", "AwaitingPromotion")
    assert (status["candidate"]["version"], status["candidate"]["role"]) == ("2", "Shadow")
    assert status["stable"]["version"] == "1"

    # When a person promotes it to all traffic
    cluster = ("--kubeconfig", str(control_plane.kubeconfig), "-n", namespace)
    assert plugin(["promote", FAMILY, "--full", *cluster]) == 0

    # Then version 2 is stable and answers with its own predictions
    done = wait_for(kubectl, FLEET, serving_only("2"), "version 2 is promoted", 60)
    assert done["status"]["history"][0]["version"] == "2"
    assert done["status"]["history"][0]["outcome"] == "Promoted"
    x = 5.0  # where the versions disagree
    expected = ("2", float(trees["2"].predict(pd.DataFrame({"x": [x]}))[0]))
    eventually(lambda: predict(address, FAMILY, x) == expected, 60, "version 2 answers")


def route_weights(kubectl: Kubectl) -> dict[str, int] | None:
    """The HTTPRoute's backend weights by Service, or None while there is no route."""
    found = kubectl(
        "get", "httproutes.gateway.networking.k8s.io", FAMILY, "-o", "json", check=False
    )
    if found.returncode != 0:
        return None
    [rule] = json.loads(found.stdout)["spec"]["rules"]
    return {ref["name"]: ref["weight"] for ref in rule["backendRefs"]}


def routed_at(kubectl: Kubectl, weight: int) -> bool:
    """Status says the candidate takes `weight`, and the HTTPRoute splits so."""
    return bool(
        read_status(kubectl, FLEET).get("weight") == weight
        and route_weights(kubectl) == {"fleet-1": 100 - weight, "fleet-2": weight}
    )


def router_objects(kubectl: Kubectl) -> str:
    """The names of this Deployment's router objects, one a line ("" when there are none)."""
    return kubectl(
        "get",
        "deployments.apps,services,configmaps,serviceaccounts,roles,rolebindings",
        "-l",
        f"modelkeeper.io/deployment={FAMILY},app.kubernetes.io/component=router",
        "-o",
        "name",
    ).stdout.strip()


def test_gateway_api_route_follows_canary_steps(
    shared_operator: RunningOperator,
    kubectl: Kubectl,
    tmp_path: Path,
) -> None:
    version_1, version_2 = constant_versions(tmp_path, FAMILY)
    # Pauses only: with no Gateway implementation on the ground, no traffic flows to analyse.
    fleet = deployment(
        FAMILY,
        FAMILY,
        traffic={"provider": "GatewayAPI", "gatewayAPI": {"parentRefs": [{"name": "gw"}]}},
        strategy={
            "type": "Canary",
            "canary": {
                "steps": [
                    {"setWeight": 30},
                    {"pause": {"duration": "5s"}},
                    {"setWeight": 60},
                    {"pause": {"duration": "5s"}},
                ]
            },
        },
    )
    # The operator looks for the Gateway API once, at start: the CRDs are there before it
    # (the shared operator's fixture applies them first).
    # Given version 1 served through an HTTPRoute to its Service
    apply(kubectl, version_1, fleet)
    wait_for(kubectl, FLEET, serving_only("1"), "version 1 serves", 120)
    assert eventually(lambda: route_weights(kubectl), 30, "the HTTPRoute") == {"fleet-1": 100}
    route = get(kubectl, f"httproutes.gateway.networking.k8s.io/{FAMILY}")
    owner = get(kubectl, FLEET)["metadata"]["uid"]
    assert [ref["uid"] for ref in route["metadata"]["ownerReferences"]] == [owner]
    assert [ref["name"] for ref in route["spec"]["parentRefs"]] == ["gw"]

    assert router_objects(kubectl) == ""

    # When version 2 rolls out by the canary's steps
    apply(kubectl, version_2)

    # Then at each step the route's weights are the status' weight
    started = time.monotonic()
    for weight in (30, 60):
        eventually(
            partial(routed_at, kubectl, weight), 120, f"status and HTTPRoute at weight {weight}"
        )
        print(f"MEASURED HTTPRoute at weight {weight}: {time.monotonic() - started:.1f}s")

    # ...and at the end version 2 takes everything, version 1's Service goes
    wait_for(kubectl, FLEET, serving_only("2"), "version 2 is promoted", 60)
    assert eventually(
        lambda: route_weights(kubectl) == {"fleet-2": 100}, 30, "the route sends all to 2"
    )
    eventually(
        lambda: "fleet-1" not in owned(kubectl, FAMILY).get("Service", set()),
        60,
        "version 1's Service is removed after the drain",
    )
    # ...and no router was made for this Deployment
    assert router_objects(kubectl) == ""
    children = owned(kubectl, FAMILY)
    assert children["Service"] == {"fleet-2"}
    assert children["Deployment"] == {"fleet-2"}
