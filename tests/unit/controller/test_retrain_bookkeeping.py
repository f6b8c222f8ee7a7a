"""The retraining controller's small helpers: a run adopted from its workload, a run ended,
objects parsed or skipped, a family read from the cache."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from modelkeeper.api.model import ModelResource
from modelkeeper.api.retrainpolicy import Run, RunOutcome, TriggerKind, WorkloadRef
from modelkeeper.controller.cache import Body, Cache
from modelkeeper.controller.retrainresults import end_run, family_of, parsed_or_none
from modelkeeper.controller.retrainruns import adopted_run
from tests.unit.controller.factories import deployment
from tests.unit.retrain.factories import T0, model, policy

JOB = WorkloadRef(api_version="batch/v1", kind="Job", name="retrain-fraud-manual-1")


def workload(labels: dict[str, str], annotations: dict[str, str] | None = None) -> Body:
    metadata: dict[str, Any] = {
        "name": JOB.name,
        "labels": labels,
        "creationTimestamp": "2026-01-01T12:00:00Z",
    }
    if annotations is not None:
        metadata["annotations"] = annotations
    return {"apiVersion": JOB.api_version, "kind": JOB.kind, "metadata": metadata}


@pytest.mark.parametrize(
    ("labels", "annotations", "trigger", "reason"),
    [
        pytest.param(
            {"modelkeeper.io/run": "drift-1", "modelkeeper.io/trigger": "Drift"},
            {"modelkeeper.io/trigger-reason": "inputs drifted"},
            TriggerKind.DRIFT,
            "inputs drifted",
            id="labelled",
        ),
        pytest.param(
            {"modelkeeper.io/run": "drift-1"}, None, TriggerKind.MANUAL, "", id="no-trigger"
        ),
        pytest.param(
            {"modelkeeper.io/run": "drift-1", "modelkeeper.io/trigger": "Schedule"},
            {"modelkeeper.io/trigger-reason": "x" * 2000},
            TriggerKind.SCHEDULE,
            "x" * 1024,
            id="long-reason",
        ),
    ],
)
def test_a_run_is_adopted_from_its_workload(
    labels: dict[str, str], annotations: dict[str, str] | None, trigger: TriggerKind, reason: str
) -> None:
    run = adopted_run(dict(workload(labels, annotations)))

    assert run == Run(name="drift-1", trigger=trigger, reason=reason, workload=JOB, start_time=T0)


@pytest.mark.parametrize(
    ("outcome", "message", "made", "expected_message"),
    [
        pytest.param(RunOutcome.SUCCEEDED, "Model fraud-2", "fraud-2", "Model fraud-2", id="ok"),
        pytest.param(RunOutcome.FAILED, "its workload is gone", None, "its workload is gone"),
        pytest.param(RunOutcome.REJECTED, "m" * 1500, "fraud-3", "m" * 1024, id="long"),
    ],
)
def test_a_run_ends(
    outcome: RunOutcome, message: str, made: str | None, expected_message: str
) -> None:
    run = Run(name="manual-1", trigger=TriggerKind.MANUAL, start_time=T0)
    end = T0 + timedelta(minutes=5)

    ended = end_run(run, outcome, message, made, end)

    assert (ended.outcome, ended.message, ended.model) == (outcome, expected_message, made)
    assert (ended.start_time, ended.completion_time) == (T0, end)


def body_of(resource: ModelResource) -> Body:
    return resource.model_dump(mode="json", by_alias=True, exclude_none=True)


@pytest.mark.parametrize(
    ("found", "parsed"),
    [
        pytest.param(None, None, id="missing"),
        pytest.param({"metadata": {"name": "fraud-1"}, "spec": {}}, None, id="does-not-parse"),
        pytest.param(body_of(model("1")), model("1"), id="parses"),
    ],
)
def test_parsed_or_none(found: Body | None, parsed: ModelResource | None) -> None:
    assert parsed_or_none(ModelResource.from_object, found) == parsed


def test_the_family_is_what_parses_of_its_models_and_deployments() -> None:
    broken = {"metadata": {"name": "fraud-broken", "namespace": "ml"}, "spec": {"name": "fraud"}}
    serving = deployment()
    cache = Cache(
        models={
            ("ml", "fraud-1"): [body_of(model("1"))],
            ("ml", "fraud-broken"): [broken],
        },
        model_families={("ml", "fraud"): ["fraud-1", "fraud-broken"]},
        deployments={
            ("ml", "fraud"): [serving.model_dump(mode="json", by_alias=True, exclude_none=True)]
        },
        deployment_families={("ml", "fraud"): ["fraud", "gone"]},
        drift_monitors={},
        retrain_policies={},
        retrain_policy_families={},
    )

    models, deployments = family_of(cache, policy())

    assert models == [model("1")]
    assert deployments == [serving]
