"""The manual controls: annotations that the CLI writes and the operator reads.

Manual promote, abort, pause, resume, retry, withdraw, approve and retrain must survive a
GitOps tool re-applying the user's manifest, so they never live in spec. An annotation the
manifest does not mention is left alone by `kubectl apply` and by server-side
apply alike. Each value names what it acts on (a version, a request id), so acting
on it twice does nothing more than acting once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Annotation(StrEnum):
    """The annotation keys the operator reads."""

    PROMOTE = "modelkeeper.io/promote"
    PROMOTE_STEP = "modelkeeper.io/promote-step"
    ABORT = "modelkeeper.io/abort"
    PAUSED = "modelkeeper.io/paused"
    RETRY = "modelkeeper.io/retry"
    WITHDRAW = "modelkeeper.io/withdraw"
    APPROVED_BY = "modelkeeper.io/approved-by"
    CREATED_BY = "modelkeeper.io/created-by"
    RETRAIN = "modelkeeper.io/retrain"


@dataclass(frozen=True)
class Control:
    """What one annotation does, for the reference docs."""

    annotation: Annotation
    kind: str
    value: str
    effect: str


CONTROLS: tuple[Control, ...] = (
    Control(
        Annotation.PROMOTE,
        "Deployment",
        "the candidate's version",
        "Promote that candidate now: skip the remaining steps, pauses and analysis. "
        "Ignored when the candidate is another version.",
    ),
    Control(
        Annotation.PROMOTE_STEP,
        "Deployment",
        "a request id, such as a timestamp",
        "End the current canary step now (its pause or its wait for analysis), once per new "
        "value; status.manual.promoteStep records the value acted on.",
    ),
    Control(
        Annotation.ABORT,
        "Deployment",
        "the candidate's version",
        "Roll that candidate back and keep it out; the Deployment stays Aborted until "
        "another version becomes the candidate, the version is withdrawn, or it is retried.",
    ),
    Control(
        Annotation.PAUSED,
        "Deployment",
        '"true"',
        "Hold the rollout where it is, analysis included, for as long as the annotation is there; "
        "removing it resumes.",
    ),
    Control(
        Annotation.RETRY,
        "Deployment",
        "a request id, such as a timestamp",
        "Let the selected version roll out again after it was rolled back or aborted, once per "
        "new value; status.manual records the value, the version and when.",
    ),
    Control(
        Annotation.WITHDRAW,
        "Deployment",
        "the version to withdraw",
        "Keep that version out for good and stay on the stable version, Healthy: a candidate "
        "of that version is let go (history outcome Withdrawn), an aborted or rolled-back one "
        "stops holding the Deployment Aborted or Degraded; status.withdrawn names it. A newer "
        "version rolls out as usual; modelkeeper.io/retry (which removes this annotation) lets "
        "it back in.",
    ),
    Control(
        Annotation.APPROVED_BY,
        "Model",
        "the approvers' user names, comma-separated",
        "Approve the version; each approver appends their own user name (the chart's admission "
        "policy refuses any other change). status.approvals records who and when; the risk tier "
        "says how many are needed (docs/approvals.md).",
    ),
    Control(
        Annotation.CREATED_BY,
        "Model",
        "the creator's user name",
        "Who created the version, set only when it is created, by the creator (the admission "
        "policy checks it). Medium and High risk need it: the creator's own approval does not "
        "count.",
    ),
    Control(
        Annotation.RETRAIN,
        "RetrainPolicy",
        "a request id, such as a timestamp",
        "Start one manual run per new value, past cooldown but within maxConcurrentRuns; "
        "status.manualRequest records the value acted on.",
    ),
)
