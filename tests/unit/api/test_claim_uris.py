"""pvc://<claim>/<path> URIs: which claim the operator mounts, and where the file is then."""

from __future__ import annotations

import re

import pytest

from modelkeeper.api.types import ARTIFACT_URI_PATTERN, ClaimPath, claim_path


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("pvc://models/fraud/3/model.joblib", ClaimPath("models", "fraud/3/model.joblib")),
        ("pvc://shared.store/m.onnx", ClaimPath("shared.store", "m.onnx")),
        ("file:///models/fraud/3/model.joblib", None),
        ("s3://models/fraud/3/model.joblib", None),
    ],
)
def test_claim_path(uri: str, expected: ClaimPath | None) -> None:
    assert claim_path(uri) == expected


def test_the_file_is_under_the_claims_mount() -> None:
    where = ClaimPath("models", "fraud/3/model.joblib")
    assert where.mount_path == "/mnt/modelkeeper/claims/models"
    assert where.local_path == "/mnt/modelkeeper/claims/models/fraud/3/model.joblib"


@pytest.mark.parametrize(
    ("uri", "accepted"),
    [
        ("pvc://models/fraud/3/model.joblib", True),
        ("pvc://models", False),  # no file on the claim
        ("pvc://models/", False),
        ("pvc://Models_Store/model.joblib", False),  # not a claim's name
        ("pvc://-models/model.joblib", False),
        ("https://models.example.com/fraud/3/model.joblib", True),
        ("file:///models/model.joblib", True),
    ],
)
def test_the_api_accepts_only_pvc_uris_that_name_a_claim_and_a_file(
    uri: str, accepted: bool
) -> None:
    assert bool(re.match(ARTIFACT_URI_PATTERN, uri)) is accepted
