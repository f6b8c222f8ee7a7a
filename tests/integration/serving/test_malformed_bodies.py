"""Property: no body, however malformed, gets a 5xx or crashes the server.

Hypothesis generates at least 2,000 bodies (arbitrary bytes, arbitrary JSON, and
near-valid V2, V1 and feedback documents with wrong names, datatypes, shapes
and values) against one real server whose model has numeric and categorical
inputs. Every answer must be 2xx or a 4xx with a JSON error.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.serving.serving_harness import Server, ServerLauncher
from tests.support.models import IRIS_FEATURES

NAMES = [*IRIS_FEATURES, "region", "input-0", "", "x" * 300]
DATATYPES = ["FP32", "FP64", "INT32", "INT64", "BOOL", "BYTES", "UINT8", "fp64", ""]
PATHS = [
    "/v2/models/regions/infer",
    "/v2/models/regions/versions/1/infer",
    "/v1/models/regions:predict",
    "/v2/models/regions/feedback",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(["north", "south", "east", "west", "__other__"]),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=6), st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=30,
)
tensor_data = st.one_of(
    st.lists(scalars, max_size=12),
    st.lists(st.lists(scalars, max_size=5), max_size=5),
    json_values,
)
tensors = st.fixed_dictionaries(
    {
        "name": st.sampled_from(NAMES),
        "shape": st.one_of(
            st.lists(st.integers(min_value=-2, max_value=6), max_size=3),
            st.lists(st.integers(), max_size=2),
            json_values,
        ),
        "datatype": st.sampled_from(DATATYPES),
        "data": tensor_data,
    },
    optional={"parameters": json_values},
)
v2_bodies = st.fixed_dictionaries(
    {"inputs": st.one_of(st.lists(tensors, max_size=6), json_values)},
    optional={
        "id": st.one_of(st.text(max_size=10), scalars),
        "outputs": st.one_of(
            st.lists(
                st.fixed_dictionaries(
                    {"name": st.sampled_from(["predict", "predict_proba", "other", ""])}
                ),
                max_size=3,
            ),
            json_values,
        ),
    },
)
v1_bodies = st.fixed_dictionaries(
    {
        "instances": st.one_of(
            st.lists(st.lists(scalars, min_size=4, max_size=6), max_size=4),
            st.lists(st.dictionaries(st.sampled_from(NAMES), scalars, max_size=6), max_size=4),
            json_values,
        )
    }
)
feedback_bodies = st.fixed_dictionaries(
    {
        "id": st.one_of(st.text(min_size=1, max_size=6), scalars),
        "labels": st.one_of(st.lists(scalars, min_size=1, max_size=4), json_values),
    }
)
bodies = st.one_of(
    st.binary(max_size=200),
    st.binary(min_size=9, max_size=12).map(lambda chunk: chunk * 1000),  # over the body limit
    json_values.map(lambda value: json.dumps(value).encode()),
    st.one_of(v2_bodies, v1_bodies, feedback_bodies).map(lambda value: json.dumps(value).encode()),
)


@pytest.fixture(scope="module")
def regions_server(launch_shared: ServerLauncher, regions_dir: Path) -> Server:
    return launch_shared.start(regions_dir, "regions", "--max-body-bytes", "8192")


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as shared:
        yield shared


@settings(
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
@given(path=st.sampled_from(PATHS), body=bodies)
def test_malformed_bodies_never_get_a_5xx(
    regions_server: Server, session: requests.Session, path: str, body: bytes
) -> None:
    response = session.post(f"{regions_server.url}{path}", data=body, timeout=30)
    assert response.status_code < 500, (response.status_code, response.text)
    document: Any = response.json()
    if response.status_code >= 400:
        assert isinstance(document.get("error"), str)
        assert "Traceback" not in document["error"]


def test_the_server_is_still_up_and_scoring(regions_server: Server) -> None:
    assert regions_server.component.alive()
    inputs: list[dict[str, Any]] = [
        {"name": name, "datatype": "FP64", "shape": [1], "data": [1.0]} for name in IRIS_FEATURES
    ]
    inputs.append({"name": "region", "datatype": "BYTES", "shape": [1], "data": ["east"]})
    assert regions_server.infer({"inputs": inputs}).status_code == 200
    assert regions_server.metric("modelkeeper_requests_total", code="500") == 0
    # The bodies reached every layer: the JSON and envelope checks (400), the model
    # schema (422), the body limit (413) and feedback lookup (404).
    for code in ("400", "404", "413", "422"):
        assert regions_server.metric("modelkeeper_requests_total", code=code) > 0, code
