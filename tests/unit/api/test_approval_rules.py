"""How many approvers each risk tier needs, whose approval counts, what a waiting version says."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from modelkeeper.api.approval import approval_state, approvers
from modelkeeper.api.model import ApprovalSource, ModelResource
from tests.unit.controller.factories import APPROVAL, T0, model

NOW = T0 + timedelta(hours=1)
EARLIER = T0 + timedelta(minutes=10)
CREATED_BY = "modelkeeper.io/created-by"
APPROVED_BY = "modelkeeper.io/approved-by"


def version(
    tier: str, approved_by: str | None, created_by: str | None, **extra: Any
) -> ModelResource:
    annotations = {
        key: value
        for key, value in ((APPROVED_BY, approved_by), (CREATED_BY, created_by))
        if value is not None
    }
    return model("2", annotations=annotations, governance={"riskTier": tier}, **extra)


@pytest.mark.parametrize(
    ("tier", "approved_by", "created_by", "approved", "needed"),
    [
        pytest.param("Low", None, None, False, "risk tier Low needs one approver", id="low-none"),
        pytest.param("Low", "carol", "carol", True, "", id="low-creator-counts"),
        pytest.param("Low", "alice", None, True, "", id="low-creator-unknown-is-fine"),
        pytest.param(
            "Medium",
            "carol",
            "carol",
            False,
            "risk tier Medium needs one approver other than its creator carol; "
            "approvers so far: none",
            id="medium-creator-alone-does-not-count",
        ),
        pytest.param("Medium", "carol,alice", "carol", True, "", id="medium-one-other"),
        pytest.param(
            "Medium",
            "alice",
            None,
            False,
            "risk tier Medium needs one approver other than its creator, and the creator is "
            "not recorded",
            id="medium-needs-the-creator-recorded",
        ),
        pytest.param(
            "High",
            "alice",
            "carol",
            False,
            "risk tier High needs 2 distinct approvers other than its creator carol; "
            "approvers so far: alice",
            id="high-one-approver-is-not-enough",
        ),
        pytest.param(
            "High",
            "alice, alice",
            "carol",
            False,
            "approvers so far: alice",
            id="high-the-same-person-twice-is-one",
        ),
        pytest.param(
            "High",
            "carol,alice",
            "carol",
            False,
            "approvers so far: alice",
            id="high-creator-does-not-count",
        ),
        pytest.param("High", "alice,bob", "carol", True, "", id="high-two-others"),
        pytest.param(
            "High",
            "alice,bob",
            None,
            False,
            "the creator is not recorded",
            id="high-needs-the-creator-recorded",
        ),
        pytest.param(
            "High",
            "alice,bob",
            "system:serviceaccount:modelkeeper-system:modelkeeper",
            True,
            "",
            id="high-retrained-by-the-operator",
        ),
        pytest.param("High", " , ", "carol", False, "approvers so far: none", id="blank-names"),
    ],
)
def test_each_tier_needs_its_approvers(
    tier: str, approved_by: str | None, created_by: str | None, approved: bool, needed: str
) -> None:
    state = approval_state(version(tier, approved_by, created_by), NOW)
    assert (state.approval is not None) is approved
    assert needed in state.needed
    assert bool(state.needed) is not approved


@pytest.mark.parametrize(
    ("tier", "source"),
    [
        pytest.param("High", ApprovalSource.MANIFEST, id="manifest-stands-for-its-review"),
        pytest.param("Low", ApprovalSource.MANIFEST, id="manifest-low"),
    ],
)
def test_a_manifest_approval_stands_at_every_tier(tier: str, source: ApprovalSource) -> None:
    state = approval_state(model("2", governance={"riskTier": tier, "approval": APPROVAL}), NOW)
    assert state.approval is not None
    assert state.approval.source is source
    assert state.approval.by == APPROVAL["by"]


def test_a_policy_approval_stands_until_people_approve_enough() -> None:
    policy = {"by": "retrainpolicy/nightly", "at": EARLIER.isoformat(), "source": "Policy"}
    state = approval_state(version("Medium", None, None, status={"approval": policy}), NOW)
    assert state.approval is not None
    assert state.approval.source is ApprovalSource.POLICY


def test_each_approver_keeps_the_time_first_seen_and_the_last_needed_one_decides() -> None:
    seen = {"by": "alice", "at": EARLIER.isoformat(), "source": "Annotation"}
    status = {"approvals": [seen]}
    state = approval_state(version("High", "alice,bob", "carol", status=status), NOW)
    assert [(r.by, r.at) for r in state.approvals] == [("alice", EARLIER), ("bob", NOW)]
    assert state.approval is not None
    assert (state.approval.by, state.approval.at) == ("bob", NOW)


@pytest.mark.parametrize(
    ("value", "names"),
    [
        pytest.param("alice", ["alice"], id="one"),
        pytest.param("alice,bob", ["alice", "bob"], id="two"),
        pytest.param(" alice , bob ,alice", ["alice", "bob"], id="trimmed-each-once"),
        pytest.param(",,", [], id="blank"),
        pytest.param(",".join(f"u{n}" for n in range(40)), [f"u{n}" for n in range(32)], id="cap"),
    ],
)
def test_the_annotation_is_a_list_of_names(value: str, names: list[str]) -> None:
    assert approvers({APPROVED_BY: value}) == names


def test_of_approvals_seen_in_one_second_the_later_in_order_completes_it() -> None:
    seen = [{"by": name, "at": EARLIER.isoformat(), "source": "Annotation"} for name in ("a", "b")]
    state = approval_state(version("High", "a,b", "carol", status={"approvals": seen}), NOW)
    assert state.approval is not None
    assert (state.approval.by, state.approval.at) == ("b", EARLIER)
