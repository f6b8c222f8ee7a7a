"""The operator writes a child object only when it changed or is gone, not on every reconcile.

With a resync period far longer than the test, a reconcile that finds nothing changed
applies nothing (the API server's own request counter says so), and a scoring server
deleted by hand comes back at once, not at the next resync.
"""

from __future__ import annotations

import re
import ssl
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ground.controlplane import ControlPlane
from tests.ground.ground import Kubectl
from tests.ground.polling import eventually
from tests.support.kube import apply, get, wait_for
from tests.support.models import write_constant_model
from tests.support.objects import artifact_model, deployment
from tests.support.operator_process import RunningOperator, running_operator

OWNED_APPLIES = re.compile(
    r'^apiserver_request_total\{(?=[^}]*verb="APPLY")(?![^}]*subresource="status")[^}]*'
    r'resource="(deployments|services|configmaps|serviceaccounts|roles|rolebindings)"'
    r"[^}]*\} (\S+)$",
    re.MULTILINE,
)


@pytest.fixture
def operator(
    crds: Path,
    control_plane: ControlPlane,
    namespace: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningOperator]:
    """`modelkeeper run` for the test's namespace alone, whose resync never comes during the test.

    The API server counts the applies of the whole cluster, so this operator must not
    reconcile what earlier tests left in theirs (their namespaces being deleted, too).
    """
    with running_operator(
        control_plane,
        tmp_path_factory.mktemp("operator"),
        "--resync-seconds=600",
        f"--namespaces={namespace}",
    ) as running:
        yield running


def applies_of_owned_kinds(control_plane: ControlPlane) -> dict[str, int]:
    """Server-side applies the API server has answered, per kind a Deployment owns."""
    context: ssl.SSLContext = control_plane.admin_ssl_context()
    with urllib.request.urlopen(f"{control_plane.server}/metrics", context=context) as answer:
        metrics = answer.read().decode()
    counts: dict[str, int] = {}
    for resource, count in OWNED_APPLIES.findall(metrics):
        counts[resource] = counts.get(resource, 0) + int(float(count))
    return counts


def steady(control_plane: ControlPlane) -> dict[str, int] | None:
    """The count of applies, if it stays the same for two seconds."""
    first = applies_of_owned_kinds(control_plane)
    time.sleep(2)
    return first if applies_of_owned_kinds(control_plane) == first else None


def reconciles(operator: RunningOperator) -> float:
    found = re.search(
        r'^modelkeeper_operator_reconciliations_total\{kind="Deployment"\} (\S+)$',
        operator.metrics(),
        re.MULTILINE,
    )
    assert found is not None
    return float(found.group(1))


def serving(kubectl: Kubectl, tmp_path: Path, name: str) -> None:
    sha = write_constant_model(tmp_path / "v1", 1.0)
    apply(kubectl, artifact_model(f"{name}-1", name, "1", tmp_path / "v1", sha))
    apply(kubectl, deployment(name, name))
    wait_for(
        kubectl,
        f"deployments.modelkeeper.io/{name}",
        lambda d: d.get("status", {}).get("stable", {}).get("version") == "1",
        f"{name} serves version 1",
    )
    wait_for(kubectl, f"deployments.apps/{name}-router", lambda _: True, "the router exists")


def test_a_reconcile_that_finds_nothing_changed_applies_nothing(
    operator: RunningOperator, control_plane: ControlPlane, kubectl: Kubectl, tmp_path: Path
) -> None:
    # Given a Deployment whose objects exist and whose reconciles have settled
    serving(kubectl, tmp_path, "calm")
    settled = eventually(lambda: steady(control_plane), 60, "the operator stops applying")

    # When it is reconciled again, five times, with nothing changed
    before = reconciles(operator)
    for note in range(5):
        kubectl(
            "annotate", "--overwrite", "deployments.modelkeeper.io/calm", f"example.com/note={note}"
        )
    eventually(lambda: reconciles(operator) >= before + 5, 30, "five more reconciles")

    # Then none of them applied an object
    assert applies_of_owned_kinds(control_plane) == settled


def test_a_scoring_server_deleted_by_hand_comes_back_before_the_resync(
    operator: RunningOperator, kubectl: Kubectl, tmp_path: Path
) -> None:
    serving(kubectl, tmp_path, "sturdy")
    uid = get(kubectl, "deployments.apps/sturdy-1")["metadata"]["uid"]

    kubectl("delete", "deployments.apps", "sturdy-1", "--wait=true", "--timeout=30s")

    wait_for(
        kubectl,
        "deployments.apps/sturdy-1",
        lambda server: server["metadata"]["uid"] != uid,
        "the scoring server is applied again",
        timeout=30,
    )
