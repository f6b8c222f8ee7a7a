"""s3:// Models on the real node: the fetch step reads a real S3-compatible store (SeaweedFS
on this machine's loopback, shown to pods at the node's bridge address) with the
credentials of a Secret, and what it cannot fetch the Model's status says.

The shared operator runs with `--s3-credentials-secret=s3-credentials`; each namespace's
Secret of that name holds the keys and the store's address as pods reach it
(AWS_ENDPOINT_URL_S3), so one test can give a namespace the wrong secret.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ground.ground import Kubectl
from tests.ground.node import Node
from tests.support.kube import apply, condition, get, router_address, serving_only, wait_for
from tests.support.models import write_constant_model
from tests.support.objects import APPROVAL, SCHEMA, deployment, model
from tests.support.operator_process import RunningOperator
from tests.support.s3store import S3Store, start_s3_store
from tests.support.traffic import predict

SECRET = "s3-credentials"
"""The Secret the shared operator names in --s3-credentials-secret (tests/e2e/conftest.py)."""
WRONG = "0" * 64


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Store]:
    running = start_s3_store(tmp_path_factory.mktemp("seaweedfs"))
    yield running
    running.stop()


def credentials(store: S3Store, node: Node, secret: str | None = None) -> dict[str, Any]:
    """The namespace's Secret: the store's address for pods, and its keys."""
    environ = store.environ(f"http://{node.expose(store.port)}", secret=secret)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": SECRET},
        "stringData": environ,
    }


def s3_model(name: str, family: str, uri: str, sha256: str, profile: str) -> dict[str, Any]:
    return model(
        name,
        family,
        "1",
        artifact={"uri": uri, "sha256": sha256, "format": "sklearn"},
        reference={"uri": profile},
        schema=SCHEMA,
        governance={"approval": APPROVAL},
    )


def started(status: str, says: str = "") -> Any:
    """A `wait_for` check on a Model: its Started condition has `status` and says `says`."""

    def check(obj: dict[str, Any]) -> bool:
        found = condition(obj, "Started") or {}
        return found.get("status") == status and says in found.get("message", "")

    return check


def test_a_model_in_the_store_serves_and_what_cannot_be_fetched_the_model_says(
    shared_operator: RunningOperator,
    kubectl: Kubectl,
    node: Node,
    store: S3Store,
    tmp_path: Path,
) -> None:
    # Given a model and its profile in the store, and the namespace's Secret to read them
    sha = write_constant_model(tmp_path / "v1", 3.0)
    uri = store.put("constant/1/model.joblib", (tmp_path / "v1" / "model.joblib").read_bytes())
    profile = store.put("constant/1/profile.json", (tmp_path / "v1" / "profile.json").read_bytes())
    apply(kubectl, credentials(store, node))

    # When three families serve it: as it is, with another digest, and from a missing key
    apply(
        kubectl,
        s3_model("good-1", "good", uri, sha, profile),
        s3_model("mismatch-1", "mismatch", uri, WRONG, profile),
        s3_model("missing-1", "missing", "s3://models/absent/model.joblib", sha, profile),
        *(deployment(family, family) for family in ("good", "mismatch", "missing")),
    )

    # Then the good one serves the model's predictions, and its Model says it started
    wait_for(kubectl, "deployments.modelkeeper.io/good", serving_only("1"), "it serves", 120)
    assert predict(router_address(kubectl, "good"), "good", 1.0) == ("1", 3.0)
    wait_for(kubectl, "model/good-1", started("True"), "good-1 started", 60)
    # and each other Model says why its scoring servers do not start
    endpoint = f"http://{node.expose(store.port)}"
    for name, says in (
        ("mismatch-1", f"sha256 mismatch: expected {WRONG}, got {sha}"),
        (
            "missing-1",
            f"s3://models/absent/model.joblib: not found: no such object at {endpoint} "
            "(NoSuchKey, HTTP 404)",
        ),
    ):
        found = wait_for(kubectl, f"model/{name}", started("False", says), name, 120)
        assert condition(found, "Started")["reason"] == "FailsToStart"  # type: ignore[index]
        assert "fetch-model" in condition(found, "Started")["message"]  # type: ignore[index]


def test_a_wrong_secret_is_reported_on_the_model_without_the_credentials(
    shared_operator: RunningOperator,
    kubectl: Kubectl,
    node: Node,
    store: S3Store,
    tmp_path: Path,
) -> None:
    # Given a namespace whose Secret has the store's key with the wrong secret
    sha = write_constant_model(tmp_path / "v1", 3.0)
    uri = store.put("denied/1/model.joblib", (tmp_path / "v1" / "model.joblib").read_bytes())
    profile = store.put("denied/1/profile.json", (tmp_path / "v1" / "profile.json").read_bytes())
    wrong = "wrong-secret-for-the-e2e-test"
    apply(kubectl, credentials(store, node, secret=wrong))

    # When a Deployment serves a Model in the store
    apply(
        kubectl, s3_model("denied-1", "denied", uri, sha, profile), deployment("denied", "denied")
    )

    # Then the Model says the store refused the credentials, and names none of them
    says = f"{uri}: access denied by http://{node.expose(store.port)} (SignatureDoesNotMatch"
    found = wait_for(kubectl, "model/denied-1", started("False", says), "denied", 120)
    message = condition(found, "Started")["message"]  # type: ignore[index]
    assert "check the credentials" in message
    deployment_status = str(get(kubectl, "deployments.modelkeeper.io/denied")["status"])
    for secret in (wrong, store.access_key, store.secret_key):
        assert secret not in message
        assert secret not in deployment_status
