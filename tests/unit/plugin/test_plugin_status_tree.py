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
    Branch,
    Pod,
    PoolPods,
    Readout,
    Routing,
    catalogue_routing,
    is_settled,
    pod_of,
    pool_pods,
    redraw,
    router_routing,
    show_list,
    show_status,
    status_branches,
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
    status: dict[str, Any] | None, strategy: dict[str, Any] | None = None, **spec: Any
) -> DeploymentResource:
    return DeploymentResource.from_object(
        manifest(
            "Deployment",
            "fraud",
            {
                "model": {"name": "fraud"},
                "replicas": 2,
                "strategy": strategy or {"type": "Canary", "canary": {"steps": STEPS}},
                **spec,
            },
            status=status,
            namespace="risk",
            creationTimestamp="2026-11-26T20:00:00Z",
        )
    )


def pod(
    name: str, version: str, *, ready: bool = True, component: str = "server", **status: Any
) -> dict[str, Any]:
    container = {"ready": ready, "restartCount": status.pop("restarts", 0)}
    if "waiting" in status:
        container["state"] = {"waiting": {"reason": status.pop("waiting")}}
    labels = {"modelkeeper.io/version": version} if version else {}
    return {
        "metadata": {
            "name": name,
            "labels": labels | {"app.kubernetes.io/component": component},
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


def readout(
    pods: list[dict[str, Any]], routing: Routing | None = None, pool: PoolPods | None = None
) -> Readout:
    return Readout([pod_of(obj) for obj in pods], routing, NOW, pool)


AT_TEN = Routing({"1": 90, "2": 10}, 10)


def progressing(step: int, weight: int) -> dict[str, Any]:
    """The status of a canary of version 2 at a step."""
    return {
        "phase": "Progressing",
        "message": f"version 2: step {step}, weight {weight}",
        "stable": STABLE,
        "candidate": CANARY,
        "weight": weight,
        "step": step,
    }


def test_a_canary_at_step_one_of_three_as_a_tree() -> None:
    status = progressing(1, 10) | {
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
        deployment(status), readout(STABLE_PODS + CANDIDATE_PODS, AT_TEN), None, UNICODE
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
            "NAME                  READY   STATUS    RESTARTS   AGE",
            "fraud",
            "├── 1 (Stable, 90%)",
            "│   ├── fraud-1-a     1/1     Running   0          3h5m",
            "│   └── fraud-1-b     1/1     Running   1          3h5m",
            "└── 2 (Canary, 10%)",
            "    └── fraud-2-a     1/1     Running   0          3h5m",
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


SERVERS = [
    pod("shared-pool-servers-b", "", component="pool-server", ready=False, phase="Pending"),
    pod("shared-pool-servers-a", "", component="pool-server"),
]
ROUTERS = [pod("shared-pool-c", "", component="pool-router")]
POOL = pool_pods("shared", [*SERVERS, *ROUTERS])


def test_a_pooled_canary_shows_its_pool_and_the_split_of_its_catalogue() -> None:
    status = progressing(0, 20)
    split = catalogue_routing("shared", catalogue([("1", "Stable", 80), ("2", "Canary", 20)]))

    shown = show_status(deployment(status, pool="shared"), readout([], split, POOL), None, UNICODE)

    assert shown == "\n".join(
        [
            "Name:           fraud",
            "Namespace:      risk",
            "Status:         ◌ Progressing",
            "Message:        version 2: step 0, weight 20",
            "Pool:           shared",
            "Strategy:       Canary",
            "  Step:         0/3",
            "  SetWeight:    20",
            "  ActualWeight: 20",
            "Stable:         1 (fraud-1), 2/2 ready",
            "Candidate:      2 (fraud-2) Canary, 1/1 ready, since 5m30s",
            "",
            "NAME                                READY   STATUS    RESTARTS   AGE",
            "fraud",
            "├── 1 (Stable, 80%)",
            "├── 2 (Canary, 20%)",
            "└── pool shared",
            "    ├── servers",
            "    │   ├── shared-pool-servers-a   1/1     Running   0          3h5m",
            "    │   └── shared-pool-servers-b   0/1     Pending   0          3h5m",
            "    └── router",
            "        └── shared-pool-c           1/1     Running   0          3h5m",
        ]
    )


def names(branches: tuple[Branch, ...] | list[Branch]) -> list[Any]:
    """The tree's names, a branch with lines under it as (name, [its lines])."""
    return [(b.name, names(tuple(b.under))) if b.under else b.name for b in branches]


@pytest.mark.parametrize(
    ("status", "spec", "shown", "expected"),
    [
        pytest.param(
            {"stable": STABLE},
            {},
            readout(STABLE_PODS),
            [("1 (Stable)", ["fraud-1-a", "fraud-1-b"])],
            id="own-pods-split-unknown",
        ),
        pytest.param(
            {"stable": STABLE, "candidate": SHADOW},
            {},
            readout(STABLE_PODS + CANDIDATE_PODS, Routing({"1": 100}, 0, 25)),
            [
                ("1 (Stable, 100%)", ["fraud-1-a", "fraud-1-b"]),
                ("2 (Shadow, mirror 25%)", ["fraud-2-a"]),
            ],
            id="own-shadow-mirrored",
        ),
        pytest.param(
            {"stable": STABLE},
            {"pool": "shared"},
            readout([], Routing({"1": 100}, 0), POOL),
            [
                "1 (Stable, 100%)",
                (
                    "pool shared",
                    [
                        ("servers", ["shared-pool-servers-a", "shared-pool-servers-b"]),
                        ("router", ["shared-pool-c"]),
                    ],
                ),
            ],
            id="pooled",
        ),
        pytest.param(
            None,
            {"pool": "shared"},
            readout([], None, pool_pods("shared", [])),
            [("pool shared", ["servers", "router"])],
            id="pooled-before-the-pool-has-pods",
        ),
        pytest.param(
            {"stable": STABLE | {"version": "2"}},
            {"pool": "shared"},
            readout(STABLE_PODS, Routing({"2": 100, "1": 0}, 0), POOL),
            [
                "2 (Stable, 100%)",
                ("1 (Old, 0%)", ["fraud-1-a", "fraud-1-b"]),
                (
                    "pool shared",
                    [
                        ("servers", ["shared-pool-servers-a", "shared-pool-servers-b"]),
                        ("router", ["shared-pool-c"]),
                    ],
                ),
            ],
            id="joined-a-pool-its-own-pods-ending",
        ),
        pytest.param(
            {"stable": STABLE | {"version": "2"}},
            {"pool": "shared"},
            readout([], Routing({"1": 100}, 0), pool_pods("shared", [])),
            ["2 (Stable)", "1 (Old, 100%)", ("pool shared", ["servers", "router"])],
            id="promoted-before-the-catalogue-follows",
        ),
    ],
)
def test_the_tree_has_each_version_with_its_share_then_the_pool(
    status: dict[str, Any] | None, spec: dict[str, Any], shown: Readout, expected: list[Any]
) -> None:
    assert names(status_branches(deployment(status, **spec), shown)) == expected


@pytest.mark.parametrize(
    ("objs", "servers", "routers"),
    [
        pytest.param([*SERVERS, *ROUTERS], ["shared-pool-servers-b", "shared-pool-servers-a"],
                     ["shared-pool-c"], id="servers-and-router"),
        pytest.param([pod("x", "1", component="server")], [], [], id="not-a-pools-pod"),
        pytest.param([], [], [], id="none"),
    ],
)  # fmt: skip
def test_a_pools_pods_part_into_servers_and_router(
    objs: list[dict[str, Any]], servers: list[str], routers: list[str]
) -> None:
    found = pool_pods("shared", objs)

    assert (found.name, [p.name for p in found.servers], [p.name for p in found.routers]) == (
        "shared",
        servers,
        routers,
    )


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


def router_config(backends: list[tuple[str, str, int]], mirror: int) -> str:
    """A Deployment's own router's config, as the operator writes it."""
    return json.dumps(
        {
            "model": "fraud",
            "backends": [
                {"name": name, "role": role.lower(), "weight": share, "service": f"fraud-{name}"}
                for name, role, share in backends
            ],
            **({"mirror_percent": mirror} if mirror else {}),
        }
    )


def catalogue(
    backends: list[tuple[str, str, int]], mirror: int = 0, **metadata: Any
) -> dict[str, Any]:
    """A pooled Deployment's catalogue ConfigMap, as the operator writes it."""
    family = {
        "deployment": "fraud",
        "model": "fraud",
        "versions": [
            {
                "version": name,
                "model": f"fraud-{name}",
                "role": role,
                "weight": share,
                "uri": f"s3://models/fraud/{name}/model.joblib",
                "format": "sklearn",
            }
            for name, role, share in backends
        ],
        "mirror_percent": mirror,
    }
    return {
        "metadata": {
            "name": "fraud-catalogue",
            "labels": {"app.kubernetes.io/managed-by": "modelkeeper", "modelkeeper.io/pool": "p"},
            "ownerReferences": [
                {
                    "apiVersion": "modelkeeper.io/v1alpha1",
                    "kind": "Deployment",
                    "name": "fraud",
                    "uid": "u",
                    "controller": True,
                }
            ],
            **metadata,
        },
        "data": {"family.json": json.dumps(family)},
    }


@pytest.mark.parametrize(
    ("backends", "mirror", "expected"),
    [
        pytest.param(
            [("1", "Stable", 90), ("2", "Canary", 10)],
            0,
            Routing({"1": 90, "2": 10}, 10),
            id="canary-ten",
        ),
        pytest.param(
            [("1", "Stable", 3), ("2", "Canary", 1)],
            0,
            Routing({"1": 75, "2": 25}, 25),
            id="weights-as-shares",
        ),
        pytest.param([("1", "Stable", 100)], 0, Routing({"1": 100}, 0), id="stable-only"),
        pytest.param(
            [("1", "Stable", 100), ("2", "Shadow", 0)],
            50,
            Routing({"1": 100}, 0, 50),
            id="shadow-takes-none-but-its-mirror",
        ),
        pytest.param([("1", "Stable", 0)], 0, None, id="nothing-routed"),
    ],
)
def test_a_router_and_a_pools_catalogue_split_by_one_rule(
    backends: list[tuple[str, str, int]], mirror: int, expected: Routing | None
) -> None:
    assert router_routing(router_config(backends, mirror)) == expected
    assert catalogue_routing("shared", catalogue(backends, mirror)) == expected


@pytest.mark.parametrize(
    ("config_map", "expected"),
    [
        pytest.param(
            catalogue([("1", "Stable", 100), ("0", "Preview", 0)]),
            Routing({"1": 100}, 0),
            id="a-draining-version-reached-by-its-version-only",
        ),
        pytest.param(
            catalogue([("1", "Stable", 100), ("2", "Shadow", 20)]),
            None,
            id="a-shadow-with-a-weight-the-router-refuses",
        ),
        pytest.param(catalogue([("1", "Stable", 100)], labels={}), None, id="not-the-operators"),
        pytest.param(
            catalogue([("1", "Stable", 100)], name="other-catalogue"),
            None,
            id="named-for-another-deployment",
        ),
        pytest.param(
            catalogue([("1", "Stable", 100)]) | {"data": {"family.json": "{"}},
            None,
            id="unreadable",
        ),
        pytest.param(catalogue([("1", "Stable", 100)]) | {"data": {}}, None, id="no-family"),
    ],
)
def test_a_catalogue_the_pool_would_not_take_has_no_split(
    config_map: dict[str, Any], expected: Routing | None
) -> None:
    assert catalogue_routing("shared", config_map) == expected


def test_an_unreadable_router_config_has_no_split() -> None:
    assert router_routing("backends: [{role: nobody}]") is None


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
