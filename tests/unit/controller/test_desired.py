"""desired(): what one reconcile of a Deployment decides from what it read, table by table.

The glue Reconciler.deployment used to hold inline: the tick, the versions that run and the
part each plays, the objects kept for a version whose Model is gone, the routes, the pods'
roles, the Model names the status reports, and when to come back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from modelkeeper.api.labels import Manifest
from modelkeeper.api.types import ServingRole
from modelkeeper.controller.desired import POD_POLL_SECONDS, Seen, desired
from modelkeeper.controller.settings import OperatorSettings
from modelkeeper.controller.traffic import Routes
from tests.unit.controller.factories import APPROVAL, T0, deployment, model
from tests.unit.controller.rollout_specs import CANARY

SETTINGS = OperatorSettings.model_validate({"progress_deadline_seconds": 600, "drain_seconds": 60})
STABLE_1 = {"stable": {"version": "1", "model": "fraud-1"}}


def server(version: str, *, ready: bool = True, role: str = "Stable") -> dict[str, Any]:
    """An owned apps/v1 Deployment of scoring servers, as the cache holds it."""
    return {
        "kind": "Deployment",
        "metadata": {
            "name": f"fraud-{version}",
            "labels": {
                "app.kubernetes.io/component": "server",
                "modelkeeper.io/version": version,
                "modelkeeper.io/role": role,
            },
        },
        "spec": {"template": {"metadata": {"labels": {"modelkeeper.io/role": role}}}},
        "status": {"replicas": 1, "readyReplicas": 1 if ready else 0},
    }


@dataclass(frozen=True)
class Row:
    """What a reconcile read, and what it must decide."""

    versions: list[str]
    """The family's Models (approved), by version."""
    children: list[dict[str, Any]]
    routes: Routes | None
    servers: dict[str, tuple[str, str]]
    """Each server Deployment built: its role label, and its pods' role label."""
    names: dict[str, str]
    unready: set[str] = field(default_factory=set)
    wake: float | None = None
    keep: set[str] = field(default_factory=set)
    status: dict[str, Any] | None = None
    strategy: dict[str, Any] = field(default_factory=dict)


ROWS = [
    pytest.param(Row([], [], None, {}, {}), id="nothing-to-serve"),
    pytest.param(
        Row(
            ["1"],
            [],
            Routes("1"),
            {"1": ("Stable", "Stable")},
            {"1": "fraud-1"},
            unready={"1"},
            wake=POD_POLL_SECONDS,
        ),
        id="first-version-starting",
    ),
    pytest.param(
        Row(["1"], [server("1")], Routes("1"), {"1": ("Stable", "Stable")}, {"1": "fraud-1"}),
        id="first-version-ready",
    ),
    pytest.param(
        Row(
            ["1", "2"],
            [server("1")],
            Routes("1", "2", ServingRole.CANARY),
            {"1": ("Stable", "Stable"), "2": ("Canary", "Canary")},
            {"1": "fraud-1", "2": "fraud-2"},
            unready={"2"},
            wake=POD_POLL_SECONDS,
            status=STABLE_1,
            strategy=CANARY,
        ),
        id="canary-starts-beside-stable",
    ),
    pytest.param(
        Row(
            ["2"],
            [server("1")],
            Routes("1", "2", ServingRole.CANARY),
            {"2": ("Canary", "Canary")},
            {"1": "fraud-one", "2": "fraud-2"},
            unready={"2"},
            wake=POD_POLL_SECONDS,
            keep={"fraud-1"},
            status={"stable": {"version": "1", "model": "fraud-one"}},
            strategy=CANARY,
        ),
        id="a-version-whose-model-is-gone-is-kept-by-its-last-name",
    ),
    pytest.param(
        Row(
            ["1", "2"],
            [server("1"), server("2", role="Canary")],
            Routes("2"),
            {"1": ("Stable", "Stable"), "2": ("Stable", "Canary")},
            {"1": "fraud-1", "2": "fraud-2"},
            wake=61.0,
            status=STABLE_1,
        ),
        id="promoted-pods-keep-their-role-while-the-old-version-drains",
    ),
]


def _servers(objects: list[Manifest]) -> dict[str, tuple[str, str]]:
    return {
        obj["metadata"]["labels"]["modelkeeper.io/version"]: (
            obj["metadata"]["labels"]["modelkeeper.io/role"],
            obj["spec"]["template"]["metadata"]["labels"]["modelkeeper.io/role"],
        )
        for obj in objects
        if obj["kind"] == "Deployment"
        and obj["metadata"]["labels"]["app.kubernetes.io/component"] == "server"
    }


@pytest.mark.parametrize("row", ROWS)
def test_desired(row: Row) -> None:
    fraud = deployment(status=row.status, strategy=row.strategy)
    models = [model(version, approval=APPROVAL) for version in row.versions]
    want = desired(Seen(fraud, models, row.children, None, T0), SETTINGS, pod_monitor=False)
    assert want.plan.routes() == row.routes
    assert _servers(want.objects) == row.servers
    assert want.keep == row.keep
    assert dict(want.observation.models) == row.names
    assert want.unready == row.unready
    assert want.wake_after() == row.wake
    assert (want.observation.deployment, want.observation.now) == (fraud, T0)
    assert want.observation.failing == {}


def test_the_pod_monitor_is_built_only_when_asked() -> None:
    seen = Seen(deployment(), [model("1", approval=APPROVAL)], [server("1")], None, T0)
    kinds = {
        asked: {obj["kind"] for obj in desired(seen, SETTINGS, pod_monitor=asked).objects}
        for asked in (False, True)
    }
    assert kinds[True] - kinds[False] == {"PodMonitor"}
