"""ServingPools and pooled Deployments: the pool's objects and a pooled Deployment's catalogue
against golden YAML (MODELKEEPER_UPDATE_GOLDEN=1 rewrites), and their decisions table by table.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelkeeper.api.deployment import DeploymentConditionType
from modelkeeper.api.pool import PooledFamily
from modelkeeper.api.servingpool import ServingPoolResource
from modelkeeper.api.types import ServingRole
from modelkeeper.controller.builders import StoreAccess
from modelkeeper.controller.desired import Seen, desired
from modelkeeper.controller.pooled import (
    NAME_TAKEN,
    NOT_AN_ARTIFACT,
    NOT_FOUND,
    NOT_READY,
    PoolView,
    build_catalogue,
    path_owner,
    pool_status,
)
from modelkeeper.controller.poolobjects import build_pool
from modelkeeper.controller.rollout import Readiness
from modelkeeper.controller.status import deployment_status
from modelkeeper.controller.traffic import Routes
from tests.unit.controller.factories import APPROVAL, T0, deployment, model
from tests.unit.controller.rollout_specs import CANARY, SHADOW
from tests.unit.controller.test_desired import SETTINGS, STABLE_1

GOLDEN = Path(__file__).parent / "golden"
IMAGE = "ghcr.io/modelkeeper/modelkeeper:0.1.0"
STORES = (
    StoreAccess("s3", (("AWS_ENDPOINT_URL_S3", "http://store.example.com:9000"),), "s3-keys"),
)


def pool(status: dict[str, Any] | None = None, **spec: Any) -> ServingPoolResource:
    """A ServingPool `shared` in namespace `ml`."""
    return ServingPoolResource.from_object(
        {
            "apiVersion": "modelkeeper.io/v1alpha1",
            "kind": "ServingPool",
            "metadata": {"name": "shared", "namespace": "ml", "uid": "uid-shared", "generation": 2},
            "spec": spec,
            "status": status,
        }
    )


def pooled(status: dict[str, Any] | None = None, **spec: Any) -> Any:
    return deployment(status=status, pool="shared", **spec)


SCHEMA = {"inputs": [{"name": "amount", "type": "Numeric"}], "output": {"type": "Regression"}}


def versions(*numbers: str) -> dict[str, Any]:
    """Approved artifact versions; version 1 with a schema and a reference profile."""
    described: dict[str, Any] = {
        "schema": SCHEMA,
        "reference": {"uri": "https://models.example.com/fraud/1/profile.json"},
    }
    return {v: model(v, approval=APPROVAL, **(described if v == "1" else {})) for v in numbers}


POOLS = {
    "pool-defaults": build_pool(pool(), IMAGE, False),
    "pool-sized-with-podmonitor-and-a-store": build_pool(
        pool(
            replicas=3,
            memoryBudget="256Mi",
            image="registry.example.com/modelkeeper:custom",
            resources={"requests": {"cpu": "250m", "memory": "512Mi"}},
            router={"replicas": 2},
        ),
        IMAGE,
        True,
        STORES,
    ),
}
CATALOGUES = {
    "pooled-canary-at-30-percent": build_catalogue(
        pooled(strategy=CANARY),
        Routes("1", "2", ServingRole.CANARY, weight=30),
        (),
        versions("1", "2"),
    ),
    "pooled-shadow-mirroring-50-percent": build_catalogue(
        pooled(strategy=SHADOW, serving={"payloadLogSampling": 0.5}),
        Routes("1", "2", ServingRole.SHADOW, mirror_percent=50),
        (),
        versions("1", "2"),
    ),
    "pooled-promoted-while-1-drains": build_catalogue(
        pooled(), Routes("2"), {"1"}, versions("1", "2")
    ),
}


@pytest.mark.parametrize("case", [*POOLS, *CATALOGUES])
def test_objects_match_golden(case: str) -> None:
    objects = POOLS.get(case) or [obj for obj in [CATALOGUES[case]] if obj is not None]
    rendered = yaml.safe_dump_all(objects, sort_keys=True)
    path = GOLDEN / f"{case}.yaml"
    if os.environ.get("MODELKEEPER_UPDATE_GOLDEN") == "1":
        path.write_text(rendered)
    assert path.read_text() == rendered, f"{path} is stale: rerun with MODELKEEPER_UPDATE_GOLDEN=1"


@pytest.mark.parametrize("case", list(POOLS))
def test_every_pool_object_is_owned_labelled_and_restricted(case: str) -> None:
    for obj in POOLS[case]:
        metadata = obj["metadata"]
        assert metadata["ownerReferences"][0]["kind"] == "ServingPool"
        assert metadata["ownerReferences"][0]["uid"] == "uid-shared"
        assert metadata["labels"]["modelkeeper.io/pool"] == "shared"
        if obj["kind"] == "Deployment":
            pod = obj["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsNonRoot"] is True
            for container in pod["containers"]:
                assert container["securityContext"]["readOnlyRootFilesystem"] is True
                assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_the_pool_role_reads_only_configmaps_and_endpointslices() -> None:
    role = next(obj for obj in POOLS["pool-defaults"] if obj["kind"] == "Role")
    granted = {
        (group, resource)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert granted == {("", "configmaps"), ("discovery.k8s.io", "endpointslices")}
    assert {verb for rule in role["rules"] for verb in rule["verbs"]} == {"get", "list", "watch"}


@pytest.mark.parametrize("case", list(CATALOGUES))
def test_a_catalogue_reads_back_as_the_family_the_routes_say(case: str) -> None:
    catalogue = CATALOGUES[case]
    assert catalogue is not None
    assert catalogue["metadata"]["labels"]["modelkeeper.io/pool"] == "shared"
    family = PooledFamily.from_config_map(catalogue)
    assert family.model == "fraud"
    assert sum(v.weight for v in family.versions) == 100


@pytest.mark.parametrize(
    ("routes", "models", "built"),
    [
        pytest.param(None, versions("1"), False, id="nothing-to-route-to"),
        pytest.param(Routes("1"), versions("2"), False, id="the-stable-model-is-gone"),
        pytest.param(
            Routes("1"),
            {"1": model("1", approval=APPROVAL, image="registry.example.com/fraud:1")},
            False,
            id="the-stable-version-is-an-image",
        ),
        pytest.param(
            Routes("1", "2", ServingRole.CANARY),
            {"1": versions("1")["1"], "2": model("2", approval=APPROVAL, image="r.example/f:2")},
            True,
            id="an-image-candidate-is-left-out",
        ),
    ],
)
def test_a_catalogue_is_built_only_with_a_stable_artifact(
    routes: Routes | None, models: dict[str, Any], built: bool
) -> None:
    catalogue = build_catalogue(pooled(), routes, (), models)
    assert (catalogue is not None) == built
    if catalogue is not None:
        assert [v.version for v in PooledFamily.from_config_map(catalogue).versions] == ["1"]


T1 = T0 + timedelta(minutes=1)


@pytest.mark.parametrize(
    ("rivals", "owner"),
    [
        pytest.param([(T0, "b")], "b", id="alone"),
        pytest.param([(T1, "a"), (T0, "b")], "b", id="oldest"),
        pytest.param([(T0, "b"), (T0, "a")], "a", id="by-name-among-equals"),
        pytest.param([(None, "a"), (T1, "b")], "b", id="not-yet-created-last"),
    ],
)
def test_the_oldest_deployment_keeps_a_model_name(
    rivals: list[tuple[datetime | None, str]], owner: str
) -> None:
    assert path_owner(rivals) == owner


READY = Readiness(2, 2)


@dataclass(frozen=True)
class Row:
    """What a pooled Deployment's reconcile read of its pool, and what it decides."""

    view: PoolView
    catalogue: list[str] | None
    """The versions its catalogue is written with; None: none written."""
    pooled: tuple[bool, str]
    """The Pooled condition's status and reason."""
    ready: set[str] = field(default_factory=set)
    keep: set[str] = field(default_factory=set)
    family: list[str] = field(default_factory=lambda: ["1"])
    status: dict[str, Any] | None = None
    strategy: dict[str, Any] = field(default_factory=dict)


ROWS = [
    pytest.param(
        Row(PoolView(pool(), READY), ["1"], (True, "PoolServes")),
        id="first-catalogue-written-its-version-not-yet-catalogued",
    ),
    pytest.param(
        Row(PoolView(pool(), READY, ("1",)), ["1"], (True, "PoolServes"), ready={"1"}),
        id="catalogued-and-the-pool-ready",
    ),
    pytest.param(
        Row(PoolView(pool(), Readiness(2, 1), ("1",)), ["1"], (False, NOT_READY), ready={"1"}),
        id="the-pool-not-ready",
    ),
    pytest.param(
        Row(PoolView(None, None, ("1",)), ["1"], (False, NOT_FOUND)),
        id="the-pool-missing-the-catalogue-is-still-written",
    ),
    pytest.param(
        Row(PoolView(pool(), READY, ("1",), taken_by="older"), None, (False, NAME_TAKEN)),
        id="an-older-deployment-has-the-model-name",
    ),
    pytest.param(
        Row(
            PoolView(pool(), READY),
            None,
            (False, NOT_AN_ARTIFACT),
            keep={"fraud-catalogue"},
            family=["image"],
            status={"stable": {"version": "1", "model": "fraud-1"}},
        ),
        id="an-image-version-keeps-the-last-catalogue",
    ),
    pytest.param(
        Row(
            PoolView(pool(), READY, ("1",)),
            ["1", "2"],
            (True, "PoolServes"),
            ready={"1"},
            family=["1", "2"],
            status=STABLE_1,
            strategy=CANARY,
        ),
        id="a-canary-enters-the-catalogue-at-weight-0",
    ),
]


@pytest.mark.parametrize("row", ROWS)
def test_pooled_deployment(row: Row) -> None:
    fraud = pooled(status=row.status, strategy=row.strategy)
    models = [
        model("1", approval=APPROVAL, image="registry.example.com/fraud:1")
        if version == "image"
        else model(version, approval=APPROVAL)
        for version in row.family
    ]
    want = desired(Seen(fraud, models, [], None, T0, row.view), SETTINGS, pod_monitor=True)
    assert [obj["kind"] for obj in want.objects] == (["ConfigMap"] if row.catalogue else [])
    if row.catalogue is not None:
        family = PooledFamily.from_config_map(want.objects[0])
        assert [v.version for v in family.versions] == row.catalogue
    assert want.keep == row.keep
    assert want.unready == set()
    status = deployment_status(want.observation)
    condition = next(c for c in status.conditions if c.type is DeploymentConditionType.POOLED)
    assert (condition.status == "True", condition.reason) == row.pooled
    ready = {v.version for v in (status.stable, status.candidate) if v and v.ready_replicas}
    assert ready == row.ready


def test_a_deployment_leaving_its_pool_loses_the_pooled_condition() -> None:
    fraud = pooled()
    seen = Seen(fraud, [model("1", approval=APPROVAL)], [], None, T0, PoolView(None, None))
    left = deployment_status(desired(seen, SETTINGS, pod_monitor=False).observation)
    single = deployment(status=left.model_dump(mode="json", by_alias=True, exclude_none=True))
    again = desired(Seen(single, seen.models, [], None, T0), SETTINGS, pod_monitor=False)
    status = deployment_status(again.observation)
    assert DeploymentConditionType.POOLED not in {c.type for c in status.conditions}
    assert {obj["kind"] for obj in again.objects} >= {"Deployment", "Service"}


@pytest.mark.parametrize(
    ("servers", "router", "ready", "reason"),
    [
        pytest.param(None, 0, False, "ServersNotReady", id="nothing-yet"),
        pytest.param(Readiness(2, 1), 1, False, "ServersNotReady", id="one-server-of-two"),
        pytest.param(Readiness(2, 2), 0, False, "RouterNotReady", id="no-router"),
        pytest.param(Readiness(2, 2), 1, True, "AllReady", id="all-ready"),
    ],
)
def test_pool_status(servers: Readiness | None, router: int, ready: bool, reason: str) -> None:
    status = pool_status(pool(), servers, router, 3, T0)
    (condition,) = status.conditions
    assert (condition.status == "True", condition.reason) == (ready, reason)
    assert (status.families, status.replicas) == (3, 2)
    assert status.ready_replicas == (servers.ready if servers else 0)
