"""Who approved a Model version, and whether that is enough for its risk tier.

Pure. A version is approved in one of three ways (docs/approvals.md):

- `spec.governance.approval`: an approval given outside the cluster (a reviewed pull
  request) and written into the manifest. It stands for the review it records, at every
  tier; the API server cannot authenticate it, so its source stays Manifest for an auditor.
- `modelkeeper.io/approved-by`: the user names of the people who approved in the
  cluster, comma-separated. The chart's admission policy lets a request add or remove
  only its own user name, so every name is one the API server authenticated. The creator
  is `modelkeeper.io/created-by`, which the policy lets only the creating user set, and
  only at creation. The tier decides what counts:

  | tier   | approvers needed | the creator's own approval |
  |--------|------------------|----------------------------|
  | Low    | 1                | counts                     |
  | Medium | 1                | does not count             |
  | High   | 2, distinct      | does not count             |

  Medium and High need the creator recorded: without it, a creator could approve their
  own version by leaving the annotation out.
- A RetrainPolicy's auto-approval, or a followed alias's (status.approval with source
  Policy), for the tiers its `autoApproveUpTo` allows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from modelkeeper.api.annotations import Annotation
from modelkeeper.api.model import MAX_APPROVERS, ApprovalRecord, ApprovalSource, ModelResource
from modelkeeper.api.types import RiskTier

APPROVAL_NEEDED = "ApprovalNeeded"
"""The reason of a Model's Approved condition, and of its Event, while more is needed."""

NEEDED: dict[RiskTier, int] = {RiskTier.LOW: 1, RiskTier.MEDIUM: 1, RiskTier.HIGH: 2}
"""Distinct approvers each tier needs by annotation."""

CREATOR_EXCLUDED = frozenset({RiskTier.MEDIUM, RiskTier.HIGH})
"""The tiers whose creator's own approval does not count."""


@dataclass(frozen=True)
class ApprovalState:
    """The approval in force (None while more is needed), every annotation approval with
    when it was first seen, and what is missing."""

    approval: ApprovalRecord | None
    approvals: list[ApprovalRecord]
    needed: str


def approvers(annotations: Mapping[str, str]) -> list[str]:
    """The user names in `modelkeeper.io/approved-by`, in order, each once."""
    names = (name.strip() for name in annotations.get(Annotation.APPROVED_BY, "").split(","))
    unique = list(dict.fromkeys(name for name in names if name))
    return unique[:MAX_APPROVERS]


def creator(annotations: Mapping[str, str]) -> str | None:
    """The user name in `modelkeeper.io/created-by`, if any."""
    return annotations.get(Annotation.CREATED_BY, "").strip() or None


def _dated(names: Sequence[str], model: ModelResource, now: datetime) -> list[ApprovalRecord]:
    """Each approver with the time the operator first saw their name (now, when new)."""
    seen = {
        record.by: record.at
        for record in (*model.status.approvals, model.status.approval)
        if record is not None and record.source is ApprovalSource.ANNOTATION
    }
    return [
        ApprovalRecord(by=name, at=seen.get(name, now), source=ApprovalSource.ANNOTATION)
        for name in names
    ]


def _shortfall(tier: RiskTier, made_by: str | None, counted: Sequence[ApprovalRecord]) -> str:
    """What a tier still needs, in words a person can act on."""
    needed = NEEDED[tier]
    people = "one approver" if needed == 1 else f"{needed} distinct approvers"
    if tier not in CREATOR_EXCLUDED:
        return (
            f"risk tier {tier} needs {people}: run `kubectl modelkeeper approve`, which adds "
            f"your user name to {Annotation.APPROVED_BY}, or set spec.governance.approval"
        )
    if made_by is None:
        return (
            f"risk tier {tier} needs {people} other than its creator, and the creator is not "
            f"recorded: create the version with {Annotation.CREATED_BY} naming your user name, "
            "or set spec.governance.approval"
        )
    so_far = ", ".join(record.by for record in counted) or "none"
    return (
        f"risk tier {tier} needs {people} other than its creator {made_by}; "
        f"approvers so far: {so_far}"
    )


def approval_state(model: ModelResource, now: datetime) -> ApprovalState:
    """Whether the version is approved now, by whom, and otherwise what is missing."""
    governance = model.spec.governance
    annotations = model.metadata.annotations
    dated = _dated(approvers(annotations), model, now)
    if governance.approval is not None:
        manifest = ApprovalRecord(
            by=governance.approval.by, at=governance.approval.at, source=ApprovalSource.MANIFEST
        )
        return ApprovalState(manifest, dated, "")
    tier = governance.risk_tier
    made_by = creator(annotations)
    excluded = tier in CREATOR_EXCLUDED
    counted = [r for r in dated if not excluded or (made_by is not None and r.by != made_by)]
    needed = NEEDED[tier]
    if len(counted) >= needed:
        # In force from the approval that completed it: the latest of the first `needed`,
        # and of approvals seen in one second, the later in the annotation's order.
        completing = max(reversed(counted[:needed]), key=lambda r: r.at)
        return ApprovalState(completing, dated, "")
    recorded = model.status.approval
    if recorded is not None and recorded.source is ApprovalSource.POLICY:
        return ApprovalState(recorded, dated, "")
    return ApprovalState(None, dated, _shortfall(tier, made_by, counted))
