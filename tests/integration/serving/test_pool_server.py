"""A pool server (`modelkeeper serve --pool`) against the real API server.

It follows its pool's catalogue ConfigMaps (a list, then a watch), loads each version
on its first request, keeps the loaded ones within its memory budget by unloading the
least recently used, and serves the V2 model repository extension. Every answer is
checked against the estimator's own prediction, and every version counts into its own
series with the labels a single-model server of it would have.
"""

from __future__ import annotations

import concurrent.futures
import json
from pathlib import Path
from typing import Any

import grpc
import joblib
import numpy as np
import pytest
import requests
from sklearn.linear_model import LogisticRegression

from modelkeeper.api.labels import MANAGED_BY
from modelkeeper.api.pool import POOL_LABEL, catalogue_name
from modelkeeper.protocol import grpc_predict_v2_pb2 as pb
from modelkeeper.protocol import grpc_predict_v2_pb2_grpc as service
from tests.ground.controlplane import ControlPlane
from tests.ground.ground import Kubectl
from tests.ground.polling import eventually
from tests.integration.serving.serving_harness import Server, ServerLauncher
from tests.support.models import IRIS_FEATURES, iris_frame, write_constant_model, write_iris
from tests.support.pools import catalogue_config_map, family, owned_catalogue, pooled_version

# Each catalogue is owned by a modelkeeper.io Deployment (the CRDs), as the operator's are
pytestmark = pytest.mark.usefixtures("crds")
POOL = "shared"
IRIS_ROWS = iris_frame()[IRIS_FEATURES].to_numpy()[::15]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Model directories: an iris classifier and constant regressors predicting 1 to 4."""
    root = tmp_path_factory.mktemp("pooled-models")
    written = {"iris": write_iris(root / "iris", LogisticRegression(max_iter=1000))}
    for constant in range(1, 5):
        write_constant_model(root / f"c{constant}", float(constant))
        written[f"c{constant}"] = root / f"c{constant}"
    return written


def apply(kubectl: Kubectl, *documents: dict[str, Any]) -> None:
    for document in documents:
        kubectl("apply", "-f", "-", input=json.dumps(document))


def iris_body(rows: np.ndarray) -> dict[str, Any]:
    return {
        "inputs": [
            {"name": name, "datatype": "FP64", "shape": [len(rows)], "data": rows[:, i].tolist()}
            for i, name in enumerate(IRIS_FEATURES)
        ]
    }


def x_body(*values: float, request_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "inputs": [{"name": "x", "datatype": "FP64", "shape": [len(values)], "data": list(values)}]
    }
    if request_id is not None:
        body["id"] = request_id
    return body


def infer(server: Server, model: str, body: dict[str, Any], version: str | None = None) -> Any:
    path = f"/v2/models/{model}" + (f"/versions/{version}" if version else "") + "/infer"
    return server.post(path, body)


def predicted(server: Server, model: str, body: dict[str, Any], version: str | None = None) -> Any:
    answer = infer(server, model, body, version)
    assert answer.status_code == 200, answer.text
    return answer.json()["outputs"][0]["data"]


def index(server: Server, ready: bool | None = None) -> dict[tuple[str, str], dict[str, str]]:
    body = {} if ready is None else {"ready": ready}
    answer = server.post("/v2/repository/index", body)
    assert answer.status_code == 200, answer.text
    return {(entry["name"], entry["version"]): entry for entry in answer.json()}


def start_pool(
    launch: ServerLauncher, control_plane: ControlPlane, namespace: str, *flags: str
) -> Server:
    return launch.start_pool(
        "--pool",
        POOL,
        "--namespace",
        namespace,
        *flags,
        env={"KUBECONFIG": str(control_plane.kubeconfig)},
    )


def test_a_pool_serves_the_families_of_its_configmaps_and_follows_their_changes(
    launch: ServerLauncher,
    kubectl: Kubectl,
    namespace: str,
    control_plane: ControlPlane,
    models: dict[str, Path],
) -> None:
    # Given two families in the pool's catalogue, a bad ConfigMap in it and a family of
    # another pool
    iris = family("iris-dep", "iris", pooled_version("1", models["iris"]), probability_sampling=1.0)
    constant = family("const-dep", "const", pooled_version("1", models["c1"]))
    other = family("other-dep", "other", pooled_version("1", models["c3"]))
    bad = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "broken-catalogue", "labels": {POOL_LABEL: POOL}},
        "data": {"family.json": '{"deployment": "broken"}'},
    }
    apply(
        kubectl,
        owned_catalogue(kubectl, POOL, iris),
        owned_catalogue(kubectl, POOL, constant),
        owned_catalogue(kubectl, "elsewhere", other),
        bad,
    )

    # When a pool server starts, it lists every version of its families, none loaded
    server = start_pool(launch, control_plane, namespace)
    assert index(server) == {
        ("const", "1"): {
            "name": "const",
            "version": "1",
            "state": "UNAVAILABLE",
            "reason": "not loaded yet",
        },
        ("iris", "1"): {
            "name": "iris",
            "version": "1",
            "state": "UNAVAILABLE",
            "reason": "not loaded yet",
        },
    }
    metadata = requests.get(f"{server.url}/v2", timeout=5).json()
    assert "model_repository" in metadata["extensions"]

    # Then each model loads on its first request and answers as its estimator does
    estimator = joblib.load(models["iris"] / "model.joblib")
    assert predicted(server, "iris", iris_body(IRIS_ROWS)) == estimator.predict(IRIS_ROWS).tolist()
    assert (
        predicted(server, "iris", iris_body(IRIS_ROWS), "1")
        == estimator.predict(IRIS_ROWS).tolist()
    )
    assert predicted(server, "const", x_body(0.5, 7.0)) == [1.0, 1.0]
    assert index(server, ready=True).keys() == {("iris", "1"), ("const", "1")}

    # And V2 gRPC reaches the same models by name and version
    assert server.grpc is not None
    with grpc.insecure_channel(server.grpc) as channel:
        stub = service.GRPCInferenceServiceStub(channel)  # type: ignore[no-untyped-call]
        request = pb.ModelInferRequest(model_name="const", model_version="1")
        tensor = request.inputs.add(name="x", datatype="FP64", shape=[1])
        tensor.contents.fp64_contents.append(3.0)
        reply = stub.ModelInfer(request, timeout=10)
        assert list(reply.outputs[0].contents.fp64_contents) == [1.0]
        with pytest.raises(grpc.RpcError) as refused:
            stub.ModelInfer(pb.ModelInferRequest(model_name="other"), timeout=10)
        assert refused.value.code() is grpc.StatusCode.NOT_FOUND

    # An unknown model or version is a 404 naming it
    for model, version in (("other", None), ("broken", None), ("const", "9")):
        answer = infer(server, model, x_body(1.0), version)
        assert answer.status_code == 404, answer.text
        assert repr(version or model) in answer.json()["error"]

    # Each version counts into its own series, labelled as a server of its own would be
    labels = {"deployment": "const-dep", "model": "const", "version": "1", "role": "stable"}
    requests_200 = server.metric(
        "modelkeeper_requests_total", endpoint="infer", code="200", **labels
    )
    assert requests_200 == 1
    assert server.metric("modelkeeper_grpc_requests_total", code="OK", **labels) == 1
    assert server.metric("modelkeeper_feature_value_count", feature="x", **labels) == 3
    assert server.metric("modelkeeper_pool_model_loaded", **labels) == 1
    assert server.metric("modelkeeper_pool_loads_total", result="ok", **labels) == 1
    iris_labels = {"deployment": "iris-dep", "model": "iris", "version": "1", "role": "stable"}
    assert server.metric("modelkeeper_predictions_total", **iris_labels) == 2 * len(IRIS_ROWS)
    # every model call's probabilities counted: the family samples all of them
    confidences = server.metric("modelkeeper_prediction_confidence_count", **iris_labels)
    assert confidences == 2 * len(IRIS_ROWS)
    # The two versions' families are merged: each family once, as the text format wants
    text = requests.get(f"{server.url}/metrics", timeout=10).text
    types = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
    assert len(types) == len(set(types))
    assert "modelkeeper_feature_value" in types

    # When the family gets a canary version, it is served without a restart
    with_canary = family(
        "const-dep",
        "const",
        pooled_version("1", models["c1"], weight=90),
        pooled_version("2", models["c2"], role="Canary", weight=10),
    )
    apply(kubectl, owned_catalogue(kubectl, POOL, with_canary))
    eventually(lambda: ("const", "2") in index(server), 30, "version 2 in the index")
    assert predicted(server, "const", x_body(1.0), "2") == [2.0]
    canary = labels | {"version": "2", "role": "canary"}
    assert server.metric("modelkeeper_requests_total", code="200", **canary) == 1

    # And when version 1 leaves it (2 promoted), 1 is unloaded and gone, 2 is the default
    promoted = family("const-dep", "const", pooled_version("2", models["c2"]))
    apply(kubectl, owned_catalogue(kubectl, POOL, promoted))
    eventually(lambda: ("const", "1") not in index(server), 30, "version 1 gone")
    assert infer(server, "const", x_body(1.0), "1").status_code == 404
    assert predicted(server, "const", x_body(1.0)) == [2.0]
    assert server.metric("modelkeeper_pool_model_loaded", **labels) == 0

    # A bad edit of a family's ConfigMap is skipped: its last good family is served on
    # (events come in order, so a later family's arrival shows the edit was seen)
    broken = owned_catalogue(kubectl, POOL, promoted) | {"data": {"family.json": "{"}}
    later = family("later-dep", "later", pooled_version("1", models["c3"]))
    apply(kubectl, broken, owned_catalogue(kubectl, POOL, later))
    eventually(lambda: ("later", "1") in index(server), 30, "the later family")
    assert predicted(server, "const", x_body(1.0)) == [2.0]

    # And a family whose ConfigMap is deleted is no longer served
    kubectl("delete", "configmap", catalogue_name("iris-dep"))
    eventually(lambda: ("iris", "1") not in index(server), 30, "iris gone")
    assert infer(server, "iris", iris_body(IRIS_ROWS)).status_code == 404


def test_a_model_name_is_served_for_the_operators_elder_family_and_passes_on_when_it_goes(
    launch: ServerLauncher,
    kubectl: Kubectl,
    namespace: str,
    control_plane: ControlPlane,
    models: dict[str, Path],
) -> None:
    # Given a pool server serving model `named` for Deployment a-dep (a constant 1)
    first = family("a-dep", "named", pooled_version("1", models["c1"]))
    apply(kubectl, owned_catalogue(kubectl, POOL, first))
    server = start_pool(launch, control_plane, namespace)
    assert predicted(server, "named", x_body(1.0)) == [1.0]

    # When ConfigMaps not the operator's claim the name, named to sort first: one without
    # the managed-by label, one controlled by no modelkeeper.io Deployment, one named for
    # another Deployment than its owner
    evil = family("0-evil", "named", pooled_version("1", models["c4"]))
    unlabelled = owned_catalogue(kubectl, POOL, evil)
    del unlabelled["metadata"]["labels"][MANAGED_BY]
    unowned = catalogue_config_map(POOL, evil, "no-such-uid")
    unowned["metadata"] |= {"name": "0-unowned-catalogue", "ownerReferences": []}
    misnamed = owned_catalogue(kubectl, POOL, evil)
    misnamed["metadata"]["name"] = "0-misnamed-catalogue"
    # and a family of a second Deployment claims it too, the operator's but younger
    second = family("b-dep", "named", pooled_version("1", models["c2"]))
    marker = family("marker-dep", "marker", pooled_version("1", models["c3"]))
    apply(kubectl, unlabelled, unowned, misnamed, owned_catalogue(kubectl, POOL, second))
    apply(kubectl, owned_catalogue(kubectl, POOL, marker))

    # Then the forged ones are refused with a log line, and the second waits: a-dep's
    # family is served on (events come in order: the marker shows all were seen)
    eventually(lambda: ("marker", "1") in index(server), 30, "the marker family")
    assert predicted(server, "named", x_body(1.0)) == [1.0]
    log = server.component.log.read_text()
    for name, why in (
        ("0-evil-catalogue", f"it is not labelled {MANAGED_BY}=modelkeeper"),
        ("0-unowned-catalogue", "no modelkeeper.io Deployment controls it"),
        ("0-misnamed-catalogue", "it is not named as the catalogue of its Deployment 0-evil"),
    ):
        assert f"ConfigMap {namespace}/{name} is not taken: {why}" in log
    assert "model 'named' is already served for deployment 'a-dep'" in log

    # When a-dep is deleted and the garbage collector takes its catalogue, as in a handover,
    # b-dep's family, refused so far, is served
    kubectl("delete", "deployments.modelkeeper.io", "a-dep")
    eventually(
        lambda: predicted(server, "named", x_body(1.0)) == [2.0], 60, "b-dep's family served"
    )
    assert server.metric("modelkeeper_requests_total", code="200", deployment="b-dep") == 1


def test_a_budget_that_holds_two_models_unloads_the_least_recently_used(
    launch: ServerLauncher,
    kubectl: Kubectl,
    namespace: str,
    control_plane: ControlPlane,
    models: dict[str, Path],
) -> None:
    # Given three one-version families, and a budget that holds two of them (a constant
    # model is charged about 9 kB)
    for number in (1, 2, 3):
        pooled = family(f"c{number}-dep", f"c{number}", pooled_version("1", models[f"c{number}"]))
        apply(kubectl, owned_catalogue(kubectl, POOL, pooled))
    server = start_pool(launch, control_plane, namespace, "--memory-budget", "20000")
    assert server.metric("modelkeeper_pool_memory_budget_bytes") == 20000

    # When the three are used in turn, holding a prediction of the first for feedback
    assert predicted(server, "c1", x_body(5.0, request_id="held-1")) == [1.0]
    assert predicted(server, "c2", x_body(5.0)) == [2.0]
    cost = server.metric("modelkeeper_pool_model_bytes", model="c1")
    assert 2 * cost <= 20000 < 3 * cost, cost
    assert predicted(server, "c3", x_body(5.0)) == [3.0]

    # Then the least recently used (c1) was unloaded to fit, and says why
    states = index(server)
    assert states[("c1", "1")]["state"] == "UNAVAILABLE"
    assert "memory budget" in states[("c1", "1")]["reason"]
    assert {key for key, entry in states.items() if entry["state"] == "READY"} == {
        ("c2", "1"),
        ("c3", "1"),
    }
    assert server.metric("modelkeeper_pool_evictions_total", model="c1") == 1
    assert server.metric("modelkeeper_pool_model_loaded", model="c1") == 0
    assert server.metric("modelkeeper_pool_loaded_bytes") <= 20000

    # And feedback still joins the prediction the unloaded model made
    answer = server.post("/v2/models/c1/feedback", {"id": "held-1", "labels": [1.0]})
    assert answer.status_code == 200, answer.text
    assert server.metric("modelkeeper_feedback_rows_total", model="c1") == 1

    # And its next request loads it again, with a correct answer, unloading c2 in turn
    assert predicted(server, "c1", x_body(6.0)) == [1.0]
    assert server.metric("modelkeeper_pool_loads_total", model="c1", result="ok") == 2
    assert index(server)[("c2", "1")]["state"] == "UNAVAILABLE"
    # Its counters went on from where they were: two answered requests, one feedback
    assert (
        server.metric("modelkeeper_requests_total", model="c1", endpoint="infer", code="200") == 2
    )


def test_the_model_repository_loads_and_unloads_and_reports_failures(
    launch: ServerLauncher,
    kubectl: Kubectl,
    namespace: str,
    control_plane: ControlPlane,
    models: dict[str, Path],
    tmp_path: Path,
) -> None:
    # Given a family with two versions, the second of which has no artifact
    missing = pooled_version("2", models["c2"], role="Canary", weight=0) | {
        "uri": f"file://{tmp_path}/no-such-model.joblib"
    }
    pooled = family("c-dep", "c", pooled_version("1", models["c1"]), missing)
    apply(kubectl, owned_catalogue(kubectl, POOL, pooled))
    server = start_pool(launch, control_plane, namespace)

    # When version 1 is loaded through the repository, it is ready before any request
    answer = server.post("/v2/repository/models/c/load", {"parameters": {"version": "1"}})
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "READY"
    assert requests.get(f"{server.url}/v2/models/c/versions/1/ready", timeout=5).json()["ready"]
    assert index(server, ready=True).keys() == {("c", "1")}

    # And unloaded, it is still ready (servable: its next request loads it), but not loaded
    answer = server.post("/v2/repository/models/c/unload", {})
    assert answer.status_code == 200, answer.text
    assert index(server)[("c", "1")] == {
        "name": "c",
        "version": "1",
        "state": "UNAVAILABLE",
        "reason": "unloaded by request",
    }
    assert requests.get(f"{server.url}/v2/models/c/ready", timeout=5).json()["ready"]
    assert predicted(server, "c", x_body(1.0)) == [1.0]

    # A version that cannot be loaded (a Canary: tried as it entered the catalogue) is a
    # 503 saying why, in the index too, is not ready, and is counted; no URI is told
    failures = {"model": "c", "version": "2", "result": "failed"}
    eventually(lambda: server.metric("modelkeeper_pool_loads_total", **failures) == 1, 30, "a try")
    assert not requests.get(f"{server.url}/v2/models/c/versions/2/ready", timeout=5).json()["ready"]
    answer = server.post("/v2/repository/models/c/load", {"parameters": {"version": "2"}})
    assert answer.status_code == 503, answer.text
    assert "load failed" in answer.json()["error"]
    assert str(tmp_path) not in answer.text
    failed = index(server)[("c", "2")]
    assert failed["state"] == "UNAVAILABLE"
    assert "load failed" in failed["reason"]
    assert str(tmp_path) not in failed["reason"]
    answer = infer(server, "c", x_body(1.0), "2")
    assert answer.status_code == 503
    assert "load failed" in answer.json()["error"]
    assert server.metric("modelkeeper_pool_loads_total", **failures) == 2

    # An unknown model or a bad body is refused with a JSON error
    assert server.post("/v2/repository/models/nope/load", {}).status_code == 404
    answer = server.post("/v2/repository/models/c/load", {"parameters": {"version": 2}})
    assert answer.status_code == 400
    assert "parameters.version" in answer.json()["error"]


def test_requests_that_come_while_a_model_loads_wait_for_its_one_load(
    launch: ServerLauncher,
    kubectl: Kubectl,
    namespace: str,
    control_plane: ControlPlane,
    models: dict[str, Path],
) -> None:
    pooled = family("c4-dep", "c4", pooled_version("1", models["c4"]))
    apply(kubectl, owned_catalogue(kubectl, POOL, pooled))
    server = start_pool(launch, control_plane, namespace)
    with concurrent.futures.ThreadPoolExecutor(8) as threads:
        answers = list(threads.map(lambda _: infer(server, "c4", x_body(1.0)), range(16)))
    assert [answer.status_code for answer in answers] == [200] * 16
    assert {answer.json()["outputs"][0]["data"][0] for answer in answers} == {4.0}
    assert server.metric("modelkeeper_pool_loads_total", model="c4", result="ok") == 1


def test_a_catalogue_directory_serves_without_api_access(
    launch: ServerLauncher, models: dict[str, Path], tmp_path: Path
) -> None:
    catalogue = tmp_path / "catalogue"
    catalogue.mkdir()
    pooled = family("c2-dep", "c2", pooled_version("1", models["c2"]))
    (catalogue / "c2.json").write_text(json.dumps(pooled.model_dump(mode="json")))
    (catalogue / "broken.json").write_text("{")
    server = launch.start_pool("--catalogue-dir", str(catalogue))
    assert index(server).keys() == {("c2", "1")}
    assert predicted(server, "c2", x_body(1.0)) == [2.0]


def test_a_version_that_cannot_load_counts_its_503s_as_its_server_errors(
    launch: ServerLauncher,
    kubectl: Kubectl,
    namespace: str,
    control_plane: ControlPlane,
    models: dict[str, Path],
) -> None:
    # Given a family whose canary's artifact does not match its digest
    canary = pooled_version("2", models["c2"], role="Canary", weight=10) | {"sha256": "0" * 64}
    pooled = family("bad-dep", "bad", pooled_version("1", models["c1"], weight=90), canary)
    apply(kubectl, owned_catalogue(kubectl, POOL, pooled))
    server = start_pool(launch, control_plane, namespace)
    labels = {"deployment": "bad-dep", "model": "bad", "version": "2", "role": "canary"}

    # Then it is tried as soon as it is in the catalogue, before any request
    eventually(
        lambda: server.metric("modelkeeper_pool_loads_total", result="failed", **labels) == 1,
        30,
        "the canary's load tried",
    )
    # And its requests are 503s that name no artifact URI, counted in its own series with
    # the labels canary analysis selects it by (an error ratio has data to judge)
    for _ in range(3):
        answer = infer(server, "bad", x_body(1.0), "2")
        assert answer.status_code == 503, answer.text
        assert "sha256 mismatch" in answer.json()["error"]
        assert "file://" not in answer.text
        assert str(models["c2"]) not in answer.text
    assert "file://" not in index(server)[("bad", "2")]["reason"]
    errors = server.metric("modelkeeper_requests_total", endpoint="infer", code="503", **labels)
    assert errors == 3
    # While the stable version serves on
    assert predicted(server, "bad", x_body(1.0), "1") == [1.0]


def test_metadata_of_an_unloaded_model_does_not_load_it(
    launch: ServerLauncher,
    kubectl: Kubectl,
    namespace: str,
    control_plane: ControlPlane,
    models: dict[str, Path],
) -> None:
    pooled = family("meta-dep", "meta", pooled_version("1", models["c3"]))
    apply(kubectl, owned_catalogue(kubectl, POOL, pooled))
    server = start_pool(launch, control_plane, namespace)

    # A regressor's metadata comes from the catalogue's signature: the model stays unloaded
    answer = requests.get(f"{server.url}/v2/models/meta", timeout=5)
    assert answer.status_code == 200, answer.text
    before = answer.json()
    assert [tensor["name"] for tensor in before["inputs"]] == ["x"]
    assert index(server)[("meta", "1")]["state"] == "UNAVAILABLE"
    assert server.metric("modelkeeper_pool_loads_total", model="meta") == 0
    assert requests.get(f"{server.url}/v2/models/meta/ready", timeout=5).json()["ready"]

    # And it is what the loaded model says of itself
    assert predicted(server, "meta", x_body(1.0)) == [3.0]
    assert requests.get(f"{server.url}/v2/models/meta", timeout=5).json() == before


def test_a_sampling_change_reaches_the_version_with_a_fresh_ledger(
    launch: ServerLauncher,
    kubectl: Kubectl,
    namespace: str,
    control_plane: ControlPlane,
    models: dict[str, Path],
) -> None:
    # Given an iris family that samples no probabilities, and one request answered
    pooled = family("s-dep", "s", pooled_version("1", models["iris"]), probability_sampling=0.0)
    apply(kubectl, owned_catalogue(kubectl, POOL, pooled))
    server = start_pool(launch, control_plane, namespace)
    labels = {"deployment": "s-dep", "model": "s", "version": "1"}
    predicted(server, "s", iris_body(IRIS_ROWS))
    assert server.metric("modelkeeper_prediction_confidence_count", **labels) == 0

    # When the family samples every probability, the version is unloaded and starts afresh
    # (as a rollout of its pods would), its counters from zero
    sampled = family("s-dep", "s", pooled_version("1", models["iris"]), probability_sampling=1.0)
    apply(kubectl, owned_catalogue(kubectl, POOL, sampled))
    eventually(
        lambda: server.metric("modelkeeper_requests_total", code="200", **labels) == 0,
        30,
        "the version started afresh",
    )
    assert server.metric("modelkeeper_pool_model_loaded", **labels) == 0

    # Then its next requests sample every probability
    predicted(server, "s", iris_body(IRIS_ROWS))
    confidences = server.metric("modelkeeper_prediction_confidence_count", **labels)
    assert confidences == len(IRIS_ROWS)


def test_unloads_while_requests_wait_for_a_load_answer_no_500(
    launch: ServerLauncher,
    kubectl: Kubectl,
    namespace: str,
    control_plane: ControlPlane,
    models: dict[str, Path],
) -> None:
    pooled = family("u-dep", "u", pooled_version("1", models["iris"]))
    apply(kubectl, owned_catalogue(kubectl, POOL, pooled))
    server = start_pool(launch, control_plane, namespace)
    estimator = joblib.load(models["iris"] / "model.joblib")

    def unload(_: int) -> int:
        return int(server.post("/v2/repository/models/u/unload", {}).status_code)

    # Requests and unloads interleaved: each request loads the model again or waits for a
    # load, and an unload may come between that load and the request's turn
    with concurrent.futures.ThreadPoolExecutor(8) as threads:
        asked = [
            (threads.submit(unload, turn), threads.submit(infer, server, "u", iris_body(IRIS_ROWS)))
            for turn in range(40)
        ]
        assert {unloaded.result() for unloaded, _ in asked} == {200}
        answers = [answer.result() for _, answer in asked]
    assert [answer.status_code for answer in answers] == [200] * 40, answers[0].text
    for answer in answers:
        assert answer.json()["outputs"][0]["data"] == estimator.predict(IRIS_ROWS).tolist()
    assert server.metric("modelkeeper_pool_loads_total", model="u", result="ok") >= 2
