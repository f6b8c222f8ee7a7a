"""The training workload of a run: built from the policy, and read back for its state and result.

Pure: it returns and reads plain dicts. A run's workload is a batch/v1 Job from
`spec.workload.job`, or any object from `spec.workload.resource`. Both get the run's
name, labels and owner reference, and every pod template found in them (a mapping whose
`spec` has `containers`, as a Job's, a PyTorchJob's or a RayJob's has) gets the run's
labels and the trainer's environment (docs/writing-trainers.md). The workload carries
everything about its run (trigger, reason, version) in labels and annotations, so a run
whose status write was lost is found again from the object.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from modelkeeper.api.base import API_VERSION
from modelkeeper.api.conditions import quoted_tail
from modelkeeper.api.labels import (
    FAMILY_LABEL,
    MANAGED_BY,
    MANAGER,
    PARENT_LABEL,
    POLICY_LABEL,
    REASON_ANNOTATION,
    RUN_LABEL,
    TRIGGER_LABEL,
    VERSION_LABEL,
    Manifest,
    child_name,
)
from modelkeeper.api.model import ModelResource
from modelkeeper.api.retrainpolicy import (
    RetrainPolicyResource,
    TriggerKind,
    WorkloadCondition,
    WorkloadRef,
)

JOB_API_VERSION = "batch/v1"
JOB_KIND = "Job"

_INTEGER = re.compile(r"^[0-9]+$")
_RETRAINED = re.compile(r"-r[0-9]+$")


class Env(StrEnum):
    """The environment every training container gets (docs/writing-trainers.md)."""

    FAMILY = "MODELKEEPER_FAMILY"
    NEXT_VERSION = "MODELKEEPER_NEXT_VERSION"
    RUN = "MODELKEEPER_RUN"
    OUTPUT_URI = "MODELKEEPER_OUTPUT_URI"
    TRIGGER = "MODELKEEPER_TRIGGER"
    TRIGGER_REASON = "MODELKEEPER_TRIGGER_REASON"
    CHAMPION_VERSION = "MODELKEEPER_CHAMPION_VERSION"
    CHAMPION_METRICS = "MODELKEEPER_CHAMPION_METRICS"
    CHAMPION_ARTIFACT_URI = "MODELKEEPER_CHAMPION_ARTIFACT_URI"
    CHAMPION_ARTIFACT_SHA256 = "MODELKEEPER_CHAMPION_ARTIFACT_SHA256"
    FAIRNESS_ATTRIBUTE = "MODELKEEPER_FAIRNESS_ATTRIBUTE"


class WorkloadState(StrEnum):
    """Where a workload is."""

    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


@dataclass(frozen=True)
class Observed:
    """A workload's state, and the status that says so."""

    state: WorkloadState
    message: str = ""


@dataclass(frozen=True)
class RunPlan:
    """Everything a new run's workload is made from."""

    run: str
    version: str
    trigger: TriggerKind
    reason: str
    output_uri: str
    champion: ModelResource | None


def run_name(trigger: TriggerKind, now: datetime) -> str:
    """A run's name: its trigger and start time, such as drift-20261126-120300."""
    return f"{trigger.value.lower()}-{now:%Y%m%d-%H%M%S}"


def workload_name(policy: str, run: str) -> str:
    """`<policy>-<run>`, shortened with a hash when it would not fit a DNS label."""
    return child_name(policy, run)


def output_uri(artifact_root: str, family: str, version: str) -> str:
    """Where a run writes its artifact directory: `<root>/<family>/<version>/`."""
    return f"{artifact_root.rstrip('/')}/{family}/{version}/"


def next_version(taken: Collection[str], champion: str | None) -> str:
    """The version a new run produces.

    One more than the family's highest integer version when it has any; else the
    champion's version with `-r<N>` (the smallest N not taken; an `-r<N>` of the champion
    is replaced, not stacked); else "1". `taken` holds the family's versions and those of
    runs going on, so that concurrent runs never share a version.
    """
    integers = [int(version) for version in taken if _INTEGER.match(version)]
    if integers:
        return str(max(integers) + 1)
    if champion is None:
        return "1"
    base = _RETRAINED.sub("", champion)[:56].rstrip("-_.")
    number = 1
    while f"{base}-r{number}" in taken:
        number += 1
    return f"{base}-r{number}"


def run_labels(policy: RetrainPolicyResource, plan: RunPlan) -> dict[str, str]:
    """The labels of a run's workload and pods: whose run it is, and what it makes from what."""
    labels = {
        MANAGED_BY: MANAGER,
        POLICY_LABEL: policy.metadata.name,
        RUN_LABEL: plan.run,
        FAMILY_LABEL: policy.spec.model.name,
        VERSION_LABEL: plan.version,
        TRIGGER_LABEL: plan.trigger.value,
    }
    if plan.champion is not None:
        labels[PARENT_LABEL] = plan.champion.spec.version
    return labels


def policy_selector(policy: str) -> str:
    """The label selector of every workload of a policy."""
    return f"{POLICY_LABEL}={policy}"


def run_selector(policy: str, run: str) -> str:
    """The label selector of a run's pods (and its workload)."""
    return f"{POLICY_LABEL}={policy},{RUN_LABEL}={run}"


def trainer_env(policy: RetrainPolicyResource, plan: RunPlan) -> list[dict[str, str]]:
    """The trainer's environment: what to train, where to write it, and what to beat."""
    champion = plan.champion
    artifact = champion.spec.artifact if champion is not None else None
    fairness = policy.spec.gate.fairness if policy.spec.gate is not None else None
    values = {
        Env.FAMILY: policy.spec.model.name,
        Env.NEXT_VERSION: plan.version,
        Env.RUN: plan.run,
        Env.OUTPUT_URI: plan.output_uri,
        Env.TRIGGER: plan.trigger.value,
        Env.TRIGGER_REASON: plan.reason,
        Env.CHAMPION_VERSION: champion.spec.version if champion is not None else "",
        Env.CHAMPION_METRICS: json.dumps(
            champion.spec.metrics if champion is not None else {}, sort_keys=True
        ),
        Env.CHAMPION_ARTIFACT_URI: artifact.uri if artifact is not None else "",
        Env.CHAMPION_ARTIFACT_SHA256: (artifact.sha256 or "") if artifact is not None else "",
        Env.FAIRNESS_ATTRIBUTE: fairness.attribute if fairness is not None else "",
    }
    return [{"name": name.value, "value": value} for name, value in values.items()]


def pod_templates(node: Any) -> Iterator[dict[str, Any]]:
    """Every pod template in an object: a mapping whose `spec` holds a `containers` list."""
    if isinstance(node, dict):
        spec = node.get("spec")
        if isinstance(spec, dict) and isinstance(spec.get("containers"), list):
            yield node
            return
        for value in node.values():
            yield from pod_templates(value)
    elif isinstance(node, list):
        for item in node:
            yield from pod_templates(item)


def _stamp(template: dict[str, Any], labels: Mapping[str, str], env: list[dict[str, str]]) -> None:
    metadata = template.setdefault("metadata", {})
    metadata["labels"] = {**metadata.get("labels", {}), **labels}
    names = {variable["name"] for variable in env}
    for container in template["spec"]["containers"]:
        kept = [v for v in container.get("env", []) if v.get("name") not in names]
        container["env"] = kept + env
        container.setdefault("terminationMessagePolicy", "FallbackToLogsOnError")


def build_workload(policy: RetrainPolicyResource, plan: RunPlan) -> Manifest:
    """The object a new run creates: a Job from the template, or the raw object, stamped."""
    workload = policy.spec.workload
    labels = run_labels(policy, plan)
    if workload.job is not None:
        template = workload.job
        obj: Manifest = {
            "apiVersion": JOB_API_VERSION,
            "kind": JOB_KIND,
            "metadata": {
                "labels": dict(template.metadata.labels),
                "annotations": dict(template.metadata.annotations),
            },
            "spec": copy.deepcopy(template.spec),
        }
        obj["spec"].setdefault("backoffLimit", 0)
        obj["spec"].get("template", {}).get("spec", {}).setdefault("restartPolicy", "Never")
    else:
        assert workload.resource is not None  # the schema requires exactly one of the two
        obj = copy.deepcopy(workload.resource.object)
        obj.setdefault("metadata", {})
    metadata = obj["metadata"]
    metadata["name"] = workload_name(policy.metadata.name, plan.run)
    metadata["namespace"] = policy.metadata.namespace
    metadata["labels"] = {**metadata.get("labels", {}), **labels}
    metadata["annotations"] = {**metadata.get("annotations", {}), REASON_ANNOTATION: plan.reason}
    metadata["ownerReferences"] = [
        {
            "apiVersion": API_VERSION,
            "kind": RetrainPolicyResource.KIND,
            "name": policy.metadata.name,
            "uid": policy.metadata.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    env = trainer_env(policy, plan)
    for pod_template in pod_templates(obj):
        _stamp(pod_template, labels, env)
    return obj


def workload_ref(obj: Mapping[str, Any]) -> WorkloadRef:
    return WorkloadRef(
        api_version=obj["apiVersion"], kind=obj["kind"], name=obj["metadata"]["name"]
    )


def code_image(obj: Mapping[str, Any]) -> str | None:
    """The image of the workload's first container: the training code, for lineage."""
    for template in pod_templates(obj):
        for container in template["spec"]["containers"]:
            image: str | None = container.get("image")
            if image:
                return image
    return None


def _true_condition(obj: Mapping[str, Any], condition_type: str) -> str | None:
    """The message of a condition of this type with status True, or None."""
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == condition_type and condition.get("status") == "True":
            return str(condition.get("message") or condition.get("reason") or condition_type)
    return None


def _meets(obj: Mapping[str, Any], condition: WorkloadCondition) -> str | None:
    """What in the status meets `condition`, or None."""
    if condition.condition_type is not None:
        return _true_condition(obj, condition.condition_type)
    assert condition.field_path is not None  # the schema requires one of the two
    value: Any = obj
    for part in condition.field_path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if value is not None and str(value) in condition.values:
        return f"{condition.field_path} is {value}"
    return None


def observe(policy: RetrainPolicyResource, obj: Mapping[str, Any]) -> Observed:
    """A workload's state: a Job's Complete or Failed condition, or the resource's own."""
    resource = policy.spec.workload.resource
    if resource is None:
        failed, succeeded = _true_condition(obj, "Failed"), _true_condition(obj, "Complete")
    else:
        failed, succeeded = _meets(obj, resource.failure), _meets(obj, resource.success)
    if failed is not None:
        return Observed(WorkloadState.FAILED, failed)
    if succeeded is not None:
        return Observed(WorkloadState.SUCCEEDED, succeeded)
    return Observed(WorkloadState.RUNNING)


@dataclass(frozen=True)
class Terminated:
    """A container of a run's pod that ended: its exit code, message and the image it ran."""

    container: str
    code: int
    message: str
    image_digest: str | None


_DIGEST = re.compile(r"sha256:[0-9a-f]{64}$")


def _terminated(pods: Sequence[Mapping[str, Any]]) -> Iterator[Terminated]:
    """Every terminated container, newest pod first."""
    newest = sorted(
        pods, key=lambda pod: pod["metadata"].get("creationTimestamp") or "", reverse=True
    )
    for pod in newest:
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            terminated = (status.get("state") or {}).get("terminated")
            if terminated is not None:
                digest = _DIGEST.search(status.get("imageID") or "")
                yield Terminated(
                    status.get("name", ""),
                    int(terminated.get("exitCode", 0)),
                    terminated.get("message") or "",
                    digest.group(0) if digest else None,
                )


def result_container(pods: Sequence[Mapping[str, Any]]) -> Terminated | None:
    """The newest container that exited 0 with a termination message: the trainer's result."""
    return next((ended for ended in _terminated(pods) if ended.code == 0 and ended.message), None)


def failure_message(pods: Sequence[Mapping[str, Any]]) -> str:
    """The newest failed container, its exit code and the tail of its message; else ""."""
    for ended in _terminated(pods):
        if ended.code != 0:
            tail = quoted_tail(ended.message)
            return f"container {ended.container} exited with {ended.code}" + (
                f": {tail}" if tail else ""
            )
    return ""
