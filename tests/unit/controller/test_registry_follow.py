"""Following an MLflow alias: from the registry's answer and the family's Models, the Model to
create (if any), its approval, and the Deployment's status.follow and Following condition."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pytest

from modelkeeper.api.conditions import ConditionStatus, get_condition
from modelkeeper.api.deployment import DeploymentConditionType, DeploymentResource
from modelkeeper.api.labels import FOLLOW_LABEL
from modelkeeper.api.model import ApprovalSource, ModelResource
from modelkeeper.controller.follow import (
    AliasTarget,
    FollowReason,
    RegistryFailure,
    decide_follow,
    offline_metrics,
    seconds_until_due,
)
from tests.support.objects import SCHEMA
from tests.unit.controller.factories import APPROVAL, T0, deployment, model

TRACKING = "http://mlflow.example:5000"
LATER = T0 + timedelta(minutes=5)
SEED = {
    "artifact": {"uri": "models:/fraud-model/1", "format": "mlflow"},
    "schema": SCHEMA,
    "reference": {"uri": "https://models.example.com/fraud/profile.json"},
    "metrics": {"auc": 0.5},
}


def following(
    approve_up_to: str | None = None, status: dict[str, Any] | None = None
) -> DeploymentResource:
    approval = {"autoApproveUpTo": approve_up_to} if approve_up_to else {}
    follow = {"mlflow": {"model": "fraud-model", "alias": "champion", "approval": approval}}
    return deployment(status, follow=follow)


def seed(tier: str = "Low", **extra: Any) -> ModelResource:
    governance = {"owner": "risk-team", "riskTier": tier, "approval": APPROVAL}
    return model("1", **{**SEED, "governance": governance, **extra})


def followed(number: str, created: int, **extra: Any) -> ModelResource:
    """A Model the follow made earlier, for registry version `number`."""
    found = model(
        f"mlflow-{number}",
        created=created,
        artifact={"uri": f"models:/fraud-model/{number}", "format": "mlflow"},
        **extra,
    )
    labels = {FOLLOW_LABEL: "fraud"}
    return found.model_copy(
        update={"metadata": found.metadata.model_copy(update={"labels": labels})}
    )


TARGET_2 = AliasTarget("2", "run-2", "models:/m-2", {"auc": 0.93, "rmse": 0.4})


def test_a_new_alias_target_becomes_a_model_copied_from_the_newest() -> None:
    decision = decide_follow(following(), TARGET_2, [seed()], TRACKING, LATER)

    assert decision.create is not None
    assert decision.create["metadata"]["name"] == "fraud-mlflow-2"
    assert decision.create["metadata"]["namespace"] == "ml"
    assert decision.create["metadata"]["labels"][FOLLOW_LABEL] == "fraud"
    spec = decision.create["spec"]
    assert spec["name"] == "fraud"
    assert spec["version"] == "mlflow-2"
    assert spec["artifact"] == {"uri": "models:/fraud-model/2", "format": "mlflow"}
    assert spec["schema"] == SCHEMA
    assert spec["reference"] == SEED["reference"]
    assert spec["metrics"] == {"auc": 0.93, "rmse": 0.4}
    assert spec["governance"] == {"owner": "risk-team", "riskTier": "Low"}, "never the approval"
    assert spec["lineage"] == {
        "parentVersion": "1",
        "registry": {
            "trackingUri": TRACKING,
            "model": "fraud-model",
            "version": "2",
            "alias": "champion",
            "runId": "run-2",
            "source": "models:/m-2",
        },
        "trainingData": [],
    }
    assert decision.approve is None, "without autoApproveUpTo a person approves"
    assert decision.event is not None
    assert (decision.event.type, decision.event.reason) == ("Normal", "VersionFollowed")
    follow = decision.status.follow
    assert follow is not None
    assert (follow.registry_version, follow.model, follow.version, follow.checked_at) == (
        "2",
        "fraud-mlflow-2",
        "mlflow-2",
        LATER,
    )
    condition = get_condition(decision.status.conditions, DeploymentConditionType.FOLLOWING)
    assert condition is not None
    assert (condition.status, condition.reason) == (ConditionStatus.TRUE, "AliasResolved")
    assert condition.observed_generation == 3


@pytest.mark.parametrize(
    ("limit", "tier", "approved"),
    [
        pytest.param(None, "Low", False, id="no-limit-a-person-approves"),
        pytest.param("Low", "Low", True, id="low-up-to-low"),
        pytest.param("Medium", "Low", True, id="low-up-to-medium"),
        pytest.param("Low", "Medium", False, id="medium-above-low"),
        pytest.param("Medium", "High", False, id="high-above-medium"),
        pytest.param("High", "High", True, id="high-up-to-high"),
    ],
)
def test_a_new_version_is_approved_by_its_risk_tier(
    limit: str | None, tier: str, approved: bool
) -> None:
    decision = decide_follow(following(limit), TARGET_2, [seed(tier)], TRACKING, LATER)

    assert decision.create is not None
    assert (decision.approve is not None) is approved
    if decision.approve is not None:
        name, record = decision.approve
        assert name == "fraud-mlflow-2"
        assert (record.by, record.at, record.source) == (
            "deployment/fraud",
            LATER,
            ApprovalSource.POLICY,
        )


@pytest.mark.parametrize(
    ("target", "models", "model_name", "message"),
    [
        pytest.param(
            "1", [seed()], "fraud-1", "points at version 1, Model fraud-1", id="the-seed-itself"
        ),
        pytest.param(
            "2",
            [seed(), followed("2", created=1)],
            "fraud-mlflow-2",
            "points at version 2, Model fraud-mlflow-2",
            id="made-already",
        ),
        pytest.param(
            "1",
            [seed(), followed("2", created=1)],
            "fraud-1",
            "older than the family's newest Model fraud-mlflow-2: the Deployment does not roll "
            "back to it",
            id="moved-back-no-rollback",
        ),
    ],
)
def test_a_version_the_family_has_creates_nothing(
    target: str, models: list[ModelResource], model_name: str, message: str
) -> None:
    decision = decide_follow(following(), AliasTarget(target), models, TRACKING, LATER)

    assert decision.create is None
    assert decision.approve is None
    assert decision.event is None
    assert decision.status.follow is not None
    assert decision.status.follow.model == model_name
    condition = get_condition(decision.status.conditions, DeploymentConditionType.FOLLOWING)
    assert condition is not None
    assert condition.status is ConditionStatus.TRUE
    assert message in condition.message


@pytest.mark.parametrize(
    ("status", "approved"),
    [
        pytest.param(None, True, id="approval-write-lost"),
        pytest.param(
            {"approval": {"by": "someone", "at": T0.isoformat(), "source": "Annotation"}},
            False,
            id="approved-already",
        ),
    ],
)
def test_the_newest_followed_model_gets_its_approval_again_until_it_has_one(
    status: dict[str, Any] | None, approved: bool
) -> None:
    models = [seed(), followed("2", created=1, status=status)]
    decision = decide_follow(following("High"), TARGET_2, models, TRACKING, LATER)

    assert decision.create is None
    assert (decision.approve is not None) is approved


def test_an_older_followed_model_is_never_approved_later() -> None:
    models = [seed(), followed("2", created=1), followed("3", created=2)]
    decision = decide_follow(following("High"), AliasTarget("2"), models, TRACKING, LATER)

    assert decision.approve is None


PREVIOUS = {
    "follow": {"registryVersion": "1", "model": "fraud-1", "version": "1", "checkedAt": T0},
    "conditions": [
        {
            "type": "Following",
            "status": "True",
            "reason": "AliasResolved",
            "lastTransitionTime": T0,
            "observedGeneration": 3,
        }
    ],
}
FAILED_BEFORE = {
    **PREVIOUS,
    "conditions": [
        {**PREVIOUS["conditions"][0], "status": "False", "reason": "RegistryUnreachable"}  # type: ignore[index]
    ],
}
UNREACHABLE = RegistryFailure(FollowReason.REGISTRY_UNREACHABLE, "MLflow unreachable")


@pytest.mark.parametrize(
    ("answer", "models", "status", "reason", "event"),
    [
        pytest.param(
            UNREACHABLE, [seed()], PREVIOUS, "RegistryUnreachable", True, id="unreachable"
        ),
        pytest.param(
            UNREACHABLE,
            [seed()],
            FAILED_BEFORE,
            "RegistryUnreachable",
            False,
            id="still-unreachable",
        ),
        pytest.param(
            RegistryFailure(FollowReason.ALIAS_NOT_FOUND, "alias champion not found"),
            [seed()],
            FAILED_BEFORE,
            "AliasNotFound",
            True,
            id="another-failure",
        ),
        pytest.param(TARGET_2, [], None, "NoSeed", True, id="no-model-to-copy"),
        pytest.param(
            TARGET_2,
            [seed(), model("mlflow-2", created=1)],
            PREVIOUS,
            "VersionTaken",
            True,
            id="a-person-took-the-version",
        ),
    ],
)
def test_no_answer_to_act_on_keeps_what_was_seen_and_says_why(
    answer: AliasTarget | RegistryFailure,
    models: list[ModelResource],
    status: dict[str, Any] | None,
    reason: str,
    event: bool,
) -> None:
    decision = decide_follow(following(status=status), answer, models, TRACKING, LATER)

    assert decision.create is None
    assert decision.approve is None
    condition = get_condition(decision.status.conditions, DeploymentConditionType.FOLLOWING)
    assert condition is not None
    assert (condition.status, condition.reason) == (ConditionStatus.FALSE, reason)
    follow = decision.status.follow
    assert follow is not None
    assert follow.checked_at == LATER
    assert follow.registry_version == ("1" if status else None), "what was seen before stays"
    assert (decision.event is not None) is event
    if decision.event is not None:
        assert (decision.event.type, decision.event.reason) == ("Warning", reason)


def _status(checked: int, generation: int = 3) -> dict[str, Any]:
    condition = {**PREVIOUS["conditions"][0], "observedGeneration": generation}  # type: ignore[index]
    checked_at = T0 + timedelta(seconds=checked)
    return {"follow": {"checkedAt": checked_at}, "conditions": [condition]}


@pytest.mark.parametrize(
    ("status", "due_in"),
    [
        pytest.param(None, 0.0, id="never-asked"),
        pytest.param(_status(-10), 50.0, id="asked-10s-ago"),
        pytest.param(_status(-60), 0.0, id="asked-an-interval-ago"),
        pytest.param(_status(-600), 0.0, id="long-ago"),
        pytest.param(_status(-10, generation=2), 0.0, id="spec-changed-since"),
        pytest.param({"follow": {"checkedAt": T0}}, 0.0, id="no-condition-yet"),
    ],
)
def test_the_registry_is_asked_every_interval_and_when_the_spec_changes(
    status: dict[str, Any] | None, due_in: float
) -> None:
    assert seconds_until_due(following(status=status), T0) == due_in


def test_only_metrics_a_model_can_carry_are_copied() -> None:
    metrics = {
        "auc": 0.9,
        "val.loss": 0.1,
        "bad name": 1.0,
        "nan": math.nan,
        "inf": math.inf,
        "x" * 64: 1.0,
        "1st": 1.0,
    }
    assert offline_metrics(metrics) == {"auc": 0.9, "val.loss": 0.1}
    many = {f"m{index:03d}": float(index) for index in range(100)}
    assert list(offline_metrics(many)) == [f"m{index:03d}" for index in range(64)]
