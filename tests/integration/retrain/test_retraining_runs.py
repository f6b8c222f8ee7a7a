"""RetrainPolicy reconciles against the real API server, as the operator's ServiceAccount.

No node in this tier: a test plays the workload's controller. The Jobs the
policy creates carry `managedBy` (so the built-in Job controller leaves them alone),
and the test finishes one by writing its status subresource and a pod whose container
terminated with the trainer's message, as the kubelet would. The policy's reconcile
runs in-process with a cache read from the API server before each step.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

from modelkeeper.controller.cache import Cache
from modelkeeper.controller.retraining import RetrainPolicies
from modelkeeper.kube import client as kinds
from modelkeeper.kube.client import Kind, KubeClient
from modelkeeper.kube.connection import connect
from tests.ground.controlplane import ControlPlane
from tests.ground.ground import Kubectl
from tests.support import objects
from tests.support.kube import apply, get
from tests.support.operator_process import SYSTEM_NAMESPACE, service_account_kubeconfig

ROOT = "file:///var/lib/modelkeeper/artifacts"
FAKE_CONTROLLER = "tests.modelkeeper.io/fake-job-controller"
TIME = "2026-01-01T12:00:00Z"
DIGEST = "a" * 64
TRAINER = {"name": "train", "image": "registry.example.com/fraud-trainer:3"}
TRAINER_DIGEST = "sha256:" + "d" * 64
JOB_WORKLOAD = {
    "job": {
        "spec": {
            "managedBy": FAKE_CONTROLLER,
            "template": {"spec": {"containers": [TRAINER]}},
        }
    }
}
CRD_GROUP = "tests.modelkeeper.io"
TRAINING_JOB_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"trainingjobs.{CRD_GROUP}"},
    "spec": {
        "group": CRD_GROUP,
        "names": {"kind": "TrainingJob", "plural": "trainingjobs", "singular": "trainingjob"},
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}


CHAMPION_ON_HOLDOUT = 0.85
"""The champion's auc on the trainer's holdout; its spec says 0.8, measured on other data."""


def result(auc: float, version: str, **more: Any) -> str:
    """The trainer's result: the new version's auc and the champion's on the same holdout."""
    return json.dumps(
        {
            "artifact": {
                "uri": f"{ROOT}/fraud/{version}/model.joblib",
                "sha256": DIGEST,
                "format": "sklearn",
            },
            "metrics": {"auc": auc},
            "championMetrics": {"auc": CHAMPION_ON_HOLDOUT},
            "holdout": {"uri": f"{ROOT}/fraud/{version}/holdout.csv", "sha256": "b" * 64},
            **more,
            "profile": {"uri": f"{ROOT}/fraud/{version}/profile.json"},
            "schema": {
                "inputs": [{"name": "amount", "type": "Numeric"}],
                "output": {"type": "Regression"},
            },
            "trainingData": [{"uri": "s3://data/fraud/2026-01.parquet"}],
        }
    )


def champion() -> dict[str, Any]:
    """Version 1 of family fraud: approved, auc 0.80, owned by risk at Low risk."""
    return objects.model(
        "fraud-1",
        "fraud",
        "1",
        image="registry.example.com/fraud:1",
        metrics={"auc": 0.8},
        governance={
            "owner": "risk",
            "riskTier": "Low",
            "approval": {"by": "lead@example.com", "at": TIME},
        },
    )


def retrain_policy(workload: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return objects.retrain_policy(
        "retrain-fraud",
        "fraud",
        workload=workload,
        gate={"metric": "auc", "minImprovement": 0.01},
        approval={"autoApproveUpTo": "Medium"},
        **spec,
    )


async def snapshot(client: KubeClient, namespace: str) -> Cache:
    """What the operator's indices would hold now."""

    async def items(kind: Kind) -> list[dict[str, Any]]:
        found = await client.list(kind, namespace, "")
        return [{**o, "apiVersion": kind.api_version, "kind": kind.kind} for o in found]

    def by_name(objects: list[dict[str, Any]]) -> dict[tuple[str, str], list[Any]]:
        return {(namespace, o["metadata"]["name"]): [o] for o in objects}

    def by_family(
        objects: list[dict[str, Any]], family: Callable[[dict[str, Any]], str]
    ) -> dict[tuple[str, str], list[Any]]:
        index: dict[tuple[str, str], list[Any]] = defaultdict(list)
        for o in objects:
            index[(namespace, family(o["spec"]))].append(o["metadata"]["name"])
        return index

    models = await items(kinds.MODEL)
    deployments = await items(kinds.DEPLOYMENT)
    policies = await items(kinds.RETRAIN_POLICY)
    return Cache(
        models=by_name(models),
        model_families=by_family(models, lambda spec: spec["name"]),
        deployments=by_name(deployments),
        deployment_families=by_family(deployments, lambda spec: spec["model"]["name"]),
        drift_monitors=by_name(await items(kinds.DRIFT_MONITOR)),
        retrain_policies=by_name(policies),
        retrain_policy_families=by_family(policies, lambda spec: spec["model"]["name"]),
    )


@pytest.fixture(scope="module")
def operator_kubeconfig(
    control_plane: ControlPlane, crds: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The operator's ServiceAccount, with the chart's ClusterRole rules."""
    return service_account_kubeconfig(control_plane, tmp_path_factory.mktemp("operator"))


@pytest.fixture
async def client(operator_kubeconfig: Path) -> AsyncIterator[KubeClient]:
    client = KubeClient(connect(str(operator_kubeconfig)))
    yield client
    await client.close()


async def retrain_policies(client: KubeClient, namespace: str) -> RetrainPolicies:
    return RetrainPolicies(client, await snapshot(client, namespace), ROOT)


async def reconcile(policies: RetrainPolicies, namespace: str) -> dict[str, Any]:
    """One reconcile with a fresh cache; returns the policy as it is afterwards."""
    policies.cache = await snapshot(policies.client, namespace)
    await policies.reconcile(namespace, "retrain-fraud")
    found = await policies.client.get(kinds.RETRAIN_POLICY, namespace, "retrain-fraud")
    assert found is not None
    return found


def status_patch(kubectl: Kubectl, resource: str, status: dict[str, Any]) -> None:
    kubectl(
        "patch",
        resource,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
    )


def terminated_pod(
    kubectl: Kubectl, name: str, labels: dict[str, str], exit_code: int, message: str
) -> None:
    """A pod of the run whose trainer container ended, as the kubelet reports it."""
    apply(
        kubectl,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": labels},
            "spec": {"containers": [TRAINER], "restartPolicy": "Never"},
        },
    )
    terminated = {
        "exitCode": exit_code,
        "reason": "Completed" if exit_code == 0 else "Error",
        "message": message,
        "startedAt": TIME,
        "finishedAt": TIME,
    }
    status_patch(
        kubectl,
        f"pod/{name}",
        {
            "phase": "Succeeded" if exit_code == 0 else "Failed",
            "containerStatuses": [
                {
                    "name": TRAINER["name"],
                    "image": TRAINER["image"],
                    "imageID": f"{TRAINER['image']}@{TRAINER_DIGEST}",
                    "ready": False,
                    "restartCount": 0,
                    "state": {"terminated": terminated},
                }
            ],
        },
    )


def finish_job(kubectl: Kubectl, job: dict[str, Any], succeeded: bool) -> None:
    """Write the Job's status as the Job controller would on success or failure."""
    condition = {"status": "True", "lastTransitionTime": TIME}
    if succeeded:
        status = {
            "startTime": TIME,
            "completionTime": TIME,
            "succeeded": 1,
            "conditions": [
                {**condition, "type": "SuccessCriteriaMet", "reason": "CompletionsReached"},
                {**condition, "type": "Complete", "reason": "CompletionsReached"},
            ],
        }
    else:
        status = {
            "startTime": TIME,
            "failed": 1,
            "conditions": [
                {**condition, "type": "FailureTarget", "reason": "BackoffLimitExceeded"},
                {
                    **condition,
                    "type": "Failed",
                    "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                },
            ],
        }
    status_patch(kubectl, f"job/{job['metadata']['name']}", status)


def run_labels(policy: dict[str, Any], index: int = 0) -> dict[str, str]:
    run = policy["status"]["active"][index]["name"]
    return {"modelkeeper.io/retrain-policy": "retrain-fraud", "modelkeeper.io/run": run}


def env_of(workload: dict[str, Any], template: list[str]) -> dict[str, str]:
    node: Any = workload
    for key in template:
        node = node[key]
    return {
        variable["name"]: variable.get("value", "")
        for variable in node["spec"]["containers"][0]["env"]
    }


def event_reasons(kubectl: Kubectl) -> list[str]:
    events = get(kubectl, "events")["items"]
    return sorted(e["reason"] for e in events if e["involvedObject"]["name"] == "retrain-fraud")


@pytest.mark.parametrize(
    ("succeeded", "exit_code", "message", "outcome", "expected_message", "model"),
    [
        pytest.param(
            True,
            0,
            result(0.9, "2"),
            "Succeeded",
            "auc 0.9 against the champion's 0.85 on the same holdout holdout.csv (sha256 "
            "bbbbbbbbbbbb): improvement 0.05 >= the required 0.01",
            "approved",
            id="better-model-registered-and-approved",
        ),
        pytest.param(
            True,
            0,
            result(0.7, "2"),
            "Rejected",
            "improvement -0.15 < the required 0.01",
            "rejected",
            id="worse-model-rejected-by-the-gate",
        ),
        pytest.param(
            False,
            1,
            "Traceback (most recent call last):\nRuntimeError: out of data",
            "Failed",
            "RuntimeError: out of data",
            None,
            id="failed-job-no-model",
        ),
        pytest.param(
            True,
            0,
            "training done!",
            "Failed",
            "the termination message is not JSON",
            None,
            id="malformed-result-no-model",
        ),
    ],
)
async def test_a_manual_run_from_start_to_its_model(
    client: KubeClient,
    kubectl: Kubectl,
    namespace: str,
    succeeded: bool,
    exit_code: int,
    message: str,
    outcome: str,
    expected_message: str,
    model: str | None,
) -> None:
    # Given a champion (version 1, auc 0.8) and a policy asked for a manual run
    apply(kubectl, champion(), retrain_policy(JOB_WORKLOAD))
    kubectl("annotate", "retrainpolicy/retrain-fraud", "modelkeeper.io/retrain=request-1")
    policies = await retrain_policies(client, namespace)

    # When the policy reconciles, Then it starts one Job that trains version 2 against 1
    policy = await reconcile(policies, namespace)
    assert [run["trigger"] for run in policy["status"]["active"]] == ["Manual"]
    assert policy["status"]["manualRequest"] == "request-1"
    job = get(kubectl, f"job/{policy['status']['active'][0]['workload']['name']}")
    env = env_of(job, ["spec", "template"])
    assert env["MODELKEEPER_NEXT_VERSION"] == "2"
    assert env["MODELKEEPER_CHAMPION_VERSION"] == "1"
    assert env["MODELKEEPER_OUTPUT_URI"] == f"{ROOT}/fraud/2/"
    assert job["metadata"]["ownerReferences"][0]["name"] == "retrain-fraud"

    # When the Job ends with the trainer's message, and the policy reconciles
    terminated_pod(kubectl, "trainer-pod", run_labels(policy), exit_code, message)
    finish_job(kubectl, job, succeeded)
    policy = await reconcile(policies, namespace)

    # Then the run ended as expected, with or without the next Model
    assert policy["status"].get("active", []) == []
    (run,) = policy["status"]["history"]
    assert run["outcome"] == outcome, run["message"]
    assert expected_message in run["message"]
    assert policy["status"]["consecutiveFailures"] == (1 if outcome == "Failed" else 0)
    models = {m["metadata"]["name"]: m for m in get(kubectl, "models.modelkeeper.io")["items"]}
    labels = {"namespace": namespace, "policy": "retrain-fraud"}
    assert (
        REGISTRY.get_sample_value(
            "modelkeeper_retrain_runs_total", {**labels, "trigger": "Manual", "outcome": outcome}
        )
        == 1.0
    )
    assert REGISTRY.get_sample_value("modelkeeper_retrain_active_runs", labels) == 0.0
    assert "RunStarted" in event_reasons(kubectl)
    assert f"Run{outcome}" in event_reasons(kubectl)
    if model is None:
        assert sorted(models) == ["fraud-1"]
        return
    made = models["fraud-2"]
    assert run["model"] == "fraud-2"
    assert made["spec"]["lineage"] == {
        "trainingData": [{"uri": "s3://data/fraud/2026-01.parquet"}],
        "holdout": {"uri": f"{ROOT}/fraud/2/holdout.csv", "sha256": "b" * 64},
        "codeImage": TRAINER["image"],
        "codeImageDigest": TRAINER_DIGEST,
        "parentVersion": "1",
        "retrainingRun": {
            "policy": "retrain-fraud",
            "run": run["name"],
            "trigger": "Manual",
            "reason": "manual request 'request-1'",
        },
    }
    assert made["spec"]["governance"] == {"owner": "risk", "riskTier": "Low"}
    evaluation = made["status"]["evaluation"]
    assert (evaluation["champion"], evaluation["championValue"]) == ("1", CHAMPION_ON_HOLDOUT)
    assert evaluation["holdout"] == made["spec"]["lineage"]["holdout"]
    if model == "approved":
        assert made["status"]["stage"] == "Registered"
        assert made["status"]["approval"]["by"] == "retrainpolicy/retrain-fraud"
        assert made["status"]["approval"]["source"] == "Policy"
    else:
        assert made["status"]["stage"] == "Rejected"
        assert "approval" not in made["status"]


async def test_a_run_whose_status_write_was_lost_is_adopted_not_repeated(
    client: KubeClient, kubectl: Kubectl, namespace: str
) -> None:
    # Given a policy that started a run, and then lost its status (as a failed write would)
    apply(kubectl, champion(), retrain_policy(JOB_WORKLOAD))
    kubectl("annotate", "retrainpolicy/retrain-fraud", "modelkeeper.io/retrain=request-1")
    policies = await retrain_policies(client, namespace)
    started = await reconcile(policies, namespace)
    status_patch(kubectl, "retrainpolicy/retrain-fraud", {"active": None, "manualRequest": None})

    # When it reconciles again
    policies = await retrain_policies(client, namespace)
    policy = await reconcile(policies, namespace)

    # Then the run is found from its Job, and no second Job starts
    assert [r["name"] for r in policy["status"]["active"]] == [
        r["name"] for r in started["status"]["active"]
    ]
    assert len(get(kubectl, "jobs")["items"]) == 1


async def test_held_drift_starts_one_run_per_cooldown(
    client: KubeClient, kubectl: Kubectl, namespace: str
) -> None:
    # Given a DriftMonitor Drifted for an hour and a policy that retrains on it, cooldown 1h
    apply(
        kubectl,
        champion(),
        objects.drift_monitor("fraud-inputs", "fraud"),
        retrain_policy(
            JOB_WORKLOAD,
            triggers=[{"drift": {"monitor": "fraud-inputs", "for": "30m"}}],
            cooldown="1h",
            maxConcurrentRuns=3,
        ),
    )
    status_patch(kubectl, "driftmonitor/fraud-inputs", {"state": "Drifted", "since": TIME})
    policies = await retrain_policies(client, namespace)

    # When the policy reconciles three times, the first run finishing in between
    policy = await reconcile(policies, namespace)
    job = get(kubectl, f"job/{policy['status']['active'][0]['workload']['name']}")
    terminated_pod(kubectl, "trainer-pod", run_labels(policy), 0, result(0.9, "2"))
    finish_job(kubectl, job, succeeded=True)
    for _ in range(2):
        policy = await reconcile(policies, namespace)

    # Then one run started, with the monitor's evidence, and the rest is held by cooldown
    assert len(get(kubectl, "jobs")["items"]) == 1
    (run,) = policy["status"]["history"]
    assert run["trigger"] == "Drift"
    assert run["reason"].startswith("monitor fraud-inputs Drifted since 2026-01-01T12:00:00Z")
    throttled = next(c for c in policy["status"]["conditions"] if c["type"] == "Throttled")
    assert (throttled["status"], throttled["reason"]) == ("True", "Cooldown")
    assert event_reasons(kubectl) == ["RunStarted", "RunSucceeded", "Throttled"]


@pytest.fixture
def training_job_kind(control_plane: ControlPlane, crds: Path) -> str:
    """A workload kind from a CRD, which the operator's account may create, read and delete."""
    rbac = [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "modelkeeper-test-trainingjobs"},
            "rules": [
                {
                    "apiGroups": [CRD_GROUP],
                    "resources": ["trainingjobs"],
                    "verbs": ["get", "list", "watch", "create", "delete"],
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "modelkeeper-test-trainingjobs"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "modelkeeper-test-trainingjobs",
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": "modelkeeper", "namespace": SYSTEM_NAMESPACE}
            ],
        },
    ]
    control_plane.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([TRAINING_JOB_CRD, *rbac]))
    control_plane.kubectl(
        "wait", "--for=condition=Established", f"crd/trainingjobs.{CRD_GROUP}", "--timeout=30s"
    )
    return f"trainingjobs.{CRD_GROUP}"


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        pytest.param(
            {"conditions": [{"type": "Succeeded", "status": "True"}]},
            "Succeeded",
            id="success-condition",
        ),
        pytest.param({"phase": "Failed"}, "Failed", id="failure-field-value"),
    ],
)
async def test_a_raw_workload_kind_reports_by_its_conditions(
    client: KubeClient,
    kubectl: Kubectl,
    namespace: str,
    training_job_kind: str,
    status: dict[str, Any],
    outcome: str,
) -> None:
    # Given a policy whose workload is a TrainingJob (a CRD) with its success and failure
    workload = {
        "resource": {
            "object": {
                "apiVersion": f"{CRD_GROUP}/v1",
                "kind": "TrainingJob",
                "spec": {"worker": {"template": {"spec": {"containers": [TRAINER]}}}},
            },
            "success": {"conditionType": "Succeeded"},
            "failure": {"fieldPath": "status.phase", "values": ["Failed"]},
        }
    }
    apply(kubectl, champion(), retrain_policy(workload))
    kubectl("annotate", "retrainpolicy/retrain-fraud", "modelkeeper.io/retrain=request-1")
    policies = await retrain_policies(client, namespace)

    # When it reconciles, Then it creates the TrainingJob with the trainer's environment
    policy = await reconcile(policies, namespace)
    name = policy["status"]["active"][0]["workload"]["name"]
    created = get(kubectl, f"{training_job_kind}/{name}")
    assert env_of(created, ["spec", "worker", "template"])["MODELKEEPER_NEXT_VERSION"] == "2"

    # When the TrainingJob reports its end, and the policy reconciles
    terminated_pod(kubectl, "trainer-pod", run_labels(policy), 0, result(0.9, "2"))
    status_patch(kubectl, f"{training_job_kind}/{name}", status)
    policy = await reconcile(policies, namespace)

    # Then the run ends by the TrainingJob's status
    (run,) = policy["status"]["history"]
    assert run["outcome"] == outcome, run["message"]
    models = [m["metadata"]["name"] for m in get(kubectl, "models.modelkeeper.io")["items"]]
    assert sorted(models) == (["fraud-1", "fraud-2"] if outcome == "Succeeded" else ["fraud-1"])


async def test_a_time_zone_the_api_accepts_but_no_database_knows_is_reported_not_raised(
    client: KubeClient, kubectl: Kubectl, namespace: str
) -> None:
    """Finding 3: on main the reconcile raised ZoneInfoNotFoundError: no status, no Event."""
    # Given a policy scheduled on Mars, which the API server's pattern accepts
    apply(
        kubectl,
        retrain_policy(
            JOB_WORKLOAD,
            triggers=[{"schedule": {"cron": "0 3 * * *", "timeZone": "Mars/Olympus_Mons"}}],
        ),
    )
    policies = await retrain_policies(client, namespace)

    # When it reconciles twice
    policy = await reconcile(policies, namespace)
    policy = await reconcile(policies, namespace)

    # Then it is not Ready, says which field and why, once as a Warning, and starts nothing
    ready = next(c for c in policy["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert ready["message"].startswith(
        "spec.triggers[0].schedule.timeZone: Mars/Olympus_Mons is not a time zone"
    )
    assert event_reasons(kubectl) == ["InvalidSpec"]
    assert get(kubectl, "jobs")["items"] == []


async def test_a_result_whose_schema_does_not_fit_the_family_creates_no_model(
    client: KubeClient, kubectl: Kubectl, namespace: str
) -> None:
    """Finding 7: the run fails with the difference named before a Model is created."""
    # Given a champion with a two-input classifier schema and a manual run
    family_schema = {
        "inputs": [
            {"name": "alcohol", "type": "Numeric"},
            {"name": "hue", "type": "Numeric"},
        ],
        "output": {"type": "Classification", "classes": ["a", "b"]},
    }
    classifier = champion()
    classifier["spec"]["schema"] = family_schema
    apply(kubectl, classifier, retrain_policy(JOB_WORKLOAD))
    kubectl("annotate", "retrainpolicy/retrain-fraud", "modelkeeper.io/retrain=first")
    policies = await retrain_policies(client, namespace)
    policy = await reconcile(policies, namespace)
    job = get(kubectl, f"job/{policy['status']['active'][0]['workload']['name']}")

    # When the trainer reports a one-input regressor (result() writes that schema)
    terminated_pod(kubectl, "trainer-pod", run_labels(policy), 0, result(0.9, "2"))
    finish_job(kubectl, job, succeeded=True)
    policy = await reconcile(policies, namespace)

    # Then the run failed, saying why, and the family has no version 2
    (run,) = policy["status"]["history"]
    assert run["outcome"] == "Failed"
    assert run["message"].startswith("the result's schema does not fit the family")
    assert "inputs missing: alcohol, hue" in run["message"]
    assert [m["metadata"]["name"] for m in get(kubectl, "models")["items"]] == ["fraud-1"]


async def test_a_version_beyond_its_fairness_bound_is_refused_with_the_figures(
    client: KubeClient, kubectl: Kubectl, namespace: str
) -> None:
    # Given a policy whose gate bounds fairness over sex, and a manual run
    bounds = {"attribute": "sex", "maxDemographicParityDifference": 0.1}
    gate = {"metric": "auc", "minImprovement": 0.01, "fairness": bounds}
    policy_manifest = retrain_policy(JOB_WORKLOAD)
    policy_manifest["spec"]["gate"] = gate
    apply(kubectl, champion(), policy_manifest)
    kubectl("annotate", "retrainpolicy/retrain-fraud", "modelkeeper.io/retrain=request-1")
    policies = await retrain_policies(client, namespace)
    policy = await reconcile(policies, namespace)
    job = get(kubectl, f"job/{policy['status']['active'][0]['workload']['name']}")
    assert env_of(job, ["spec", "template"])["MODELKEEPER_FAIRNESS_ATTRIBUTE"] == "sex"

    # When the trainer reports a better auc, but decisions that favour one group
    fairness = {
        "attribute": "sex",
        "positive": "score >= 0.5",
        "demographicParityDifference": 0.3,
        "equalOpportunityDifference": 0.05,
    }
    message = result(0.95, "2", fairness=fairness)
    terminated_pod(kubectl, "trainer-pod", run_labels(policy), 0, message)
    finish_job(kubectl, job, succeeded=True)
    policy = await reconcile(policies, namespace)

    # Then the run is Rejected, and the Model's status holds the figures against the bounds
    (run,) = policy["status"]["history"]
    assert run["outcome"] == "Rejected", run["message"]
    assert (
        "fairness over sex (score >= 0.5): demographic parity difference 0.3 > 0.1"
        in (run["message"])
    )
    made = get(kubectl, "model/fraud-2")
    assert made["status"]["stage"] == "Rejected"
    assert "approval" not in made["status"]
    evaluation = made["status"]["evaluation"]
    assert evaluation["passed"] is False
    assert evaluation["fairness"] == {
        "attribute": "sex",
        "positive": "score >= 0.5",
        "demographicParityDifference": 0.3,
        "equalOpportunityDifference": 0.05,
        "maxDemographicParityDifference": 0.1,
        "passed": False,
        "message": "fairness over sex (score >= 0.5): demographic parity difference 0.3 > 0.1",
    }
