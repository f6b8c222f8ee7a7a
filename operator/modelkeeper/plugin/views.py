"""What `kubectl modelkeeper history` and `versions` print: tables for people, data for programs.

The commands read objects and hand them here; everything about how they look (which rows,
in which order, how a duration reads, where a long message is cut, which words are coloured)
is decided in these plain functions, so that it is tested with fixed objects and no cluster.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import yaml
from pydantic import BaseModel

from modelkeeper.api.base import ApiModel
from modelkeeper.api.model import ModelResource, Serving, Stage
from modelkeeper.api.retrainpolicy import RetrainPolicyResource, Run, RunOutcome
from modelkeeper.api.types import RiskTier

NONE = "-"
SEPARATOR = "   "
# The least room a cut column keeps, however narrow the terminal.
NARROWEST_CUT = 10


class OutputFormat(StrEnum):
    """The data formats of -o."""

    JSON = "json"
    YAML = "yaml"


class Tone(StrEnum):
    """How a word is coloured on a terminal, as an ANSI SGR code."""

    PLAIN = ""
    GOOD = "32"
    BAD = "31"
    WARN = "33"
    BUSY = "36"


@dataclass(frozen=True)
class Terminal:
    """Where the output goes when it is a terminal: its width, and whether colour is wanted."""

    width: int
    colour: bool


@dataclass(frozen=True)
class Cell:
    text: str
    tone: Tone = Tone.PLAIN


@dataclass(frozen=True)
class Table:
    """Rows under headers; with `cut_last`, the last column is cut to a terminal's width."""

    headers: tuple[str, ...]
    rows: Sequence[tuple[Cell, ...]]
    cut_last: bool = False

    def render(self, terminal: Terminal | None) -> str:
        """Columns padded as kubectl pads them; coloured and cut only on a terminal."""
        rows = [tuple(Cell(header) for header in self.headers), *self.rows]
        widths = [max(len(row[index].text) for row in rows) for index in range(len(self.headers))]
        room = None
        if self.cut_last and terminal is not None:
            used = sum(widths[:-1]) + len(SEPARATOR) * (len(widths) - 1)
            room = max(terminal.width - used, NARROWEST_CUT)
        lines = []
        for *first, last in rows:
            padded = [
                paint(cell, terminal) + " " * (width - len(cell.text))
                for cell, width in zip(first, widths, strict=False)
            ]
            if room is not None and len(last.text) > room:
                last = Cell(last.text[: room - 1].rstrip() + "…", last.tone)
            lines.append(SEPARATOR.join([*padded, paint(last, terminal)]))
        return "\n".join(lines)


def paint(cell: Cell, terminal: Terminal | None) -> str:
    """The cell's text, in its colour on a terminal that wants colour."""
    if terminal is None or not terminal.colour or cell.tone is Tone.PLAIN:
        return cell.text
    return f"\x1b[{cell.tone}m{cell.text}\x1b[0m"


def human_duration(seconds: float) -> str:
    """A duration as kubectl prints an age: 45s, 3m20s, 12m, 3h5m, 3d4h, 2y70d."""
    whole = max(int(seconds), 0)
    minutes, hours, days = whole // 60, whole // 3600, whole // 86400
    if whole < 120:
        return f"{whole}s"
    if minutes < 10:
        return _two(minutes, "m", whole % 60, "s")
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return _two(hours, "h", minutes % 60, "m")
    if hours < 48:
        return f"{hours}h"
    if days < 8:
        return _two(days, "d", hours % 24, "h")
    if days < 365 * 2:
        return f"{days}d"
    if days < 365 * 8:
        return _two(days // 365, "y", days % 365, "d")
    return f"{days // 365}y"


def _two(big: int, big_unit: str, small: int, small_unit: str) -> str:
    return f"{big}{big_unit}{small}{small_unit}" if small else f"{big}{big_unit}"


def render_data(items: Sequence[BaseModel], output: OutputFormat) -> str:
    """A list of typed items as JSON or YAML, with the field names of the API (camelCase)."""
    data = [item.model_dump(mode="json", by_alias=True) for item in items]
    if output is OutputFormat.JSON:
        return json.dumps(data, indent=2)
    return yaml.safe_dump(data, sort_keys=False).rstrip("\n")


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
        Cell(human_duration(_seconds(run.start_time, run.completion_time or now))),
        Cell(run.outcome, _OUTCOME_TONE[run.outcome]),
        Cell(run.model or NONE),
        Cell(" ".join((run.message or run.reason).split()) or NONE),
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
            _version_order(model.spec.version),
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
        Cell(human_duration(_seconds(version.created, now)) if version.created else NONE),
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


def _version_order(version: str) -> tuple[tuple[int, str], ...]:
    """Numbers compared as numbers, so that 1.10 comes after 1.9."""
    return tuple(
        (int(part), "") if part.isdigit() else (-1, part)
        for part in re.split(r"(\d+)", version)
        if part
    )


def _seconds(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds()
