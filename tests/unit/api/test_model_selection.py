"""Which version a Deployment serves: pinned, newest approved, never an unapproved one."""

from __future__ import annotations

import pytest

from modelkeeper.api.deployment import ModelSelector
from modelkeeper.api.model import ModelResource
from modelkeeper.api.selection import SelectionReason, select_model
from tests.unit.controller.factories import APPROVAL, T0, model

LATER_APPROVAL = {"by": "lead@example.com", "at": "2026-01-02T00:00:00Z"}
ANNOTATED = {
    "modelkeeper.io/approved-by": "ops@example.com,lead@example.com",
    "modelkeeper.io/created-by": "ds@example.com",
}
ONE_OF_TWO = {
    "modelkeeper.io/approved-by": "ops@example.com",
    "modelkeeper.io/created-by": "ds@example.com",
}
REJECTED = {"stage": "Rejected"}


@pytest.mark.parametrize(
    ("pinned", "versions", "served", "waiting", "reason"),
    [
        pytest.param(
            None,
            [model("1.0.0", approval=APPROVAL), model("1.1.0", approval=LATER_APPROVAL, created=5)],
            "1.1.0",
            None,
            SelectionReason.NEWEST_APPROVED,
            id="track-newest-approved",
        ),
        pytest.param(
            None,
            [model("2.0.0", approval=APPROVAL, created=5), model("1.0.0", approval=LATER_APPROVAL)],
            "1.0.0",
            None,
            SelectionReason.NEWEST_APPROVED,
            id="track-most-recently-approved-not-highest-version",
        ),
        pytest.param(
            None,
            [model("1.0.0", approval=APPROVAL), model("1.1.0", created=5)],
            "1.0.0",
            "1.1.0",
            SelectionReason.NEWEST_APPROVED,
            id="track-ignores-unapproved-newer-and-reports-it-waiting",
        ),
        pytest.param(
            None,
            [model("1.0.0", approval=APPROVAL), model("1.1.0", annotations=ANNOTATED, created=5)],
            "1.1.0",
            None,
            SelectionReason.NEWEST_APPROVED,
            id="track-approval-by-annotation",
        ),
        pytest.param(
            None,
            [
                model("1.0.0", approval=APPROVAL),
                model("1.1.0", annotations=ONE_OF_TWO, governance={}, created=5),
            ],
            "1.0.0",
            "1.1.0",
            SelectionReason.NEWEST_APPROVED,
            id="track-high-risk-with-one-approver-waits",
        ),
        pytest.param(
            None,
            [model("1.0.0", approval=APPROVAL), model("1.1.0", approval=APPROVAL, status=REJECTED)],
            "1.0.0",
            None,
            SelectionReason.NEWEST_APPROVED,
            id="track-skips-rejected",
        ),
        pytest.param(
            None,
            [model("1.0.0")],
            None,
            "1.0.0",
            SelectionReason.NOT_APPROVED,
            id="track-nothing-approved",
        ),
        pytest.param(
            None, [], None, None, SelectionReason.MODEL_NOT_FOUND, id="track-empty-family"
        ),
        pytest.param(
            "1.0.0",
            [model("1.0.0", approval=APPROVAL), model("1.1.0", approval=LATER_APPROVAL)],
            "1.0.0",
            None,
            SelectionReason.PINNED,
            id="pin-older-approved",
        ),
        pytest.param(
            "1.1.0",
            [model("1.0.0", approval=APPROVAL), model("1.1.0")],
            None,
            "1.1.0",
            SelectionReason.NOT_APPROVED,
            id="pin-unapproved",
        ),
        pytest.param(
            "9.9.9",
            [model("1.0.0", approval=APPROVAL)],
            None,
            None,
            SelectionReason.MODEL_NOT_FOUND,
            id="pin-missing",
        ),
    ],
)
def test_selection(
    pinned: str | None,
    versions: list[ModelResource],
    served: str | None,
    waiting: str | None,
    reason: SelectionReason,
) -> None:
    selection = select_model(ModelSelector(name="fraud", version=pinned), versions, T0)
    assert (selection.model.spec.version if selection.model else None) == served
    assert (selection.waiting.spec.version if selection.waiting else None) == waiting
    assert selection.reason is reason
    assert selection.message


def test_policy_approval_recorded_in_status_counts() -> None:
    approved_by_policy = model(
        "1.0.0",
        status={
            "approval": {"by": "fraud-policy", "at": "2026-01-01T00:00:00Z", "source": "Policy"}
        },
    )
    selection = select_model(ModelSelector(name="fraud"), [approved_by_policy], T0)
    assert selection.model is approved_by_policy


def test_withdrawn_annotation_unapproves() -> None:
    recorded = {"approval": {"by": "ops", "at": "2026-01-01T00:00:00Z", "source": "Annotation"}}
    withdrawn = model("1.0.0", status=recorded)
    selection = select_model(ModelSelector(name="fraud"), [withdrawn], T0)
    assert selection.model is None


FAILED_VALIDATION = {
    "conditions": [
        {
            "type": "Validated",
            "status": "False",
            "reason": "ValidationFailed",
            "message": "spec.artifact.uri: /m/2/model.joblib does not exist",
            "lastTransitionTime": "2026-01-01T00:00:00Z",
        }
    ]
}


@pytest.mark.parametrize(
    ("pinned", "versions", "served", "reason", "says"),
    [
        pytest.param(
            None,
            [model("1", approval=APPROVAL, status=FAILED_VALIDATION)],
            None,
            SelectionReason.NOT_VALIDATED,
            "failed validation: spec.artifact.uri",
            id="approved-but-invalid-is-not-served",
        ),
        pytest.param(
            None,
            [model("1", approval=APPROVAL, validated=False)],
            None,
            SelectionReason.NOT_VALIDATED,
            "is not validated yet",
            id="not-checked-yet-is-not-served",
        ),
        pytest.param(
            None,
            [
                model("1", approval=APPROVAL),
                model("2", approval=APPROVAL, created=5, status=FAILED_VALIDATION),
            ],
            "1",
            SelectionReason.NEWEST_APPROVED,
            "newest approved",
            id="an-invalid-newer-version-leaves-the-older-one",
        ),
        pytest.param(
            "2",
            [
                model("1", approval=APPROVAL),
                model("2", approval=APPROVAL, status=FAILED_VALIDATION),
            ],
            None,
            SelectionReason.NOT_VALIDATED,
            "fraud-2 failed validation",
            id="pinned-invalid",
        ),
    ],
)
def test_a_model_is_served_only_once_validated(
    pinned: str | None,
    versions: list[ModelResource],
    served: str | None,
    reason: SelectionReason,
    says: str,
) -> None:
    """Finding 1: on main, a Model with Validated=False was approved, rolled out and served."""
    selection = select_model(ModelSelector(name="fraud", version=pinned), versions, T0)
    assert (selection.model.spec.version if selection.model else None) == served
    assert selection.reason is reason
    assert says in selection.message
