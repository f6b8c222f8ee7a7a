"""Why a version does not become ready, from its pods' states (finding 5), and what the
plugin's tree shows for each pod, as `kubectl get pods` does."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from modelkeeper.api.conditions import get_condition
from modelkeeper.api.deployment import DeploymentConditionType, ModelSelector, Phase
from modelkeeper.api.selection import select_model
from modelkeeper.controller.cache import pod_view
from modelkeeper.controller.podstates import PodProblem, pod_problem, pod_status_text
from modelkeeper.controller.rollout import Readiness, plan_rollout
from modelkeeper.controller.status import Observation, deployment_status
from tests.unit.controller.factories import APPROVAL, T0, deployment, model, tick

FETCH_FAILED = {
    "name": "fetch-artifact",
    "restartCount": 19,
    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}},
    "lastState": {
        "terminated": {
            "exitCode": 1,
            "reason": "Error",
            "message": "cannot fetch file:///tmp/wine/model.joblib: no such file",
        }
    },
}
FETCH_ERROR_NOW = {
    "name": "fetch-artifact",
    "restartCount": 3,
    "state": {"terminated": {"exitCode": 1, "reason": "Error", "message": "no such file"}},
}
CREATING = {"name": "server", "state": {"waiting": {"reason": "ContainerCreating"}}}
INITIALIZING = {"name": "server", "state": {"waiting": {"reason": "PodInitializing"}}}
RUNNING = {"name": "server", "ready": True, "state": {"running": {}}}


def pod(
    name: str = "wine-1-a",
    inits: list[dict[str, Any]] | None = None,
    containers: list[dict[str, Any]] | None = None,
    **status: Any,
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"modelkeeper.io/version": "1"}},
        "spec": {
            "initContainers": [{"name": c["name"]} for c in inits or []],
            "containers": [{"name": "server"}],
        },
        "status": {
            "phase": "Pending",
            "initContainerStatuses": inits or [],
            "containerStatuses": containers or [],
            **status,
        },
    }


@pytest.mark.parametrize(
    ("pods", "expected"),
    [
        pytest.param(
            [pod(inits=[FETCH_FAILED], containers=[CREATING])],
            PodProblem(
                "InitContainerFailing",
                "pod wine-1-a: init container fetch-artifact CrashLoopBackOff "
                "(exit code 1, 19 restarts): cannot fetch file:///tmp/wine/model.joblib: "
                "no such file",
            ),
            id="missing-artifact-crash-loop",
        ),
        pytest.param(
            [pod(inits=[FETCH_ERROR_NOW], containers=[INITIALIZING])],
            PodProblem(
                "InitContainerFailing",
                "pod wine-1-a: init container fetch-artifact Error (exit code 1, 3 restarts): "
                "no such file",
            ),
            id="init-just-failed",
        ),
        pytest.param(
            [
                pod(
                    containers=[
                        {
                            "name": "server",
                            "state": {
                                "waiting": {
                                    "reason": "ImagePullBackOff",
                                    "message": 'Back-off pulling image "fraud:9"',
                                }
                            },
                        }
                    ]
                )
            ],
            PodProblem(
                "ContainerFailing",
                'pod wine-1-a: container server ImagePullBackOff: Back-off pulling image "fraud:9"',
            ),
            id="image-pull",
        ),
        pytest.param(
            [
                pod(
                    conditions=[
                        {
                            "type": "PodScheduled",
                            "status": "False",
                            "reason": "Unschedulable",
                            "message": "0/1 nodes are available: 1 Insufficient cpu.",
                        }
                    ]
                )
            ],
            PodProblem(
                "Unschedulable",
                "pod wine-1-a cannot be scheduled: 0/1 nodes are available: 1 Insufficient cpu.",
                stuck=False,
            ),
            id="unschedulable",
        ),
        pytest.param(
            [
                pod(
                    containers=[
                        {
                            "name": "server",
                            "restartCount": 2,
                            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                            "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}},
                        }
                    ]
                )
            ],
            PodProblem(
                "ContainerFailing",
                "pod wine-1-a: container server CrashLoopBackOff "
                "(OOMKilled, exit code 137, 2 restarts)",
            ),
            id="over-its-memory-limit",
        ),
        pytest.param([pod(containers=[CREATING])], None, id="still-creating-is-no-problem"),
        pytest.param([pod(containers=[RUNNING], phase="Running")], None, id="running"),
        pytest.param([], None, id="no-pods-yet"),
    ],
)
def test_pod_problem(pods: list[dict[str, Any]], expected: PodProblem | None) -> None:
    assert pod_problem(pods) == expected
    # the operator's index keeps only part of each pod: the part that tells
    assert pod_problem([pod_view(one) for one in pods]) == expected


@pytest.mark.parametrize(
    ("the_pod", "shown"),
    [
        pytest.param(
            pod(inits=[FETCH_FAILED], containers=[CREATING]),
            "Init:CrashLoopBackOff",
            id="init-crash-loop-not-container-creating",
        ),
        pytest.param(
            pod(inits=[FETCH_ERROR_NOW], containers=[INITIALIZING]), "Init:Error", id="init-error"
        ),
        pytest.param(
            pod(
                inits=[{"name": "fetch-artifact", "state": {"running": {}}}],
                containers=[INITIALIZING],
            ),
            "Init:0/1",
            id="init-running",
        ),
        pytest.param(
            pod(
                inits=[{"name": "fetch-artifact", "state": {"terminated": {"exitCode": 0}}}],
                containers=[RUNNING],
                phase="Running",
            ),
            "Running",
            id="running",
        ),
    ],
)
def test_pod_status_text_is_kubectls(the_pod: dict[str, Any], shown: str) -> None:
    assert pod_status_text(the_pod) == shown


def test_a_missing_artifact_makes_the_deployment_degraded_with_the_fetch_steps_words() -> None:
    """Finding 5: on main, `Degraded=False AsExpected: nothing is wrong` for ten minutes."""
    resource = deployment()
    versions = [model("1", approval=APPROVAL)]
    selection = select_model(ModelSelector(name="fraud"), versions, T0)
    observed = {"1": Readiness(1, 0)}
    plan = plan_rollout(tick("1", resource.status, observed, replicas=1))
    problem = pod_problem([pod(inits=[FETCH_FAILED], containers=[CREATING])])
    assert problem is not None
    failing = {"1": problem}
    status = deployment_status(
        Observation(resource, selection, plan, {"1": "fraud-1"}, observed, 1, T0, failing)
    )
    assert status.phase is Phase.DEGRADED
    assert "cannot fetch file:///tmp/wine/model.joblib" in status.message
    degraded = get_condition(status.conditions, DeploymentConditionType.DEGRADED)
    assert degraded is not None
    assert (degraded.status, degraded.reason) == ("True", "InitContainerFailing")
    progressing = get_condition(status.conditions, DeploymentConditionType.PROGRESSING)
    assert progressing is not None
    assert progressing.status == "True"


@pytest.mark.parametrize(
    ("minutes", "phase", "says"),
    [
        pytest.param(5, Phase.PROGRESSING, "waiting for version 1", id="not-before-the-deadline"),
        pytest.param(11, Phase.DEGRADED, "cannot be scheduled", id="named-at-the-deadline"),
    ],
)
def test_an_unschedulable_pod_waits_for_the_deadline_then_is_named(
    minutes: int, phase: Phase, says: str
) -> None:
    """A pod not placed yet may be placed (a node frees or is added): time decides."""
    unplaced = pod(
        conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]
    )
    problem = pod_problem([unplaced])
    assert problem is not None
    resource = deployment()
    selection = select_model(ModelSelector(name="fraud"), [model("1", approval=APPROVAL)], T0)
    observed = {"1": Readiness(1, 0)}
    first = plan_rollout(tick("1", resource.status, observed, replicas=1))
    started = deployment_status(
        Observation(resource, selection, first, {"1": "fraud-1"}, observed, 1, T0)
    )
    later = T0 + timedelta(minutes=minutes)
    plan = plan_rollout(tick("1", started, observed, replicas=1, now=later))
    status = deployment_status(
        Observation(resource, selection, plan, {"1": "fraud-1"}, observed, 1, later, {"1": problem})
    )
    assert status.phase is phase
    assert says in status.message
