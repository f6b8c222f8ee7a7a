"""What `kubectl modelkeeper history` and `versions` print: tables for people, data for programs.

The commands read objects and hand them here; what is shown (which rows, in which order,
which column is cut to the terminal, which words are coloured) is decided in these plain
functions, so that it is tested with fixed objects and no cluster. How a table, an age or the
data look is `modelkeeper.plugin.terminal`'s, shared with `status` and `list`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from modelkeeper.api.base import ApiModel
from modelkeeper.api.model import ModelResource, Serving, Stage
from modelkeeper.api.retrainpolicy import RetrainPolicyResource, Run, RunOutcome
from modelkeeper.api.types import RiskTier
from modelkeeper.plugin.terminal import (
    NONE,
    Cell,
    OutputFormat,
    Table,
    Terminal,
    Tone,
    elapsed,
    one_line,
    render_data,
)

# --- history: the runs of a RetrainPolicy ---

_OUTCOME_TONE = {
    RunOutcome.RUNNING: Tone.BUSY,
    RunOutcome.SUCCEEDED: Tone.GOOD,
    RunOutcome.FAILED: Tone.BAD,
    RunOutcome.REJECTED: Tone.WARN,
}


def history_runs(policy: RetrainPolicyResource) -> list[Run]:
    """The runs going on, then the finished ones; newest first in each."""
    status = policy.status
    newest_first = sorted(status.active, key=lambda run: run.start_time, reverse=True)
    return [*newest_first, *sorted(status.history, key=lambda run: run.start_time, reverse=True)]


def history_table(runs: Sequence[Run], now: datetime) -> Table:
    """RUN, TRIGGER, STARTED, DURATION, OUTCOME, MODEL, MESSAGE; a running run counts to now."""
    return Table(
        ("RUN", "TRIGGER", "STARTED", "DURATION", "OUTCOME", "MODEL", "MESSAGE"),
        [_run_row(run, now) for run in runs],
        cut_last=True,
    )


def _run_row(run: Run, now: datetime) -> tuple[Cell, ...]:
    """One run; its message column says what happened, else why it started."""
    return (
        Cell(run.name),
        Cell(run.trigger),
        Cell(run.start_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")),
        Cell(elapsed(run.start_time, run.completion_time or now)),
        Cell(run.outcome, _OUTCOME_TONE[run.outcome]),
        Cell(run.model or NONE),
        Cell(one_line(run.message or run.reason) or NONE),
    )


def show_history(
    policy: RetrainPolicyResource,
    output: OutputFormat | None,
    now: datetime,
    terminal: Terminal | None,
) -> str:
    """What `history` prints: the table, a line when there are no runs, or the runs as data."""
    runs = history_runs(policy)
    if output is not None:
        return render_data(runs, output)
    if not runs:
        return f"retrainpolicy {policy.metadata.name}: no runs yet"
    return history_table(runs, now).render(terminal)


# --- versions: the Models of a family ---


class Version(ApiModel):
    """One version of a family as `versions -o json|yaml` prints it."""

    model: str
    """The Model object's name."""
    version: str
    """spec.version."""
    stage: Stage | None
    """status.stage."""
    approved: bool | None
    """status.approved."""
    approved_by: str | None
    """Who approved it, from status.approval."""
    risk_tier: RiskTier
    """spec.governance.riskTier."""
    metrics: dict[str, float]
    """spec.metrics."""
    served_by: list[Serving]
    """status.servedBy."""
    created: datetime | None
    """metadata.creationTimestamp."""


_STAGE_TONE = {
    Stage.REGISTERED: Tone.PLAIN,
    Stage.EVALUATING: Tone.BUSY,
    Stage.REJECTED: Tone.BAD,
    Stage.CANDIDATE: Tone.BUSY,
    Stage.PRODUCTION: Tone.GOOD,
    Stage.RETIRED: Tone.PLAIN,
}


def family_versions(models: Sequence[ModelResource]) -> list[Version]:
    """The versions, newest first: by creation, then by version (1.10 after 1.9)."""
    newest_first = sorted(
        models,
        key=lambda model: (
            model.metadata.creation_timestamp or datetime.min.replace(tzinfo=UTC),
            version_order(model.spec.version),
        ),
        reverse=True,
    )
    return [
        Version(
            model=model.metadata.name,
            version=model.spec.version,
            stage=model.status.stage,
            approved=model.status.approved,
            approved_by=model.status.approval.by if model.status.approval else None,
            risk_tier=model.spec.governance.risk_tier,
            metrics=model.spec.metrics,
            served_by=model.status.served_by,
            created=model.metadata.creation_timestamp,
        )
        for model in newest_first
    ]


def versions_table(versions: Sequence[Version], now: datetime) -> Table:
    """VERSION, MODEL, STAGE, APPROVED, RISK, METRICS, SERVED BY, AGE."""
    return Table(
        ("VERSION", "MODEL", "STAGE", "APPROVED", "RISK", "METRICS", "SERVED BY", "AGE"),
        [_version_row(version, now) for version in versions],
    )


def _version_row(version: Version, now: datetime) -> tuple[Cell, ...]:
    metrics = ",".join(f"{name}={value:g}" for name, value in sorted(version.metrics.items()))
    served = ", ".join(f"{serving.deployment} ({serving.role})" for serving in version.served_by)
    return (
        Cell(version.version),
        Cell(version.model),
        Cell(version.stage, _STAGE_TONE[version.stage]) if version.stage else Cell(NONE),
        _approval(version),
        Cell(version.risk_tier),
        Cell(metrics or NONE),
        Cell(served or NONE),
        Cell(elapsed(version.created, now)),
    )


def show_versions(
    family: str,
    namespace: str,
    models: Sequence[ModelResource],
    output: OutputFormat | None,
    now: datetime,
    terminal: Terminal | None,
) -> str:
    """What `versions` prints: the table, a line when the family has none, or the data."""
    versions = family_versions(models)
    if output is not None:
        return render_data(versions, output)
    if not versions:
        return f"no Models of family {family} in namespace {namespace}"
    return versions_table(versions, now).render(terminal)


def _approval(version: Version) -> Cell:
    """Who approved; no when not approved; - until the operator has looked."""
    if version.approved is None:
        return Cell(NONE)
    if not version.approved:
        return Cell("no", Tone.WARN)
    return Cell(version.approved_by or "yes", Tone.GOOD)


def version_order(version: str) -> tuple[tuple[int, str], ...]:
    """Numbers compared as numbers, so that 1.10 comes after 1.9."""
    return tuple(
        (int(part), "") if part.isdigit() else (-1, part)
        for part in re.split(r"(\d+)", version)
        if part
    )
