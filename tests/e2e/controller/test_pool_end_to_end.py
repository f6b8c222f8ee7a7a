"""Fifty model families from one ServingPool of two scoring servers, on the real ground.

The operator runs the pool's servers and router from the project's image under a real
kubelet; fifty Deployments name the pool, each with a constant model of its own (family
`mNN` predicts NN + 0.5). Each family answers through the pool's one router with its own
model. One family is canaried through the pool: version 2 walks its setWeight steps, each
held until an ErrorRate analysis of the pool servers' metrics (selected by deployment and
version, as for servers of its own) passes, and is Promoted, with no failed request. The
servers' memory budget holds a few of these models, not fifty: a family asked first is
unloaded by the time the others have been asked (the model repository index of every
server says so), and its next request loads it again and answers correctly.
"""

from __future__ import annotations

import json
import time
import urllib.request
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

from tests.ground.ground import Kubectl
from tests.ground.polling import eventually
from tests.support.kube import POD_START, apply, serving_only, wait_for
from tests.support.models import write_constant_model
from tests.support.objects import artifact_model, canary_deployment, deployment, manifest
from tests.support.operator_process import RunningOperator
from tests.support.traffic import SteadyTraffic, predict

POOL = "shared"
FAMILIES = [f"m{index:02d}" for index in range(50)]
CANARIED = FAMILIES[0]
EVICTED = FAMILIES[1]
BUDGET = "64Ki"
"""A constant model is charged about 9 KB (its objects and files): a server keeps about
seven of the fifty."""
WEIGHTS = (30, 70)
INTERVAL = 6


def constant(family: str, version: str = "1") -> float:
    return int(family[1:]) + 0.5 + (100 if version == "2" else 0)


def pod_addresses(kubectl: Kubectl, component: str) -> list[str]:
    """host:port of the pool's ready pods of `component` (pool-server or pool-router)."""
    pods = json.loads(
        kubectl(
            "get",
            "pods",
            "-l",
            f"modelkeeper.io/pool={POOL},app.kubernetes.io/component={component}",
            "-o",
            "json",
        ).stdout
    )["items"]
    ready = [
        pod
        for pod in pods
        if pod.get("status", {}).get("podIP")
        and any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"]["conditions"])
    ]
    return [f"{pod['status']['podIP']}:8080" for pod in ready]


def index(server: str) -> list[dict[str, Any]]:
    """A pool server's model repository index: every version it knows and its state."""
    request = urllib.request.Request(
        f"http://{server}/v2/repository/index",
        data=b"{}",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        found: list[dict[str, Any]] = json.load(response)
        return found


def loaded(servers: list[str], family: str) -> int:
    """On how many of the servers the family's version is loaded (READY)."""
    return sum(
        entry["name"] == family and entry["state"] == "READY"
        for server in servers
        for entry in index(server)
    )


def healthy(kubectl: Kubectl) -> set[str]:
    listed = json.loads(kubectl("get", "deployments.modelkeeper.io", "-o", "json").stdout)["items"]
    return {d["metadata"]["name"] for d in listed if d.get("status", {}).get("phase") == "Healthy"}


def test_fifty_families_on_two_pool_servers_a_canary_and_an_evicted_model(
    shared_operator: RunningOperator, kubectl: Kubectl, tmp_path: Path
) -> None:
    # Given a pool of two servers whose budget holds a few models, and fifty families in it
    objects: list[dict[str, Any]] = [
        manifest("ServingPool", POOL, {"replicas": 2, "memoryBudget": BUDGET})
    ]
    for family in FAMILIES:
        sha = write_constant_model(tmp_path / family / "1", constant(family))
        objects.append(artifact_model(f"{family}-1", family, "1", tmp_path / family / "1", sha))
        if family == CANARIED:
            canary = canary_deployment(
                family, family, WEIGHTS, interval_seconds=INTERVAL, min_requests=10
            )
            canary["spec"]["pool"] = POOL
            objects.append(canary)
        else:
            objects.append(deployment(family, family, pool=POOL))
    started = time.monotonic()
    apply(kubectl, *objects)

    # Then every Deployment serves version 1 through the pool, with two server pods in all
    eventually(
        lambda: healthy(kubectl) == set(FAMILIES), POD_START, "fifty Deployments are Healthy"
    )
    print(
        f"MEASURED fifty pooled Deployments Healthy {time.monotonic() - started:.1f}s after apply"
    )
    servers = pod_addresses(kubectl, "pool-server")
    assert len(servers) == 2
    [router] = eventually(lambda: pod_addresses(kubectl, "pool-router"), 60, "the router")
    pods = json.loads(kubectl("get", "pods", "-o", "json").stdout)["items"]
    assert len(pods) == 3, [p["metadata"]["name"] for p in pods]

    # And each family answers through the one router with its own model, in order
    for family in FAMILIES:
        answer = eventually(partial(_answer, router, family), 30, f"{family} answers")
        assert answer == ("1", constant(family)), family

    # And the family asked first is unloaded everywhere by now: the budget is far smaller
    # than fifty models
    entries = [entry for server in servers for entry in index(server) if entry["name"] == EVICTED]
    assert [entry["state"] for entry in entries] == ["UNAVAILABLE"] * 2, entries
    evicted = [e for e in entries if e["reason"].startswith("unloaded to fit the memory budget")]
    assert evicted, entries

    # When it is asked again, it is loaded again and answers correctly
    assert predict(router, EVICTED, 1.0) == ("1", constant(EVICTED))
    assert loaded(servers, EVICTED) == 1

    # When version 2 of the canaried family appears, with traffic to it through the router
    sha2 = write_constant_model(tmp_path / CANARIED / "2", constant(CANARIED, "2"))
    with ExitStack() as stack:
        traffic = stack.enter_context(SteadyTraffic(router, model=CANARIED, period=0.02))
        apply(
            kubectl, artifact_model(f"{CANARIED}-2", CANARIED, "2", tmp_path / CANARIED / "2", sha2)
        )
        done = wait_for(
            kubectl,
            f"deployments.modelkeeper.io/{CANARIED}",
            serving_only("2"),
            "version 2 is promoted through the pool",
            180,
        )
        eventually(
            lambda: traffic.answers[-1].version == "2", 30, "the router sends all to version 2"
        )
        answers = traffic.answers

    # Then it was promoted after an analysis at each weight, and no request failed
    status = done["status"]
    assert [(h["version"], h["outcome"]) for h in status["history"]] == [("2", "Promoted")]
    passed = {
        (r["step"], r["weight"]) for r in status["analysisRuns"] if r["phase"] == "Successful"
    }
    assert passed == {(0, 30), (1, 70)}
    assert [a for a in answers if not a.ok] == []
    by_version = {v: [a.prediction for a in answers if a.version == v] for v in ("1", "2")}
    assert set(by_version["1"]) == {constant(CANARIED)}
    assert set(by_version["2"]) == {constant(CANARIED, "2")}
    print(
        f"MEASURED pooled canary: {len(answers)} requests, {len(by_version['1'])} by version 1 "
        f"and {len(by_version['2'])} by version 2, none failed"
    )
    # And every other family still answers with its own model
    for family in FAMILIES[1:]:
        assert predict(router, family, 2.0) == ("1", constant(family)), family


def _answer(router: str, family: str) -> tuple[str, float] | None:
    """The family's answer through the router, or None while it is not routed yet."""
    try:
        return predict(router, family, 1.0)
    except OSError:  # urllib's HTTPError and URLError are OSErrors
        return None
