"""Against the real API server and real pool scoring servers: one router serves every
family of a pool (`modelkeeper route --pool`), each by its own split.

The pool's catalogue is ConfigMaps (one per family, api/pool.py), which both the two
scoring servers (`modelkeeper serve --pool`) and the router follow; the servers'
EndpointSlice is made by hand on loopback addresses in 127.64.0.0/10, which the test
ground's API server admits. The router runs as a service account holding only what a
pool's router needs. Which version answered is read from each answer's model_version,
so the split counted is the one that happened, not the router's own account of it.
"""

from __future__ import annotations

import random
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import requests

from modelkeeper.api.labels import MANAGED_BY
from modelkeeper.api.pool import (
    CATALOGUE_KEY,
    PooledFamily,
    catalogue_name,
    pool_service,
)
from tests.ground.controlplane import ControlPlane
from tests.ground.ground import Kubectl
from tests.ground.polling import eventually
from tests.ground.processes import free_port
from tests.integration.router.harness import (
    Launcher,
    infer_body,
    kubeconfig_for_token,
    model_dirs,
    scraped,
    send_all,
)
from tests.support.pools import catalogue_config_map, owned_catalogue, pooled_version
from tests.support.pools import family as pooled_family

# Each catalogue is owned by a modelkeeper.io Deployment (the CRDs), as the operator's are
pytestmark = pytest.mark.usefixtures("crds")
POOL = "pool-a"


def family(
    name: str, versions: list[tuple[str, str, int, Path]], mirror_percent: int = 0
) -> PooledFamily:
    """A family `name` (its Deployment `name`-prod) of (version, role, weight, model dir)."""
    made = pooled_family(
        f"{name}-prod",
        name,
        *(pooled_version(version, path, role, weight) for version, role, weight, path in versions),
    )
    return made.model_copy(update={"mirror_percent": mirror_percent})


def catalogue(kubectl: Kubectl, chosen: PooledFamily, text: str) -> str:
    """`chosen`'s catalogue ConfigMap holding `text` as its family.json, as kubectl input."""
    document = owned_catalogue(kubectl, POOL, chosen) | {"data": {CATALOGUE_KEY: text}}
    return orjson.dumps(document).decode()


def of(kubectl: Kubectl, chosen: PooledFamily) -> str:
    """`chosen`'s catalogue ConfigMap as the operator writes it, as kubectl input."""
    return orjson.dumps(owned_catalogue(kubectl, POOL, chosen)).decode()


def servers_slice(hosts: list[str], port: int) -> str:
    document = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{pool_service(POOL)}-test",
            "labels": {
                "kubernetes.io/service-name": pool_service(POOL),
                "endpointslice.kubernetes.io/managed-by": "modelkeeper-tests",
            },
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
        "endpoints": [{"addresses": [host], "conditions": {"ready": True}} for host in hosts],
    }
    return orjson.dumps(document).decode()


def pool_role() -> str:
    """What a pool's router needs: the pool's ConfigMaps (by label, which RBAC cannot
    narrow) and the EndpointSlices, listed and watched."""
    document = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "pool-router"},
        "rules": [
            {
                "apiGroups": ["discovery.k8s.io"],
                "resources": ["endpointslices"],
                "verbs": ["list", "watch"],
            },
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list", "watch"]},
        ],
    }
    return orjson.dumps(document).decode()


def router_kubeconfig(kubectl: Kubectl, namespace: str, plane: ControlPlane, path: Path) -> Path:
    kubectl("create", "serviceaccount", "pool-router")
    kubectl("apply", "-f", "-", input=pool_role())
    kubectl(
        "create",
        "rolebinding",
        "pool-router",
        "--role=pool-router",
        f"--serviceaccount={namespace}:pool-router",
    )
    token = kubectl("create", "token", "pool-router").stdout.strip()
    return kubeconfig_for_token(plane.kubeconfig, token, path)


def start_pool(
    launch: Launcher, kubectl: Kubectl, namespace: str, plane: ControlPlane, tmp_path: Path
) -> tuple[str, str]:
    """Two pool servers on their own loopback addresses, their EndpointSlice, and the
    pool's router; the router's URL and the first server's."""
    block = random.randrange(1, 250)  # addresses of this test's own, should tests overlap
    hosts = [f"127.64.{block}.{index}" for index in (1, 2)]
    port = free_port(hosts[0])
    for index, host in enumerate(hosts):
        launch.pool_server(f"server-{index}", host, port, POOL, namespace, plane.kubeconfig)
    kubectl("apply", "-f", "-", input=servers_slice(hosts, port))
    kubeconfig = router_kubeconfig(kubectl, namespace, plane, tmp_path / "router-kubeconfig")
    url, _ = launch.pool_router(POOL, "--namespace", namespace, "--kubeconfig", str(kubeconfig))
    return url, f"http://{hosts[0]}:{port}"


def families_routed(url: str) -> dict[str, dict[str, int]]:
    """Each routed family's weights, from the router's status page."""
    status = requests.get(f"{url}/router/status", timeout=5).json()
    return {
        document["model"]: {backend["name"]: backend["weight"] for backend in document["backends"]}
        for document in status["families"]
    }


def metric(url: str, name: str, **labels: str) -> float:
    return scraped(url, name, **labels)


async def versions_answering(url: str, model: str, bodies: list[dict[str, Any]]) -> Counter[str]:
    answers = await send_all(f"{url}/v2/models/{model}/infer", bodies, concurrency=8)
    assert [answer.status for answer in answers] == [200] * len(bodies), answers[0].body
    return Counter(answer.body["model_version"] for answer in answers)


async def test_one_router_serves_every_family_of_a_pool_by_its_own_split(
    launch: Launcher,
    kubectl: Kubectl,
    namespace: str,
    control_plane: ControlPlane,
    tmp_path: Path,
) -> None:
    # Given a pool's catalogue of three families, each with its own split: a canary at
    # half, a canary at nought, and a stable whose every request is mirrored to a shadow
    # that is another model
    stable_dir, other_dir, frame = model_dirs(tmp_path / "models")
    half = family(
        "fraud",
        [("v1", "Stable", 50, stable_dir), ("v2", "Canary", 50, stable_dir)],
    )
    nought = family(
        "churn",
        [("v1", "Stable", 100, stable_dir), ("v2", "Canary", 0, other_dir)],
    )
    shadowed = family(
        "credit",
        [("v1", "Stable", 100, stable_dir), ("v3", "Shadow", 0, other_dir)],
        mirror_percent=100,
    )
    for chosen in (half, nought, shadowed):
        kubectl("apply", "-f", "-", input=of(kubectl, chosen))
    url, server = start_pool(launch, kubectl, namespace, control_plane, tmp_path)
    assert families_routed(url) == {
        "fraud": {"v1": 50, "v2": 50},
        "churn": {"v1": 100, "v2": 0},
        "credit": {"v1": 100, "v3": 0},
    }
    x = frame.drop(columns="target").to_numpy()
    draw = np.random.default_rng(7)
    batches = [draw.integers(0, len(x), size=draw.integers(1, 4)) for _ in range(40)]
    bodies = [infer_body(x[rows], f"req-{index}") for index, rows in enumerate(batches)]

    # When each family is sent 40 requests through the one router, each is split its own way
    assert await versions_answering(url, "fraud", bodies) == {"v1": 20, "v2": 20}
    assert await versions_answering(url, "churn", bodies) == {"v1": 40}
    requests_total = "modelkeeper_router_requests_total"
    assert metric(url, requests_total, deployment="fraud-prod", backend="v2", role="canary") == 20
    assert metric(url, requests_total, deployment="churn-prod", backend="v1", role="stable") == 40
    assert metric(url, requests_total, model="churn", backend="v2") == 0

    # The shadowed family's requests all go to its stable, each mirrored to the shadow and
    # compared: the agreement counted is what the two versions answer when asked directly
    routed = await send_all(f"{url}/v2/models/credit/infer", bodies, concurrency=8)
    assert {answer.body["model_version"] for answer in routed} == {"v1"}
    stable_answers = [a.body["outputs"][0]["data"] for a in routed]
    shadow_answers = await send_all(f"{server}/v2/models/credit/versions/v3/infer", bodies)
    disagreeing = [
        sum(a != b for a, b in zip(mine, answer.body["outputs"][0]["data"], strict=True))
        for mine, answer in zip(stable_answers, shadow_answers, strict=True)
    ]
    assert 0 < sum(disagreeing) < sum(map(len, batches)), "the two versions must differ"
    mirrored = "modelkeeper_router_mirror_requests_total"
    eventually(
        lambda: metric(url, mirrored, model="credit") == len(bodies), 30, "every mirror judged"
    )
    assert metric(url, mirrored, model="credit", outcome="agree") == sum(
        rows == 0 for rows in disagreeing
    )
    assert metric(url, mirrored, model="credit", outcome="disagree") == sum(
        rows > 0 for rows in disagreeing
    )
    assert metric(url, mirrored, model="fraud") == 0

    # Ground truth sent through the router reaches the server and version that answered
    labels = [frame["target"].to_numpy()[rows].tolist() for rows in batches]
    feedback = [{"id": b["id"], "labels": label} for b, label in zip(bodies, labels, strict=True)]
    answers = await send_all(f"{url}/v2/models/fraud/feedback", feedback)
    assert [answer.status for answer in answers] == [200] * len(bodies)
    assert [answer.body["rows"] for answer in answers] == list(map(len, batches))

    # A model the pool has no family for is a 404 naming it; metadata is the stable's
    unknown = requests.post(f"{url}/v2/models/nope/infer", json=bodies[0], timeout=5)
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "model 'nope' not found"}
    metadata = requests.get(f"{url}/v2/models/churn", timeout=5)
    assert metadata.status_code == 200
    assert metadata.json()["versions"] == ["v1"]

    # When one family's catalogue moves its canary to all the traffic, the router (the
    # same process) re-routes that family within moments, taking one reload for it
    pid = launch.components[-1].pid
    reloads = "modelkeeper_router_config_reloads_total"
    taken = metric(url, reloads, result="success")
    moved = family(
        "fraud",
        [("v1", "Stable", 0, stable_dir), ("v2", "Canary", 100, stable_dir)],
    )
    kubectl("apply", "-f", "-", input=of(kubectl, moved))
    eventually(
        lambda: families_routed(url)["fraud"] == {"v1": 0, "v2": 100}, 10, "the new split taken"
    )
    assert await versions_answering(url, "fraud", bodies) == {"v2": 40}
    assert metric(url, reloads, result="success") == taken + 1
    assert launch.components[-1].pid == pid
    assert launch.components[-1].alive()

    # And a family whose catalogue is deleted is routed no more, its series gone
    kubectl("delete", "configmap", catalogue_name(nought.deployment))
    eventually(lambda: "churn" not in families_routed(url), 10, "the family removed")
    gone = requests.post(f"{url}/v2/models/churn/infer", json=bodies[0], timeout=5)
    assert gone.status_code == 404
    assert metric(url, requests_total, model="churn") == 0
    assert metric(url, requests_total, model="fraud") == 80


async def test_a_bad_catalogue_is_refused_for_its_family_alone(
    launch: Launcher,
    kubectl: Kubectl,
    namespace: str,
    control_plane: ControlPlane,
    tmp_path: Path,
) -> None:
    # Given a pool with one good family
    stable_dir, _, frame = model_dirs(tmp_path / "models")
    good = family(
        "fraud",
        [("v1", "Stable", 90, stable_dir), ("v2", "Canary", 10, stable_dir)],
    )
    kubectl("apply", "-f", "-", input=of(kubectl, good))
    url, _ = start_pool(launch, kubectl, namespace, control_plane, tmp_path)
    router = launch.components[-1]
    reloads = "modelkeeper_router_config_reloads_total"
    assert families_routed(url) == {"fraud": {"v1": 90, "v2": 10}}

    # When a second family mirrors with no shadow to mirror to, it is refused, logged and
    # counted, and not routed; the first family is served as before
    lonely = family("churn", [("v1", "Stable", 100, stable_dir)])
    bad = lonely.model_copy(update={"mirror_percent": 10})
    kubectl("apply", "-f", "-", input=of(kubectl, bad))
    eventually(lambda: metric(url, reloads, result="failure") == 1, 10, "the family refused")
    log = router.log.read_text()
    assert f"ConfigMap {namespace}/{catalogue_name('churn-prod')}: " in log
    assert "`mirror_percent` needs a backend with role `shadow`" in log
    x = frame.drop(columns="target").to_numpy()
    body = infer_body(x[:2], "one")
    assert requests.post(f"{url}/v2/models/churn/infer", json=body, timeout=5).status_code == 404
    assert requests.post(f"{url}/v2/models/fraud/infer", json=body, timeout=5).status_code == 200

    # And a bad edit of the good family's catalogue leaves it its last good route
    kubectl("apply", "-f", "-", input=catalogue(kubectl, good, '{"deployment": "fraud-prod"'))
    eventually(lambda: metric(url, reloads, result="failure") == 2, 10, "the edit refused")
    assert families_routed(url) == {"fraud": {"v1": 90, "v2": 10}}
    assert requests.post(f"{url}/v2/models/fraud/infer", json=body, timeout=5).status_code == 200

    # A good one for the refused family is then taken
    kubectl("apply", "-f", "-", input=of(kubectl, lonely))
    eventually(lambda: "churn" in families_routed(url), 10, "the mended family routed")
    assert requests.post(f"{url}/v2/models/churn/infer", json=body, timeout=5).status_code == 200
    assert router.alive()


def deployments_routed(url: str) -> dict[str, str]:
    """The Deployment each routed model name is routed for, from the router's status page."""
    status = requests.get(f"{url}/router/status", timeout=5).json()
    return {document["model"]: document["deployment"] for document in status["families"]}


async def test_a_model_name_is_routed_for_the_operators_elder_family_and_passes_on_when_it_goes(
    launch: Launcher,
    kubectl: Kubectl,
    namespace: str,
    control_plane: ControlPlane,
    tmp_path: Path,
) -> None:
    # Given a pool routing model fraud for Deployment fraud-a, whose version is v1
    stable_dir, other_dir, frame = model_dirs(tmp_path / "models")
    first = pooled_family("fraud-a", "fraud", pooled_version("v1", stable_dir))
    kubectl("apply", "-f", "-", input=of(kubectl, first))
    url, _ = start_pool(launch, kubectl, namespace, control_plane, tmp_path)
    router = launch.components[-1]
    reloads = "modelkeeper_router_config_reloads_total"
    assert deployments_routed(url) == {"fraud": "fraud-a"}

    # When ConfigMaps not the operator's claim the name, named to sort first (one without
    # the managed-by label, one controlled by no modelkeeper.io Deployment), and so does
    # the family of a second Deployment, the operator's but younger
    evil = pooled_family("0-evil", "fraud", pooled_version("v9", other_dir))
    unlabelled = owned_catalogue(kubectl, POOL, evil)
    del unlabelled["metadata"]["labels"][MANAGED_BY]
    unowned = catalogue_config_map(POOL, evil, "no-such-uid")
    unowned["metadata"] |= {"name": "0-unowned-catalogue", "ownerReferences": []}
    second = pooled_family("fraud-b", "fraud", pooled_version("v2", other_dir))
    for document in (unlabelled, unowned):
        kubectl("apply", "-f", "-", input=orjson.dumps(document).decode())
    kubectl("apply", "-f", "-", input=of(kubectl, second))

    # Then all three are refused, logged and counted, and fraud-a's family is routed on
    eventually(lambda: metric(url, reloads, result="failure") == 3, 10, "three refused")
    assert deployments_routed(url) == {"fraud": "fraud-a"}
    log = router.log.read_text()
    assert f"ConfigMap {namespace}/0-evil-catalogue: it is not labelled {MANAGED_BY}" in log
    assert f"ConfigMap {namespace}/0-unowned-catalogue: no modelkeeper.io Deployment" in log
    assert "model 'fraud' is routed for fraud-a-catalogue; this family waits" in log
    x = frame.drop(columns="target").to_numpy()
    bodies = [infer_body(x[index : index + 2], f"req-{index}") for index in range(10)]
    assert await versions_answering(url, "fraud", bodies) == {"v1": 10}

    # When fraud-a is deleted and the garbage collector takes its catalogue, as in a
    # handover, fraud-b's family, refused so far, is routed and answers, in the router and
    # the pool's servers alike
    kubectl("delete", "deployments.modelkeeper.io", "fraud-a")
    eventually(
        lambda: deployments_routed(url) == {"fraud": "fraud-b"}, 60, "fraud-b's family routed"
    )

    def answered_by_v2() -> bool:
        answer = requests.post(f"{url}/v2/models/fraud/infer", json=bodies[0], timeout=5)
        return answer.status_code == 200 and answer.json()["model_version"] == "v2"

    eventually(answered_by_v2, 10, "fraud-b's version answers")
    assert await versions_answering(url, "fraud", bodies) == {"v2": 10}
    assert router.alive()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        pytest.param(["--pool", POOL], "--pool needs --namespace", id="no-namespace"),
        pytest.param(
            ["--pool", POOL, "--namespace", "ns", "--kubeconfig", "/nonexistent/kubeconfig"],
            "cannot read EndpointSlices: no API access from /nonexistent/kubeconfig",
            id="no-api-access",
        ),
        pytest.param(
            ["--pool", POOL, "--namespace", "ns", "--config-map", "x"],
            "--pool takes its families from the pool's catalogue",
            id="with-a-config-map",
        ),
        pytest.param(
            ["--config", "/nonexistent.yaml", "--pool-service", "s"],
            "--pool-service goes with --pool",
            id="pool-service-alone",
        ),
    ],
)
def test_pool_flags_that_cannot_be_used_exit_2_saying_why(flags: list[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "modelkeeper.cli", "route", *flags],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
