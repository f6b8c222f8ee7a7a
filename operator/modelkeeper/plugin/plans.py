"""What each manual control writes: from the command, the object as read and the time, to the
annotation patch and the line to print.

The kubectl plugin's control commands only read the object, ask this module what to write, and
send it. Keeping the decision here (which annotation, which value, what is an error) makes
every command testable without a cluster. A plan touches metadata.annotations only, never spec
or status, so a GitOps re-sync of the user's manifest neither undoes nor repeats it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import TypeAdapter, ValidationError

from modelkeeper.api.annotations import Annotation
from modelkeeper.api.approval import approvers
from modelkeeper.api.deployment import DeploymentResource, Outcome
from modelkeeper.api.model import ModelResource, Person
from modelkeeper.api.retrainpolicy import RetrainPolicyResource


class DeploymentControl(StrEnum):
    """The controls of a Deployment's rollout."""

    PROMOTE = "promote"
    PROMOTE_STEP = "promote-step"
    ABORT = "abort"
    PAUSE = "pause"
    RESUME = "resume"
    RETRY = "retry"
    WITHDRAW = "withdraw"


class ControlError(ValueError):
    """The control cannot act on the object as it is, such as a promote with no candidate."""


@dataclass(frozen=True)
class Plan:
    """The annotations to set (None removes one) and the line that says what was requested."""

    annotations: Mapping[Annotation, str | None]
    message: str

    def merge_patch(self) -> dict[str, Any]:
        """The JSON merge patch: metadata.annotations only, null for a removal."""
        return {
            "metadata": {
                "annotations": {str(key): value for key, value in self.annotations.items()}
            }
        }


def request_id(now: datetime) -> str:
    """A new value for a once-per-value annotation: `now` in UTC, RFC 3339 with microseconds."""
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def plan_deployment(
    control: DeploymentControl, deployment: DeploymentResource, now: datetime
) -> Plan:
    """The patch for one control; ControlError if it must name a candidate and there is none."""
    subject = f"deployment {deployment.metadata.name}"
    match control:
        case DeploymentControl.PROMOTE:
            version = _candidate_version(deployment, "promote")
            return Plan(
                {Annotation.PROMOTE: version},
                f"{subject}: promote {version} to full traffic requested",
            )
        case DeploymentControl.PROMOTE_STEP:
            version = _candidate_version(deployment, "promote")
            return Plan(
                {Annotation.PROMOTE_STEP: request_id(now)},
                f"{subject}: end the current step of {version} requested",
            )
        case DeploymentControl.ABORT:
            version = _candidate_version(deployment, "abort")
            return Plan({Annotation.ABORT: version}, f"{subject}: abort {version} requested")
        case DeploymentControl.PAUSE:
            return Plan({Annotation.PAUSED: "true"}, f"{subject}: pause requested")
        case DeploymentControl.RESUME:
            return Plan({Annotation.PAUSED: None}, f"{subject}: resume requested")
        case DeploymentControl.RETRY:
            # The abort and the withdrawal go in the same patch, else they would act again on
            # the retried version.
            return Plan(
                {
                    Annotation.RETRY: request_id(now),
                    Annotation.ABORT: None,
                    Annotation.WITHDRAW: None,
                },
                f"{subject}: retry of the selected version requested",
            )
        case DeploymentControl.WITHDRAW:
            version = _withdrawable_version(deployment)
            return Plan(
                {Annotation.WITHDRAW: version},
                f"{subject}: withdrawal of {version} requested; "
                f"{_stable_of(deployment)} keeps serving",
            )


def plan_approval(model: ModelResource, approver: str) -> Plan:
    """The patch that approves a Model version in `approver`'s name."""
    try:
        who = _PERSON.validate_python(approver.strip())
    except ValidationError:
        raise ControlError(
            f"the approver must be 1 to 253 characters, got {len(approver.strip())}"
        ) from None
    if "," in who:
        raise ControlError(f"the approver {who!r} has a comma, which separates approvers")
    spec = model.spec
    subject = f"model {model.metadata.name}: approval of {spec.name} {spec.version} by {who}"
    before = approvers(model.metadata.annotations)
    if who in before:
        raise ControlError(f"{subject} is there already")
    # Appended, others left as they are: the admission policy allows no other change.
    return Plan({Annotation.APPROVED_BY: ",".join([*before, who])}, f"{subject} requested")


def plan_retrain(policy: RetrainPolicyResource, now: datetime) -> Plan:
    """The patch that asks for one manual run; the request id is also what status records."""
    request = request_id(now)
    return Plan(
        {Annotation.RETRAIN: request},
        f"retrainpolicy {policy.metadata.name}: retraining requested ({request})",
    )


_PERSON: TypeAdapter[str] = TypeAdapter(Person)


def _stable_of(deployment: DeploymentResource) -> str:
    stable = deployment.status.stable
    return f"version {stable.version}" if stable is not None else "no version"


def _withdrawable_version(deployment: DeploymentResource) -> str:
    """The version to withdraw: the candidate, else the one the last abort or rollback kept
    out; ControlError when there is neither (a stable version is not withdrawn: roll out
    another one)."""
    status = deployment.status
    if status.candidate is not None:
        return status.candidate.version
    stable = status.stable.version if status.stable is not None else None
    last = status.history[0] if status.history else None
    if (
        last is not None
        and last.outcome in (Outcome.ABORTED, Outcome.ROLLED_BACK)
        and last.version != stable
    ):
        return last.version
    raise ControlError(
        f"deployment {deployment.metadata.name}: no candidate and no aborted or rolled-back "
        f"version to withdraw ({_stable_of(deployment)} is stable)"
    )


def _candidate_version(deployment: DeploymentResource, verb: str) -> str:
    """The version rolling out, which promote and abort name; ControlError when there is none."""
    status = deployment.status
    if status.candidate is not None:
        return status.candidate.version
    stable = f" ({status.stable.version} is stable)" if status.stable is not None else ""
    raise ControlError(
        f"deployment {deployment.metadata.name}: no candidate version to {verb}{stable}"
    )
