"""The RetrainPolicy kind: when and how to retrain a model family, and what to do with the result.

A policy runs a training workload (a batch/v1 Job from a template, or any other
workload kind with success and failure conditions) when a trigger fires, throttled
by cooldown, a concurrency limit and backoff. The training container reports the
new model in its termination message; the operator creates the next Model with
its lineage, evaluates it against the champion by the gate, and approves it where
the approval policy allows.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import ConfigDict, Field

from modelkeeper.api.base import ApiModel, Resource
from modelkeeper.api.cel import compare_durations, exactly_one, required_when, rule, validations
from modelkeeper.api.conditions import Condition, conditions_field
from modelkeeper.api.crd import KindDefinition, PrinterColumn
from modelkeeper.api.types import (
    DURATION_PATTERN,
    Cron,
    DnsLabel,
    Duration,
    FeatureName,
    MetricName,
    RiskTier,
    Text,
    TimeZone,
    keyed_by,
)

ConditionTypeName = Annotated[
    str, Field(max_length=316, pattern=r"^([a-z0-9.-]+/)?[A-Za-z]([A-Za-z0-9_.-]*[A-Za-z0-9])?$")
]
StatusValue = Annotated[str, Field(min_length=1, max_length=256)]


class ModelFamily(ApiModel):
    """The model family a policy retrains."""

    name: DnsLabel
    """The family (the Models' spec.name)."""


class MonitorState(StrEnum):
    """The DriftMonitor states a drift trigger can wait for."""

    WARNING = "Warning"
    DRIFTED = "Drifted"


class MonitorTrigger(ApiModel):
    """Retrain when a DriftMonitor has reported something for a while."""

    monitor: DnsLabel
    """The DriftMonitor to read."""
    held_for: Duration = Field(default=Duration(0), alias="for")
    """How long what the monitor reports must have held, such as 30m."""


class DriftTrigger(MonitorTrigger):
    """Retrain when a DriftMonitor has been in a state for a while."""

    state: MonitorState = MonitorState.DRIFTED
    """The state that counts: Drifted, or Warning (which Drifted also satisfies)."""


class ScheduleTrigger(ApiModel):
    """Retrain on a schedule."""

    cron: Cron
    """When, as five cron fields, such as '0 3 * * 0' (Sundays at 03:00)."""
    time_zone: TimeZone = "UTC"
    """The time zone of the schedule, an IANA name."""


class Trigger(ApiModel):
    """One reason to retrain. Manual runs come through the modelkeeper.io/retrain annotation."""

    model_config = ConfigDict(
        json_schema_extra=validations(exactly_one("drift", "schedule", "performance"))
    )

    drift: DriftTrigger | None = None
    """Retrain when a DriftMonitor has been in a state (Drifted, or Warning) for a while."""
    schedule: ScheduleTrigger | None = None
    """Retrain on a cron schedule."""
    performance: MonitorTrigger | None = None
    """Retrain when a DriftMonitor has reported performance beyond its bound for a while."""


class TemplateMetadata(ApiModel):
    """Labels and annotations for the workload objects a policy creates."""

    labels: dict[str, Annotated[str, Field(max_length=63)]] = Field(
        default_factory=dict, max_length=64
    )
    """Labels to add."""
    annotations: dict[str, Annotated[str, Field(max_length=4096)]] = Field(
        default_factory=dict, max_length=64
    )
    """Annotations to add."""


class JobTemplate(ApiModel):
    """A batch/v1 Job to create for each run."""

    metadata: TemplateMetadata = TemplateMetadata()
    """Labels and annotations of the Job."""
    spec: dict[str, Any] = Field(json_schema_extra={"x-kubernetes-preserve-unknown-fields": True})
    """A batch/v1 JobSpec. Its training container writes the result (artifact URI, digest,
    metrics, reference profile) as JSON to its termination message."""


class WorkloadCondition(ApiModel):
    """How to read from a workload's status that it ended."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            exactly_one("conditionType", "fieldPath"),
            required_when("values", "has(self.fieldPath)", "with fieldPath"),
        )
    )

    condition_type: ConditionTypeName | None = None
    """It ended when status.conditions has this type with status True."""
    field_path: str | None = Field(
        default=None, max_length=256, pattern=r"^status(\.[A-Za-z0-9_-]+)+$"
    )
    """It ended when this status field, such as status.jobStatus, holds one of values."""
    values: list[StatusValue] = Field(default_factory=list, max_length=16)
    """The values of fieldPath that mean it ended."""


class RawWorkload(ApiModel):
    """Any other workload kind, such as a Kubeflow PyTorchJob or a RayJob."""

    object: dict[str, Any] = Field(
        json_schema_extra={
            "x-kubernetes-embedded-resource": True,
            "x-kubernetes-preserve-unknown-fields": True,
        }
    )
    """The object to create for each run, with apiVersion, kind and spec; the operator
    sets its name and namespace."""
    success: WorkloadCondition
    """How its status says it succeeded."""
    failure: WorkloadCondition
    """How its status says it failed."""


class Workload(ApiModel):
    """What a run starts."""

    model_config = ConfigDict(json_schema_extra=validations(exactly_one("job", "resource")))

    job: JobTemplate | None = None
    """A batch/v1 Job, from a template."""
    resource: RawWorkload | None = None
    """Any other workload kind (a Kubeflow or Ray job, for example), given as a whole
    object, with the status that means success and failure."""


class Backoff(ApiModel):
    """How long to wait after failed runs before the next."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                compare_durations("initial", "<=", "max", DURATION_PATTERN),
                "initial must not be longer than max",
                field=".initial",
            )
        )
    )

    initial: Duration = Duration(minutes=10)
    """The wait after the first failure; it doubles with each failure in a row."""
    max: Duration = Duration(hours=6)
    """The longest wait, however many failures in a row."""


class GateDirection(StrEnum):
    """Which way the gate's metric improves."""

    HIGHER_IS_BETTER = "HigherIsBetter"
    LOWER_IS_BETTER = "LowerIsBetter"


class FairnessBounds(ApiModel):
    """How unevenly a new version's decisions may fall on the groups of a sensitive attribute.

    The trainer measures the figures on its holdout (docs/writing-trainers.md); a version
    without a bounded figure, or beyond a bound, is refused.
    """

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "has(self.maxDemographicParityDifference) || "
                "has(self.maxEqualOpportunityDifference)",
                "set maxDemographicParityDifference, maxEqualOpportunityDifference or both",
            )
        )
    )

    attribute: FeatureName
    """The sensitive attribute, a column of the trainer's holdout such as sex; the trainer
    gets it in MODELKEEPER_FAIRNESS_ATTRIBUTE."""
    max_demographic_parity_difference: float | None = Field(default=None, ge=0, le=1)
    """The most two groups' shares of positive decisions may differ, such as 0.1."""
    max_equal_opportunity_difference: float | None = Field(default=None, ge=0, le=1)
    """The most two groups' true positive rates may differ, such as 0.1."""


class Gate(ApiModel):
    """The evaluation a new version must pass against the champion to be approved.

    The trainer measures both versions on the same labelled holdout and reports both
    figures (docs/writing-trainers.md); the gate compares them.
    """

    metric: MetricName
    """The metric compared, a key of the result's metrics and championMetrics."""
    direction: GateDirection = GateDirection.HIGHER_IS_BETTER
    """Which way the metric improves."""
    min_improvement: float = Field(default=0.0, ge=0)
    """How much better than the champion the new version must be, in the metric's units."""
    fairness: FairnessBounds | None = None
    """Bounds on the new version's fairness over a sensitive attribute."""


class ApprovalPolicy(ApiModel):
    """Who approves the versions the operator creates (a policy's runs, a followed alias's)."""

    auto_approve_up_to: RiskTier | None = None
    """Approve a new version by itself when its risk tier is at most this (and, for a
    RetrainPolicy, it passed the gate); omit so that a person approves every version."""


class RetrainPolicySpec(ApiModel):
    """When to retrain, what to run, and how to judge the result."""

    model: ModelFamily
    """The model family to retrain."""
    triggers: list[Trigger] = Field(default_factory=list, max_length=16)
    """The reasons to retrain; with none, only manual requests start runs."""
    workload: Workload
    """What each run starts."""
    cooldown: Duration = Duration(hours=1)
    """The least time between the starts of two triggered runs."""
    max_concurrent_runs: int = Field(default=1, ge=1, le=10)
    """The most runs at once."""
    backoff: Backoff = Backoff()
    """How long to wait after failed runs."""
    history_limit: int = Field(default=10, ge=1, le=50)
    """How many finished runs status keeps, and their workloads with them."""
    gate: Gate | None = None
    """The evaluation against the champion; without it, every successful run's version
    goes to approval."""
    approval: ApprovalPolicy = ApprovalPolicy()
    """Who approves the produced versions."""


class TriggerKind(StrEnum):
    """What started a run."""

    DRIFT = "Drift"
    SCHEDULE = "Schedule"
    PERFORMANCE = "Performance"
    MANUAL = "Manual"


class RunOutcome(StrEnum):
    """How a run stands."""

    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    REJECTED = "Rejected"


class WorkloadRef(ApiModel):
    """The workload object a run created."""

    api_version: str = Field(max_length=253)
    """Its apiVersion."""
    kind: str = Field(max_length=63)
    """Its kind."""
    name: str = Field(max_length=253)
    """Its name."""


class Run(ApiModel):
    """One retraining run."""

    name: DnsLabel
    """The run's name, which the produced Model's lineage names."""
    trigger: TriggerKind
    """What started it."""
    reason: Text = ""
    """Why, for people, such as the monitor's state and since when."""
    workload: WorkloadRef | None = None
    """The workload it created."""
    start_time: datetime
    """When it started."""
    completion_time: datetime | None = None
    """When it ended."""
    outcome: RunOutcome = RunOutcome.RUNNING
    """Running, Succeeded (a Model was produced and passed the gate), Failed (the workload
    failed or reported no model) or Rejected (the gate refused the Model)."""
    model: str | None = Field(default=None, max_length=253)
    """The Model object it produced."""
    message: Text = ""
    """What happened, for people."""


class RetrainPolicyConditionType(StrEnum):
    """The conditions a RetrainPolicy reports."""

    READY = "Ready"
    RUNNING = "Running"
    THROTTLED = "Throttled"


class RetrainPolicyStatus(ApiModel):
    """The runs going on and done, and when the next may start."""

    observed_generation: int | None = None
    """The metadata.generation this status describes."""
    active: list[Run] = Field(
        default_factory=list, max_length=10, json_schema_extra=keyed_by("name")
    )
    """The runs going on."""
    history: list[Run] = Field(default_factory=list, max_length=50)
    """The finished runs, newest first, at most spec.historyLimit."""
    last_trigger_time: datetime | None = None
    """When a trigger last started a run, which cooldown counts from."""
    next_schedule_time: datetime | None = None
    """When the schedule fires next."""
    consecutive_failures: int = Field(default=0, ge=0)
    """Failed runs in a row, which backoff grows with."""
    manual_request: str | None = Field(default=None, max_length=253)
    """The last modelkeeper.io/retrain annotation value acted on, so that each runs once."""
    conditions: list[Condition[RetrainPolicyConditionType]] = conditions_field()
    """Ready: the policy is valid and its references exist. Running: a run is going on.
    Throttled: a trigger fired but cooldown, concurrency or backoff holds the run."""


class RetrainPolicyResource(Resource[RetrainPolicySpec, RetrainPolicyStatus]):
    """A RetrainPolicy retrains one model family when drift, a schedule or a performance drop
    says so.

    Each run starts a Job (or another workload kind) whose result becomes the family's next
    Model, with lineage, judged against the champion by the gate and approved by policy or
    by a person. Request a manual run with the modelkeeper.io/retrain annotation.
    """

    KIND = "RetrainPolicy"


RETRAIN_POLICY = KindDefinition(
    resource=RetrainPolicyResource,
    plural="retrainpolicies",
    short_names=("mkrp",),
    columns=(
        PrinterColumn("Family", ".spec.model.name", "The model family."),
        PrinterColumn("Active", ".status.active[0].name", "The oldest run going on."),
        PrinterColumn("Last", ".status.history[0].outcome", "How the latest run ended."),
    ),
    selectable_fields=(".spec.model.name",),
)
