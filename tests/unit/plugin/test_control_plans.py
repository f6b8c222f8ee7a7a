"""What each manual control writes, for every command and every refusal, without a cluster."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from modelkeeper.api.annotations import Annotation
from modelkeeper.api.deployment import DeploymentResource
from modelkeeper.api.model import ModelResource
from modelkeeper.api.retrainpolicy import RetrainPolicyResource
from modelkeeper.plugin.plans import (
    ControlError,
    DeploymentControl,
    plan_approval,
    plan_deployment,
    plan_retrain,
    request_id,
)
from tests.support.objects import manifest

NOW = datetime(2026, 11, 26, 23, 3, 24, 123456, tzinfo=UTC)
NOW_ID = "2026-11-26T23:03:24.123456Z"
STABLE = {"version": "1", "model": "fraud-1"}
CANDIDATE = {"version": "2", "model": "fraud-2", "role": "Canary", "since": "2026-11-26T23:00:00Z"}


def deployment(status: dict[str, Any] | None) -> DeploymentResource:
    return DeploymentResource.from_object(
        manifest(
            "Deployment", "fraud", {"model": {"name": "fraud"}}, status=status, namespace="risk"
        )
    )


ROLLING_OUT = deployment({"stable": STABLE, "candidate": CANDIDATE, "step": 1})
SETTLED = deployment({"stable": STABLE})
ABORTED = deployment(
    {
        "stable": STABLE,
        "phase": "Aborted",
        "history": [
            {
                "version": "2",
                "outcome": "Aborted",
                "started": "2026-11-26T22:00:00Z",
                "finished": "2026-11-26T22:10:00Z",
            }
        ],
    }
)
NEW = deployment(None)


@pytest.mark.parametrize(
    ("control", "target", "annotations", "message"),
    [
        pytest.param(
            DeploymentControl.PROMOTE,
            ROLLING_OUT,
            {Annotation.PROMOTE: "2"},
            "deployment fraud: promote 2 to full traffic requested",
            id="promote-full-names-the-candidate",
        ),
        pytest.param(
            DeploymentControl.PROMOTE_STEP,
            ROLLING_OUT,
            {Annotation.PROMOTE_STEP: NOW_ID},
            "deployment fraud: end the current step of 2 requested",
            id="promote-step-is-a-new-request-id",
        ),
        pytest.param(
            DeploymentControl.ABORT,
            ROLLING_OUT,
            {Annotation.ABORT: "2"},
            "deployment fraud: abort 2 requested",
            id="abort-names-the-candidate",
        ),
        pytest.param(
            DeploymentControl.PAUSE,
            SETTLED,
            {Annotation.PAUSED: "true"},
            "deployment fraud: pause requested",
            id="pause-needs-no-candidate",
        ),
        pytest.param(
            DeploymentControl.RESUME,
            ROLLING_OUT,
            {Annotation.PAUSED: None},
            "deployment fraud: resume requested",
            id="resume-removes-paused",
        ),
        pytest.param(
            DeploymentControl.RETRY,
            SETTLED,
            # Retry now also removes a withdrawal (finding 10): it lets the version back in.
            {Annotation.RETRY: NOW_ID, Annotation.ABORT: None, Annotation.WITHDRAW: None},
            "deployment fraud: retry of the selected version requested",
            id="retry-removes-the-abort-and-withdrawal-in-the-same-patch",
        ),
        pytest.param(
            DeploymentControl.WITHDRAW,
            ROLLING_OUT,
            {Annotation.WITHDRAW: "2"},
            "deployment fraud: withdrawal of 2 requested; version 1 keeps serving",
            id="withdraw-names-the-candidate",
        ),
        pytest.param(
            DeploymentControl.WITHDRAW,
            ABORTED,
            {Annotation.WITHDRAW: "2"},
            "deployment fraud: withdrawal of 2 requested; version 1 keeps serving",
            id="withdraw-after-an-abort-names-the-version-kept-out",
        ),
    ],
)
def test_deployment_controls(
    control: DeploymentControl,
    target: DeploymentResource,
    annotations: dict[Annotation, str | None],
    message: str,
) -> None:
    plan = plan_deployment(control, target, NOW)
    assert plan.annotations == annotations
    assert plan.message == message


@pytest.mark.parametrize(
    ("control", "target", "error"),
    [
        pytest.param(
            DeploymentControl.PROMOTE,
            SETTLED,
            "deployment fraud: no candidate version to promote (1 is stable)",
            id="promote-full-without-candidate",
        ),
        pytest.param(
            DeploymentControl.PROMOTE_STEP,
            SETTLED,
            "deployment fraud: no candidate version to promote (1 is stable)",
            id="promote-step-without-candidate",
        ),
        pytest.param(
            DeploymentControl.ABORT,
            SETTLED,
            "deployment fraud: no candidate version to abort (1 is stable)",
            id="abort-without-candidate",
        ),
        pytest.param(
            DeploymentControl.ABORT,
            NEW,
            "deployment fraud: no candidate version to abort",
            id="abort-before-any-status",
        ),
        pytest.param(
            DeploymentControl.WITHDRAW,
            SETTLED,
            "deployment fraud: no candidate and no aborted or rolled-back version to withdraw "
            "(version 1 is stable)",
            id="withdraw-without-anything-to-withdraw",
        ),
    ],
)
def test_controls_that_must_name_a_version_refuse_without_a_candidate(
    control: DeploymentControl, target: DeploymentResource, error: str
) -> None:
    with pytest.raises(ControlError) as refused:
        plan_deployment(control, target, NOW)
    assert str(refused.value) == error


def test_merge_patch_touches_annotations_only_and_nulls_removals() -> None:
    plan = plan_deployment(DeploymentControl.RETRY, ROLLING_OUT, NOW)
    assert plan.merge_patch() == {
        "metadata": {
            "annotations": {
                "modelkeeper.io/retry": NOW_ID,
                "modelkeeper.io/abort": None,
                "modelkeeper.io/withdraw": None,
            }
        }
    }


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        pytest.param(NOW, NOW_ID, id="utc"),
        pytest.param(
            datetime(2026, 1, 1, 1, 0, 0, 5, tzinfo=timezone(timedelta(hours=1))),
            "2026-01-01T00:00:00.000005Z",
            id="other-zone-becomes-utc-with-padded-microseconds",
        ),
    ],
)
def test_request_id_is_rfc3339_utc_with_microseconds(now: datetime, expected: str) -> None:
    assert request_id(now) == expected


def test_each_call_a_microsecond_apart_is_a_new_request() -> None:
    assert request_id(NOW) != request_id(NOW + timedelta(microseconds=1))


MODEL = ModelResource.from_object(
    manifest(
        "Model",
        "fraud-2",
        {
            "name": "fraud",
            "version": "2",
            "image": "registry.example.com/fraud:2",
            "schema": {
                "inputs": [{"name": "amount", "type": "Numeric"}],
                "output": {"type": "Regression"},
            },
        },
        namespace="risk",
    )
)


@pytest.mark.parametrize(
    ("approver", "who"),
    [
        pytest.param("alice@example.com", "alice@example.com", id="given"),
        pytest.param(" bob ", "bob", id="trimmed"),
        pytest.param(
            "system:serviceaccount:ci:release", "system:serviceaccount:ci:release", id="sa"
        ),
    ],
)
def test_approve_names_the_approver(approver: str, who: str) -> None:
    plan = plan_approval(MODEL, approver)
    assert plan.annotations == {Annotation.APPROVED_BY: who}
    assert plan.message == f"model fraud-2: approval of fraud 2 by {who} requested"


def approved_by(names: str) -> ModelResource:
    return MODEL.model_copy(
        update={
            "metadata": MODEL.metadata.model_copy(
                update={"annotations": {Annotation.APPROVED_BY: names}}
            )
        }
    )


@pytest.mark.parametrize(
    ("before", "approver", "after"),
    [
        pytest.param("alice", "bob", "alice,bob", id="appended"),
        pytest.param(" alice , carol ", "bob", "alice,carol,bob", id="others-kept-in-order"),
        pytest.param("", "bob", "bob", id="empty-annotation"),
    ],
)
def test_approve_appends_the_approver(before: str, approver: str, after: str) -> None:
    plan = plan_approval(approved_by(before), approver)
    assert plan.annotations == {Annotation.APPROVED_BY: after}


@pytest.mark.parametrize(
    ("before", "approver", "message"),
    [
        pytest.param(
            "alice,bob",
            "bob",
            "model fraud-2: approval of fraud 2 by bob is there already",
            id="twice",
        ),
        pytest.param(
            "",
            "o'neil,bob",
            'the approver "o\'neil,bob" has a comma, which separates approvers',
            id="comma",
        ),
    ],
)
def test_approve_refuses_what_the_list_cannot_hold(
    before: str, approver: str, message: str
) -> None:
    with pytest.raises(ControlError) as refused:
        plan_approval(approved_by(before), approver)
    assert str(refused.value) == message


@pytest.mark.parametrize(
    ("approver", "length"),
    [
        pytest.param("", 0, id="empty"),
        pytest.param("   ", 0, id="blank"),
        pytest.param("x" * 254, 254, id="longer-than-status-holds"),
    ],
)
def test_approve_refuses_an_approver_the_operator_cannot_record(approver: str, length: int) -> None:
    with pytest.raises(ControlError) as refused:
        plan_approval(MODEL, approver)
    assert str(refused.value) == f"the approver must be 1 to 253 characters, got {length}"


POLICY = RetrainPolicyResource.from_object(
    manifest(
        "RetrainPolicy",
        "fraud-weekly",
        {"model": {"name": "fraud"}, "workload": {"job": {"spec": {}}}},
        namespace="risk",
    )
)


def test_retrain_is_a_new_request_id_each_time() -> None:
    plan = plan_retrain(POLICY, NOW)
    assert plan.merge_patch() == {"metadata": {"annotations": {"modelkeeper.io/retrain": NOW_ID}}}
    assert plan.message == f"retrainpolicy fraud-weekly: retraining requested ({NOW_ID})"
    later = plan_retrain(POLICY, NOW + timedelta(microseconds=1))
    assert later.annotations[Annotation.RETRAIN] != NOW_ID
