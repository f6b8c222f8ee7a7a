"""A run's workload: built from the policy (golden YAML), and read back for its state and result.

MODELKEEPER_UPDATE_GOLDEN=1 rewrites the golden files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelkeeper.api.retrainpolicy import RetrainPolicyResource, TriggerKind
from modelkeeper.retrain.workload import (
    RunPlan,
    WorkloadState,
    build_workload,
    code_image,
    failure_message,
    next_version,
    observe,
    output_uri,
    result_container,
    run_name,
)
from tests.unit.retrain.factories import T0, model, policy

GOLDEN = Path(__file__).parent / "golden"
CHAMPION = model(
    "7",
    image=None,
    artifact={"uri": "s3://models/fraud/7/model.joblib", "format": "sklearn"},
    metrics={"auc": 0.91},
)
PLAN = RunPlan(
    run=run_name(TriggerKind.DRIFT, T0),
    version="8",
    trigger=TriggerKind.DRIFT,
    reason="monitor fraud-inputs Drifted since 2026-01-01T11:00:00Z (held 1h, for 30m)",
    output_uri=output_uri("file:///var/lib/modelkeeper/artifacts/", "fraud", "8"),
    champion=CHAMPION,
)
PYTORCH_JOB = {
    "apiVersion": "kubeflow.org/v1",
    "kind": "PyTorchJob",
    "metadata": {"labels": {"team": "risk"}},
    "spec": {
        "pytorchReplicaSpecs": {
            "Master": {
                "replicas": 1,
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "pytorch",
                                "image": "registry.example.com/torch-trainer:2",
                                "env": [{"name": "MODELKEEPER_RUN", "value": "overridden"}],
                            }
                        ]
                    }
                },
            }
        }
    },
}
RAW = {
    "resource": {
        "object": PYTORCH_JOB,
        "success": {"conditionType": "Succeeded"},
        "failure": {"conditionType": "Failed"},
    }
}
FIELD_RAW = {
    "resource": {
        "object": PYTORCH_JOB,
        "success": {"fieldPath": "status.jobStatus", "values": ["SUCCEEDED"]},
        "failure": {"fieldPath": "status.jobStatus", "values": ["FAILED", "STOPPED"]},
    }
}
CASES = {
    "job-with-champion": (policy(), PLAN),
    "job-template-keeps-its-own-settings": (
        policy(
            workload={
                "job": {
                    "metadata": {"labels": {"team": "risk"}, "annotations": {"a": "b"}},
                    "spec": {
                        "backoffLimit": 2,
                        "activeDeadlineSeconds": 3600,
                        "template": {
                            "spec": {
                                "restartPolicy": "OnFailure",
                                "containers": [
                                    {
                                        "name": "train",
                                        "image": "registry.example.com/t:1",
                                        "terminationMessagePolicy": "File",
                                    }
                                ],
                            }
                        },
                    },
                }
            }
        ),
        RunPlan("manual-20260101-120000", "1", TriggerKind.MANUAL, "manual request 'x'", "", None),
    ),
    "raw-pytorchjob": (policy(workload=RAW), PLAN),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_workload_matches_golden(name: str) -> None:
    built = build_workload(*CASES[name])

    rendered = yaml.safe_dump(built, sort_keys=True)
    path = GOLDEN / f"{name}.yaml"
    if os.environ.get("MODELKEEPER_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(rendered)
    assert path.read_text() == rendered, f"{path} is stale: rerun with MODELKEEPER_UPDATE_GOLDEN=1"


def test_a_long_policy_name_still_makes_a_dns_label() -> None:
    long = policy().model_copy(
        update={"metadata": policy().metadata.model_copy(update={"name": "a" * 63})}
    )

    name = build_workload(long, PLAN)["metadata"]["name"]

    assert len(name) <= 63
    assert name.startswith("a" * 40)


@pytest.mark.parametrize(
    ("taken", "champion", "expected"),
    [
        pytest.param(set(), None, "1", id="first-version-of-a-family"),
        pytest.param({"1", "2", "10"}, "2", "11", id="one-more-than-the-highest-integer"),
        pytest.param({"1", "2", "3"}, "2", "4", id="integer-versions-reserved-by-runs-count"),
        pytest.param({"1.4.0"}, "1.4.0", "1.4.0-r1", id="champion-with-a-retrain-suffix"),
        pytest.param(
            {"1.4.0", "1.4.0-r1", "1.4.0-r2"}, "1.4.0-r1", "1.4.0-r3", id="suffix-not-stacked"
        ),
        pytest.param({"v" * 63}, "v" * 63, "v" * 56 + "-r1", id="long-champion-still-fits-a-label"),
    ],
)
def test_next_version(taken: set[str], champion: str | None, expected: str) -> None:
    assert next_version(taken, champion) == expected


def _with_status(status: dict[str, Any], kind: str = "Job") -> dict[str, Any]:
    api_version = "batch/v1" if kind == "Job" else "kubeflow.org/v1"
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": "w"}, "status": status}


def _condition(kind: str, status: str = "True", message: str = "") -> dict[str, Any]:
    return {"type": kind, "status": status, "message": message}


@pytest.mark.parametrize(
    ("workload", "obj", "expected"),
    [
        pytest.param({}, _with_status({}), WorkloadState.RUNNING, id="job-without-status-runs"),
        pytest.param(
            {},
            _with_status({"conditions": [_condition("Complete")]}),
            WorkloadState.SUCCEEDED,
            id="job-complete",
        ),
        pytest.param(
            {},
            _with_status({"conditions": [_condition("Failed", message="DeadlineExceeded")]}),
            WorkloadState.FAILED,
            id="job-failed-or-timed-out",
        ),
        pytest.param(
            {},
            _with_status({"conditions": [_condition("Complete", "False")]}),
            WorkloadState.RUNNING,
            id="job-condition-false-still-runs",
        ),
        pytest.param(
            RAW,
            _with_status({"conditions": [_condition("Succeeded")]}, "PyTorchJob"),
            WorkloadState.SUCCEEDED,
            id="raw-success-condition",
        ),
        pytest.param(
            RAW,
            _with_status(
                {"conditions": [_condition("Succeeded"), _condition("Failed")]}, "PyTorchJob"
            ),
            WorkloadState.FAILED,
            id="raw-failure-wins-over-success",
        ),
        pytest.param(
            FIELD_RAW,
            _with_status({"jobStatus": "STOPPED"}, "PyTorchJob"),
            WorkloadState.FAILED,
            id="raw-field-path-failure-value",
        ),
        pytest.param(
            FIELD_RAW,
            _with_status({"jobStatus": "RUNNING"}, "PyTorchJob"),
            WorkloadState.RUNNING,
            id="raw-field-path-other-value-runs",
        ),
    ],
)
def test_observe(workload: dict[str, Any], obj: dict[str, Any], expected: WorkloadState) -> None:
    owner: RetrainPolicyResource = policy(**({"workload": workload} if workload else {}))

    assert observe(owner, obj).state is expected


DIGEST = "sha256:" + "f" * 64


def _pod(created: str, *containers: tuple[str, int, str]) -> dict[str, Any]:
    return {
        "metadata": {"creationTimestamp": created},
        "status": {
            "containerStatuses": [
                {
                    "name": name,
                    "imageID": f"registry.example.com/trainer@{DIGEST}",
                    "state": {"terminated": {"exitCode": code, "message": message}},
                }
                for name, code, message in containers
            ]
        },
    }


@pytest.mark.parametrize(
    ("pods", "result", "failure"),
    [
        pytest.param([], "", "", id="no-pods"),
        pytest.param([_pod("2026-01-01T12:00:00Z", ("train", 0, "{}"))], "{}", "", id="one-result"),
        pytest.param(
            [
                _pod("2026-01-01T12:00:00Z", ("train", 0, "old")),
                _pod("2026-01-01T12:05:00Z", ("train", 0, "new")),
            ],
            "new",
            "",
            id="newest-pod-wins",
        ),
        pytest.param(
            [_pod("2026-01-01T12:00:00Z", ("train", 3, "Traceback...\nValueError: boom\n"))],
            "",
            "container train exited with 3: Traceback... ValueError: boom",
            id="failed-container-quoted",
        ),
    ],
)
def test_pod_messages(pods: list[dict[str, Any]], result: str, failure: str) -> None:
    ended = result_container(pods)
    assert (ended.message if ended else "") == result
    assert (ended.image_digest if ended else None) == (DIGEST if result else None)
    assert failure_message(pods) == failure


def test_code_image_is_the_first_container_image() -> None:
    assert code_image(build_workload(policy(workload=RAW), PLAN)) == (
        "registry.example.com/torch-trainer:2"
    )
