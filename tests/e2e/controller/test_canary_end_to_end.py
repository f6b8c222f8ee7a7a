"""Canary rollouts on the real ground: the router's split, Prometheus analysis, rollback.

A good version walks the setWeight steps, each held until an ErrorRate analysis at that
weight passes, and is promoted, although the operator is SIGKILLed at every step; the
backends' share of the answers matches the status' weight at each step. A version that
fails on a tenth of the inputs is rolled back within failureLimit analysis intervals,
clients see errors only for the candidate's share of those inputs while it took traffic,
and the version is not tried again.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from tests.ground.controlplane import ControlPlane
from tests.ground.ground import Kubectl
from tests.ground.node import Node
from tests.ground.polling import eventually
from tests.ground.prometheus import Prometheus
from tests.support.kube import apply, events, owned, router_address, serving_only, wait_for
from tests.support.models import write_constant_model, write_failing_model
from tests.support.objects import artifact_model, canary_deployment
from tests.support.operator_process import TEST_FLAGS, RunningOperator, running_operator
from tests.support.traffic import RouterWatch, SteadyTraffic, between, binomial_tolerance
from tests.support.watch import StatusWatch

FAMILY = "fleet"
WEIGHTS = (20, 50, 80)
INTERVAL = 7
"""Seconds between analysis runs; each step lasts at least one, long enough for
MIN_REQUESTS_PER_STEP answers at the traffic rate a busy two-core machine sustains."""
DEPLOYMENT = f"deployments.modelkeeper.io/{FAMILY}"
MIN_REQUESTS_PER_STEP = 150
"""Fewest answers over a step for its split to be compared (3 sd at 50 % is then ±12 pts)."""
PROPAGATION_SECONDS = 0.5
"""Answers this close before the router's next config are not counted for the step: the
router is polled every 0.2 s, so its change may come up to that much before it is seen."""


def given_version_one_serves(kubectl: Kubectl, tmp_path: Path, failure_limit: int = 2) -> str:
    """Version 1 (a constant 1.0) served by a Canary Deployment; returns the router address."""
    sha = write_constant_model(tmp_path / "v1", 1.0)
    apply(
        kubectl,
        artifact_model(f"{FAMILY}-1", FAMILY, "1", tmp_path / "v1", sha),
        canary_deployment(
            FAMILY, FAMILY, WEIGHTS, interval_seconds=INTERVAL, failure_limit=failure_limit
        ),
    )
    wait_for(kubectl, DEPLOYMENT, serving_only("1"), "version 1 serves", 120)
    address = router_address(kubectl, FAMILY)
    probe = SteadyTraffic(address)
    eventually(lambda: probe.request(5.0).version == "1", 30, "the router answers")
    return address


def rolled_back(status: dict[str, Any]) -> bool:
    """Whether the latest finished rollout is version 2's, rolled back."""
    latest = status.get("history", [])[:1]
    return [(h["version"], h["outcome"]) for h in latest] == [("2", "RolledBack")]


def candidate_at_step(step: int) -> Callable[[dict[str, Any]], bool]:
    """A `wait_for` check: version 2 is the candidate, at `step`."""

    def check(obj: dict[str, Any]) -> bool:
        status = obj.get("status", {})
        return bool(
            status.get("step") == step and status.get("candidate", {}).get("version") == "2"
        )

    return check


def candidate_weights(changes: list[dict[str, int]]) -> list[int]:
    """The candidate's (version 2's) weights the router routed by, in order, 0 left out."""
    return [weights["2"] for weights in changes if "1" in weights and weights.get("2")]


def test_good_canary_promoted_with_measured_split_and_operator_killed_at_every_step(
    no_shared_operator: None,
    crds: Path,
    control_plane: ControlPlane,
    node: Node,
    prometheus: Prometheus,
    kubectl: Kubectl,
    tmp_path: Path,
) -> None:
    flags = (*TEST_FLAGS, f"--prometheus-url={prometheus.url}")
    sha2 = write_constant_model(tmp_path / "v2", 2.0)
    with ExitStack() as stack:
        operator = stack.enter_context(running_operator(control_plane, tmp_path / "op-0", *flags))
        address = given_version_one_serves(kubectl, tmp_path)
        traffic = stack.enter_context(SteadyTraffic(address))
        routing = stack.enter_context(RouterWatch(address))
        statuses = stack.enter_context(StatusWatch(kubectl, DEPLOYMENT))

        # When version 2 appears, and the operator is killed as soon as each step starts
        apply(kubectl, artifact_model(f"{FAMILY}-2", FAMILY, "2", tmp_path / "v2", sha2))
        for step, weight in enumerate(WEIGHTS):
            at_step = wait_for(
                kubectl,
                DEPLOYMENT,
                candidate_at_step(step),
                f"version 2 at step {step}",
                # Step 0 waits for version 2's pod to start, which is slow on a loaded machine.
                180 if step == 0 else 90,
            )
            assert at_step["status"]["weight"] == weight
            operator.kill()
            operator = stack.enter_context(
                running_operator(control_plane, tmp_path / f"op-{step + 1}", *flags)
            )
        done = wait_for(kubectl, DEPLOYMENT, serving_only("2"), "version 2 serves", 90)
        eventually(
            lambda: routing.changes[-1].weights == {"2": 100}, 30, "the router sends all to 2"
        )
        eventually(
            lambda: (
                set(owned(kubectl, FAMILY)["Deployment"]) == {f"{FAMILY}-2", f"{FAMILY}-router"}
            ),
            60,
            "version 1 is removed after the drain",
        )
        answers = traffic.answers

    # Then no client request failed, and version 2 is stable after one rollout
    assert [a for a in answers if not a.ok] == []
    status = done["status"]
    assert [(h["version"], h["outcome"]) for h in status["history"]] == [("2", "Promoted")]
    passed = {
        (r["step"], r["weight"]) for r in status["analysisRuns"] if r["phase"] == "Successful"
    }
    assert passed == {(0, 20), (1, 50), (2, 80)}
    assert [r for r in status["analysisRuns"] if r["phase"] == "Failed"] == []
    reasons = events(kubectl, FAMILY)
    # The kills land only after a step was seen in status: RolloutStarted was posted by an
    # earlier reconcile, so a second one would be a second rollout. A kill may land between
    # a step's status write and its StepStarted Event, so those may be missing, never doubled.
    assert reasons.count("RolloutStarted") == 1
    assert reasons.count("Promoted") == 1
    assert reasons.count("StepStarted") <= len(WEIGHTS) - 1
    steps = [c.step for c in statuses.changes if c.candidate == "2" and c.step is not None]
    assert steps == sorted(steps), f"status.step went back: {steps}"

    # And at every step the backends answered in the weight's proportion
    changes = routing.changes
    assert candidate_weights([c.weights for c in changes]) == list(WEIGHTS)
    for step, weight in enumerate(WEIGHTS):
        index = next(
            i for i, c in enumerate(changes) if c.weights.get("2") == weight and "1" in c.weights
        )
        start, end = changes[index].at, changes[index + 1].at - PROPAGATION_SECONDS
        during = between(answers, start, end)
        share = sum(a.version == "2" for a in during) / len(during)
        tolerance = binomial_tolerance(weight / 100, len(during))
        seen = next(c.at for c in statuses.changes if c.step == step and c.candidate == "2")
        print(
            f"MEASURED canary step {step}: status weight {weight}%, version 2 answered "
            f"{share:.1%} of {len(during)} requests over {end - start:.1f}s "
            f"(tolerance ±{tolerance:.1%}, 3 binomial sd); router took the weight "
            f"{start - seen:.1f}s after status showed the step"
        )
        assert len(during) >= MIN_REQUESTS_PER_STEP
        assert abs(share - weight / 100) <= tolerance


def test_bad_canary_rolled_back_within_failure_limit(
    shared_operator: RunningOperator, kubectl: Kubectl, tmp_path: Path
) -> None:
    failure_limit, bad_share = 2, 0.2
    sha2 = write_failing_model(tmp_path / "v2")
    with ExitStack() as stack:
        address = given_version_one_serves(kubectl, tmp_path, failure_limit)
        traffic = stack.enter_context(SteadyTraffic(address, negative_share=bad_share))
        routing = stack.enter_context(RouterWatch(address))
        statuses = stack.enter_context(StatusWatch(kubectl, DEPLOYMENT))

        # When version 2, which fails on negative inputs, rolls out
        apply(kubectl, artifact_model(f"{FAMILY}-2", FAMILY, "2", tmp_path / "v2", sha2))
        rolled = wait_for(
            kubectl, DEPLOYMENT, lambda d: rolled_back(d.get("status", {})), "rolled back", 180
        )
        eventually(
            lambda: routing.changes[-1].weights == {"1": 100}, 30, "the router sends all to 1"
        )
        back = routing.changes[-1].at
        eventually(
            lambda: (
                set(owned(kubectl, FAMILY)["Deployment"]) == {f"{FAMILY}-1", f"{FAMILY}-router"}
            ),
            60,
            "version 2's scoring servers are removed",
        )
        # Two more intervals: traffic after the rollback, and time for a second attempt
        time.sleep(2 * INTERVAL + 2)
        answers = traffic.answers
        seen = statuses.changes

    # Then the rollback names the failed check, and nothing of version 2 is left
    status = rolled["status"]
    assert status["phase"] == "Degraded"
    assert "candidate" not in status
    assert not status.get("weight")
    assert status["stable"]["version"] == "1"
    assert "error rate" in status["history"][0]["reason"], status["history"][0]["reason"]
    # Consecutive counting: the newest failureLimit runs failed, the last one rolled back
    failed = status["analysisRuns"][:failure_limit]
    assert [r["phase"] for r in failed] == ["Failed"] * failure_limit
    assert failed[0]["failures"] == failure_limit
    assert all(
        [(m["name"], m["phase"]) for m in r["metrics"]] == [("error-rate", "Failed")]
        for r in failed
    )

    # And the clients saw the bad model's 500s only for negative inputs at the canary's share
    failing = [a for a in answers if not a.ok]
    assert failing, "version 2 never answered a negative input"
    assert {a.code for a in failing} == {500}, {(a.code, a.detail) for a in failing}
    assert all(a.x < 0 for a in failing)
    first_to_v2 = min(a.at for a in answers if a.version == "2" or not a.ok)
    during = between(answers, first_to_v2, back)
    error_share = sum(not a.ok for a in during) / len(during)
    # A window without a negative row can pass an analysis run and move the canary up a
    # step: the bound is the highest weight the rollout set before it rolled back.
    top_weight = max(c.status.get("weight") or 0 for c in seen if not rolled_back(c.status))
    expected = top_weight / 100 * bad_share
    tolerance = binomial_tolerance(expected, len(during))
    to_candidate = sum(a.version == "2" or not a.ok for a in during) / len(during)
    negative = sum(a.x < 0 for a in during) / len(during)
    print(
        f"MEASURED bad canary: {error_share:.2%} of {len(during)} client requests failed "
        f"while version 2 took traffic (at most {top_weight}% weight: expected at most "
        f"{expected:.0%} ± {tolerance:.2%}; "
        f"version 2 took {to_candidate:.1%}, negative inputs {negative:.1%})"
    )
    assert error_share <= expected + tolerance

    # And the rollback came within failureLimit intervals of the first failure
    first_failure = failing[0].at
    rolled_back_at = next(c.at for c in seen if rolled_back(c.status))
    first_failed_run_at = next(
        c.at for c in seen if any(r["phase"] == "Failed" for r in c.status.get("analysisRuns", []))
    )
    print(
        f"MEASURED bad canary: first failing request -> status RolledBack "
        f"{rolled_back_at - first_failure:.1f}s; first Failed analysis run -> RolledBack "
        f"{rolled_back_at - first_failed_run_at:.1f}s; RolledBack -> router on version 1 only "
        f"{back - rolled_back_at:.1f}s"
    )
    assert rolled_back_at - first_failure <= failure_limit * INTERVAL + INTERVAL

    # And after the rollback no client fails, and version 2 is not started again
    # (the first answer after the switch may be to a request the router sent before it)
    assert [a for a in between(answers, back, math.inf)[1:] if not a.ok] == []
    assert not any(c.candidate == "2" for c in seen if c.at > rolled_back_at)
    assert events(kubectl, FAMILY).count("RolloutStarted") == 1
