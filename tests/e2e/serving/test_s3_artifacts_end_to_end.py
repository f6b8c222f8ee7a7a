"""s3:// Models on the real node: the fetch step reads a real S3-compatible store (SeaweedFS
on this machine's loopback, shown to pods at the node's bridge address) with the
credentials of a Secret, and what it cannot fetch the Model's status says.

The shared operator runs with `--s3-credentials-secret=s3-credentials`; each namespace's
Secret of that name holds the keys and the store's address as pods reach it
(AWS_ENDPOINT_URL_S3), so one test can give a namespace the wrong secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.ground.ground import Kubectl
from tests.ground.node import Node
from tests.support.kube import (
    POD_START,
    apply,
    condition,
    get,
    router_address,
    serving_only,
    wait_for,
)
from tests.support.models import write_constant_model
from tests.support.objects import APPROVAL, SCHEMA, deployment, model
from tests.support.operator_process import RunningOperator
from tests.support.s3store import S3Store
from tests.support.traffic import predict

SECRET = "s3-credentials"
"""The Secret the shared operator names in --s3-credentials-secret (tests/e2e/conftest.py)."""
WRONG = "0" * 64


@dataclass(frozen=True)
class Stored:
    """A constant model (3.0) and its profile in the store, and the store as pods reach it."""

    uri: str
    sha256: str
    profile: str
    endpoint: str


def given_a_model_in_the_store(
    kubectl: Kubectl, node: Node, store: S3Store, folder: Path, secret: str | None = None
) -> Stored:
    """Put the model under a key of its own; give the namespace its Secret: the store's
    address for pods, its key and its secret (or `secret` in its place)."""
    sha = write_constant_model(folder, 3.0)
    key = folder.parent.name
    uri = store.put(f"{key}/model.joblib", (folder / "model.joblib").read_bytes())
    profile = store.put(f"{key}/profile.json", (folder / "profile.json").read_bytes())
    endpoint = f"http://{node.expose(store.port)}"
    environ = store.environ(endpoint, secret=secret)
    apply(
        kubectl,
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": SECRET}, "stringData": environ},
    )
    return Stored(uri, sha, profile, endpoint)


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
    s3_store: S3Store,
    tmp_path: Path,
) -> None:
    # Given a model and its profile in the store, and the namespace's Secret to read them
    stored = given_a_model_in_the_store(kubectl, node, s3_store, tmp_path / "v1")
    uri, sha, profile = stored.uri, stored.sha256, stored.profile

    # When three families serve it: as it is, with another digest, and from a missing key
    apply(
        kubectl,
        s3_model("good-1", "good", uri, sha, profile),
        s3_model("mismatch-1", "mismatch", uri, WRONG, profile),
        s3_model("missing-1", "missing", "s3://models/absent/model.joblib", sha, profile),
        *(deployment(family, family) for family in ("good", "mismatch", "missing")),
    )

    # Then the good one serves the model's predictions, and its Model says it started
    wait_for(kubectl, "deployments.modelkeeper.io/good", serving_only("1"), "it serves", POD_START)
    assert predict(router_address(kubectl, "good"), "good", 1.0) == ("1", 3.0)
    wait_for(kubectl, "model/good-1", started("True"), "good-1 started", 60)
    # and each other Model says why its scoring servers do not start
    for name, says in (
        ("mismatch-1", f"sha256 mismatch: expected {WRONG}, got {sha}"),
        (
            "missing-1",
            f"s3://models/absent/model.joblib: not found: no such object at {stored.endpoint} "
            "(NoSuchKey, HTTP 404)",
        ),
    ):
        found = wait_for(kubectl, f"model/{name}", started("False", says), name, POD_START)
        assert condition(found, "Started")["reason"] == "FailsToStart"  # type: ignore[index]
        assert "fetch-model" in condition(found, "Started")["message"]  # type: ignore[index]


def test_a_wrong_secret_is_reported_on_the_model_without_the_credentials(
    shared_operator: RunningOperator,
    kubectl: Kubectl,
    node: Node,
    s3_store: S3Store,
    tmp_path: Path,
) -> None:
    # Given a namespace whose Secret has the store's key with the wrong secret
    wrong = "wrong-secret-for-the-e2e-test"
    stored = given_a_model_in_the_store(kubectl, node, s3_store, tmp_path / "v1", wrong)

    # When a Deployment serves a Model in the store
    denied = s3_model("denied-1", "denied", stored.uri, stored.sha256, stored.profile)
    apply(kubectl, denied, deployment("denied", "denied"))

    # Then the Model says the store refused the credentials, and names none of them
    says = f"{stored.uri}: access denied by {stored.endpoint} (SignatureDoesNotMatch"
    found = wait_for(kubectl, "model/denied-1", started("False", says), "denied", POD_START)
    message = condition(found, "Started")["message"]  # type: ignore[index]
    assert "check the credentials" in message
    deployment_status = str(get(kubectl, "deployments.modelkeeper.io/denied")["status"])
    for secret in (wrong, s3_store.access_key, s3_store.secret_key):
        assert secret not in message
        assert secret not in deployment_status
