"""A model family with a history to audit: the objects `kubectl modelkeeper audit` reads.

Version 1 of diabetes was made by hand and approved in its manifest; version 2 was retrained
on drift, passed the gate and its fairness bounds, was approved by the policy and promoted;
version 3 was retrained by hand and refused for unfair decisions, though a person annotated an
approval. The statuses are what the operator would have written. The unit tests parse these
objects; the plugin's integration test applies them to a real API server.
"""

from __future__ import annotations

from typing import Any

from tests.support import objects

FAMILY = "diabetes"
POLICY = "diabetes-retrain"
ROOT = "file:///var/lib/modelkeeper/artifacts/diabetes"
DRIFT_RUN = "drift-20261126-120300"
MANUAL_RUN = "manual-20261127-090000"
DRIFT_REASON = "monitor diabetes-inputs Drifted since 2026-11-26T12:02:10Z (held 50s, for 0s)"
SCHEMA = {
    "inputs": [{"name": name, "type": "Numeric"} for name in ("age", "sex", "bmi")],
    "output": {"type": "Regression"},
}
TRAINER = "ghcr.io/modelkeeper/modelkeeper:0.1.0"
TRAINER_DIGEST = "sha256:" + "7" * 64


def _artifact(version: str, digest: str) -> dict[str, Any]:
    return {"uri": f"{ROOT}/{version}/model.joblib", "sha256": digest * 64, "format": "sklearn"}


def _lineage(version: str, run: str, **run_fields: Any) -> dict[str, Any]:
    return {
        "trainingData": [{"uri": f"{ROOT}/{version}/training.csv", "sha256": "d" * 64}],
        "holdout": {"uri": f"{ROOT}/{version}/holdout.csv", "sha256": "e" * 64},
        "codeImage": TRAINER,
        "codeImageDigest": TRAINER_DIGEST,
        "parameters": {"alpha": "0.1", "estimator": "Ridge", "seed": "0"},
        "parentVersion": "1",
        "retrainingRun": {"policy": POLICY, "run": run, **run_fields},
    }


def _fairness(parity: float, passed: bool, message: str) -> dict[str, Any]:
    return {
        "attribute": "sex",
        "positive": "prediction >= 139",
        "demographicParityDifference": parity,
        "equalOpportunityDifference": 0.054147,
        "maxDemographicParityDifference": 0.1,
        "maxEqualOpportunityDifference": 0.1,
        "passed": passed,
        "message": message,
    }


def models() -> list[dict[str, Any]]:
    """The three versions, with their statuses (and one Model of another family)."""
    first = objects.model(
        "diabetes-1",
        FAMILY,
        "1",
        artifact=_artifact("1", "a"),
        schema=SCHEMA,
        metrics={"r2": 0.369025},
        governance={"owner": "diabetes-team", "riskTier": "Low", "approval": objects.APPROVAL},
    )
    first["status"] = {
        "stage": "Retired",
        "approved": True,
        "approval": {**objects.APPROVAL, "source": "Manifest"},
    }
    second = objects.model(
        "diabetes-2",
        FAMILY,
        "2",
        artifact=_artifact("2", "b"),
        schema=SCHEMA,
        metrics={"mae": 44.6461, "r2": 0.369025},
        lineage=_lineage("2", DRIFT_RUN, trigger="Drift", reason=DRIFT_REASON),
        governance={"owner": "diabetes-team", "riskTier": "Low"},
    )
    second["status"] = {
        "stage": "Production",
        "approved": True,
        "approval": {
            "by": f"retrainpolicy/{POLICY}",
            "at": "2026-11-26T12:04:00Z",
            "source": "Policy",
        },
        "evaluation": {
            "metric": "r2",
            "value": 0.369025,
            "champion": "1",
            "championValue": -3.061331,
            "holdout": {"uri": f"{ROOT}/2/holdout.csv", "sha256": "e" * 64},
            "fairness": _fairness(
                0.063492,
                True,
                "fairness over sex (prediction >= 139): demographic parity difference "
                "0.063492 <= 0.1, equal opportunity difference 0.054147 <= 0.1",
            ),
            "passed": True,
            "message": "r2 0.369025 against the champion's -3.06133 on the same holdout "
            "holdout.csv (sha256 eeeeeeeeeeee): improvement 3.43036 >= the required 0 "
            "(HigherIsBetter)",
        },
        "servedBy": [{"deployment": FAMILY, "role": "Stable"}],
    }
    third = objects.model(
        "diabetes-3",
        FAMILY,
        "3",
        artifact=_artifact("3", "c"),
        schema=SCHEMA,
        metrics={"r2": 0.41},
        lineage=_lineage("3", MANUAL_RUN),
        governance={"owner": "diabetes-team", "riskTier": "Low"},
    )
    third["metadata"]["annotations"] = {"modelkeeper.io/approved-by": "jane@example.com"}
    third["status"] = {
        "stage": "Rejected",
        "approved": False,
        "evaluation": {
            "metric": "r2",
            "value": 0.41,
            "champion": "2",
            "championValue": 0.369025,
            "holdout": {"uri": f"{ROOT}/3/holdout.csv", "sha256": "f" * 64},
            "fairness": _fairness(
                0.31,
                False,
                "fairness over sex (prediction >= 139): demographic parity difference 0.31 > "
                "0.1, equal opportunity difference 0.054147 <= 0.1",
            ),
            "passed": False,
            "message": "r2 0.41 against the champion's 0.369025 on the same holdout "
            "holdout.csv (sha256 ffffffffffff): improvement 0.040975 >= the required 0 "
            "(HigherIsBetter); fairness over sex (prediction >= 139): demographic parity "
            "difference 0.31 > 0.1, equal opportunity difference 0.054147 <= 0.1",
        },
    }
    other = objects.model("fraud-1", "fraud", "1", image="registry.example.com/fraud:1")
    return [first, second, third, other]


def policy() -> dict[str, Any]:
    """The RetrainPolicy, remembering both runs."""
    manifest = objects.retrain_policy(
        POLICY,
        FAMILY,
        workload={
            "job": {
                "spec": {
                    "template": {"spec": {"containers": [{"name": "train", "image": TRAINER}]}}
                }
            }
        },
    )
    manifest["status"] = {
        "history": [
            {
                "name": MANUAL_RUN,
                "trigger": "Manual",
                "reason": "manual request 'request-1'",
                "startTime": "2026-11-27T09:00:00Z",
                "completionTime": "2026-11-27T09:01:30Z",
                "outcome": "Rejected",
                "model": "diabetes-3",
            },
            {
                "name": DRIFT_RUN,
                "trigger": "Drift",
                "reason": DRIFT_REASON,
                "startTime": "2026-11-26T12:03:00Z",
                "completionTime": "2026-11-26T12:03:55Z",
                "outcome": "Succeeded",
                "model": "diabetes-2",
            },
        ]
    }
    return manifest


def deployment() -> dict[str, Any]:
    """The Deployment that promoted version 2 after rolling back an earlier try."""
    manifest = objects.deployment(FAMILY, FAMILY)
    manifest["status"] = {
        "stable": {"version": "2", "model": "diabetes-2"},
        "history": [
            {
                "version": "2",
                "outcome": "Promoted",
                "started": "2026-11-26T12:05:00Z",
                "finished": "2026-11-26T12:06:10Z",
                "reason": "every canary step passed its analysis",
            },
            {
                "version": "2",
                "outcome": "RolledBack",
                "started": "2026-11-26T12:04:05Z",
                "finished": "2026-11-26T12:04:40Z",
                "reason": "analysis failed: error-rate 0.2 > 0.05",
            },
        ],
    }
    return manifest


def events() -> list[dict[str, Any]]:
    """Events about the Models (and one about the Deployment, which the record leaves out)."""

    def event(kind: str, name: str, reason: str, message: str, at: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{name}.{reason.lower()}"},
            "involvedObject": {"apiVersion": objects.API_VERSION, "kind": kind, "name": name},
            "type": "Normal",
            "reason": reason,
            "message": message,
            "firstTimestamp": at,
            "lastTimestamp": at,
            "count": 1,
        }

    return [
        event(
            "Model",
            "diabetes-2",
            "Approved",
            f"approved by retrainpolicy/{POLICY}",
            "2026-11-26T12:04:00Z",
        ),
        event("Deployment", FAMILY, "Promoted", "version 2 promoted", "2026-11-26T12:06:10Z"),
        event("Model", "fraud-1", "Approved", "approved by someone", "2026-11-26T12:00:00Z"),
    ]
