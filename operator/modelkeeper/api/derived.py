"""A family's next Model, as the operator makes it from an earlier version (pure).

Two paths make Models: a RetrainPolicy's finished run (`retrain.result`) and a Deployment
that follows a registry alias (`controller.follow`). Both name the Model the same way,
label it the same way, give it the earlier version's owner and risk tier (never its
approval: a new version is approved on its own), and approve it by the same rule of risk
tiers. That is written once, here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from modelkeeper.api.annotations import Annotation
from modelkeeper.api.base import API_VERSION
from modelkeeper.api.labels import FAMILY_LABEL, MANAGED_BY, MANAGER, Manifest, child_name
from modelkeeper.api.model import (
    ApprovalRecord,
    ApprovalSource,
    Governance,
    ModelResource,
    ModelSpec,
)
from modelkeeper.api.types import RiskTier

_RISK_RANK = {RiskTier.LOW: 0, RiskTier.MEDIUM: 1, RiskTier.HIGH: 2}


def model_name(family: str, version: str) -> str:
    """The name of a family's Model of a version: `<family>-<version>`, made a DNS label."""
    return child_name(family, version)


def inherited_governance(earlier: ModelResource | None) -> Governance:
    """The earlier version's owner and risk tier, without its approval."""
    governance = earlier.spec.governance if earlier is not None else Governance()
    return Governance(owner=governance.owner, risk_tier=governance.risk_tier)


def new_model(namespace: str | None, spec: ModelSpec, labels: Mapping[str, str]) -> Manifest:
    """The Model of `spec`, named by `model_name`, labelled as the operator's and its family's."""
    return {
        "apiVersion": API_VERSION,
        "kind": ModelResource.KIND,
        "metadata": {
            "name": model_name(spec.name, spec.version),
            "namespace": namespace,
            "labels": {MANAGED_BY: MANAGER, FAMILY_LABEL: spec.name, **labels},
        },
        "spec": spec.model_dump(mode="json", by_alias=True, exclude_none=True),
    }


def auto_approval(
    limit: RiskTier | None, risk_tier: RiskTier, by: str, now: datetime
) -> ApprovalRecord | None:
    """An approval by `by` (source Policy) when the risk tier is at most `limit`; None when
    there is no limit or the tier is above it, so that a person approves."""
    if limit is None or _RISK_RANK[risk_tier] > _RISK_RANK[limit]:
        return None
    return ApprovalRecord(by=by, at=now, source=ApprovalSource.POLICY)


def created_by(manifest: Manifest, user: str | None) -> Manifest:
    """The Model annotated with its creator, the operator's own user name (the admission
    policy checks it against who creates); as it is when the server cannot say who that is."""
    if user is None:
        return manifest
    metadata = {**manifest["metadata"], "annotations": {Annotation.CREATED_BY: user}}
    return {**manifest, "metadata": metadata}
