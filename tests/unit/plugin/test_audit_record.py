"""The audit record of a family from fixed objects, and its three renderings as golden files.

MODELKEEPER_UPDATE_GOLDEN=1 rewrites the golden files (tests/unit/plugin/golden/).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from modelkeeper.api.deployment import DeploymentResource
from modelkeeper.api.model import ModelResource
from modelkeeper.api.retrainpolicy import RetrainPolicyResource
from modelkeeper.plugin.audit import FamilyAudit, audit_record
from modelkeeper.plugin.modelcard import AuditFormat, show_audit
from tests.support import auditfamily

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
GOLDEN = Path(__file__).parent / "golden"
CREATED = {
    "diabetes-1": "2026-11-20T10:00:00Z",
    "diabetes-2": "2026-11-26T12:03:55Z",
    "diabetes-3": "2026-11-27T09:01:30Z",
    "fraud-1": "2026-11-01T00:00:00Z",
}


def record() -> FamilyAudit:
    models = []
    for manifest in auditfamily.models():
        manifest["metadata"].update(
            namespace="demo", creationTimestamp=CREATED[manifest["metadata"]["name"]]
        )
        models.append(ModelResource.from_object(manifest))
    # Stored out of order on purpose: the record orders versions by creation.
    models.reverse()
    return audit_record(
        auditfamily.FAMILY,
        "demo",
        models,
        [RetrainPolicyResource.from_object(auditfamily.policy())],
        [DeploymentResource.from_object(auditfamily.deployment())],
        auditfamily.events(),
        NOW,
    )


def _version(version: str) -> dict[str, Any]:
    found = next(v for v in record().versions if v.version == version)
    dumped: dict[str, Any] = found.model_dump(mode="json", by_alias=True)
    return dumped


def test_versions_of_the_family_only_oldest_first() -> None:
    assert [(v.version, v.model) for v in record().versions] == [
        ("1", "diabetes-1"),
        ("2", "diabetes-2"),
        ("3", "diabetes-3"),
    ]


@pytest.mark.parametrize(
    ("version", "field", "expected"),
    [
        pytest.param("1", "trigger", None, id="made-by-hand-has-no-trigger"),
        pytest.param(
            "1",
            "approvals",
            [{"by": "lead@example.com", "at": "2026-01-01T00:00:00Z", "source": "Manifest"}],
            id="manifest-approval-once",
        ),
        pytest.param(
            "2",
            "trigger",
            {
                "policy": "diabetes-retrain",
                "run": auditfamily.DRIFT_RUN,
                "trigger": "Drift",
                "reason": auditfamily.DRIFT_REASON,
                "started": "2026-11-26T12:03:00Z",
                "finished": "2026-11-26T12:03:55Z",
                "outcome": "Succeeded",
            },
            id="trigger-evidence-from-lineage-times-from-the-policy",
        ),
        pytest.param(
            "3",
            "trigger",
            {
                "policy": "diabetes-retrain",
                "run": auditfamily.MANUAL_RUN,
                "trigger": "Manual",
                "reason": "manual request 'request-1'",
                "started": "2026-11-27T09:00:00Z",
                "finished": "2026-11-27T09:01:30Z",
                "outcome": "Rejected",
            },
            id="older-lineage-without-trigger-read-from-the-policy",
        ),
        pytest.param(
            "2",
            "approvals",
            [
                {
                    "by": "retrainpolicy/diabetes-retrain",
                    "at": "2026-11-26T12:04:00Z",
                    "source": "Policy",
                }
            ],
            id="policy-approval",
        ),
        pytest.param(
            "3",
            "approvals",
            [{"by": "jane@example.com", "at": None, "source": "Annotation"}],
            id="annotation-not-acted-on",
        ),
        pytest.param(
            "2",
            "rollouts",
            [
                {
                    "deployment": "diabetes",
                    "outcome": "RolledBack",
                    "started": "2026-11-26T12:04:05Z",
                    "finished": "2026-11-26T12:04:40Z",
                    "reason": "analysis failed: error-rate 0.2 > 0.05",
                },
                {
                    "deployment": "diabetes",
                    "outcome": "Promoted",
                    "started": "2026-11-26T12:05:00Z",
                    "finished": "2026-11-26T12:06:10Z",
                    "reason": "every canary step passed its analysis",
                },
            ],
            id="rollouts-oldest-first",
        ),
        pytest.param("3", "rollouts", [], id="never-rolled-out"),
        pytest.param(
            "2",
            "events",
            [
                {
                    "time": "2026-11-26T12:04:00Z",
                    "type": "Normal",
                    "reason": "Approved",
                    "message": "approved by retrainpolicy/diabetes-retrain",
                }
            ],
            id="events-about-its-model-only",
        ),
        pytest.param(
            "3",
            "lineage",
            {
                "trainingData": [{"uri": f"{auditfamily.ROOT}/3/training.csv", "sha256": "d" * 64}],
                "holdout": {"uri": f"{auditfamily.ROOT}/3/holdout.csv", "sha256": "e" * 64},
                "codeImage": auditfamily.TRAINER,
                "codeImageDigest": auditfamily.TRAINER_DIGEST,
                "parameters": {"alpha": "0.1", "estimator": "Ridge", "seed": "0"},
                "parentVersion": "1",
                "retrainingRun": {
                    "policy": "diabetes-retrain",
                    "run": auditfamily.MANUAL_RUN,
                    "trigger": None,
                    "reason": "",
                },
                "registry": None,
            },
            id="lineage-as-recorded",
        ),
    ],
)
def test_what_each_version_records(version: str, field: str, expected: Any) -> None:
    assert _version(version)[field] == expected


def test_the_verdicts_are_the_models_evaluation() -> None:
    evaluation = _version("3")["evaluation"]

    assert (evaluation["passed"], evaluation["championValue"]) == (False, 0.369025)
    assert evaluation["fairness"]["demographicParityDifference"] == 0.31
    assert evaluation["fairness"]["passed"] is False


@pytest.mark.parametrize(
    ("output", "golden"),
    [
        pytest.param(None, "audit-table.txt", id="table"),
        pytest.param(AuditFormat.JSON, "audit.json", id="json"),
        pytest.param(AuditFormat.MARKDOWN, "audit-model-card.md", id="markdown"),
    ],
)
def test_renderings_match_their_golden_files(output: AuditFormat | None, golden: str) -> None:
    rendered = show_audit(record(), output, None) + "\n"
    path = GOLDEN / golden
    if os.environ.get("MODELKEEPER_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(rendered)
    assert path.read_text() == rendered, f"{path} is stale: rerun with MODELKEEPER_UPDATE_GOLDEN=1"


def test_a_family_without_versions_says_so() -> None:
    empty = audit_record("churn", "demo", [], [], [], [], NOW)

    assert show_audit(empty, None, None) == "no Models of family churn in namespace demo"
    assert "No versions." in show_audit(empty, AuditFormat.MARKDOWN, None)
