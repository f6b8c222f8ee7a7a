"""A data scientist's own code in their own image, run by the real kubelet.

The image is serving_image/model-template/ with the custom-code example's model
directory written by its train.py and built with `MODEL_FORMAT=python`, as the template's
README says (tests/ground/imagebuild.py). A Model names only the image; a Deployment
serves it through its router. It answers what the template's model.py computes
in-process, refuses a request its schema does not take with a 422 JSON error, and
Prometheus scrapes its request, prediction and drift counters.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelkeeper.serving.custom import load_code
from tests.ground.ground import Kubectl
from tests.ground.imagebuild import CUSTOM_MODEL_IMAGE
from tests.ground.polling import eventually
from tests.ground.prometheus import Prometheus
from tests.support.kube import POD_START, apply, router_address, serving_only, wait_for
from tests.support.models import IRIS_FEATURES, iris_frame, write_custom_code_model
from tests.support.objects import APPROVAL, deployment, model
from tests.support.operator_process import RunningOperator
from tests.support.traffic import infer, v2_body

SPECIES = ["setosa", "versicolor", "virginica"]
# The Model as docs/publishing-models.md writes it for this image.
SCHEMA = {
    "inputs": [{"name": name, "type": "Numeric"} for name in IRIS_FEATURES],
    "output": {"type": "Classification", "classes": SPECIES},
}
ROWS = iris_frame()[IRIS_FEATURES].to_numpy()[::10]
OUTPUTS = [{"name": "predict"}, {"name": "predict_proba"}]


def test_a_custom_code_image_serves_what_its_code_computes(
    shared_operator: RunningOperator,
    kubectl: Kubectl,
    namespace: str,
    prometheus: Prometheus,
    tmp_path: Path,
) -> None:
    # Given the template's code, with its estimator trained by its train.py, in this process
    code = load_code(write_custom_code_model(tmp_path / "model"))
    inputs = code.preprocess(pd.DataFrame(ROWS, columns=IRIS_FEATURES))
    expected = code.postprocess(code.predict(inputs)).tolist()
    probabilities = code.predict_proba(inputs)
    assert set(expected) == set(SPECIES)

    # When a Model names the image and a Deployment serves it
    apply(
        kubectl,
        model(
            "iris-1",
            "iris",
            "1",
            image=CUSTOM_MODEL_IMAGE,
            schema=SCHEMA,
            reference={"path": "/model/profile.json"},
            governance={"approval": APPROVAL},
        ),
        deployment("iris", "iris"),
    )
    wait_for(
        kubectl, "deployments.modelkeeper.io/iris", serving_only("1"), "the image serves", POD_START
    )
    address = router_address(kubectl, "iris")

    # Then the pod answers what the code computes, and says it serves format python
    answer = eventually(
        lambda: _infer(address, v2_body(ROWS.tolist(), outputs=OUTPUTS)),
        30,
        "the router answers",
    )
    predict, proba = answer["outputs"]
    assert (predict["datatype"], predict["data"]) == ("BYTES", expected)
    np.testing.assert_allclose(
        np.array(proba["data"]).reshape(len(ROWS), len(SPECIES)), probabilities, rtol=1e-9
    )
    assert _get(address, "/v2/models/iris")["platform"] == "python"

    # And a request the schema refuses (two columns for four inputs) is a 422 JSON error
    with pytest.raises(urllib.error.HTTPError) as refused:
        infer(address, "iris", v2_body([[5.1, 3.5]]))
    assert refused.value.code == 422
    error = json.loads(refused.value.read())["error"]
    assert error == "input 'input-0': shape [1, 2] must be [rows, 4] with rows >= 1"

    # And Prometheus scrapes the requests, the predictions by class and the inputs' bins
    def scraped(metric: str, **labels: str) -> float:
        selector = {"namespace": namespace, "deployment": "iris", **labels}
        query = ", ".join(f'{name}="{value}"' for name, value in selector.items())
        return sum(float(s["value"][1]) for s in prometheus.query(f"{metric}{{{query}}}"))

    eventually(
        lambda: scraped("modelkeeper_requests_total", endpoint="infer", code="422"),
        60,
        "Prometheus scrapes the refused request (one scrape holds every earlier count too)",
    )
    assert scraped("modelkeeper_requests_total", endpoint="infer", code="200") == 1
    assert scraped("modelkeeper_requests_total", endpoint="infer", code="422") == 1
    assert {
        species: scraped("modelkeeper_predictions_total", **{"class": species})
        for species in SPECIES
    } == {species: float(expected.count(species)) for species in SPECIES}
    assert {
        feature: scraped("modelkeeper_feature_value_bucket", feature=feature, le="+Inf")
        for feature in IRIS_FEATURES
    } == dict.fromkeys(IRIS_FEATURES, float(len(ROWS)))


def _infer(address: str, body: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return infer(address, "iris", body)
    except (urllib.error.URLError, OSError):
        return None


def _get(address: str, path: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://{address}{path}", timeout=10) as response:
        return dict(json.load(response))
