"""Whatever a client sends, the router answers without a 5xx of its own and stays up.

Hypothesis generates 400 requests: arbitrary bytes, arbitrary JSON, and V2 bodies
with wrong types and shapes, to every route. The backend behind the router rejects
what it cannot read with a 400; a 5xx could only come from the router.
"""

from __future__ import annotations

import json
from typing import Any

import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.router.harness import MODEL, Launcher, backend, routing_config

PATHS = (
    f"/v2/models/{MODEL}/infer",
    f"/v2/models/{MODEL}/versions/1/infer",
    f"/v1/models/{MODEL}:predict",
    f"/v2/models/{MODEL}/feedback",
    f"/v2/models/{MODEL}",
    "/v2/health/ready",
    "/no/such/path",
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)


@st.composite
def v2_like(draw: st.DrawFn) -> dict[str, Any]:
    """A body shaped like a V2 request, with any field possibly wrong."""
    tensor = {
        "name": draw(st.sampled_from(["x", "", "nope"]) | json_values),
        "shape": draw(st.lists(st.integers(-2, 5), max_size=3) | json_values),
        "datatype": draw(st.sampled_from(["FP64", "INT64", "BYTES", "BOOL", "FP99"])),
        "data": draw(st.lists(json_values, max_size=6) | json_values),
    }
    return {"inputs": draw(st.sampled_from([[tensor], tensor, [], None])), "id": draw(json_values)}


bodies = (
    st.binary(max_size=300)
    | json_values.map(lambda value: json.dumps(value).encode())
    | v2_like().map(lambda value: json.dumps(value).encode())
)


def test_malformed_requests_never_get_a_5xx_from_the_router(launch: Launcher) -> None:
    router = launch.router(
        routing_config(
            backend("v1", "stable", launch.backend("v1"), weight=1),
            backend("v3", "shadow", launch.backend("v3"), weight=0),
            mirror_percent=50,
        ),
        "--max-body-bytes",
        "256",
    )
    session = requests.Session()

    @settings(
        max_examples=400,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(path=st.sampled_from(PATHS), body=bodies, method=st.sampled_from(["POST", "PUT"]))
    def never_5xx(path: str, body: bytes, method: str) -> None:
        answer = session.request(method, f"{router.url}{path}", data=body, timeout=10)
        assert answer.status_code < 500, answer.text

    never_5xx()

    assert router.component.alive()
    assert requests.get(f"{router.url}/v2/health/ready", timeout=10).ok
