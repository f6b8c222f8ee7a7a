"""What `status` and `list` print, from fixed statuses of each phase: the tree, icons, weights."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from modelkeeper.api.deployment import DeploymentResource
from modelkeeper.plugin.terminal import OutputFormat, Terminal
from modelkeeper.plugin.tree import (
    ASCII,
    UNICODE,
    Pod,
    Readout,
    is_settled,
    pod_of,
    redraw,
    router_weight,
    show_list,
    show_status,
)
from tests.support.objects import manifest

NOW = datetime(2026, 11, 26, 23, 5, 30, tzinfo=UTC)
STEPS = [{"setWeight": 10}, {"setWeight": 50, "pause": {}}, {"setWeight": 100}]
STABLE = {"version": "1", "model": "fraud-1", "replicas": 2, "readyReplicas": 2}
CANARY = {
    "version": "2",
    "model": "fraud-2",
    "role": "Canary",
    "since": "2026-11-26T23:00:00Z",
    "replicas": 1,
    "readyReplicas": 1,
}
SHADOW = CANARY | {"role": "Shadow"}


def deployment(
    status: dict[str, Any] | None, strategy: dict[str, Any] | None = None
) -> DeploymentResource:
    return DeploymentResource.from_object(
        manifest(
            "Deployment",
            "fraud",
            {
                "model": {"name": "fraud"},
                "replicas": 2,
                "strategy": strategy or {"type": "Canary", "canary": {"steps": STEPS}},
            },
            status=status,
            namespace="risk",
            creationTimestamp="2026-11-26T20:00:00Z",
        )
    )


def pod(name: str, version: str, *, ready: bool = True, **status: Any) -> dict[str, Any]:
    container = {"ready": ready, "restartCount": status.pop("restarts", 0)}
    if "waiting" in status:
        container["state"] = {"waiting": {"reason": status.pop("waiting")}}
    return {
        "metadata": {
            "name": name,
            "labels": {"modelkeeper.io/version": version},
            "creationTimestamp": "2026-11-26T20:00:00Z",
            **status.pop("metadata", {}),
        },
        "spec": {"containers": [{"name": "server"}]},
        "status": {"phase": "Running", "containerStatuses": [container], **status},
    }


STABLE_PODS = [pod("fraud-1-b", "1", restarts=1), pod("fraud-1-a", "1")]
CANDIDATE_PODS = [pod("fraud-2-a", "2")]


def squeezed(line: str) -> str:
    """The line with each run of spaces as one, where only the words matter."""
    return " ".join(line.split())


def readout(pods: list[dict[str, Any]], actual_weight: int | None = None) -> Readout:
    return Readout([pod_of(obj) for obj in pods], actual_weight, NOW)


def test_a_canary_at_step_one_of_three_as_a_tree() -> None:
    status = {
        "phase": "Progressing",
        "message": "version 2: step 1, weight 10",
        "stable": STABLE,
        "candidate": CANARY,
        "weight": 10,
        "step": 1,
        "analysisRuns": [
            {
                "time": "2026-11-26T23:04:00Z",
                "step": 1,
                "phase": "Successful",
                "metrics": [
                    {"name": "error-rate", "phase": "Successful", "value": 0.004},
                    {"name": "latency-p99", "phase": "Successful", "value": 0.21},
                ],
            },
            {"time": "2026-11-26T23:03:00Z", "phase": "Failed"},
        ],
    }

    shown = show_status(
        deployment(status), readout(STABLE_PODS + CANDIDATE_PODS, 10), None, UNICODE
    )

    assert shown == "\n".join(
        [
            "Name:           fraud",
            "Namespace:      risk",
            "Status:         ◌ Progressing",
            "Message:        version 2: step 1, weight 10",
            "Strategy:       Canary",
            "  Step:         1/3",
            "  SetWeight:    10",
            "  ActualWeight: 10",
            "Stable:         1 (fraud-1), 2/2 ready",
            "Candidate:      2 (fraud-2) Canary, 1/1 ready, since 5m30s",
            "",
            "Analysis:  ✔ Successful at 2026-11-26T23:04:00Z, step 1",
            "  METRIC        VALUE   VERDICT        MESSAGE",
            "  error-rate    0.004   ✔ Successful",
            "  latency-p99   0.21    ✔ Successful",
            "",
            "NAME                READY   STATUS    RESTARTS   AGE",
            "fraud",
            "├── 1 (Stable)",
            "│   ├── fraud-1-a   1/1     Running   0          3h5m",
            "│   └── fraud-1-b   1/1     Running   1          3h5m",
            "└── 2 (Canary)",
            "    └── fraud-2-a   1/1     Running   0          3h5m",
        ]
    )


@pytest.mark.parametrize(
    ("status", "strategy", "pods", "expected", "absent"),
    [
        pytest.param(
            None,
            None,
            [],
            ["Status:    … Pending", "Stable:    -", "  Step:    -/3", "NAME    READY   STATUS"],
            ["Candidate:", "SetWeight", "Analysis:"],
            id="pending-before-the-operator-wrote",
        ),
        pytest.param(
            {"phase": "Pending", "message": "no approved version of fraud"},
            None,
            [],
            ["Status:    … Pending", "Message:   no approved version of fraud"],
            ["Candidate:"],
            id="pending",
        ),
        pytest.param(
            {
                "phase": "Paused",
                "message": "analysis inconclusive: too few requests",
                "stable": STABLE,
                "candidate": CANARY,
                "weight": 50,
                "step": 2,
                "analysisRuns": [
                    {
                        "time": "2026-11-26T23:05:00Z",
                        "step": 2,
                        "phase": "Inconclusive",
                        "message": "12 requests, fewer than 100",
                        "metrics": [{"name": "error-rate", "phase": "Inconclusive"}],
                    }
                ],
            },
            None,
            STABLE_PODS + CANDIDATE_PODS,
            [
                "Status:         ॥ Paused",
                "  Step:         2/3",
                "  SetWeight:    50",
                "Analysis:  ⚠ Inconclusive at 2026-11-26T23:05:00Z, step 2: "
                "12 requests, fewer than 100",
                "  error-rate   -       ⚠ Inconclusive",
            ],
            ["ActualWeight"],
            id="paused-inconclusive",
        ),
        pytest.param(
            {
                "phase": "Progressing",
                "stable": STABLE,
                "candidate": SHADOW,
                "mirrorPercent": 50,
                "weight": 0,
            },
            {"type": "Shadow", "shadow": {"mirrorPercent": 50}},
            STABLE_PODS + CANDIDATE_PODS,
            [
                "Strategy:       Shadow",
                "  Mirror:       50%",
                "Candidate:      2 (fraud-2) Shadow, 1/1 ready, since 5m30s",
                "└── 2 (Shadow)",
            ],
            ["Step:"],
            id="shadow-with-mirror",
        ),
        pytest.param(
            {"phase": "Healthy", "message": "serving 1", "stable": STABLE},
            None,
            STABLE_PODS,
            ["Status:    ✔ Healthy", "  Step:    -/3", "└── 1 (Stable)", "    └── fraud-1-b"],
            ["Candidate:", "SetWeight"],
            id="healthy",
        ),
        pytest.param(
            {
                "phase": "Degraded",
                "message": "rolled back 2: error-rate 0.2 above 0.05",
                "stable": STABLE | {"readyReplicas": 1},
                "history": [
                    {
                        "version": "2",
                        "outcome": "RolledBack",
                        "started": "2026-11-26T23:00:00Z",
                        "finished": "2026-11-26T23:04:00Z",
                    }
                ],
            },
            None,
            [
                pod("fraud-1-a", "1"),
                pod("fraud-1-b", "1", ready=False, restarts=4, waiting="CrashLoopBackOff"),
                pod("fraud-2-a", "2", metadata={"deletionTimestamp": "2026-11-26T23:04:00Z"}),
            ],
            [
                "Status:    ✖ Degraded",
                "Stable:    1 (fraud-1), 1/2 ready",
                "│   └── fraud-1-b   0/1     CrashLoopBackOff   4",
                "└── 2 (Old)",
                "    └── fraud-2-a   1/1     Terminating",
            ],
            ["Candidate:"],
            id="degraded-after-rollback",
        ),
        pytest.param(
            {"phase": "Aborted", "message": "2 aborted by a person", "stable": STABLE},
            None,
            STABLE_PODS,
            ["Status:    ⚠ Aborted"],
            ["Candidate:"],
            id="aborted",
        ),
    ],
)
def test_each_phase_shows_what_matters(
    status: dict[str, Any] | None,
    strategy: dict[str, Any] | None,
    pods: list[dict[str, Any]],
    expected: list[str],
    absent: list[str],
) -> None:
    shown = show_status(deployment(status, strategy), readout(pods), None, UNICODE)

    lines = [squeezed(line) for line in shown.splitlines()]
    for line in expected:
        assert any(printed.startswith(squeezed(line)) for printed in lines), (line, shown)
    for word in absent:
        assert word not in shown


@pytest.mark.parametrize(
    ("status", "settled"),
    [
        pytest.param(None, False, id="no-status"),
        pytest.param({"phase": "Pending"}, False, id="pending"),
        pytest.param({"phase": "Progressing", "candidate": CANARY}, False, id="progressing"),
        pytest.param({"phase": "Paused", "candidate": CANARY}, False, id="paused"),
        pytest.param({"phase": "Healthy", "candidate": CANARY}, False, id="healthy-candidate"),
        pytest.param({"phase": "Healthy", "stable": STABLE}, True, id="healthy"),
        pytest.param({"phase": "Degraded", "stable": STABLE}, True, id="degraded"),
        pytest.param({"phase": "Aborted", "stable": STABLE}, True, id="aborted"),
    ],
)
def test_a_rollout_settles_when_over_with_no_candidate(
    status: dict[str, Any] | None, settled: bool
) -> None:
    assert is_settled(deployment(status)) is settled


def test_ascii_and_colour_are_chosen_by_the_caller() -> None:
    status = {"phase": "Degraded", "stable": STABLE, "candidate": CANARY}
    pods = readout(STABLE_PODS + CANDIDATE_PODS)

    plain = show_status(deployment(status), pods, None, ASCII)
    coloured = show_status(deployment(status), pods, Terminal(80, colour=True), UNICODE)

    assert plain.isascii()
    assert "Status:      x Degraded" in plain
    assert "|   `-- fraud-1-b" in plain
    assert "`-- 2 (Canary)" in plain
    assert "\x1b[31m✖ Degraded\x1b[0m" in coloured
    assert "\x1b[32mRunning\x1b[0m" in coloured


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param(
            pod("a", "1", restarts=2),
            Pod(name="a", version="1", ready="1/1", status="Running", restarts=2, created=NOW),
            id="running",
        ),
        pytest.param(
            pod("a", "1", ready=False, waiting="ImagePullBackOff", phase="Pending"),
            Pod(
                name="a",
                version="1",
                ready="0/1",
                status="ImagePullBackOff",
                restarts=0,
                created=NOW,
            ),
            id="waiting-reason-over-phase",
        ),
        pytest.param(
            pod("a", "1", phase="Failed", reason="Evicted"),
            Pod(name="a", version="1", ready="1/1", status="Evicted", restarts=0, created=NOW),
            id="pod-reason",
        ),
        pytest.param(
            {"metadata": {"name": "a"}, "spec": {"containers": [{}, {}]}},
            Pod(name="a", version="", ready="0/2", status="Unknown", restarts=0, created=None),
            id="no-status-yet",
        ),
    ],
)
def test_pods_read_as_kubectl_get_pods_shows_them(obj: dict[str, Any], expected: Pod) -> None:
    if "creationTimestamp" in obj["metadata"]:
        obj["metadata"]["creationTimestamp"] = NOW.isoformat()
    assert pod_of(obj) == expected


@pytest.mark.parametrize(
    ("backends", "weight"),
    [
        pytest.param([("1", "stable", 90), ("2", "canary", 10)], 10, id="canary-ten"),
        pytest.param([("1", "stable", 3), ("2", "canary", 1)], 25, id="weights-as-shares"),
        pytest.param([("1", "stable", 100)], 0, id="stable-only"),
        pytest.param([("1", "stable", 100), ("2", "shadow", 0)], 0, id="shadow-takes-none"),
        pytest.param([("1", "stable", 0)], None, id="nothing-routed"),
    ],
)
def test_the_routers_weight_is_the_canarys_share(
    backends: list[tuple[str, str, int]], weight: int | None
) -> None:
    config = {
        "model": "fraud",
        "backends": [
            {"name": name, "role": role, "weight": share, "service": f"fraud-{name}"}
            for name, role, share in backends
        ],
    }
    assert router_weight(json.dumps(config)) == weight


def test_an_unreadable_router_config_has_no_weight() -> None:
    assert router_weight("backends: [{role: nobody}]") is None


@pytest.mark.parametrize(
    ("previous_height", "expected"),
    [
        pytest.param(0, "a\x1b[K\nbb\x1b[K\x1b[J", id="first-frame"),
        pytest.param(3, "\x1b[3Fa\x1b[K\nbb\x1b[K\x1b[J", id="over-a-taller-frame"),
    ],
)
def test_a_redraw_overwrites_in_place(previous_height: int, expected: str) -> None:
    assert redraw("a\nbb", previous_height) == expected


LISTED = [
    deployment({"phase": "Healthy", "stable": STABLE}),
    DeploymentResource.from_object(
        manifest(
            "Deployment",
            "churn",
            {"model": {"name": "churn"}},
            namespace="risk",
            creationTimestamp="2026-11-26T23:00:00Z",
            status={
                "phase": "Progressing",
                "stable": STABLE,
                "candidate": CANARY,
                "weight": 10,
                "step": 1,
            },
        )
    ),
]


@pytest.mark.parametrize(
    ("all_namespaces", "expected"),
    [
        pytest.param(
            False,
            [
                "NAME    MODEL   STABLE   CANDIDATE   WEIGHT   STEP   PHASE         AGE",
                "churn   churn   1        2           10       1      Progressing   5m30s",
                "fraud   fraud   1        -           -        -      Healthy       3h5m",
            ],
            id="namespace",
        ),
        pytest.param(
            True,
            [
                "NAMESPACE   NAME    MODEL   STABLE   CAN"
                "DIDATE   WEIGHT   STEP   PHASE         AGE",
                "risk        churn   churn   1        2  "
                "         10       1      Progressing   5m30s",
                "risk        fraud   fraud   1        -  "
                "         -        -      Healthy       3h5m",
            ],
            id="all-namespaces",
        ),
    ],
)
def test_list_is_a_table_by_name(all_namespaces: bool, expected: list[str]) -> None:
    assert show_list(LISTED, all_namespaces, None, NOW, None).splitlines() == expected


def test_list_as_data_and_when_empty() -> None:
    data = json.loads(show_list(LISTED, False, OutputFormat.JSON, NOW, None))

    assert [row["name"] for row in data] == ["churn", "fraud"]
    assert data[0] == {
        "namespace": "risk",
        "name": "churn",
        "model": "churn",
        "stable": "1",
        "candidate": "2",
        "weight": 10,
        "step": 1,
        "phase": "Progressing",
        "created": "2026-11-26T23:00:00Z",
    }
    assert show_list([], False, None, NOW, None) == "no Deployments (modelkeeper.io) found"
    assert show_list([], False, OutputFormat.YAML, NOW, None) == "[]"
