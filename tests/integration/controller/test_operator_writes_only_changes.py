"""The operator writes a child object only when it changed, is gone or was edited by hand.

With a resync period far longer than the test, a reconcile that finds nothing changed
applies nothing (the API server's own request counter says so), and an owned object
deleted or edited by hand comes back at once, not at the next resync. With a short one,
an operator at rest asks the API server nothing however often it resyncs (the server's
audit log of the operator's ServiceAccount says so).
"""

from __future__ import annotations

import json
import re
import ssl
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
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


def server_metrics(control_plane: ControlPlane) -> str:
    context: ssl.SSLContext = control_plane.admin_ssl_context()
    with urllib.request.urlopen(f"{control_plane.server}/metrics", context=context) as answer:
        text: str = answer.read().decode()
    return text


def applies_of_owned_kinds(control_plane: ControlPlane) -> dict[str, int]:
    """Server-side applies the API server has answered, per kind a Deployment owns."""
    metrics = server_metrics(control_plane)
    counts: dict[str, int] = {}
    for resource, count in OWNED_APPLIES.findall(metrics):
        counts[resource] = counts.get(resource, 0) + int(float(count))
    return counts


def steady(control_plane: ControlPlane) -> dict[str, int] | None:
    """The count of applies, if it stays the same for two seconds."""
    first = applies_of_owned_kinds(control_plane)
    time.sleep(2)
    return first if applies_of_owned_kinds(control_plane) == first else None


def reconciled_after(operator: RunningOperator, count: float) -> None:
    """Wait for a reconcile after the COUNTth."""
    eventually(lambda: reconciles(operator) > count, 30, "one more reconcile")


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

    # When it is reconciled again, five times, with nothing changed (one at a time: the
    # work queue merges a change into one still waiting)
    for note in range(5):
        before = reconciles(operator)
        kubectl(
            "annotate", "--overwrite", "deployments.modelkeeper.io/calm", f"example.com/note={note}"
        )
        reconciled_after(operator, before)

    # Then none of them applied an object
    assert applies_of_owned_kinds(control_plane) == settled


@pytest.mark.parametrize(
    ("name", "kind", "child"),
    [
        pytest.param("sturdy", "deployments.apps", "sturdy-1", id="a-scoring-server"),
        pytest.param("stubborn", "configmap", "stubborn-router", id="the-routes"),
        pytest.param("staunch", "serviceaccount", "staunch-router", id="the-routers-account"),
    ],
)
def test_an_owned_object_deleted_by_hand_comes_back_before_the_resync(
    operator: RunningOperator, kubectl: Kubectl, tmp_path: Path, name: str, kind: str, child: str
) -> None:
    serving(kubectl, tmp_path, name)
    uid = get(kubectl, f"{kind}/{child}")["metadata"]["uid"]

    kubectl("delete", kind, child, "--wait=true", "--timeout=30s")

    wait_for(
        kubectl,
        f"{kind}/{child}",
        lambda found: found["metadata"]["uid"] != uid,
        f"{kind} {child} is applied again",
        timeout=30,
    )


def test_owned_objects_edited_by_hand_are_applied_again_before_the_resync(
    operator: RunningOperator, kubectl: Kubectl, tmp_path: Path
) -> None:
    # Given a Deployment at rest
    serving(kubectl, tmp_path, "steadfast")
    routes = get(kubectl, "configmap/steadfast-router")["data"]

    # When someone edits fields the operator owns: a label of a Service, the routes
    kubectl("label", "--overwrite", "service/steadfast-1", "app.kubernetes.io/part-of=someone")
    edited = {key: "{}" for key in routes}
    kubectl(
        "patch", "configmap/steadfast-router", "--type=merge", "-p", json.dumps({"data": edited})
    )

    # Then both come back as the operator wants them, well before the resync (600 s)
    wait_for(
        kubectl,
        "service/steadfast-1",
        lambda service: service["metadata"]["labels"]["app.kubernetes.io/part-of"] == "modelkeeper",
        "the Service's label is applied again",
        timeout=30,
    )
    wait_for(
        kubectl,
        "configmap/steadfast-router",
        lambda found: found["data"] == routes,
        "the routes are applied again",
        timeout=30,
    )


def own_requests(operator: RunningOperator) -> float:
    """The requests the operator's client made, by its own count."""
    found = re.findall(
        r"^modelkeeper_kube_requests_total\{[^}]*\} (\S+)$", operator.metrics(), re.M
    )
    return sum(float(count) for count in found)


def asked_since(control_plane: ControlPlane, since: datetime) -> list[str]:
    """What the operator asked the API server since SINCE, by the server's audit log: every
    request of its ServiceAccount but its watches (kopf's included, which its own count
    misses)."""
    return [
        f"{event['verb']} {event['requestURI']}"
        for event in control_plane.audited(since)
        if event["verb"] != "watch"
    ]


def test_an_operator_at_rest_asks_the_api_server_nothing_however_often_it_resyncs(
    crds: Path,
    control_plane: ControlPlane,
    namespace: str,
    kubectl: Kubectl,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    resync = 2.0
    with running_operator(
        control_plane,
        tmp_path_factory.mktemp("operator"),
        f"--resync-seconds={resync:g}",
        f"--namespaces={namespace}",
    ) as operator:
        # Given three Deployments whose objects exist, and nothing else going on
        names = ["still-a", "still-b", "still-c"]
        for name in names:
            serving(kubectl, tmp_path / name, name)
        eventually(lambda: steady(control_plane), 60, "the operator stops applying")
        assert asked_since(control_plane, datetime.now(UTC) - timedelta(minutes=1))

        # When three resync periods pass
        since, reconciled = datetime.now(UTC), reconciles(operator)
        asked = own_requests(operator)
        eventually(
            lambda: reconciles(operator) >= reconciled + 3 * len(names),
            30,
            "every Deployment reconciled in three resync periods",
        )

        # Then none of those reconciles asked anything
        assert own_requests(operator) == asked > 0
        assert asked_since(control_plane, since) == []
