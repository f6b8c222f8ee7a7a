"""models:/ URIs: what the API accepts, how they parse, and the credentials a client sends."""

from __future__ import annotations

import base64
import re

import pytest

from modelkeeper.api.model import Artifact
from modelkeeper.api.types import MODEL_ARTIFACT_URI_PATTERN
from modelkeeper.registry.mlflow import Connection, RegistryError
from modelkeeper.registry.uris import (
    RegistryUri,
    RegistryUriError,
    is_registry_uri,
    parse_registry_uri,
)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        pytest.param("models:/fraud/3", RegistryUri("fraud", version="3"), id="version"),
        pytest.param("models:/fraud@champion", RegistryUri("fraud", alias="champion"), id="alias"),
        pytest.param(
            "models:/Fraud.Model_v2/12", RegistryUri("Fraud.Model_v2", version="12"), id="dotted"
        ),
    ],
)
def test_a_registry_uri_parses(uri: str, expected: RegistryUri) -> None:
    parsed = parse_registry_uri(uri)
    assert parsed == expected
    assert str(parsed) == uri
    assert parsed.pinned is (expected.version is not None)


@pytest.mark.parametrize(
    "uri",
    [
        pytest.param("models:/fraud", id="neither-version-nor-alias"),
        pytest.param("models:/fraud/latest", id="a-stage-name"),
        pytest.param("models:/fraud/0", id="version-zero"),
        pytest.param("models:/fraud/3/extra", id="a-path-after"),
        pytest.param("models:/fraud@", id="empty-alias"),
        pytest.param("models://fraud/3", id="two-slashes"),
        pytest.param("models:/m-1234abcd", id="a-logged-model-id"),
    ],
)
def test_other_registry_uris_are_refused(uri: str) -> None:
    assert is_registry_uri(uri)
    with pytest.raises(RegistryUriError, match="models:/NAME/VERSION"):
        parse_registry_uri(uri)
    assert not re.fullmatch(MODEL_ARTIFACT_URI_PATTERN, uri)


@pytest.mark.parametrize(
    ("uri", "accepted"),
    [
        ("models:/fraud/3", True),
        ("models:/fraud@champion", True),
        ("s3://bucket/fraud/3/model", True),
        ("pvc://models/fraud/3/mlflow", True),
        ("models:/fraud/latest", False),
        ("mlflow-artifacts:/0/models/m-1/artifacts", False),
    ],
)
def test_the_api_accepts_files_and_registry_uris(uri: str, accepted: bool) -> None:
    assert bool(re.fullmatch(MODEL_ARTIFACT_URI_PATTERN, uri)) is accepted


def test_an_artifact_takes_a_registry_uri() -> None:
    artifact = Artifact.model_validate({"uri": "models:/fraud@champion", "format": "mlflow"})
    assert artifact.uri == "models:/fraud@champion"


@pytest.mark.parametrize(
    ("environ", "authorization"),
    [
        pytest.param({}, None, id="anonymous"),
        pytest.param({"MLFLOW_TRACKING_TOKEN": "t0k"}, "Bearer t0k", id="token"),
        pytest.param(
            {"MLFLOW_TRACKING_USERNAME": "ann", "MLFLOW_TRACKING_PASSWORD": "pw"},
            "Basic " + base64.b64encode(b"ann:pw").decode(),
            id="basic",
        ),
        pytest.param(
            {"MLFLOW_TRACKING_TOKEN": "t0k", "MLFLOW_TRACKING_USERNAME": "ann"},
            "Bearer t0k",
            id="the-token-wins",
        ),
    ],
)
def test_credentials_come_from_mlflows_variables(
    environ: dict[str, str], authorization: str | None
) -> None:
    connection = Connection.from_environ({"MLFLOW_TRACKING_URI": "http://mlflow:5000/"} | environ)
    assert connection.tracking_uri == "http://mlflow:5000"
    assert connection.headers().get("Authorization") == authorization
    for secret in ("t0k", "pw"):
        assert secret not in repr(connection)


@pytest.mark.parametrize("uri", ["", "databricks", "file:///mlruns", "sqlite:///mlflow.db"])
def test_the_tracking_uri_must_be_a_server(uri: str) -> None:
    with pytest.raises(RegistryError, match="MLFLOW_TRACKING_URI"):
        Connection.from_environ({"MLFLOW_TRACKING_URI": uri} if uri else {})
