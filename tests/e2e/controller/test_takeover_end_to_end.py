"""A canary across a takeover on the real ground: two operator processes elect a leader by
a Lease; the leader is SIGKILLed in the middle of the canary, and the standby finishes it.

The takeover is timed from the kill to the Lease naming the standby and to its first
status write. The rollout's state lives in the Deployment's status, so the new leader
goes on from the step the old one left: each step once, in order, one analysis pass per
step, one rollout and one promotion.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.ground.controlplane import ControlPlane
from tests.ground.ground import Kubectl
from tests.ground.node import Node
from tests.ground.polling import eventually
from tests.ground.prometheus import Prometheus
from tests.support.kube import apply, event_log, router_address, serving_only, wait_for
from tests.support.models import constant_versions
from tests.support.objects import canary_deployment
from tests.support.operator_process import (
    LEASE,
    delete_lease,
    lease_spec,
    operator_flags,
    running_operator,
)
from tests.support.traffic import SteadyTraffic
from tests.support.watch import StatusWatch

FAMILY = "relay"
WEIGHTS = (20, 50, 80)
INTERVAL = 6
DEPLOYMENT = f"deployments.modelkeeper.io/{FAMILY}"
TAKEOVER_LIMIT_SECONDS = 30


@pytest.fixture
def no_lease(control_plane: ControlPlane) -> Iterator[None]:
    delete_lease(control_plane)
    yield
    delete_lease(control_plane)


def test_a_standby_finishes_the_canary_of_a_killed_leader(
    no_shared_operator: None,
    no_lease: None,
    crds: Path,
    control_plane: ControlPlane,
    node: Node,
    prometheus: Prometheus,
    kubectl: Kubectl,
    tmp_path: Path,
) -> None:
    flags = operator_flags(f"--prometheus-url={prometheus.url}", f"--leader-election-lease={LEASE}")
    version_1, version_2 = constant_versions(tmp_path, FAMILY)
    with ExitStack() as stack:
        # Given a leader and a standby, and version 1 serving under steady traffic
        leader = stack.enter_context(
            running_operator(control_plane, tmp_path / "a", *flags, "--identity=op-a")
        )
        eventually(leader.leads, 30, "op-a leads")
        standby = stack.enter_context(
            running_operator(control_plane, tmp_path / "b", *flags, "--identity=op-b")
        )
        apply(
            kubectl,
            version_1,
            canary_deployment(FAMILY, FAMILY, WEIGHTS, interval_seconds=INTERVAL),
        )
        wait_for(kubectl, DEPLOYMENT, serving_only("1"), "version 1 serves", 180)
        address = router_address(kubectl, FAMILY)
        eventually(lambda: SteadyTraffic(address, FAMILY).request(5.0).ok, 60, "the router answers")
        traffic = stack.enter_context(SteadyTraffic(address, FAMILY))
        statuses = stack.enter_context(StatusWatch(kubectl, DEPLOYMENT))

        # When version 2's canary reaches its middle step, and the leader is SIGKILLed
        apply(kubectl, version_2)
        wait_for(
            kubectl,
            DEPLOYMENT,
            lambda d: d.get("status", {}).get("step") == 1,
            "the canary at step 1",
            180,
        )
        assert not standby.leads()
        leader.kill()
        killed = time.monotonic()

        # Then the standby holds the Lease within 30 s, and goes on with the canary
        eventually(
            lambda: lease_spec(control_plane).get("holderIdentity") == "op-b",
            TAKEOVER_LIMIT_SECONDS,
            "op-b holds the Lease",
        )
        leased = time.monotonic() - killed
        done = wait_for(kubectl, DEPLOYMENT, serving_only("2"), "version 2 is promoted", 120)
        first_write = next(c.at for c in statuses.changes if c.at > killed) - killed
        print(
            f"MEASURED SIGKILL of the leader -> Lease held by the standby: {leased:.1f}s; "
            f"-> its first status write: {first_write:.1f}s"
        )
        answers = traffic.answers
        # (the Promoted Event follows the status write: wait for it while the operator runs)
        eventually(
            lambda: any(
                reason == "Promoted" for _, reason, _ in event_log(kubectl, "Deployment", FAMILY)
            ),
            30,
            "the Promoted Event is posted",
        )
    assert leased < TAKEOVER_LIMIT_SECONDS
    assert first_write < TAKEOVER_LIMIT_SECONDS

    # And no client request failed; each step came once, in order, none skipped
    assert [a for a in answers if not a.ok] == []
    steps = [c.step for c in statuses.changes if c.candidate == "2" and c.step is not None]
    assert sorted(set(steps)) == list(range(len(WEIGHTS)))
    assert steps == sorted(steps), f"status.step went back: {steps}"
    status = done["status"]
    assert [(h["version"], h["outcome"]) for h in status["history"]] == [("2", "Promoted")]
    passed = [
        (r["step"], r["weight"]) for r in status["analysisRuns"] if r["phase"] == "Successful"
    ]
    assert set(passed) == {(step, weight) for step, weight in enumerate(WEIGHTS)}
    log = [(reason, message) for _, reason, message in event_log(kubectl, "Deployment", FAMILY)]
    rollout = [reason for reason, _ in log if reason in ("RolloutStarted", "Promoted")]
    assert rollout == ["RolloutStarted", "Promoted"]
    step_events = [message for reason, message in log if reason == "StepStarted"]
    assert len(step_events) == len(set(step_events)), f"a step started twice: {step_events}"
