"""Why a version's scoring servers do not become ready, read from their pods' states.

Pure: pods in (as the API server returns them), a short summary and a reason out. The
operator puts the reason into the Deployment's Degraded condition and message, and the
kubectl plugin shows each pod's status the way `kubectl get pods` does (`Init:Error`,
`Init:CrashLoopBackOff`, `Init:0/2`), so that a missing artifact says "the fetch step failed:
<its last words>" rather than "not ready within the progress deadline".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modelkeeper.api.conditions import quoted_tail

Pod = Mapping[str, Any]

FAILING_WAITS = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
"""Waiting reasons that do not end by themselves: something has to be fixed."""


@dataclass(frozen=True)
class PodProblem:
    """Why a pod does not become ready: a CamelCase reason and a message for people."""

    reason: str
    message: str
    stuck: bool = True
    """Whether it needs a fix (a crash loop, an image that cannot be pulled) rather than
    time: a pod that cannot be scheduled yet may be placed once a node frees or is added,
    so it is reported when the progress deadline passes, not before."""


def _last_words(container: Mapping[str, Any]) -> str:
    """The container's termination message (now, or of its last run), on one line."""
    for state in (container.get("state", {}), container.get("lastState", {})):
        terminated = state.get("terminated")
        if terminated and terminated.get("message"):
            return quoted_tail(str(terminated["message"]))
    return ""


def _exit(container: Mapping[str, Any]) -> str:
    """How its last run ended: the exit code, after the kubelet's reason when that says
    more than "Error" (OOMKilled: the container went over its memory limit)."""
    for state in (container.get("state", {}), container.get("lastState", {})):
        terminated = state.get("terminated")
        if terminated and terminated.get("exitCode") not in (None, 0):
            reason = terminated.get("reason")
            code = f"exit code {terminated['exitCode']}"
            return f"{reason}, {code}" if reason and reason != "Error" else code
    return ""


def _container_failure(container: Mapping[str, Any]) -> str | None:
    """The container's failing state (a waiting reason that needs a fix, or a failed exit)."""
    state = container.get("state", {})
    waiting = state.get("waiting") or {}
    if waiting.get("reason") in FAILING_WAITS:
        return str(waiting["reason"])
    terminated = state.get("terminated") or {}
    if terminated and terminated.get("exitCode", 0) != 0:
        return str(terminated.get("reason") or "Error")
    return None


def _describe(pod: Pod, kind: str, container: Mapping[str, Any], failure: str) -> str:
    details = [
        part
        for part in (
            _exit(container),
            f"{container.get('restartCount', 0)} restarts" if container.get("restartCount") else "",
        )
        if part
    ]
    waiting = (container.get("state", {}).get("waiting") or {}).get("message", "")
    words = _last_words(container) or quoted_tail(str(waiting))
    head = f"pod {pod['metadata']['name']}: {kind} {container.get('name')} {failure}"
    head += f" ({', '.join(details)})" if details else ""
    return f"{head}: {words}" if words else head


def pod_problem(pods: Sequence[Pod]) -> PodProblem | None:
    """The first failing pod's problem, init containers first, or None when none is failing.

    None also while pods only start (pulling, creating): time and the progress deadline
    decide about those.
    """
    for pod in sorted(pods, key=lambda pod: pod["metadata"]["name"]):
        if pod["metadata"].get("deletionTimestamp"):
            continue
        status = pod.get("status", {})
        for condition in status.get("conditions", []):
            if condition.get("type") == "PodScheduled" and condition.get("reason") == (
                "Unschedulable"
            ):
                return PodProblem(
                    "Unschedulable",
                    f"pod {pod['metadata']['name']} cannot be scheduled: "
                    f"{condition.get('message', '')}".rstrip(": "),
                    stuck=False,
                )
        for kind, key, reason in (
            ("init container", "initContainerStatuses", "InitContainerFailing"),
            ("container", "containerStatuses", "ContainerFailing"),
        ):
            for container in status.get(key, []):
                failure = _container_failure(container)
                if failure is not None:
                    return PodProblem(reason, _describe(pod, kind, container, failure))
        if status.get("phase") == "Failed":
            return PodProblem(
                "PodFailed",
                f"pod {pod['metadata']['name']} failed: "
                f"{status.get('reason', '')} {status.get('message', '')}".strip(),
            )
    return None


def pod_status_text(pod: Pod) -> str:
    """The STATUS column of `kubectl get pods` for one pod."""
    status = pod.get("status", {})
    if pod["metadata"].get("deletionTimestamp"):
        return "Terminating"
    inits = status.get("initContainerStatuses", [])
    total = len(pod.get("spec", {}).get("initContainers", [])) or len(inits)
    for index, container in enumerate(inits):
        state = container.get("state", {})
        terminated = state.get("terminated") or {}
        if terminated and terminated.get("exitCode", 0) == 0:
            continue
        if terminated:
            return f"Init:{terminated.get('reason') or 'Error'}"
        waiting = (state.get("waiting") or {}).get("reason")
        if waiting and waiting != "PodInitializing":
            return f"Init:{waiting}"
        return f"Init:{index}/{total}"
    for container in status.get("containerStatuses", []):
        state = container.get("state", {})
        waiting = (state.get("waiting") or {}).get("reason")
        if waiting:
            return str(waiting)
        terminated = state.get("terminated") or {}
        if terminated:
            return str(terminated.get("reason") or "Completed")
    return str(status.get("reason") or status.get("phase") or "Unknown")
