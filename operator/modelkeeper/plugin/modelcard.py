"""What `kubectl modelkeeper audit` prints: a table for people, the record as data, or a model card.

Pure: the record (`plugin/audit.py`) in, text out. The table has one row per version, the
verdicts and names cut short; JSON and YAML hold the whole record with the API's field
names; Markdown is a model card an auditor reads: per version its lineage, metrics, gate and
fairness verdicts, approvals, trigger, rollouts and Events.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import StrEnum

import yaml

from modelkeeper.api.model import DataRef, FairnessVerdict, GateResult
from modelkeeper.plugin.audit import FamilyAudit, VersionAudit
from modelkeeper.plugin.terminal import NONE, Cell, Table, Terminal, Tone


class AuditFormat(StrEnum):
    """The formats of `audit -o`; without -o, a table."""

    JSON = "json"
    YAML = "yaml"
    MARKDOWN = "markdown"


def _time(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else NONE


def _short(data: DataRef) -> str:
    """A data set by its file name and the start of its digest."""
    name = data.uri.rstrip("/").rsplit("/", 1)[-1]
    return f"{name}@{data.sha256[:8]}" if data.sha256 else name


def _figures(evaluation: GateResult) -> str:
    champion = (
        f" vs {evaluation.champion_value:.6g}" if evaluation.champion_value is not None else ""
    )
    return f"{evaluation.metric} {evaluation.value:.6g}{champion}"


def _fairness_figures(fairness: FairnessVerdict) -> str:
    figures = [
        f"{label} {value:.4g}"
        for label, value in (
            ("dpd", fairness.demographic_parity_difference),
            ("eod", fairness.equal_opportunity_difference),
        )
        if value is not None
    ]
    return f"{fairness.attribute}: {' '.join(figures) or 'not measured'}"


def _verdict(passed: bool, text: str) -> Cell:
    return Cell(f"{'passed' if passed else 'failed'} {text}", Tone.GOOD if passed else Tone.BAD)


def _row(version: VersionAudit) -> tuple[Cell, ...]:
    lineage = version.lineage
    data = lineage.training_data if lineage else []
    trained_on = _short(data[0]) + (f" +{len(data) - 1}" if len(data) > 1 else "") if data else NONE
    code = NONE
    if lineage is not None:
        code = (
            lineage.code_image_digest[:19]
            if lineage.code_image_digest
            else lineage.code_image or NONE
        )
    evaluation = version.evaluation
    gate = _verdict(evaluation.passed, _figures(evaluation)) if evaluation else Cell(NONE)
    fairness = evaluation.fairness if evaluation else None
    fair = _verdict(fairness.passed, _fairness_figures(fairness)) if fairness else Cell(NONE)
    approvals = ", ".join(f"{entry.by} ({entry.source})" for entry in version.approvals)
    rollouts = [f"{rollout.outcome} in {rollout.deployment}" for rollout in version.rollouts]
    rollouts += [f"serving: {serving.deployment} ({serving.role})" for serving in version.served_by]
    return (
        Cell(version.version),
        Cell(version.stage or NONE),
        Cell(version.trigger.trigger or NONE if version.trigger else NONE),
        Cell(trained_on),
        Cell(code),
        gate,
        fair,
        Cell(approvals or NONE),
        Cell(", ".join(rollouts) or NONE),
    )


def audit_table(record: FamilyAudit) -> Table:
    """VERSION, STAGE, TRIGGER, TRAINED ON, CODE, GATE, FAIRNESS, APPROVED BY, ROLLOUTS."""
    return Table(
        (
            "VERSION",
            "STAGE",
            "TRIGGER",
            "TRAINED ON",
            "CODE",
            "GATE",
            "FAIRNESS",
            "APPROVED BY",
            "ROLLOUTS",
        ),
        [_row(version) for version in record.versions],
        cut_last=True,
    )


def _cell(text: object) -> str:
    """Text safe in a Markdown table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _markdown_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    return lines


def _data(data: DataRef) -> str:
    return f"`{data.uri}`" + (f" (sha256 `{data.sha256}`)" if data.sha256 else "")


def _lineage(version: VersionAudit) -> list[str]:
    lineage = version.lineage
    if lineage is None:
        return ["No lineage recorded."]
    lines = [f"- Training data: {_data(data)}" for data in lineage.training_data]
    if lineage.holdout is not None:
        lines.append(f"- Holdout: {_data(lineage.holdout)}")
    if lineage.code_image or lineage.code_image_digest:
        digest = f" (digest `{lineage.code_image_digest}`)" if lineage.code_image_digest else ""
        lines.append(f"- Code image: `{lineage.code_image or NONE}`{digest}")
    if lineage.parameters:
        listed = ", ".join(
            f"`{name}={value}`" for name, value in sorted(lineage.parameters.items())
        )
        lines.append(f"- Parameters: {listed}")
    if lineage.parent_version:
        lines.append(f"- Parent version: {lineage.parent_version}")
    return lines or ["No lineage recorded."]


def _gate(evaluation: GateResult | None) -> list[str]:
    if evaluation is None:
        return ["Not judged by a RetrainPolicy's gate."]
    lines = [f"**{'Passed' if evaluation.passed else 'Failed'}**: {evaluation.message}", ""]
    champion = f"champion {evaluation.champion}" if evaluation.champion else "champion"
    lines += _markdown_table(
        ("metric", "this version", champion, "measured on"),
        [
            (
                evaluation.metric,
                f"{evaluation.value:.6g}",
                NONE if evaluation.champion_value is None else f"{evaluation.champion_value:.6g}",
                _short(evaluation.holdout) if evaluation.holdout else NONE,
            )
        ],
    )
    fairness = evaluation.fairness
    if fairness is not None:
        lines += [
            "",
            f"Fairness over `{fairness.attribute}`"
            + (f" (positive: `{fairness.positive}`)" if fairness.positive else "")
            + f": **{'passed' if fairness.passed else 'failed'}**",
            "",
        ]
        lines += _markdown_table(
            ("figure", "value", "bound"),
            [
                (
                    label,
                    NONE if value is None else f"{value:.6g}",
                    NONE if bound is None else f"{bound:.6g}",
                )
                for label, value, bound in (
                    (
                        "demographic parity difference",
                        fairness.demographic_parity_difference,
                        fairness.max_demographic_parity_difference,
                    ),
                    (
                        "equal opportunity difference",
                        fairness.equal_opportunity_difference,
                        fairness.max_equal_opportunity_difference,
                    ),
                )
            ],
        )
    return lines


def _version_card(version: VersionAudit) -> list[str]:
    artifact = version.artifact
    serves = (
        f"`{artifact.uri}` ({artifact.format}"
        + (f", sha256 `{artifact.sha256}`" if artifact.sha256 else "")
        + ")"
        if artifact
        else f"`{version.image}` (model image)"
    )
    lines = [f"## Version {version.version} (`{version.model}`)", ""]
    lines += _markdown_table(
        ("", ""),
        [
            ("Stage", version.stage or NONE),
            ("Created", _time(version.created)),
            ("Owner", version.owner or NONE),
            ("Created by", version.created_by or NONE),
            ("Risk tier", version.risk_tier),
            ("Serves", serves),
            (
                "Serving now",
                ", ".join(f"{s.deployment} ({s.role})" for s in version.served_by) or NONE,
            ),
        ],
    )
    lines += ["", "### Lineage", "", *_lineage(version), "", "### Trigger", ""]
    trigger = version.trigger
    if trigger is None:
        lines.append("Not produced by a retraining run.")
    else:
        lines += [
            f"- Run: `{trigger.run}` of RetrainPolicy `{trigger.policy}`"
            + (f", {trigger.outcome}" if trigger.outcome else ""),
            f"- Trigger: {trigger.trigger or NONE}: {trigger.reason or NONE}",
            f"- Started {_time(trigger.started)}, finished {_time(trigger.finished)}",
        ]
    lines += ["", "### Metrics", ""]
    if version.metrics:
        lines += _markdown_table(
            ("metric", "value"),
            [(name, f"{value:.6g}") for name, value in sorted(version.metrics.items())],
        )
    else:
        lines.append("None recorded.")
    lines += ["", "### Gate", "", *_gate(version.evaluation), "", "### Approvals", ""]
    if version.approvals:
        lines += _markdown_table(
            ("by", "at", "source"),
            [(entry.by, _time(entry.at), entry.source) for entry in version.approvals],
        )
    else:
        lines.append("Not approved.")
    lines += ["", "### Rollouts", ""]
    if version.rollouts:
        lines += _markdown_table(
            ("deployment", "outcome", "started", "finished", "reason"),
            [
                (r.deployment, r.outcome, _time(r.started), _time(r.finished), r.reason)
                for r in version.rollouts
            ],
        )
    else:
        lines.append("No finished rollout recorded.")
    lines += ["", "### Events", ""]
    if version.events:
        lines += _markdown_table(
            ("time", "type", "reason", "message"),
            [(_time(e.time), e.type, e.reason, e.message) for e in version.events],
        )
    else:
        lines.append("None kept by the API server.")
    return lines


def model_card(record: FamilyAudit) -> str:
    """The record as a Markdown model card, oldest version first."""
    lines = [
        f"# Model card: {record.family}",
        "",
        f"Namespace `{record.namespace}`, assembled {_time(record.generated)} from the API "
        "server's Models, RetrainPolicies, Deployments and Events.",
    ]
    if not record.versions:
        lines += ["", "No versions."]
    for version in record.versions:
        lines += ["", *_version_card(version)]
    return "\n".join(lines) + "\n"


def show_audit(record: FamilyAudit, output: AuditFormat | None, terminal: Terminal | None) -> str:
    """What `audit` prints: the table (a line when the family has no versions), data or a card."""
    if output is AuditFormat.MARKDOWN:
        return model_card(record).rstrip("\n")
    if output is not None:
        data = record.model_dump(mode="json", by_alias=True)
        if output is AuditFormat.JSON:
            return json.dumps(data, indent=2)
        return yaml.safe_dump(data, sort_keys=False).rstrip("\n")
    if not record.versions:
        return f"no Models of family {record.family} in namespace {record.namespace}"
    return audit_table(record).render(terminal)
