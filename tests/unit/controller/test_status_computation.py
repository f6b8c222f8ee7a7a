"""The next status from what was observed: phase, conditions, and a Model's stage."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from modelkeeper.api.conditions import Condition, ConditionStatus, get_condition, set_condition
from modelkeeper.api.deployment import (
    DeploymentConditionType,
    ManualRequests,
    ModelSelector,
    Phase,
)
from modelkeeper.api.model import ModelConditionType, Serving, Stage
from modelkeeper.api.selection import select_model
from modelkeeper.api.types import ServingRole
from modelkeeper.controller.podstates import PodProblem
from modelkeeper.controller.rollout import Plan, Readiness
from modelkeeper.controller.status import (
    Observation,
    Validation,
    deployment_status,
    model_status,
    served_by,
    starts,
)
from tests.unit.controller.factories import APPROVAL, T0, deployment, model

LATER = T0 + timedelta(minutes=5)
Kind = DeploymentConditionType


def plan(stable: str | None, candidate: str | None = None, **fields: object) -> Plan:
    defaults: dict[str, object] = {
        "role": ServingRole.CANARY if candidate else None,
        "started": None,
        "step": None,
        "step_started": None,
        "weight": 0,
        "mirror_percent": 0,
        "run": frozenset(v for v in (stable, candidate) if v),
        "history": [],
        "analysis_runs": [],
        "experiment": None,
        "manual": ManualRequests(),
        "deadline_exceeded": False,
        "hold": None,
        "withdrawn": None,
        "wake_at": None,
    }
    return Plan(stable=stable, candidate=candidate, **(defaults | fields))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("the_plan", "observed", "approved", "phase", "available", "degraded_reason"),
    [
        pytest.param(plan(None), {}, False, Phase.PENDING, False, "NotApproved", id="unapproved"),
        pytest.param(
            plan("1", started=T0),
            {"1": Readiness(1, 0)},
            True,
            Phase.PROGRESSING,
            False,
            "AsExpected",
            id="first-version-starting",
        ),
        pytest.param(
            plan("1"),
            {"1": Readiness(1, 1)},
            True,
            Phase.HEALTHY,
            True,
            "AsExpected",
            id="healthy",
        ),
        pytest.param(
            plan("1"),
            {"1": Readiness(1, 0)},
            True,
            Phase.DEGRADED,
            False,
            "StableNotReady",
            id="stable-lost-its-pods",
        ),
        pytest.param(
            plan("1", "2", started=T0),
            {"1": Readiness(1, 1)},
            True,
            Phase.PROGRESSING,
            True,
            "AsExpected",
            id="rolling-out",
        ),
        pytest.param(
            plan("1", "2", started=T0, deadline_exceeded=True),
            {"1": Readiness(1, 1)},
            True,
            Phase.DEGRADED,
            True,
            "ProgressDeadlineExceeded",
            id="candidate-never-ready",
        ),
    ],
)
def test_deployment_phase_and_conditions(
    the_plan: Plan,
    observed: dict[str, Readiness],
    approved: bool,
    phase: Phase,
    available: bool,
    degraded_reason: str,
) -> None:
    versions = [model("1", approval=APPROVAL if approved else None)]
    selection = select_model(ModelSelector(name="fraud"), versions, T0)
    names = {"1": "fraud-1", "2": "fraud-2"}
    status = deployment_status(
        Observation(deployment(), selection, the_plan, names, observed, 1, LATER)
    )
    assert status.phase is phase
    assert status.observed_generation == 3
    available_condition = get_condition(status.conditions, Kind.AVAILABLE)
    assert available_condition is not None
    assert (available_condition.status == ConditionStatus.TRUE) is available
    degraded = get_condition(status.conditions, Kind.DEGRADED)
    assert degraded is not None
    assert degraded.reason == degraded_reason
    assert (degraded.status == ConditionStatus.TRUE) is (degraded_reason != "AsExpected")
    assert (status.candidate.version if status.candidate else None) == the_plan.candidate


@pytest.mark.parametrize(
    ("before", "after", "moved"),
    [
        pytest.param(
            ConditionStatus.TRUE, ConditionStatus.TRUE, False, id="same-status-keeps-time"
        ),
        pytest.param(ConditionStatus.TRUE, ConditionStatus.FALSE, True, id="flip-moves-time"),
    ],
)
def test_transition_time_moves_only_on_change(
    before: ConditionStatus, after: ConditionStatus, moved: bool
) -> None:
    old = [Condition[Kind](type=Kind.AVAILABLE, status=before, reason="A", last_transition_time=T0)]
    new = set_condition(old, Kind.AVAILABLE, after, "B", "why", LATER, 4)
    assert len(new) == 1
    assert new[0].last_transition_time == (LATER if moved else T0)
    assert (new[0].reason, new[0].observed_generation) == ("B", 4)


@pytest.mark.parametrize(
    ("previous", "served_by", "stage"),
    [
        pytest.param(None, [], Stage.REGISTERED, id="new"),
        pytest.param(None, [ServingRole.CANARY], Stage.CANDIDATE, id="candidate"),
        pytest.param("Candidate", [ServingRole.STABLE], Stage.PRODUCTION, id="production"),
        pytest.param("Production", [], Stage.RETIRED, id="retired"),
        pytest.param("Rejected", [], Stage.REJECTED, id="rejected-stays"),
    ],
)
def test_model_stage(previous: str | None, served_by: list[ServingRole], stage: Stage) -> None:
    the_model = model("1", approval=APPROVAL, status={"stage": previous} if previous else None)
    servings = [Serving(deployment=f"d{i}", role=role) for i, role in enumerate(served_by)]
    status = model_status(the_model, servings, Validation(), T0)
    assert status.stage is stage


@pytest.mark.parametrize(
    ("approval", "problems", "approved", "validated"),
    [
        pytest.param(APPROVAL, [], True, ConditionStatus.TRUE, id="approved-valid"),
        pytest.param(None, ["spec.artifact.uri: missing"], False, ConditionStatus.FALSE, id="bad"),
    ],
)
def test_model_conditions(
    approval: dict[str, str] | None, problems: list[str], approved: bool, validated: ConditionStatus
) -> None:
    status = model_status(model("1", approval=approval), [], Validation(problems), T0)
    assert status.approved is approved
    condition = get_condition(status.conditions, ModelConditionType.VALIDATED)
    assert condition is not None
    assert condition.status == validated
    assert all(problem in condition.message for problem in problems)


@pytest.mark.parametrize(
    ("previous", "deployments", "roles"),
    [
        pytest.param(
            None,
            {"d": {"stable": {"model": "fraud-1", "readyReplicas": 0}}},
            [],
            id="stable-never-ready-has-not-served",
        ),
        pytest.param(
            None,
            {"d": {"stable": {"model": "fraud-1", "readyReplicas": 1}}},
            [ServingRole.STABLE],
            id="stable-ready-serves",
        ),
        pytest.param(
            "Production",
            {"d": {"stable": {"model": "fraud-1", "readyReplicas": 0}}},
            [ServingRole.STABLE],
            id="production-stays-through-a-restart",
        ),
        pytest.param(
            None,
            {"d": {"candidate": {"model": "fraud-1", "role": "Canary"}}},
            [ServingRole.CANARY],
            id="candidate",
        ),
        pytest.param(None, {"d": {"stable": {"model": "fraud-2"}}}, [], id="another-version"),
    ],
)
def test_served_by_counts_a_stable_version_only_once_it_served(
    previous: str | None, deployments: dict[str, Any], roles: list[ServingRole]
) -> None:
    """Finding 1: stage never says Production for a version that has not served a request."""
    the_model = model("1", status={"stage": previous} if previous else None)
    serving = served_by(the_model, deployments)
    assert [entry.role for entry in serving] == roles
    stage = model_status(the_model, serving, Validation(), T0).stage
    assert (stage is Stage.PRODUCTION) == (ServingRole.STABLE in roles)


@pytest.mark.parametrize(
    ("validation", "status", "reason", "says"),
    [
        pytest.param(
            Validation(checked=["artifact /m/model.joblib matches its digest"]),
            ConditionStatus.TRUE,
            "Validated",
            "matches its digest",
            id="all-checked",
        ),
        pytest.param(
            Validation(
                checked=[],
                unchecked=["artifact s3://m/1: the operator does not read s3:// URIs"],
            ),
            ConditionStatus.TRUE,
            "ValidatedInPart",
            "not checked by the operator: artifact s3://m/1",
            id="in-part-says-what-and-why",
        ),
        pytest.param(
            Validation(problems=["spec.artifact.uri: /m has SHA-256 ab, not cd (sha256)"]),
            ConditionStatus.FALSE,
            "ValidationFailed",
            "not cd",
            id="digest-differs",
        ),
    ],
)
def test_validated_says_what_was_checked(
    validation: Validation, status: ConditionStatus, reason: str, says: str
) -> None:
    """Findings 2 and 6: Validated never claims a check that was not made."""
    conditions = model_status(model("1"), [], validation, T0).conditions
    condition = get_condition(conditions, ModelConditionType.VALIDATED)
    assert condition is not None
    assert (condition.status, condition.reason) == (status, reason)
    assert says in condition.message


FETCH_FAILED = (
    "pod fraud-2-abc: init container fetch-model Error (exit code 1): modelkeeper "
    "fetch-artifact: s3://models/fraud/2/model.joblib: not found: no such object at "
    "http://store:8333 (NoSuchKey, HTTP 404)"
)


@pytest.mark.parametrize(
    ("problem", "failure"),
    [
        pytest.param(
            PodProblem("InitContainerFailing", FETCH_FAILED), FETCH_FAILED, id="stuck-is-told"
        ),
        pytest.param(
            PodProblem("Unschedulable", "pod fraud-2-abc cannot be scheduled", stuck=False),
            None,
            id="waiting-for-a-node-is-not-the-version's-failure",
        ),
    ],
)
def test_a_version_failing_to_start_says_why_in_the_deployment_status(
    problem: PodProblem, failure: str | None
) -> None:
    versions = [model("1", approval=APPROVAL), model("2", approval=APPROVAL)]
    selection = select_model(ModelSelector(name="fraud"), versions, T0)
    status = deployment_status(
        Observation(
            deployment(),
            selection,
            plan("1", "2", started=T0),
            {"1": "fraud-1", "2": "fraud-2"},
            {"1": Readiness(1, 1), "2": Readiness(1, 0)},
            1,
            LATER,
            failing={"2": problem},
        )
    )
    assert status.candidate is not None
    assert status.candidate.failure == failure
    assert status.stable is not None
    assert status.stable.failure is None


@pytest.mark.parametrize(
    ("previous", "deployments", "status", "reason", "says"),
    [
        pytest.param(None, {}, "Unknown", "NotStarted", "no Deployment has started", id="not-run"),
        pytest.param(
            None,
            {"d": {"candidate": {"model": "fraud-1", "role": "Canary", "failure": FETCH_FAILED}}},
            "False",
            "FailsToStart",
            f"Deployment d: {FETCH_FAILED}",
            id="a-candidate-fails",
        ),
        pytest.param(
            None,
            {
                "a": {"stable": {"model": "fraud-1", "readyReplicas": 1}},
                "b": {"stable": {"model": "fraud-1", "failure": "pod x: crash"}},
            },
            "False",
            "FailsToStart",
            "Deployment b: pod x: crash",
            id="a-failure-anywhere-is-told",
        ),
        pytest.param(
            None,
            {"a": {"stable": {"model": "fraud-1", "readyReplicas": 2}}},
            "True",
            "Started",
            "ready in Deployment a",
            id="ready",
        ),
        pytest.param(
            ("False", "FailsToStart", FETCH_FAILED),
            {"d": {"stable": {"model": "fraud-2", "readyReplicas": 1}}},
            "False",
            "FailsToStart",
            FETCH_FAILED,
            id="rolled-back-keeps-saying-why",
        ),
        pytest.param(
            ("False", "FailsToStart", FETCH_FAILED),
            {"d": {"stable": {"model": "fraud-1", "readyReplicas": 1}}},
            "True",
            "Started",
            "ready in Deployment d",
            id="fixed",
        ),
    ],
)
def test_started_says_whether_and_why_not_the_servers_start(
    previous: tuple[str, str, str] | None,
    deployments: dict[str, Any],
    status: str,
    reason: str,
    says: str,
) -> None:
    """The Model tells a fetch step's failure (a digest, a missing object, credentials)."""
    last = (
        {"conditions": [{"type": "Started", "status": previous[0], "reason": previous[1],
                         "message": previous[2], "lastTransitionTime": T0.isoformat()}]}
        if previous is not None
        else None
    )  # fmt: skip
    the_model = model("1", status=last)
    conditions = model_status(
        the_model, served_by(the_model, deployments), Validation(), LATER,
        starts(the_model, deployments),
    ).conditions  # fmt: skip
    condition = get_condition(conditions, ModelConditionType.STARTED)
    assert condition is not None
    assert (condition.status, condition.reason) == (status, reason)
    assert says in condition.message
