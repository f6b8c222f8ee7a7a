"""A canary's safety nets on the real ground: Prometheus lost mid-analysis, a person's abort.

Missing data is neither success nor failure: a canary whose Prometheus goes away pauses
where it is, neither promoted nor rolled back, and goes on once Prometheus is back. A
manual abort lives in an annotation, so a GitOps tool re-applying the user's manifest
(client-side or server-side) does not undo it; only `retry` lets the version roll out
again.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from modelkeeper.plugin.main import main as plugin
from tests.ground.controlplane import ControlPlane
from tests.ground.ground import Kubectl
from tests.ground.polling import eventually
from tests.ground.processes import free_port
from tests.ground.prometheus import Prometheus
from tests.support.kube import (
    apply,
    events,
    get,
    read_status,
    router_address,
    serving_only,
    wait_for,
)
from tests.support.models import constant_versions
from tests.support.objects import canary_deployment, deployment
from tests.support.operator_process import RunningOperator
from tests.support.traffic import SteadyTraffic

FAMILY = "fleet"
INTERVAL = 5
"""Seconds between analysis runs: short, so that each verdict comes quickly."""
FLEET = f"deployments.modelkeeper.io/{FAMILY}"
ABORT = "modelkeeper.io/abort"


def holds(kubectl: Kubectl, seconds: float, check: Callable[[dict[str, Any]], None]) -> None:
    """Read the Deployment again and again for `seconds`; `check` must pass every time."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        check(get(kubectl, FLEET))
        time.sleep(0.5)


def test_prometheus_lost_mid_analysis_pauses_then_continues(
    shared_operator: RunningOperator,
    control_plane: ControlPlane,
    kubectl: Kubectl,
    tmp_path: Path,
) -> None:
    version_1, version_2 = constant_versions(tmp_path, FAMILY)
    port = free_port()
    # A Prometheus of this test's own, stopped and started again at the same address; the
    # session's serves the other tests.
    own = Prometheus.start(control_plane, tmp_path / "prometheus", port)
    # Three steps: whichever one the loss lands on, the canary is at a setWeight step. One
    # failed run would roll back, so a run that counted the outage as failed would show.
    fleet = canary_deployment(
        FAMILY, FAMILY, (25, 50, 75), interval_seconds=INTERVAL, min_requests=10, failure_limit=1
    )
    fleet["spec"]["strategy"]["prometheusURL"] = own.url
    try:
        # Given version 1 serving, a canary of version 2 judged through that Prometheus,
        # and an analysis run that passed there, under steady traffic
        apply(kubectl, version_1, fleet)
        wait_for(kubectl, FLEET, serving_only("1"), "version 1 serves", 120)
        address = router_address(kubectl, FAMILY)
        eventually(lambda: SteadyTraffic(address).request(5.0).ok, 60, "the router answers")
        with SteadyTraffic(address) as traffic:
            apply(kubectl, version_2)
            eventually(
                lambda: any(
                    run["phase"] == "Successful"
                    for run in read_status(kubectl, FLEET).get("analysisRuns", [])
                ),
                120,
                "an analysis run passes through the test's Prometheus",
            )

            # When that Prometheus goes away
            own.stop()
            lost = time.monotonic()

            # Then the rollout pauses at its step, naming the Prometheus it cannot reach
            paused = eventually(
                lambda: (s := read_status(kubectl, FLEET)).get("phase") == "Paused" and s,
                60,
                "the canary pauses",
            )
            print(f"MEASURED Prometheus stopped -> Paused: {time.monotonic() - lost:.1f}s")
            [progressing] = [c for c in paused["conditions"] if c["type"] == "Progressing"]
            assert progressing["reason"] == "AnalysisInconclusive"
            assert f"Prometheus at {own.url}" in progressing["message"]
            assert f"Prometheus at {own.url}" in paused["message"]
            assert paused["analysisRuns"][0]["phase"] == "Inconclusive"
            weight, step = paused["weight"], paused["step"]
            assert weight in (25, 50, 75), weight
            runs_before = len(paused["analysisRuns"])

            # ...and stays there, neither promoted nor rolled back, for three intervals
            def still_paused(obj: dict[str, Any]) -> None:
                status = obj["status"]
                assert (status["phase"], status["weight"], status["step"]) == (
                    "Paused",
                    weight,
                    step,
                )
                assert (status["stable"]["version"], status["candidate"]["version"]) == (
                    "1",
                    "2",
                )

            holds(kubectl, 3 * INTERVAL, still_paused)
            runs = read_status(kubectl, FLEET)["analysisRuns"]
            new_runs = len(runs) - runs_before
            assert new_runs >= 2, "analysis runs go on while Prometheus is away"
            assert {run["phase"] for run in runs[: new_runs + 1]} == {"Inconclusive"}
            reasons = Counter(events(kubectl, FAMILY))
            assert (reasons["Promoted"], reasons["RolledBack"]) == (0, 0)
            assert reasons["AnalysisInconclusive"] >= 3

            # When Prometheus comes back at the same address
            own = Prometheus.start(control_plane, tmp_path / "prometheus", port)
            back = time.monotonic()

            # Then the canary goes on to promotion
            done = wait_for(kubectl, FLEET, serving_only("2"), "version 2 is promoted", 120)
            print(f"MEASURED Prometheus back -> Promoted: {time.monotonic() - back:.1f}s")
        assert [a for a in traffic.answers if not a.ok] == []
        status = done["status"]
        assert [(h["version"], h["outcome"]) for h in status["history"]] == [("2", "Promoted")]
        assert status["analysisRuns"][0]["phase"] == "Successful"
        assert status["analysisRuns"][0]["weight"] >= weight
        reasons = Counter(events(kubectl, FAMILY))
        assert (reasons["Promoted"], reasons["RolledBack"]) == (1, 0)
    finally:
        own.stop()


def only_version_1_answers(traffic: SteadyTraffic) -> bool:
    """Twenty answers in a row from version 1 (at weight 50, the canary takes one in two)."""
    return all(traffic.request(5.0).version == "1" for _ in range(20))


def test_manual_abort_holds_after_gitops_reapply(
    shared_operator: RunningOperator,
    control_plane: ControlPlane,
    kubectl: Kubectl,
    namespace: str,
    tmp_path: Path,
) -> None:
    version_1, version_2 = constant_versions(tmp_path, FAMILY)
    # A long pause: the canary sits still at weight 50 until a person acts.
    fleet = deployment(
        FAMILY,
        FAMILY,
        strategy={
            "type": "Canary",
            "canary": {"steps": [{"setWeight": 50}, {"pause": {"duration": "1h"}}]},
        },
    )
    manifest = tmp_path / "fleet.yaml"
    manifest.write_text(yaml.safe_dump_all([version_1, version_2, fleet]))
    cluster = ("--kubeconfig", str(control_plane.kubeconfig), "-n", namespace)

    # Given version 1 serving and version 2 paused at weight 50, answering clients
    apply(kubectl, version_1, fleet)
    wait_for(kubectl, FLEET, serving_only("1"), "version 1 serves", 120)
    client = SteadyTraffic(router_address(kubectl, FAMILY))
    apply(kubectl, version_2)
    eventually(
        lambda: (
            (read_status(kubectl, FLEET).get("step"), read_status(kubectl, FLEET).get("weight"))
            == (1, 50)
        ),
        120,
        "version 2 pauses at weight 50",
    )
    eventually(lambda: client.request(5.0).version == "2", 30, "the canary answers")

    # When a person aborts it
    assert plugin(["abort", FAMILY, *cluster]) == 0
    aborted_at = time.monotonic()

    # Then it is rolled back and kept out, and the router sends everything to version 1
    aborted = wait_for(
        kubectl,
        FLEET,
        lambda d: d["status"].get("phase") == "Aborted" and "candidate" not in d["status"],
        "the rollout is aborted",
        30,
    )
    print(f"MEASURED abort -> phase Aborted: {time.monotonic() - aborted_at:.1f}s")
    assert [(h["version"], h["outcome"]) for h in aborted["status"]["history"]] == [
        ("2", "Aborted")
    ]
    assert aborted["status"]["stable"]["version"] == "1"
    assert aborted["metadata"]["annotations"][ABORT] == "2"
    eventually(lambda: only_version_1_answers(client), 60, "only version 1 answers")
    print(f"MEASURED abort -> router sends all to v1: {time.monotonic() - aborted_at:.1f}s")

    # When GitOps re-applies the user's manifest, client-side and then server-side
    kubectl("apply", "-f", str(manifest))
    kubectl("apply", "--server-side", "--field-manager=argocd-controller", "-f", str(manifest))
    shown = kubectl("get", FLEET, "-o", "json", "--show-managed-fields").stdout
    managers = {field["manager"] for field in json.loads(shown)["metadata"]["managedFields"]}
    assert "argocd-controller" in managers

    # Then the abort holds through two resyncs: no new rollout, the annotation kept
    def still_aborted(obj: dict[str, Any]) -> None:
        assert obj["status"]["phase"] == "Aborted"
        assert "candidate" not in obj["status"]
        assert obj["metadata"]["annotations"].get(ABORT) == "2"

    holds(kubectl, 10, still_aborted)
    assert events(kubectl, FAMILY).count("RolloutStarted") == 1
    assert only_version_1_answers(client)

    # When the person asks to retry
    assert plugin(["retry", FAMILY, *cluster]) == 0

    # Then version 2 rolls out again
    again = wait_for(
        kubectl,
        FLEET,
        lambda d: d["status"].get("candidate", {}).get("version") == "2",
        "version 2 is the candidate again",
        30,
    )
    assert ABORT not in again["metadata"]["annotations"]
    eventually(
        lambda: events(kubectl, FAMILY).count("RolloutStarted") == 2,
        30,
        "a second RolloutStarted",
    )
