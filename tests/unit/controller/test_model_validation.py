"""What the operator checks of a Model's files, and what it says it could not check."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelkeeper.controller.validation import validate_model
from modelkeeper.profile import build_profile
from tests.unit.controller.factories import model

SCHEMA = {"inputs": [{"name": "amount", "type": "Numeric"}], "output": {"type": "Regression"}}
PROFILE = build_profile(pd.DataFrame({"amount": np.linspace(0.0, 1.0, 50)}))


def _artifact_model(uri: str, sha256: str | None, reference: dict[str, Any]) -> Any:
    artifact = {"uri": uri, "format": "sklearn"} | ({"sha256": sha256} if sha256 else {})
    return model("1", artifact=artifact, schema=SCHEMA, reference=reference)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Any]:
    artifact = tmp_path / "model.joblib"
    artifact.write_bytes(b"a model")
    profile = tmp_path / "profile.json"
    profile.write_text(PROFILE.model_dump_json(), encoding="utf-8")
    return {
        "artifact": f"file://{artifact}",
        "artifact_sha": hashlib.sha256(b"a model").hexdigest(),
        "profile": {"uri": f"file://{profile}"},
    }


def test_a_file_artifact_that_matches_its_digest_is_validated(files: dict[str, Any]) -> None:
    found = validate_model(
        _artifact_model(files["artifact"], files["artifact_sha"], files["profile"])
    )
    assert found.problems == []
    assert any("matches its digest" in line for line in found.checked)


def test_a_file_artifact_whose_digest_differs_fails_validation(files: dict[str, Any]) -> None:
    """Finding 2: on main this Model was Validated=True although sha256 was wrong."""
    found = validate_model(_artifact_model(files["artifact"], "0" * 64, files["profile"]))
    assert len(found.problems) == 1
    assert found.problems[0].startswith("spec.artifact.uri: ")
    assert f"not {'0' * 64}" in found.problems[0]


def test_a_missing_file_artifact_says_whose_file_system_was_read(files: dict[str, Any]) -> None:
    found = validate_model(_artifact_model("file:///nowhere/model.joblib", None, files["profile"]))
    assert "on the operator's pod" in found.problems[0]


@pytest.mark.parametrize("scheme", ["s3", "gs", "https", "pvc"])
def test_what_the_operator_does_not_read_is_said_in_status(
    scheme: str, files: dict[str, Any]
) -> None:
    """Finding 6: the status says which parts the operator could not check, and who does."""
    uri = f"{scheme}://store/fraud/1/model.joblib"
    found = validate_model(_artifact_model(uri, files["artifact_sha"], files["profile"]))
    assert found.problems == []
    [line] = [line for line in found.unchecked if uri in line]
    assert "scoring pod's fetch step, which checks its digest" in line
    assert f"the operator does not read {scheme}:// URIs" in line


def test_a_profile_that_does_not_parse_fails_validation(tmp_path: Path) -> None:
    bad = tmp_path / "profile.json"
    bad.write_text(json.dumps({"features": "none"}), encoding="utf-8")
    found = validate_model(
        _artifact_model("https://m/1/model.joblib", None, {"uri": f"file://{bad}"})
    )
    assert any("is not a reference profile" in problem for problem in found.problems)
