"""The Direct strategy, one step at a time: start beside, switch when ready, drain, retire."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from modelkeeper.api.deployment import DeploymentStatus, Outcome
from modelkeeper.controller.rollout import DecisionReason, Readiness, plan_rollout
from tests.unit.controller.factories import T0, tick


def status(**fields: Any) -> DeploymentStatus:
    return DeploymentStatus.model_validate(fields)


def stable(version: str) -> dict[str, Any]:
    return {"version": version, "model": f"fraud-{version}"}


def candidate(version: str, since_minutes: int = 0) -> dict[str, Any]:
    since = (T0 + timedelta(minutes=since_minutes)).isoformat()
    return {"version": version, "model": f"fraud-{version}", "role": "Canary", "since": since}


def promoted(version: str, seconds_ago: int) -> dict[str, Any]:
    at = (T0 - timedelta(seconds=seconds_ago)).isoformat()
    return {"version": version, "outcome": "Promoted", "started": at, "finished": at}


READY = Readiness(replicas=2, ready=2)
STARTING = Readiness(replicas=2, ready=1)


@pytest.mark.parametrize(
    ("target", "before", "observed", "after", "decisions"),
    [
        pytest.param(
            "1",
            status(),
            {},
            {"stable": "1", "candidate": None, "run": {"1"}, "started": T0},
            [DecisionReason.DEPLOYING],
            id="first-version-is-stable-at-once",
        ),
        pytest.param(
            "1",
            status(stable=stable("1"), stepStarted=T0.isoformat()),
            {"1": READY},
            {"stable": "1", "candidate": None, "run": {"1"}, "started": None},
            [],
            id="first-version-ready-ends-its-deadline",
        ),
        pytest.param(
            "2",
            status(stable=stable("1")),
            {"1": READY},
            {"stable": "1", "candidate": "2", "run": {"1", "2"}, "started": T0},
            [DecisionReason.ROLLOUT_STARTED],
            id="new-version-starts-beside-stable",
        ),
        pytest.param(
            "2",
            status(stable=stable("1"), candidate=candidate("2", -1)),
            {"1": READY, "2": STARTING},
            {"stable": "1", "candidate": "2", "run": {"1", "2"}},
            [],
            id="candidate-not-ready-keeps-waiting",
        ),
        pytest.param(
            "2",
            status(stable=stable("1"), candidate=candidate("2", -1)),
            {"1": READY, "2": READY},
            {"stable": "2", "candidate": None, "run": {"1", "2"}, "started": None},
            [DecisionReason.PROMOTED],
            id="candidate-ready-switches-and-old-drains",
        ),
        pytest.param(
            "2",
            status(stable=stable("2"), history=[promoted("2", 30)]),
            {"1": READY, "2": READY},
            {"stable": "2", "run": {"1", "2"}},
            [],
            id="old-version-runs-during-drain",
        ),
        pytest.param(
            "2",
            status(stable=stable("2"), history=[promoted("2", 61)]),
            {"1": READY, "2": READY},
            {"stable": "2", "run": {"2"}},
            [DecisionReason.RETIRED],
            id="old-version-removed-after-drain",
        ),
        pytest.param(
            "3",
            status(stable=stable("1"), candidate=candidate("2", -1)),
            {"1": READY, "2": STARTING},
            {"stable": "1", "candidate": "3", "run": {"1", "3"}, "started": T0},
            [DecisionReason.SUPERSEDED, DecisionReason.ROLLOUT_STARTED, DecisionReason.RETIRED],
            id="newer-target-supersedes-candidate",
        ),
        pytest.param(
            None,
            status(stable=stable("1"), candidate=candidate("2", -1)),
            {"1": READY, "2": STARTING},
            {"stable": "1", "candidate": None, "run": {"1"}},
            [DecisionReason.WITHDRAWN, DecisionReason.RETIRED],
            id="no-target-withdraws-candidate-keeps-stable",
        ),
    ],
)
def test_plan(
    target: str | None,
    before: DeploymentStatus,
    observed: dict[str, Readiness],
    after: dict[str, Any],
    decisions: list[DecisionReason],
) -> None:
    plan = plan_rollout(tick(target, before, observed))
    for name, value in after.items():
        assert getattr(plan, name) == value, name
    assert [decision.reason for decision in plan.decisions] == decisions


@pytest.mark.parametrize(
    ("minutes", "exceeded"),
    [pytest.param(-9, False, id="within-deadline"), pytest.param(-11, True, id="past-deadline")],
)
def test_progress_deadline(minutes: int, exceeded: bool) -> None:
    before = status(stable=stable("1"), candidate=candidate("2", minutes))
    plan = plan_rollout(tick("2", before, {"1": READY, "2": STARTING}))
    assert plan.deadline_exceeded is exceeded
    assert plan.candidate == "2"


def test_history_is_newest_first_and_bounded() -> None:
    history = [promoted(str(n), 600 + n) for n in range(10)]
    before = status(stable=stable("1"), candidate=candidate("2", -1), history=history)
    plan = plan_rollout(tick("2", before, {"1": READY, "2": READY}))
    assert len(plan.history) == 10
    assert (plan.history[0].version, plan.history[0].outcome) == ("2", Outcome.PROMOTED)
    assert plan.history[0].started == T0 - timedelta(minutes=1)
