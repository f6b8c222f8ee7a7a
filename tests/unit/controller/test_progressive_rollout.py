"""Canary, Shadow, BlueGreen and ABTest, one tick at a time, through every success and failure
path.

Each scenario is a table of ticks. The driver keeps nothing between ticks but the
Deployment's status, written to its wire form and read back (what an operator restarted
between any two ticks would read), and it asks `analysis_due` when a run is due: a row
with a run (or an A/B test's reading) is a tick at which a run must be due, and a row
without one a tick at which none may be.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from modelkeeper.api.deployment import (
    AnalysisPhase,
    AnalysisStatus,
    ArmStatus,
    DeploymentStatus,
    ExperimentDecision,
    ExperimentStatus,
    ModelSelector,
    Outcome,
    Phase,
)
from modelkeeper.api.selection import select_model
from modelkeeper.controller.rollout import (
    Controls,
    DecisionReason,
    Readiness,
    analysis_due,
    plan_rollout,
)
from modelkeeper.controller.status import Observation, deployment_status
from tests.unit.controller.factories import APPROVAL, T0, deployment, model, tick

D = DecisionReason
OK, FAIL, NODATA = AnalysisPhase.SUCCESSFUL, AnalysisPhase.FAILED, AnalysisPhase.INCONCLUSIVE
READY = Readiness(2, 2)
STARTING = Readiness(2, 0)


@dataclass(frozen=True)
class Row:
    """One tick: when, what is observed and asked, and what must follow."""

    at: int
    """Seconds after T0."""
    expect: dict[str, Any]
    """Fields of the next status (`phase`, `candidate`, `role`, `step`, `weight`, ...)."""
    decisions: tuple[DecisionReason, ...] = ()
    run: AnalysisPhase | None = None
    reading: ExperimentDecision | None = None
    """An A/B test's reading taken at this tick, deciding this."""
    requests: int | None = 500
    target: str | None = "2"
    waiting: str | None = None
    ready: tuple[str, ...] = ("1", "2")
    annotations: dict[str, str] = field(default_factory=dict)


def _status_fields(status: DeploymentStatus) -> dict[str, Any]:
    candidate = status.candidate
    return {
        "phase": status.phase,
        "stable": status.stable.version if status.stable else None,
        "candidate": candidate.version if candidate else None,
        "role": candidate.role.value if candidate else None,
        "step": status.step,
        "weight": status.weight,
        "mirror": status.mirror_percent,
        "failures": status.analysis_runs[0].failures if status.analysis_runs else 0,
        "outcome": status.history[0].outcome if status.history else None,
        "reading": status.experiment.decision if status.experiment else None,
        "message": status.message,
    }


def simulate(spec: dict[str, Any], rows: list[Row]) -> DeploymentStatus:
    """Run the rows against a Deployment serving version 1 of family fraud."""
    resource = deployment(**spec)
    status = DeploymentStatus.model_validate(
        {"stable": {"version": "1", "model": "fraud-1"}, "phase": "Healthy"}
    )
    models = [model("1", approval=APPROVAL), model("2", approval=APPROVAL, created=1)]
    running = set(rows[0].ready)  # the versions whose servers exist: what the last tick ran
    for row in rows:
        now = T0 + timedelta(seconds=row.at)
        controls = Controls.read(row.annotations)
        due = analysis_due(resource.spec.strategy, status, controls, now)
        taken = row.run is not None or row.reading is not None
        assert (due is not None) == taken, f"at {row.at}s: run due? {due}"
        run: AnalysisStatus | ExperimentStatus | None = None
        if row.run is not None:
            run = AnalysisStatus(
                time=now,
                phase=row.run,
                requests=row.requests,
                message="" if row.requests is not None else "Prometheus unreachable",
            )
        elif row.reading is not None:
            assert due is not None
            assert status.step_started is not None
            assert due.window == now - status.step_started, "the reading covers the whole test"
            run = ExperimentStatus(
                time=now,
                since=status.step_started,
                champion=ArmStatus(version="1"),
                challenger=ArmStatus(version="2"),
                max_samples=1000,
                decision=row.reading,
                message=f"reading {row.reading.value}",
            )
        observed = {v: READY if v in row.ready else STARTING for v in running}
        plan = plan_rollout(
            tick(
                row.target,
                status,
                observed,
                strategy=spec.get("strategy"),
                now=now,
                waiting=row.waiting,
                annotations=row.annotations,
                run=run,
            )
        )
        selection = select_model(ModelSelector(name="fraud", version="1"), models, now)
        observation = Observation(
            resource.model_copy(update={"status": status}),
            selection,
            plan,
            {v: f"fraud-{v}" for v in ("1", "2", "3")},
            observed,
            2,
            now,
        )
        wire = deployment_status(observation).model_dump(mode="json", by_alias=True)
        status = DeploymentStatus.model_validate(wire)
        seen = _status_fields(status)
        for name, value in row.expect.items():
            assert seen[name] == value, f"at {row.at}s: {name} is {seen[name]!r}; {seen}"
        assert tuple(d.reason for d in plan.decisions) == row.decisions, f"at {row.at}s"
        running = set(plan.run)
    return status


ANALYSIS = {"interval": "1m", "metrics": [{"name": "errors", "type": "ErrorRate", "max": 0.05}]}


def canary(analysis: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    steps = [{"setWeight": 20}, {"pause": {"duration": "2m"}}, {"setWeight": 50}]
    body = {"steps": steps, "analysis": (analysis or ANALYSIS) | changes}
    return {"strategy": {"type": "Canary", "canary": body}}


def progressing(candidate: str | None, step: int | None, weight: int | None) -> dict[str, Any]:
    return {"phase": Phase.PROGRESSING, "candidate": candidate, "step": step, "weight": weight}


CANARY_SCENARIOS = [
    pytest.param(
        canary(),
        [
            Row(0, progressing("2", None, 0), (D.ROLLOUT_STARTED,), ready=("1",)),
            Row(10, progressing("2", 0, 20)),
            Row(70, progressing("2", 1, 20), (D.STEP,), run=OK),
            Row(130, progressing("2", 1, 20), run=OK),
            Row(190, progressing("2", 2, 50), (D.STEP,), run=OK),
            Row(
                250,
                {"phase": Phase.HEALTHY, "stable": "2", "candidate": None},
                (D.PROMOTED,),
                run=OK,
            ),
        ],
        id="good-candidate-through-every-step",
    ),
    pytest.param(
        canary(),
        [
            Row(0, progressing("2", 0, 20), (D.ROLLOUT_STARTED,)),
            Row(60, progressing("2", 0, 20) | {"failures": 1}, run=FAIL),
            Row(
                120,
                {"phase": Phase.DEGRADED, "candidate": None, "outcome": Outcome.ROLLED_BACK},
                (D.ROLLED_BACK, D.RETIRED),
                run=FAIL,
            ),
            Row(180, {"phase": Phase.DEGRADED, "stable": "1", "candidate": None}),
            Row(
                200,
                progressing("2", None, 0),
                (D.RETRY, D.ROLLOUT_STARTED),
                annotations={"modelkeeper.io/retry": "r1"},
            ),
        ],
        id="bad-candidate-rolled-back-at-failure-limit-and-kept-out-until-retry",
    ),
    pytest.param(
        canary(),
        [
            Row(0, progressing("2", 0, 20), (D.ROLLOUT_STARTED,)),
            Row(60, {"failures": 1}, run=FAIL),
            Row(120, progressing("2", 1, 20) | {"failures": 0}, (D.STEP,), run=OK),
            Row(180, {"failures": 1, "step": 1}, run=FAIL),
            Row(240, {"failures": 0, "step": 2}, (D.STEP,), run=OK),
        ],
        id="flapping-metric-consecutive-counting-does-not-roll-back",
    ),
    pytest.param(
        canary(countFailures="Total"),
        [
            Row(0, progressing("2", 0, 20), (D.ROLLOUT_STARTED,)),
            Row(60, {"failures": 1}, run=FAIL),
            Row(120, {"failures": 1, "step": 1}, (D.STEP,), run=OK),
            Row(
                180,
                {"phase": Phase.DEGRADED, "candidate": None},
                (D.ROLLED_BACK, D.RETIRED),
                run=FAIL,
            ),
        ],
        id="flapping-metric-total-counting-rolls-back",
    ),
    pytest.param(
        canary(),
        [
            Row(0, progressing("2", 0, 20), (D.ROLLOUT_STARTED,)),
            Row(60, {"phase": Phase.PAUSED, "step": 0, "weight": 20}, run=NODATA, requests=None),
            Row(120, {"phase": Phase.PAUSED, "step": 0, "failures": 0}, run=NODATA, requests=None),
            Row(180, progressing("2", 1, 20), (D.STEP,), run=OK),
        ],
        id="missing-data-pauses-without-promotion-or-rollback-then-continues",
    ),
    pytest.param(
        canary(onMissingData="Fail"),
        [
            Row(0, progressing("2", 0, 20), (D.ROLLOUT_STARTED,)),
            Row(60, progressing("2", 0, 20) | {"failures": 1}, run=NODATA, requests=None),
            Row(
                120,
                {"phase": Phase.DEGRADED},
                (D.ROLLED_BACK, D.RETIRED),
                run=NODATA,
                requests=None,
            ),
        ],
        id="missing-data-policy-fail-counts-failures",
    ),
    pytest.param(
        canary(onMissingData="Ignore"),
        [
            Row(0, progressing("2", 0, 20), (D.ROLLOUT_STARTED,)),
            Row(60, progressing("2", 1, 20), (D.STEP,), run=NODATA, requests=None),
        ],
        id="missing-data-policy-ignore-moves-on",
    ),
    pytest.param(
        canary(),
        [
            Row(0, progressing("2", 0, 20), (D.ROLLOUT_STARTED,)),
            Row(
                60,
                {"phase": Phase.PAUSED, "step": 0, "weight": 20},
                annotations={"modelkeeper.io/paused": "true"},
            ),
            Row(
                200,
                {"phase": Phase.PAUSED, "step": 0},
                annotations={"modelkeeper.io/paused": "true"},
            ),
            Row(210, progressing("2", 1, 20), (D.STEP,), run=OK),
        ],
        id="paused-by-annotation-holds-analysis-too-then-resumes",
    ),
    pytest.param(
        canary(),
        [
            Row(0, progressing("2", 0, 20), (D.ROLLOUT_STARTED,)),
            Row(
                5,
                progressing("2", 1, 20),
                (D.STEP,),
                annotations={"modelkeeper.io/promote-step": "a"},
            ),
            Row(10, progressing("2", 1, 20), annotations={"modelkeeper.io/promote-step": "a"}),
            Row(
                15,
                progressing("2", 2, 50),
                (D.STEP,),
                annotations={"modelkeeper.io/promote-step": "b"},
            ),
            Row(
                20,
                {"phase": Phase.HEALTHY, "stable": "2"},
                (D.PROMOTED,),
                annotations={"modelkeeper.io/promote": "2"},
            ),
        ],
        id="promote-one-step-per-request-then-full",
    ),
    pytest.param(
        canary(),
        [
            Row(0, progressing("2", 0, 20), (D.ROLLOUT_STARTED,)),
            Row(
                30,
                {"phase": Phase.ABORTED, "candidate": None, "outcome": Outcome.ABORTED},
                (D.ABORTED, D.RETIRED),
                annotations={"modelkeeper.io/abort": "2"},
            ),
            Row(90, {"phase": Phase.ABORTED}, annotations={"modelkeeper.io/abort": "2"}),
            Row(120, {"phase": Phase.ABORTED}),
            Row(150, progressing("3", None, 0), (D.ROLLOUT_STARTED,), target="3", ready=("1",)),
        ],
        id="abort-holds-until-another-version-is-selected",
    ),
    pytest.param(
        canary(),
        [
            Row(0, progressing("2", 0, 20), (D.ROLLOUT_STARTED,)),
            Row(
                30,
                progressing("3", None, 0),
                (D.SUPERSEDED, D.ROLLOUT_STARTED, D.RETIRED),
                target="3",
                ready=("1", "2"),
            ),
            Row(
                40,
                {"candidate": None, "phase": Phase.HEALTHY},
                (D.WITHDRAWN, D.RETIRED),
                target="1",
            ),
        ],
        id="superseded-then-withdrawn",
    ),
    # Finding 10: after an abort, the phase stayed Aborted for ever; a withdrawal ends that.
    pytest.param(
        canary(),
        [
            Row(0, progressing("2", 0, 20), (D.ROLLOUT_STARTED,)),
            Row(
                30,
                {"phase": Phase.ABORTED, "candidate": None, "outcome": Outcome.ABORTED},
                (D.ABORTED, D.RETIRED),
                annotations={"modelkeeper.io/abort": "2"},
            ),
            Row(
                60,
                {
                    "phase": Phase.HEALTHY,
                    "stable": "1",
                    "candidate": None,
                    "outcome": Outcome.ABORTED,
                    "message": "version 1 serves; version 2 is withdrawn "
                    "(kubectl modelkeeper retry lets it back in)",
                },
                annotations={"modelkeeper.io/abort": "2", "modelkeeper.io/withdraw": "2"},
                ready=("1",),
            ),
            Row(
                90,
                {"phase": Phase.HEALTHY, "candidate": None},
                annotations={"modelkeeper.io/withdraw": "2"},
                ready=("1",),
            ),
            Row(120, progressing("3", None, 0), (D.ROLLOUT_STARTED,), target="3", ready=("1",)),
        ],
        id="withdraw-after-abort-is-healthy-on-stable-until-a-new-version",
    ),
    pytest.param(
        canary(),
        [
            Row(0, progressing("2", 0, 20), (D.ROLLOUT_STARTED,)),
            Row(
                30,
                {"phase": Phase.HEALTHY, "candidate": None, "outcome": Outcome.WITHDRAWN},
                (D.WITHDRAWN, D.RETIRED),
                annotations={"modelkeeper.io/withdraw": "2"},
            ),
            Row(
                60,
                {"phase": Phase.HEALTHY, "candidate": None},
                annotations={"modelkeeper.io/withdraw": "2"},
                ready=("1",),
            ),
            # retry removes the withdrawal (controls.py): the version rolls out again.
            Row(
                90,
                progressing("2", None, 0),
                (D.RETRY, D.ROLLOUT_STARTED),
                annotations={"modelkeeper.io/retry": "r1"},
                ready=("1",),
            ),
        ],
        id="withdraw-a-candidate-then-retry",
    ),
]


@pytest.mark.parametrize(("spec", "rows"), CANARY_SCENARIOS)
def test_canary(spec: dict[str, Any], rows: list[Row]) -> None:
    simulate(spec, rows)


SHADOW = {
    "mirrorPercent": 50,
    "duration": "2m",
    "minRequests": 100,
    "interval": "1m",
    "onSuccess": "Canary",
}


def shadow(**changes: Any) -> dict[str, Any]:
    steps = [{"setWeight": 50}, {"pause": {"duration": "1m"}}]
    return {"strategy": {"type": "Shadow", "shadow": SHADOW | changes, "canary": {"steps": steps}}}


def mirroring(step: int | None, mirror: int | None, phase: Phase = Phase.PROGRESSING) -> Any:
    return {"phase": phase, "candidate": "2", "role": "Shadow", "step": step, "mirror": mirror}


SHADOW_SCENARIOS = [
    pytest.param(
        shadow(),
        [
            Row(0, mirroring(None, 0), (D.ROLLOUT_STARTED,), ready=("1",), target="1", waiting="2"),
            Row(10, mirroring(0, 50), target="1", waiting="2"),
            Row(70, mirroring(0, 50), run=OK, requests=60, target="1", waiting="2"),
            Row(130, mirroring(0, 50, Phase.PAUSED), run=OK, requests=120, target="1", waiting="2"),
            Row(150, {"role": "Canary", "step": 1, "weight": 50}, (D.SHADOW_PASSED, D.STEP)),
            Row(210, {"phase": Phase.HEALTHY, "stable": "2"}, (D.PROMOTED,)),
        ],
        id="unapproved-is-shadowed-never-weighted-then-approved-canary",
    ),
    pytest.param(
        shadow(),
        [
            Row(0, mirroring(0, 50), (D.ROLLOUT_STARTED,)),
            Row(60, mirroring(0, 50), run=OK, requests=40),
            Row(120, mirroring(0, 50), run=OK, requests=80),
            Row(180, {"role": "Canary", "weight": 50}, (D.SHADOW_PASSED, D.STEP), run=OK),
        ],
        id="judged-only-after-duration-and-min-requests",
    ),
    pytest.param(
        shadow(),
        [
            Row(0, mirroring(0, 50), (D.ROLLOUT_STARTED,)),
            Row(60, mirroring(0, 50), run=FAIL),
            Row(
                120,
                {"phase": Phase.DEGRADED, "candidate": None, "outcome": Outcome.ROLLED_BACK},
                (D.ROLLED_BACK, D.RETIRED),
                run=FAIL,
            ),
        ],
        id="disagreeing-shadow-rolled-back-at-judgement",
    ),
    pytest.param(
        shadow(),
        [
            Row(0, mirroring(0, 50), (D.ROLLOUT_STARTED,)),
            Row(120, mirroring(0, 50, Phase.PAUSED), run=NODATA, requests=None),
            Row(180, {"role": "Canary"}, (D.SHADOW_PASSED, D.STEP), run=OK),
        ],
        id="no-data-at-judgement-pauses",
    ),
    pytest.param(
        shadow(onSuccess="Hold"),
        [
            Row(0, mirroring(0, 50), (D.ROLLOUT_STARTED,)),
            Row(120, mirroring(0, 50, Phase.PAUSED), run=OK),
            Row(
                130,
                {"phase": Phase.HEALTHY, "stable": "2"},
                (D.PROMOTED,),
                annotations={"modelkeeper.io/promote-step": "x"},
            ),
        ],
        id="hold-until-promoted",
    ),
    pytest.param(
        shadow(onSuccess="Promote"),
        [
            Row(0, mirroring(0, 50), (D.ROLLOUT_STARTED,)),
            Row(120, {"phase": Phase.HEALTHY, "stable": "2"}, (D.PROMOTED,), run=OK),
        ],
        id="promote-on-success",
    ),
]


@pytest.mark.parametrize(("spec", "rows"), SHADOW_SCENARIOS)
def test_shadow(spec: dict[str, Any], rows: list[Row]) -> None:
    simulate(spec, rows)


def blue_green(**changes: Any) -> dict[str, Any]:
    analysis = ANALYSIS | {"interval": "30s"}
    body = {"previewDuration": "1m", "analysis": analysis, "scaleDownDelay": "30s"} | changes
    return {"strategy": {"type": "BlueGreen", "blueGreen": body}}


def preview(phase: Phase = Phase.PROGRESSING) -> dict[str, Any]:
    return {"phase": phase, "candidate": "2", "role": "Preview", "weight": 0}


BLUE_GREEN_SCENARIOS = [
    pytest.param(
        blue_green(),
        [
            Row(0, preview() | {"step": None}, (D.ROLLOUT_STARTED,), ready=("1",)),
            Row(10, preview() | {"step": 0}),
            Row(40, preview(), run=OK),
            Row(70, {"phase": Phase.HEALTHY, "stable": "2"}, (D.PROMOTED,), run=OK),
            Row(99, {"phase": Phase.HEALTHY}),
            Row(101, {"phase": Phase.HEALTHY}, (D.RETIRED,)),
        ],
        id="preview-analysis-switch-old-kept-for-scale-down-delay",
    ),
    pytest.param(
        blue_green(autoPromote=False),
        [
            Row(0, preview(), (D.ROLLOUT_STARTED,)),
            Row(30, preview(), run=OK),
            Row(60, preview(Phase.PAUSED), run=OK),
            Row(
                70,
                {"phase": Phase.HEALTHY, "stable": "2"},
                (D.PROMOTED,),
                annotations={"modelkeeper.io/promote-step": "go"},
            ),
        ],
        id="manual-switch",
    ),
    pytest.param(
        blue_green(analysis=ANALYSIS | {"interval": "30s", "failureLimit": 1}),
        [
            Row(0, preview(), (D.ROLLOUT_STARTED,)),
            Row(
                30,
                {"phase": Phase.DEGRADED, "candidate": None},
                (D.ROLLED_BACK, D.RETIRED),
                run=FAIL,
            ),
        ],
        id="failed-preview-rolled-back",
    ),
]


@pytest.mark.parametrize(("spec", "rows"), BLUE_GREEN_SCENARIOS)
def test_blue_green(spec: dict[str, Any], rows: list[Row]) -> None:
    simulate(spec, rows)


def test_rollback_reason_names_the_failed_check() -> None:
    failing = AnalysisStatus.model_validate(
        {
            "time": (T0 + timedelta(seconds=60)).isoformat(),
            "phase": "Failed",
            "metrics": [
                {"name": "errors", "phase": "Failed", "value": 0.3, "message": "0.3 above 0.05"}
            ],
        }
    )
    status = DeploymentStatus.model_validate(
        {
            "stable": {"version": "1", "model": "fraud-1"},
            "candidate": {"version": "2", "model": "fraud-2", "role": "Canary", "since": T0},
            "step": 0,
            "stepStarted": T0,
            "analysisRuns": [{"time": T0 + timedelta(seconds=1), "phase": "Failed", "failures": 1}],
        }
    )
    plan = plan_rollout(
        tick(
            "2",
            status,
            {"1": READY, "2": READY},
            strategy=canary()["strategy"],
            now=T0 + timedelta(seconds=60),
            run=failing,
        )
    )
    assert plan.candidate is None
    assert plan.history[0].outcome is Outcome.ROLLED_BACK
    assert "0.3 above 0.05" in plan.history[0].reason


def test_wakes_at_the_next_run_or_pause_end() -> None:
    status = DeploymentStatus.model_validate(
        {
            "stable": {"version": "1", "model": "fraud-1"},
            "candidate": {"version": "2", "model": "fraud-2", "role": "Canary", "since": T0},
            "step": 1,
            "stepStarted": T0,
        }
    )
    plan = plan_rollout(
        tick("2", status, {"1": READY, "2": READY}, strategy=canary()["strategy"], now=T0)
    )
    assert plan.wake_at == T0 + timedelta(minutes=1)


AB_TEST = {
    "type": "ABTest",
    "abTest": {"weight": 30, "minimumDetectableEffect": 0.05, "interval": "1m"},
}
CONTINUE, PROMOTE, ROLL_BACK, INCONCLUSIVE = ExperimentDecision


def split(reading: ExperimentDecision | None = None) -> dict[str, Any]:
    return progressing("2", 0, 30) | {"role": "Canary", "reading": reading}


AB_TEST_SCENARIOS = [
    pytest.param(
        [
            Row(0, progressing("2", None, 0), (D.ROLLOUT_STARTED,), ready=("1",)),
            Row(10, split()),
            Row(70, split(CONTINUE), reading=CONTINUE),
            Row(130, split(CONTINUE), reading=CONTINUE),
            Row(
                190,
                {"phase": Phase.HEALTHY, "stable": "2", "candidate": None, "reading": PROMOTE},
                (D.PROMOTED,),
                reading=PROMOTE,
            ),
        ],
        id="better-challenger-split-at-fixed-weight-then-promoted",
    ),
    pytest.param(
        [
            Row(0, split(), (D.ROLLOUT_STARTED,)),
            Row(
                60,
                {"phase": Phase.DEGRADED, "candidate": None, "outcome": Outcome.ROLLED_BACK},
                (D.ROLLED_BACK, D.RETIRED),
                reading=ROLL_BACK,
            ),
            Row(120, {"phase": Phase.DEGRADED, "stable": "1", "candidate": None}),
        ],
        id="worse-challenger-rolled-back-and-kept-out",
    ),
    pytest.param(
        [
            Row(0, split(), (D.ROLLOUT_STARTED,)),
            Row(
                60,
                {
                    "phase": Phase.HEALTHY,
                    "stable": "1",
                    "candidate": None,
                    "outcome": Outcome.INCONCLUSIVE,
                    "reading": INCONCLUSIVE,
                    "message": "version 2 was inconclusive (A/B test: reading Inconclusive); 1 "
                    "keeps serving; kubectl modelkeeper retry rolls it out again",
                },
                (D.EXPERIMENT_INCONCLUSIVE, D.RETIRED),
                reading=INCONCLUSIVE,
            ),
            Row(120, {"phase": Phase.HEALTHY, "stable": "1", "candidate": None}),
            Row(
                130,
                progressing("2", None, 0) | {"reading": None},
                (D.RETRY, D.ROLLOUT_STARTED),
                annotations={"modelkeeper.io/retry": "r1"},
                ready=("1",),
            ),
        ],
        id="inconclusive-at-max-samples-keeps-the-champion-until-retry-starts-a-new-test",
    ),
    pytest.param(
        [
            Row(0, split(), (D.ROLLOUT_STARTED,)),
            Row(60, split(CONTINUE), reading=CONTINUE),
            Row(
                70,
                {"phase": Phase.HEALTHY, "stable": "2", "candidate": None},
                (D.PROMOTED,),
                annotations={"modelkeeper.io/promote": "2"},
            ),
        ],
        id="a-person-promotes-before-the-test-decides",
    ),
]


@pytest.mark.parametrize("rows", AB_TEST_SCENARIOS)
def test_ab_test(rows: list[Row]) -> None:
    simulate({"strategy": AB_TEST}, rows)
