"""A pooled version's counters before and after its model loads, and what a client reads of
a failed load."""

from __future__ import annotations

import numpy as np
import pytest

from modelkeeper.profile import NumericProfile, Profile
from modelkeeper.serving.metrics import STATUS_LABELS, Endpoint, Layout
from modelkeeper.serving.pool import REQUESTS_ONLY, client_reason

X = NumericProfile(name="x", edges=[0.0, 1.0], counts=[1, 1, 1], missing=0, mean=0.5, std=0.1)
WITH_X = Profile(rows=3, features=[X], target=X)


@pytest.mark.parametrize(
    "layout",
    [
        pytest.param(Layout(WITH_X, ["x"], [], None), id="a-regressor"),
        pytest.param(Layout(WITH_X, ["x"], [], np.array(["no", "yes"])), id="a-binary-classifier"),
        pytest.param(Layout(WITH_X, ["x"], [], np.array([1, 2, 3])), id="a-classifier"),
    ],
)
def test_the_requests_counted_before_a_model_loads_are_at_the_same_slots_after(
    layout: Layout,
) -> None:
    assert layout.request_series == REQUESTS_ONLY.request_series
    for endpoint in Endpoint:
        for status in STATUS_LABELS:
            slot = layout.request_slot(endpoint, status)
            assert slot == REQUESTS_ONLY.request_slot(endpoint, status)
            assert slot < REQUESTS_ONLY.request_series.stop
        latency = layout.latency[endpoint].slots
        assert latency == REQUESTS_ONLY.latency[endpoint].slots
        assert latency.stop <= REQUESTS_ONLY.request_series.stop
    assert layout.grpc_latency.slots.stop <= REQUESTS_ONLY.request_series.stop


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        pytest.param(
            "https://user:secret@store.example/m.joblib?X-Amz-Signature=abc: HTTP 403",
            "<artifact URI, in the server log>: HTTP 403",
            id="a-signed-url",
        ),
        pytest.param(
            "file:///models/2/model.joblib: sha256 mismatch: expected 00, got 11",
            "<artifact URI, in the server log>: sha256 mismatch: expected 00, got 11",
            id="a-file-uri",
        ),
        pytest.param(
            "s3://bucket/a.joblib: reading failed; profile s3://bucket/p.json",
            "<artifact URI, in the server log>: reading failed; profile "
            "<artifact URI, in the server log>",
            id="two-uris",
        ),
        pytest.param(
            "schema.json: an ONNX classifier needs output.classes",
            "schema.json: an ONNX classifier needs output.classes",
            id="no-uri",
        ),
    ],
)
def test_a_failed_load_reads_without_uris(error: str, reason: str) -> None:
    assert client_reason(error) == reason
