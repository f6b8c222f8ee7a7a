"""More than one operator process against the real API server, as the operator's
ServiceAccount: a standby that takes over from a killed leader by the Lease, and two
shards that split the families by label.

The takeover is timed from the SIGKILL to the first status the new leader writes; the
retraining run the killed leader started is the only one afterwards (its Job is named by
the run, and the new leader adopts it). The canary's steps across a takeover are the
e2e tier's (tests/e2e/controller/test_takeover_end_to_end.py): no kubelet runs here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from modelkeeper.api.labels import POLICY_LABEL
from tests.ground.controlplane import ControlPlane
from tests.ground.ground import Kubectl
from tests.ground.polling import eventually
from tests.support import objects
from tests.support.kube import apply, events, get, wait_for
from tests.support.models import write_constant_model
from tests.support.objects import artifact_model, deployment
from tests.support.operator_process import (
    LEASE,
    delete_lease,
    lease_spec,
    operator_flags,
    running_operator,
)

TAKEOVER_LIMIT_SECONDS = 30
SHARD_LABEL = "modelkeeper.io/shard"
RECONCILES = "modelkeeper_operator_reconciliations_total"
TRAINER = {"name": "train", "image": "registry.example.com/shop-trainer:1"}


def reporters(kubectl: Kubectl, name: str) -> dict[str, set[str]]:
    """The reportingInstance of the Events about the modelkeeper.io object `name`, by reason."""
    found: dict[str, set[str]] = {}
    for event in json.loads(kubectl("get", "events", "-o", "json").stdout)["items"]:
        about = event["involvedObject"]
        # (not the Service of the same name, which the API server's IP allocator may report on)
        if about["name"] == name and about.get("apiVersion", "").startswith("modelkeeper.io/"):
            found.setdefault(event["reason"], set()).add(event["reportingInstance"])
    return found


def stable(version: str) -> Any:
    return lambda d: d.get("status", {}).get("stable", {}).get("version") == version


@pytest.fixture
def no_lease(control_plane: ControlPlane) -> Iterator[None]:
    """Each test elects afresh."""
    delete_lease(control_plane)
    yield
    delete_lease(control_plane)


def test_a_standby_takes_over_from_a_killed_leader_within_30s_without_a_second_run(
    no_lease: None,
    crds: Path,
    control_plane: ControlPlane,
    namespace: str,
    kubectl: Kubectl,
    tmp_path: Path,
) -> None:
    # The test's namespace alone: a new leader has no earlier tests' leftovers to go through
    elect = (f"--leader-election-lease={LEASE}", f"--namespaces={namespace}")
    with ExitStack() as stack:
        # Given a leader, then a standby
        leader = stack.enter_context(
            running_operator(
                control_plane, tmp_path / "a", *operator_flags(*elect, "--identity=op-a")
            )
        )
        eventually(leader.leads, 30, "op-a leads")
        standby = stack.enter_context(
            running_operator(
                control_plane, tmp_path / "b", *operator_flags(*elect, "--identity=op-b")
            )
        )
        # ...a Deployment the leader serves, and a retraining run the leader started
        sha = write_constant_model(tmp_path / "v1", 1.0)
        apply(kubectl, artifact_model("shop-1", "shop", "1", tmp_path / "v1", sha))
        apply(kubectl, deployment("shop", "shop"))
        wait_for(kubectl, "deployments.modelkeeper.io/shop", stable("1"), "op-a serves shop")
        policy = objects.retrain_policy(
            "retrain-shop",
            "shop",
            workload={"job": {"spec": {"template": {"spec": {"containers": [TRAINER]}}}}},
            gate={"metric": "auc", "minImprovement": 0.01},
        )
        apply(kubectl, policy)
        kubectl("annotate", "retrainpolicy/retrain-shop", "modelkeeper.io/retrain=request-1")
        started = wait_for(
            kubectl,
            "retrainpolicy/retrain-shop",
            lambda p: bool(p.get("status", {}).get("active")),
            "op-a starts a run",
        )
        [run] = started["status"]["active"]
        # (the RunStarted Event follows the status write: wait for it while op-a still runs)
        eventually(
            lambda: reporters(kubectl, "retrain-shop").get("RunStarted") == {"op-a"},
            30,
            "op-a's RunStarted Event",
        )
        assert not standby.leads()
        assert standby.sample(RECONCILES, '{kind="Deployment"}') == 0

        # When the leader is SIGKILLed, and a new Deployment appears right after
        leader.kill()
        killed = time.monotonic()
        apply(kubectl, deployment("late", "shop"))

        # Then the standby serves it within 30 s, holding the Lease
        wait_for(
            kubectl,
            "deployments.modelkeeper.io/late",
            stable("1"),
            "op-b serves the new Deployment",
            TAKEOVER_LIMIT_SECONDS,
        )
        takeover = time.monotonic() - killed
        print(f"MEASURED SIGKILL of the leader -> the standby's status of `late`: {takeover:.1f}s")
        assert takeover < TAKEOVER_LIMIT_SECONDS
        assert standby.leads()
        held = lease_spec(control_plane)
        assert (held["holderIdentity"], held["leaseTransitions"]) == ("op-b", 1)
        assert set().union(*reporters(kubectl, "late").values()) == {"op-b"}

        # And once the new leader has reconciled the policy, the run is still the one Job
        eventually(
            lambda: standby.sample(RECONCILES, '{kind="RetrainPolicy"}') >= 2,
            30,
            "op-b reconciles the policy",
        )
        jobs = json.loads(
            kubectl("get", "jobs", "-l", f"{POLICY_LABEL}=retrain-shop", "-o", "json").stdout
        )["items"]
        assert [job["metadata"]["name"] for job in jobs] == [run["workload"]["name"]]
        now = get(kubectl, "retrainpolicy/retrain-shop")["status"]
        assert [active["name"] for active in now["active"]] == [run["name"]]
        assert reporters(kubectl, "retrain-shop")["RunStarted"] == {"op-a"}
        assert events(kubectl, "retrain-shop").count("RunStarted") == 1

        # When the new leader stops cleanly, Then it gives the Lease up for the next one
        stack.close()
    assert not lease_spec(control_plane).get("holderIdentity")


def labelled(obj: dict[str, Any], shard: str | None) -> dict[str, Any]:
    if shard is not None:
        obj["metadata"]["labels"] = {SHARD_LABEL: shard}
    return obj


def test_two_shards_reconcile_only_the_families_their_selector_matches(
    crds: Path, control_plane: ControlPlane, kubectl: Kubectl, tmp_path: Path
) -> None:
    sha = write_constant_model(tmp_path / "v1", 1.0)
    families: dict[str, str | None] = {"alpha": "a", "beta": "b", "gamma": None}
    with ExitStack() as stack:
        # Given two operators, one per shard
        for name in ("a", "b"):
            stack.enter_context(
                running_operator(
                    control_plane,
                    tmp_path / name,
                    *operator_flags(
                        f"--shard-selector={SHARD_LABEL}={name}", f"--identity=shard-{name}"
                    ),
                )
            )
        # When a family of each shard appears, and one of no shard
        for family, shard in families.items():
            apply(
                kubectl,
                labelled(artifact_model(f"{family}-1", family, "1", tmp_path / "v1", sha), shard),
                labelled(deployment(family, family), shard),
            )

        # Then each shard's operator, and only it, reconciles its family
        for family, shard in families.items():
            if shard is None:
                continue
            wait_for(
                kubectl, f"deployments.modelkeeper.io/{family}", stable("1"), f"{family} serves"
            )
            model = get(kubectl, f"model/{family}-1")
            assert model.get("status", {}).get("stage") == "Registered"
            assert set().union(*reporters(kubectl, family).values()) == {f"shard-{shard}"}
        # And the family of no shard is left alone by both
        gamma = get(kubectl, "deployments.modelkeeper.io/gamma")
        assert "status" not in gamma or not gamma["status"]
        assert "status" not in get(kubectl, "model/gamma-1")
        assert reporters(kubectl, "gamma") == {}
        servers = kubectl("get", "deployments.apps", "-o", "name").stdout.split()
        owners = ("alpha-1", "alpha-router", "beta-1", "beta-router")
        assert sorted(servers) == [f"deployment.apps/{name}" for name in owners]
