"""What `history` and `versions` print, from fixed objects: order, columns, cuts and colour."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from modelkeeper.api.model import ModelResource
from modelkeeper.api.retrainpolicy import RetrainPolicyResource
from modelkeeper.plugin.terminal import OutputFormat, Terminal, human_duration
from modelkeeper.plugin.views import show_history, show_versions
from tests.support.objects import manifest

NOW = datetime(2026, 11, 26, 23, 5, 30, tzinfo=UTC)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def policy(status: dict[str, Any] | None) -> RetrainPolicyResource:
    return RetrainPolicyResource.from_object(
        manifest(
            "RetrainPolicy",
            "fraud-weekly",
            {"model": {"name": "fraud"}, "workload": {"job": {"spec": {}}}},
            status=status,
            namespace="risk",
        )
    )


RUNNING = {
    "name": "fraud-weekly-3",
    "trigger": "Manual",
    "reason": "requested by kubectl modelkeeper retrain",
    "startTime": "2026-11-26T23:00:00Z",
}
SUCCEEDED = {
    "name": "fraud-weekly-2",
    "trigger": "Drift",
    "startTime": "2026-11-26T20:00:00Z",
    "completionTime": "2026-11-26T20:12:30Z",
    "outcome": "Succeeded",
    "model": "fraud-4",
    "message": "fraud 4 beat 3 on auc by 0.02",
}
FAILED = {
    "name": "fraud-weekly-1",
    "trigger": "Schedule",
    "reason": "0 3 * * *",
    "startTime": "2026-11-25T03:00:00Z",
    "completionTime": "2026-11-25T03:01:05Z",
    "outcome": "Failed",
    "message": "Job failed:\n  BackoffLimitExceeded",
}
# History out of order on purpose: the view sorts, it does not trust the order it is given.
POLICY = policy({"active": [RUNNING], "history": [FAILED, SUCCEEDED]})

HISTORY = """\
RUN              TRIGGER    STARTED                DURATION   OUTCOME     MODEL     MESSAGE
fraud-weekly-3   Manual     2026-11-26T23:00:00Z   5m30s      Running     -         requested by kubectl modelkeeper retrain
fraud-weekly-2   Drift      2026-11-26T20:00:00Z   12m        Succeeded   fraud-4   fraud 4 beat 3 on auc by 0.02
fraud-weekly-1   Schedule   2026-11-25T03:00:00Z   65s        Failed      -         Job failed: BackoffLimitExceeded"""  # noqa: E501

HISTORY_CUT_TO_100 = """\
RUN              TRIGGER    STARTED                DURATION   OUTCOME     MODEL     MESSAGE
fraud-weekly-3   Manual     2026-11-26T23:00:00Z   5m30s      Running     -         requested by ku…
fraud-weekly-2   Drift      2026-11-26T20:00:00Z   12m        Succeeded   fraud-4   fraud 4 beat 3…
fraud-weekly-1   Schedule   2026-11-25T03:00:00Z   65s        Failed      -         Job failed: Bac…"""  # noqa: E501


@pytest.mark.parametrize(
    ("terminal", "expected"),
    [
        pytest.param(None, HISTORY, id="not-a-terminal-uncut-uncoloured"),
        pytest.param(Terminal(500, colour=False), HISTORY, id="wide-terminal-without-colour"),
        pytest.param(Terminal(100, colour=False), HISTORY_CUT_TO_100, id="cut-to-the-width"),
    ],
)
def test_history_table(terminal: Terminal | None, expected: str) -> None:
    assert show_history(POLICY, None, NOW, terminal) == expected


def test_a_narrow_terminal_still_shows_the_start_of_each_message() -> None:
    lines = show_history(POLICY, None, NOW, Terminal(40, colour=False)).splitlines()
    assert [line.split("   ")[-1].strip() for line in lines] == [
        "MESSAGE",
        "requested…",
        "fraud 4 b…",
        "Job faile…",
    ]


def test_colour_on_a_terminal_marks_the_outcome_and_changes_no_alignment() -> None:
    coloured = show_history(POLICY, None, NOW, Terminal(500, colour=True))
    assert "\x1b[36mRunning\x1b[0m     -" in coloured
    assert "\x1b[32mSucceeded\x1b[0m   fraud-4" in coloured
    assert "\x1b[31mFailed\x1b[0m      -" in coloured
    assert ANSI.sub("", coloured) == HISTORY


@pytest.mark.parametrize(
    ("output", "load"),
    [
        pytest.param(OutputFormat.JSON, json.loads, id="json"),
        pytest.param(OutputFormat.YAML, yaml.safe_load, id="yaml"),
    ],
)
def test_history_as_data(output: OutputFormat, load: Any) -> None:
    runs = load(show_history(POLICY, output, NOW, Terminal(80, colour=True)))
    assert [run["name"] for run in runs] == ["fraud-weekly-3", "fraud-weekly-2", "fraud-weekly-1"]
    assert runs[1] == {**SUCCEEDED, "reason": "", "workload": None}
    assert runs[0]["completionTime"] is None
    assert runs[0]["outcome"] == "Running"


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        pytest.param(None, "retrainpolicy fraud-weekly: no runs yet", id="table"),
        pytest.param(OutputFormat.JSON, "[]", id="json"),
        pytest.param(OutputFormat.YAML, "[]", id="yaml"),
    ],
)
def test_history_without_runs(output: OutputFormat | None, expected: str) -> None:
    assert show_history(policy(None), output, NOW, None) == expected


def model(
    name: str,
    version: str,
    created: str,
    status: dict[str, Any] | None,
    metrics: dict[str, float],
    risk: str | None = None,
) -> ModelResource:
    governance = {"riskTier": risk} if risk else {}
    return ModelResource.from_object(
        manifest(
            "Model",
            name,
            {
                "name": "fraud",
                "version": version,
                "image": f"registry.example.com/fraud:{version}",
                "metrics": metrics,
                "governance": governance,
            },
            status=status,
            namespace="risk",
            creationTimestamp=created,
        )
    )


APPROVED_AT = "2026-11-24T11:00:00Z"
# In no order; 9 and 10 were created in the same second, so the version decides.
MODELS = [
    model(
        "fraud-1",
        "1",
        "2026-11-20T10:00:00Z",
        {
            "stage": "Retired",
            "approved": True,
            "approval": {"by": "alice", "at": APPROVED_AT, "source": "Annotation"},
        },
        {"auc": 0.88},
    ),
    model("fraud-9", "9", "2026-11-26T20:00:00Z", {"stage": "Rejected", "approved": False}, {}),
    model(
        "fraud-2",
        "2",
        "2026-11-24T10:00:00Z",
        {
            "stage": "Production",
            "approved": True,
            "approval": {"by": "fraud-weekly", "at": APPROVED_AT, "source": "Policy"},
            "servedBy": [{"deployment": "fraud", "role": "Stable"}],
        },
        {"f1": 0.803, "auc": 0.91},
        risk="Medium",
    ),
    model("fraud-10", "10", "2026-11-26T20:00:00Z", None, {"auc": 0.9}),
]

VERSIONS = """\
VERSION   MODEL      STAGE        APPROVED       RISK     METRICS             SERVED BY        AGE
10        fraud-10   -            -              High     auc=0.9             -                3h5m
9         fraud-9    Rejected     no             High     -                   -                3h5m
2         fraud-2    Production   fraud-weekly   Medium   auc=0.91,f1=0.803   fraud (Stable)   2d13h
1         fraud-1    Retired      alice          High     auc=0.88            -                6d13h"""  # noqa: E501


@pytest.mark.parametrize(
    "terminal",
    [
        pytest.param(None, id="not-a-terminal"),
        pytest.param(Terminal(40, colour=False), id="narrow-terminal-cuts-nothing"),
    ],
)
def test_versions_table(terminal: Terminal | None) -> None:
    assert show_versions("fraud", "risk", MODELS, None, NOW, terminal) == VERSIONS


def test_versions_colour_the_stage_and_approval() -> None:
    coloured = show_versions("fraud", "risk", MODELS, None, NOW, Terminal(200, colour=True))
    assert "\x1b[32mProduction\x1b[0m   \x1b[32mfraud-weekly\x1b[0m   Medium" in coloured
    assert "\x1b[31mRejected\x1b[0m     \x1b[33mno\x1b[0m" in coloured
    assert ANSI.sub("", coloured) == VERSIONS


def test_versions_as_data() -> None:
    data = json.loads(show_versions("fraud", "risk", MODELS, OutputFormat.JSON, NOW, None))
    assert [row["version"] for row in data] == ["10", "9", "2", "1"]
    assert data[2] == {
        "model": "fraud-2",
        "version": "2",
        "stage": "Production",
        "approved": True,
        "approvedBy": "fraud-weekly",
        "riskTier": "Medium",
        "metrics": {"f1": 0.803, "auc": 0.91},
        "servedBy": [{"deployment": "fraud", "role": "Stable"}],
        "created": "2026-11-24T10:00:00Z",
    }
    assert yaml.safe_load(show_versions("fraud", "risk", MODELS, OutputFormat.YAML, NOW, None)) == (
        data
    )


def test_a_family_without_versions() -> None:
    assert show_versions("fraud", "risk", [], None, NOW, None) == (
        "no Models of family fraud in namespace risk"
    )


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        pytest.param(-5, "0s", id="clock-skew-is-zero"),
        pytest.param(0, "0s", id="zero"),
        pytest.param(119.9, "119s", id="seconds-below-two-minutes"),
        pytest.param(120, "2m", id="two-minutes"),
        pytest.param(200, "3m20s", id="minutes-and-seconds-below-ten-minutes"),
        pytest.param(600, "10m", id="ten-minutes"),
        pytest.param(3 * 3600 - 1, "179m", id="minutes-below-three-hours"),
        pytest.param(3 * 3600 + 5 * 60, "3h5m", id="hours-and-minutes-below-eight-hours"),
        pytest.param(47 * 3600 + 59 * 60, "47h", id="hours-below-two-days"),
        pytest.param(3 * 86400 + 4 * 3600, "3d4h", id="days-and-hours-below-eight-days"),
        pytest.param(8 * 86400, "8d", id="eight-days"),
        pytest.param(729 * 86400, "729d", id="days-below-two-years"),
        pytest.param(800 * 86400, "2y70d", id="years-and-days"),
        pytest.param(8 * 365 * 86400, "8y", id="years"),
    ],
)
def test_human_duration_reads_like_kubectl(seconds: float, shown: str) -> None:
    assert human_duration(seconds) == shown
