"""The Argo CD health scripts of the four kinds, run by the real Lua interpreter.

Each object carries a status built with the project's status models, as the operator writes
it, so the scripts read real shapes; the table says which Argo CD health each state maps to.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from modelkeeper.api.conditions import Condition, ConditionStatus, ConditionType
from modelkeeper.api.deployment import (
    Candidate,
    DeploymentStatus,
    Phase,
    VersionStatus,
)
from modelkeeper.api.driftmonitor import (
    DriftMonitorConditionType,
    DriftMonitorStatus,
    DriftState,
)
from modelkeeper.api.model import GateResult, ModelConditionType, ModelStatus, Stage
from modelkeeper.api.retrainpolicy import (
    RetrainPolicyConditionType,
    RetrainPolicyStatus,
    Run,
    RunOutcome,
    TriggerKind,
)
from modelkeeper.api.types import ServingRole
from tests.integration.argocd.argocd_harness import Health, health
from tests.support.objects import manifest

AT = datetime(2026, 11, 26, 23, 0, tzinfo=UTC)
WAITING = Health("Progressing", "waiting for the operator")
STABLE = VersionStatus(version="1", model="fraud-1", replicas=2, ready_replicas=2)
CANARY = Candidate(version="2", model="fraud-2", role=ServingRole.CANARY, since=AT)


def condition(
    kind: ConditionType, status: ConditionStatus, reason: str, message: str = ""
) -> Condition[ConditionType]:
    return Condition[Any](
        type=kind, status=status, reason=reason, message=message, last_transition_time=AT
    )


def run(name: str, outcome: RunOutcome, message: str = "") -> Run:
    return Run(
        name=name, trigger=TriggerKind.DRIFT, start_time=AT, outcome=outcome, message=message
    )


READY = condition(RetrainPolicyConditionType.READY, ConditionStatus.TRUE, "Ready")


def obj(kind: str, status: BaseModel | None, generation: int = 1) -> dict[str, Any]:
    """The object as Argo CD sees it: JSON, status as the operator's model dumps it."""
    found = manifest(kind, "fraud", {}, namespace="risk", generation=generation)
    if status is not None:
        found["status"] = status.model_dump(mode="json", by_alias=True, exclude_none=True)
    return found


CASES = [
    # Deployment: Paused is Suspended, Degraded and Aborted are Degraded.
    pytest.param("Deployment", None, 1, WAITING, id="deployment-no-status"),
    pytest.param("Deployment", DeploymentStatus(), 1, WAITING, id="deployment-no-phase"),
    pytest.param(
        "Deployment",
        DeploymentStatus(phase=Phase.PENDING, message="no approved version of fraud"),
        1,
        Health("Progressing", "no approved version of fraud"),
        id="deployment-pending",
    ),
    pytest.param(
        "Deployment",
        DeploymentStatus(
            phase=Phase.PROGRESSING,
            message="version 2: step 1, weight 10",
            stable=STABLE,
            candidate=CANARY,
            weight=10,
            step=1,
        ),
        1,
        Health("Progressing", "version 2: step 1, weight 10"),
        id="deployment-progressing",
    ),
    pytest.param(
        "Deployment",
        DeploymentStatus(
            phase=Phase.PAUSED,
            message="paused at step 1 until promoted",
            stable=STABLE,
            candidate=CANARY,
        ),
        1,
        Health("Suspended", "paused at step 1 until promoted"),
        id="deployment-paused",
    ),
    pytest.param(
        "Deployment",
        DeploymentStatus(phase=Phase.HEALTHY, stable=STABLE, observed_generation=3),
        3,
        Health("Healthy", "Healthy"),
        id="deployment-healthy-without-message",
    ),
    pytest.param(
        "Deployment",
        DeploymentStatus(phase=Phase.HEALTHY, stable=STABLE, observed_generation=2),
        3,
        Health("Progressing", "waiting for the operator to observe generation 3"),
        id="deployment-new-generation-not-yet-seen",
    ),
    pytest.param(
        "Deployment",
        DeploymentStatus(phase=Phase.DEGRADED, message="1 of 2 stable servers ready"),
        1,
        Health("Degraded", "1 of 2 stable servers ready"),
        id="deployment-degraded",
    ),
    pytest.param(
        "Deployment",
        DeploymentStatus(phase=Phase.ABORTED, message="rolled back 2: error-rate 0.2"),
        1,
        Health("Degraded", "rolled back 2: error-rate 0.2"),
        id="deployment-aborted",
    ),
    # Model: Rejected is Degraded, as is a version that failed validation.
    pytest.param("Model", None, 1, WAITING, id="model-no-status"),
    pytest.param(
        "Model",
        ModelStatus(stage=Stage.REGISTERED, approved=False),
        1,
        Health("Healthy", "Registered, not approved"),
        id="model-registered",
    ),
    pytest.param(
        "Model",
        ModelStatus(stage=Stage.EVALUATING),
        1,
        Health("Progressing", "Evaluating"),
        id="model-evaluating",
    ),
    pytest.param(
        "Model",
        ModelStatus(
            stage=Stage.REJECTED,
            evaluation=GateResult(
                metric="auc", value=0.8, passed=False, message="auc 0.8 below 0.91 + 0.01"
            ),
        ),
        1,
        Health("Degraded", "Rejected: auc 0.8 below 0.91 + 0.01"),
        id="model-rejected",
    ),
    pytest.param(
        "Model",
        ModelStatus(stage=Stage.PRODUCTION, approved=True),
        1,
        Health("Healthy", "Production"),
        id="model-production",
    ),
    pytest.param(
        "Model",
        ModelStatus(
            stage=Stage.REGISTERED,
            conditions=[
                condition(ModelConditionType.VALIDATED, ConditionStatus.FALSE, "DigestMismatch")
            ],
        ),
        1,
        Health("Degraded", "not validated: DigestMismatch"),
        id="model-not-validated",
    ),
    # DriftMonitor: Drifted and Unknown (nothing could be read) are Degraded; Warning is Healthy.
    pytest.param("DriftMonitor", None, 1, WAITING, id="drift-no-status"),
    pytest.param(
        "DriftMonitor",
        DriftMonitorStatus(state=DriftState.OK),
        1,
        Health("Healthy", "OK"),
        id="drift-ok",
    ),
    pytest.param(
        "DriftMonitor",
        DriftMonitorStatus(state=DriftState.WARNING, message="amount PSI 0.15"),
        1,
        Health("Healthy", "Warning: amount PSI 0.15"),
        id="drift-warning",
    ),
    pytest.param(
        "DriftMonitor",
        DriftMonitorStatus(state=DriftState.DRIFTED, message="amount PSI 0.31"),
        1,
        Health("Degraded", "Drifted: amount PSI 0.31"),
        id="drift-drifted",
    ),
    pytest.param(
        "DriftMonitor",
        DriftMonitorStatus(state=DriftState.INSUFFICIENT_DATA),
        1,
        Health("Progressing", "InsufficientData"),
        id="drift-insufficient-data",
    ),
    pytest.param(
        "DriftMonitor",
        DriftMonitorStatus(state=DriftState.UNKNOWN, message="Prometheus unreachable"),
        1,
        Health("Degraded", "Unknown: Prometheus unreachable"),
        id="drift-unknown",
    ),
    pytest.param(
        "DriftMonitor",
        DriftMonitorStatus(
            state=DriftState.OK,
            conditions=[
                condition(
                    DriftMonitorConditionType.PERFORMANCE_DEGRADED,
                    ConditionStatus.TRUE,
                    "BelowBound",
                    "accuracy 0.81 below 0.85",
                )
            ],
        ),
        1,
        Health("Degraded", "performance degraded: accuracy 0.81 below 0.85"),
        id="drift-performance-degraded",
    ),
    # RetrainPolicy: a failed latest run is Degraded; a rejected one is the gate working.
    pytest.param("RetrainPolicy", None, 1, WAITING, id="retrain-no-status"),
    pytest.param("RetrainPolicy", RetrainPolicyStatus(), 1, WAITING, id="retrain-not-judged"),
    pytest.param(
        "RetrainPolicy",
        RetrainPolicyStatus(
            conditions=[
                condition(
                    RetrainPolicyConditionType.READY,
                    ConditionStatus.FALSE,
                    "MonitorNotFound",
                    "DriftMonitor fraud not found",
                )
            ]
        ),
        1,
        Health("Degraded", "not ready: DriftMonitor fraud not found"),
        id="retrain-not-ready",
    ),
    pytest.param(
        "RetrainPolicy",
        RetrainPolicyStatus(conditions=[READY]),
        1,
        Health("Healthy", "no runs yet"),
        id="retrain-no-runs",
    ),
    pytest.param(
        "RetrainPolicy",
        RetrainPolicyStatus(
            conditions=[READY],
            active=[run("fraud-3", RunOutcome.RUNNING)],
            history=[run("fraud-2", RunOutcome.FAILED)],
        ),
        1,
        Health("Progressing", "run fraud-3 is running"),
        id="retrain-running",
    ),
    pytest.param(
        "RetrainPolicy",
        RetrainPolicyStatus(
            conditions=[READY],
            history=[
                run("fraud-2", RunOutcome.FAILED, "Job failed: BackoffLimitExceeded"),
                run("fraud-1", RunOutcome.SUCCEEDED),
            ],
        ),
        1,
        Health("Degraded", "run fraud-2 failed: Job failed: BackoffLimitExceeded"),
        id="retrain-latest-failed",
    ),
    pytest.param(
        "RetrainPolicy",
        RetrainPolicyStatus(
            conditions=[READY],
            history=[run("fraud-2", RunOutcome.REJECTED), run("fraud-1", RunOutcome.FAILED)],
        ),
        1,
        Health("Healthy", "last run fraud-2: Rejected"),
        id="retrain-latest-rejected",
    ),
]


@pytest.mark.parametrize(("kind", "status", "generation", "expected"), CASES)
def test_health_of_each_state(
    kind: str, status: BaseModel | None, generation: int, expected: Health, tmp_path: Path
) -> None:
    assert health(kind, obj(kind, status, generation), tmp_path) == expected
