"""The whole loop on the real ground: deploy → drift → retrain → validate → canary → serve.

Version 1 of the diabetes family comes from the example trainer run here; its Deployment
serves it through the router, a DriftMonitor watches its inputs through the session's
Prometheus, and a RetrainPolicy runs the same trainer as a real Job on the node agent.
When the traffic shifts, the monitor goes Drifted after its hysteresis, one run trains
version 2 on the shifted data, the gate passes it, the policy approves it, and the
Deployment canaries and promotes it. A trainer that fails or reports a worse model
leaves version 1 serving and says why; a High-risk version waits for a person's
approval; drift that flaps starts no more runs than cooldown allows.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.controller.loop_harness import (
    FAMILY,
    MONITOR,
    DiabetesTraffic,
    drift_monitor,
    drift_trigger,
    jobs_of,
    models_of_family,
    read_rows,
    retrain_policy,
    shift_args,
    train_locally,
    trained_model,
)
from tests.ground.controlplane import ControlPlane
from tests.ground.ground import Kubectl
from tests.ground.node import Node
from tests.ground.polling import eventually
from tests.support.kube import (
    POD_START,
    apply,
    condition,
    event_log,
    events,
    get,
    router_address,
    serving_only,
    wait_for,
)
from tests.support.objects import canary_deployment, deployment
from tests.support.operator_process import RunningOperator
from tests.support.watch import StatusWatch, wall_clock

POLICY = "retrain-diabetes"
DEPLOYMENT = f"deployments.modelkeeper.io/{FAMILY}"
MONITOR_RESOURCE = f"driftmonitors.modelkeeper.io/{MONITOR}"
PLUGIN = str(Path(sys.executable).parent / "kubectl-modelkeeper")


def policy_resource(name: str) -> str:
    return f"retrainpolicies.modelkeeper.io/{name}"


@pytest.fixture(scope="module")
def version_one(node: Node) -> tuple[Path, dict[str, Any]]:
    """Version 1 trained here once for the module's tests (the trainer is deterministic),
    on the node's shared folder, which the tests' pods only read: its folder and result."""
    folder = node.shared / f"diabetes-v1-{uuid.uuid4().hex[:6]}"
    return folder, train_locally(folder)


def given_version_one_serves(
    kubectl: Kubectl,
    version_one: tuple[Path, dict[str, Any]],
    risk_tier: str,
    served_by: dict[str, Any],
) -> DiabetesTraffic:
    """Version 1 served by `served_by`; returns traffic of its training rows through the
    router (not started)."""
    folder, result = version_one
    apply(kubectl, trained_model("1", result, risk_tier), served_by)
    wait_for(kubectl, DEPLOYMENT, serving_only("1"), "version 1 serves", POD_START)
    features = [feature["name"] for feature in result["schema"]["inputs"]]
    traffic = DiabetesTraffic(
        router_address(kubectl, FAMILY), read_rows(folder / "training.csv", features), features
    )
    eventually(lambda: _answered(traffic), 30, "the router answers")
    return traffic


def _answered(traffic: DiabetesTraffic) -> bool:
    return traffic.send(traffic.batch(shifted=False), False).version == "1"


def plugin(control_plane: ControlPlane, namespace: str, *args: str) -> str:
    """`kubectl-modelkeeper ARGS` as cluster admin; returns its output."""
    done = subprocess.run(
        [PLUGIN, *args, "--kubeconfig", str(control_plane.kubeconfig), "-n", namespace],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def latest_run(outcome: str) -> Callable[[dict[str, Any]], bool]:
    """A `wait_for` check: the policy's newest finished run ended with `outcome`."""
    return lambda policy: (
        [run["outcome"] for run in policy.get("status", {}).get("history", [])][:1] == [outcome]
    )


def monitor_in(state: str, version: str = "1") -> Callable[[dict[str, Any]], bool]:
    """A `wait_for` check: the monitor's verdict on `version`'s reference is `state`."""

    def check(monitor: dict[str, Any]) -> bool:
        status = monitor.get("status", {})
        return bool(status.get("state") == state and status.get("modelVersion") == version)

    return check


def timestamp(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def test_drift_retrains_validates_and_ships_v2(
    shared_operator: RunningOperator,
    version_one: tuple[Path, dict[str, Any]],
    kubectl: Kubectl,
    namespace: str,
) -> None:
    with ExitStack() as stack:
        # Given version 1 served by a Canary Deployment, watched for drift, with a policy
        # that retrains on the shifted data and approves up to the family's Low risk
        traffic = given_version_one_serves(
            kubectl,
            version_one,
            "Low",
            canary_deployment(FAMILY, FAMILY, (50,), interval_seconds=5),
        )
        apply(
            kubectl,
            drift_monitor(FAMILY, interval=5, window=20, enter_after=2, exit_after=2),
            retrain_policy(
                POLICY,
                shift_args(),
                triggers=[drift_trigger("2s")],
                approval={"autoApproveUpTo": "Low"},
            ),
        )
        watch = stack.enter_context(StatusWatch(kubectl, MONITOR_RESOURCE))
        rollout = stack.enter_context(StatusWatch(kubectl, DEPLOYMENT))
        stack.enter_context(traffic)

        # Then on the training distribution the monitor says OK, and no run starts
        ok = wait_for(
            kubectl, MONITOR_RESOURCE, monitor_in("OK"), "the monitor says OK on v1's data", 90
        )
        assert {f["level"] for f in ok["status"]["features"]} == {"OK"}
        assert min(f["samples"] for f in ok["status"]["features"]) >= 100
        assert {s.status.get("state") for s in watch.changes} <= {
            None,
            "Unknown",
            "InsufficientData",
            "OK",
        }
        assert jobs_of(kubectl, POLICY) == []

        # When the inputs shift
        shifted_at = time.time()
        traffic.shifted.set()

        # Then the monitor goes Drifted after two critical evaluations in a row
        drifted = wait_for(
            kubectl, MONITOR_RESOURCE, monitor_in("Drifted"), "the monitor goes Drifted", 90
        )["status"]
        assert drifted["criticalStreak"] >= 2
        critical = {f["name"] for f in drifted["features"] if f["level"] == "Critical"}
        assert {"bmi", "bp", "s5"} <= critical
        eventually(
            lambda: (
                ("Warning", "Drifted")
                in {
                    (kind, reason)
                    for kind, reason, _ in event_log(kubectl, "DriftMonitor", MONITOR)
                }
            ),
            30,
            "a Drifted Warning Event (posted after the status write)",
        )
        eventually(
            lambda: (
                _gauge(shared_operator, "modelkeeper_drift_state", namespace, 'state="Drifted"')
                == 1.0
            ),
            30,
            "modelkeeper_drift_state says Drifted on the operator's /metrics",
        )

        # And exactly one retraining Job runs the trainer for real, and the run succeeds
        policy = wait_for(
            kubectl, policy_resource(POLICY), latest_run("Succeeded"), "the run succeeds", POD_START
        )["status"]
        [run] = policy["history"]
        assert run["trigger"] == "Drift"
        assert MONITOR in run["reason"]
        [job] = jobs_of(kubectl, POLICY)
        assert job["status"].get("succeeded") == 1
        assert job["metadata"]["labels"]["modelkeeper.io/version"] == "2"

        # And Model version 2 carries its lineage, passed the gate and is approved by the policy
        model = get(kubectl, f"models.modelkeeper.io/{run['model']}")
        assert model["spec"]["version"] == "2"
        assert model["spec"]["lineage"]["parentVersion"] == "1"
        assert model["spec"]["lineage"]["retrainingRun"] == {
            "policy": POLICY,
            "run": run["name"],
            "trigger": "Drift",
            "reason": run["reason"],
        }
        # measured on one holdout of the shifted data, version 1 predicts it worse
        evaluation = model["status"]["evaluation"]
        assert evaluation["passed"] is True
        assert evaluation["holdout"] == model["spec"]["lineage"]["holdout"]
        assert evaluation["championValue"] < evaluation["value"]
        assert model["status"]["approval"]["by"] == f"retrainpolicy/{POLICY}"

        # And the Deployment canaries version 2 at weight 50 with analysis, then promotes it
        served = wait_for(
            kubectl, DEPLOYMENT, serving_only("2"), "version 2 is promoted", POD_START
        )
        assert [(h["version"], h["outcome"]) for h in served["status"]["history"]][:1] == [
            ("2", "Promoted")
        ]
        statuses = [*(s.status for s in rollout.changes), served["status"]]
        assert any(
            (s.get("candidate") or {}).get("version") == "2"
            and s["candidate"]["role"] == "Canary"
            and s.get("weight") == 50
            and s["stable"]["version"] == "1"
            for s in statuses
        ), "version 2 never took 50 % as a canary beside version 1"
        assert any(
            run["weight"] == 50 and run["phase"] == "Successful"
            for s in statuses
            for run in s.get("analysisRuns", [])
        ), "no analysis run passed at 50 %"
        assert {"AnalysisSuccessful", "Promoted"} <= set(events(kubectl, FAMILY))
        eventually(
            lambda: [r for r in traffic.answers if r.version == "2"], 30, "version 2 answers"
        )

        # And on version 2's reference (trained on the shifted data) the monitor is OK again
        wait_for(
            kubectl,
            MONITOR_RESOURCE,
            monitor_in("OK", version="2"),
            "the monitor says OK on v2's reference",
            90,
        )
        assert len(jobs_of(kubectl, POLICY)) == 1

    replies = traffic.answers
    assert [r for r in replies if r.code != 200] == []
    first_v2 = wall_clock(min(r.at for r in replies if r.version == "2"))
    for what, at in (
        ("Drifted", timestamp(drifted["since"])),
        ("Job start", timestamp(job["metadata"]["creationTimestamp"])),
        ("Model v2", timestamp(model["metadata"]["creationTimestamp"])),
        ("v2 serving (first answer)", first_v2),
    ):
        print(f"MEASURED input shift -> {what}: {at - shifted_at:.1f} s")


def _gauge(running: RunningOperator, metric: str, namespace: str, label: str) -> float | None:
    """The value of the operator's gauge sample for the test's monitor with `label`, if
    exported (the operator serves every test: its namespace tells the test's own apart)."""
    for line in running.metrics().splitlines():
        if (
            line.startswith(f"{metric}{{")
            and f'monitor="{MONITOR}"' in line
            and f'namespace="{namespace}"' in line
            and label in line
        ):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_failing_and_worse_trainers_leave_v1_serving_and_say_why(
    shared_operator: RunningOperator,
    version_one: tuple[Path, dict[str, Any]],
    control_plane: ControlPlane,
    kubectl: Kubectl,
    namespace: str,
) -> None:
    # Given version 1 served, and two manual-only policies that would approve what passes
    traffic = given_version_one_serves(kubectl, version_one, "Low", deployment(FAMILY, FAMILY))
    apply(
        kubectl,
        retrain_policy("retrain-failing", ["--fail"], approval={"autoApproveUpTo": "Low"}),
        retrain_policy("retrain-worse", ["--degrade"], approval={"autoApproveUpTo": "Low"}),
    )
    with traffic:
        # When a run's trainer exits non-zero
        plugin(control_plane, namespace, "retrain", "retrain-failing")
        failing = wait_for(
            kubectl,
            policy_resource("retrain-failing"),
            latest_run("Failed"),
            "it fails",
            POD_START,
        )["status"]

        # Then the run says Failed with the trainer's reason, an Event says so, no Model
        [failed] = failing["history"]
        assert failed["trigger"] == "Manual"
        assert "exited with 1" in failed["message"]
        assert "failing as asked" in failed["message"]
        assert failed.get("model") is None
        assert failing["consecutiveFailures"] == 1
        eventually(
            lambda: any(
                kind == "Warning" and reason == "RunFailed" and "failing as asked" in message
                for kind, reason, message in event_log(kubectl, "RetrainPolicy", "retrain-failing")
            ),
            30,
            "a RunFailed Event",
        )
        assert set(models_of_family(kubectl)) == {f"{FAMILY}-1"}

        # When a run's trainer reports a worse model
        plugin(control_plane, namespace, "retrain", "retrain-worse")
        worse = wait_for(
            kubectl,
            policy_resource("retrain-worse"),
            latest_run("Rejected"),
            "rejected",
            POD_START,
        )["status"]

        # Then its Model is Rejected by the gate, unapproved, and the run and an Event say why
        [rejected] = worse["history"]
        model = get(kubectl, f"models.modelkeeper.io/{rejected['model']}")
        assert model["spec"]["lineage"]["retrainingRun"]["run"] == rejected["name"]
        assert model["status"]["stage"] == "Rejected"
        assert model["status"]["evaluation"]["passed"] is False
        assert "approval" not in model["status"]
        evaluated = condition(model, "Evaluated")
        assert (evaluated or {}).get("reason") == "GateFailed"
        assert "against the champion's" in rejected["message"]
        eventually(
            lambda: any(
                reason == "RunRejected" and "against the champion's" in message
                for _, reason, message in event_log(kubectl, "RetrainPolicy", "retrain-worse")
            ),
            30,
            "a RunRejected Event",
        )
        rejected_at = time.monotonic()
        # Two resyncs of the Deployment pass with traffic flowing
        eventually(
            lambda: [r for r in traffic.answers if r.at > rejected_at + 11],
            30,
            "traffic after two resyncs",
        )

    # And version 1 serves throughout: no candidate, no rollout, every answer from v1
    status = get(kubectl, DEPLOYMENT)
    assert serving_only("1")(status)
    assert status["status"].get("history", []) == []
    replies = traffic.answers
    assert {(r.code, r.version) for r in replies} == {(200, "1")}
    assert [len(jobs_of(kubectl, p)) for p in ("retrain-failing", "retrain-worse")] == [1, 1]


def test_high_risk_version_waits_for_approval_then_rolls_out(
    shared_operator: RunningOperator,
    version_one: tuple[Path, dict[str, Any]],
    control_plane: ControlPlane,
    kubectl: Kubectl,
    namespace: str,
) -> None:
    # Given a High-risk family whose policy approves nothing above Low by itself
    traffic = given_version_one_serves(kubectl, version_one, "High", deployment(FAMILY, FAMILY))
    apply(kubectl, retrain_policy(POLICY, [], approval={"autoApproveUpTo": "Low"}))
    with traffic:
        # When a run produces version 2
        plugin(control_plane, namespace, "retrain", POLICY)
        [run] = wait_for(
            kubectl,
            policy_resource(POLICY),
            latest_run("Succeeded"),
            "the run succeeds",
            POD_START,
        )["status"]["history"]

        # Then version 2 passed the gate but is not approved, and waits with v1 serving
        model = get(kubectl, f"models.modelkeeper.io/{run['model']}")
        assert model["spec"]["governance"]["riskTier"] == "High"
        assert model["status"]["evaluation"]["passed"] is True
        assert not model["status"].get("approved")
        assert "approval" not in model["status"]
        waiting = wait_for(
            kubectl,
            DEPLOYMENT,
            lambda d: (condition(d, "ApprovalRequired") or {}).get("status") == "True",
            "the Deployment says version 2 waits for approval",
        )
        assert run["model"] in (condition(waiting, "ApprovalRequired") or {})["message"]
        assert serving_only("1")(waiting)
        waited_until = time.monotonic()

        # When two people approve it (High risk; the operator that created it is neither)
        operator_account = "system:serviceaccount:modelkeeper-system:modelkeeper"
        assert model["metadata"]["annotations"]["modelkeeper.io/created-by"] == operator_account
        for person in ("risk@example.com", "lead@example.com"):
            plugin(control_plane, namespace, "approve", run["model"], "--by", person)

        # Then the Deployment rolls it out, and the approval names the second person
        wait_for(kubectl, DEPLOYMENT, serving_only("2"), "version 2 serves", POD_START)
        eventually(
            lambda: [r for r in traffic.answers if r.version == "2"], 30, "version 2 answers"
        )
        approved = get(kubectl, f"models.modelkeeper.io/{run['model']}")["status"]
        assert approved["approval"]["by"] == "lead@example.com"
        assert [a["by"] for a in approved["approvals"]] == ["risk@example.com", "lead@example.com"]
    assert {r.version for r in traffic.answers if r.at < waited_until} == {"1"}
    assert [r for r in traffic.answers if r.code != 200] == []


def test_flapping_drift_starts_one_run_per_cooldown(
    shared_operator: RunningOperator,
    version_one: tuple[Path, dict[str, Any]],
    kubectl: Kubectl,
) -> None:
    with ExitStack() as stack:
        # Given a monitor that changes state on a single evaluation, and a policy with a
        # 10-minute cooldown whose versions need a person (so version 1 stays the reference)
        traffic = given_version_one_serves(kubectl, version_one, "Low", deployment(FAMILY, FAMILY))
        apply(
            kubectl,
            drift_monitor(FAMILY, interval=3, window=6, enter_after=1, exit_after=1),
            retrain_policy(POLICY, [], triggers=[drift_trigger()]),
        )
        monitor = stack.enter_context(StatusWatch(kubectl, MONITOR_RESOURCE))
        policy = stack.enter_context(StatusWatch(kubectl, policy_resource(POLICY)))
        stack.enter_context(traffic)
        wait_for(kubectl, MONITOR_RESOURCE, monitor_in("OK"), "the monitor says OK", 90)

        # When the inputs flap between shifted and not, over many evaluations
        flips = 4
        for flip in range(flips):
            traffic.shifted.set()
            wait_for(kubectl, MONITOR_RESOURCE, monitor_in("Drifted"), f"Drifted ({flip})", 60)
            if flip == 0:
                wait_for(
                    kubectl,
                    policy_resource(POLICY),
                    latest_run("Succeeded"),
                    "the run ends",
                    POD_START,
                )
            traffic.shifted.clear()
            wait_for(kubectl, MONITOR_RESOURCE, monitor_in("OK"), f"OK again ({flip})", 60)

    # Then the monitor entered Drifted every time, yet only one Job ran
    states = [s.status.get("state") for s in monitor.changes]
    entered = [b for a, b in pairwise(states) if a != b and b == "Drifted"]
    assert len(entered) == flips
    assert len(jobs_of(kubectl, POLICY)) == 1
    reasons = [reason for _, reason, _ in event_log(kubectl, "RetrainPolicy", POLICY)]
    assert reasons.count("RunStarted") == 1
    # And the policy said Throttled by Cooldown while drift asked for more runs
    throttled = [
        c
        for s in policy.changes
        if (c := condition({"status": s.status}, "Throttled")) is not None and c["status"] == "True"
    ]
    assert "Cooldown" in {c["reason"] for c in throttled}
    assert "Throttled" in reasons
    print(
        f"MEASURED flapping: {len(entered)} entries into Drifted over "
        f"{monitor.changes[-1].at - monitor.changes[0].at:.0f} s, "
        f"{len(jobs_of(kubectl, POLICY))} Job, {reasons.count('Throttled')} Throttled Event(s)"
    )
