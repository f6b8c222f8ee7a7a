"""The Deployment kind (modelkeeper.io, not apps/v1): serve one model family, roll out versions.

A Deployment picks the version to serve (pinned, or the newest approved one of
the family), runs scoring servers for it, routes traffic through the built-in
router or a Gateway API HTTPRoute, and replaces the stable version by its strategy.
Its status carries everything the rollout needs to resume after an operator
restart: stable and candidate, weight, step, the last analysis and a bounded
history.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field

from modelkeeper.api.base import ApiModel, Resource
from modelkeeper.api.cel import required_when, rule, validations
from modelkeeper.api.conditions import Condition, conditions_field
from modelkeeper.api.crd import ColumnType, KindDefinition, PrinterColumn
from modelkeeper.api.retrainpolicy import ApprovalPolicy
from modelkeeper.api.strategy import Strategy
from modelkeeper.api.types import (
    DURATION_PATTERN,
    DnsLabel,
    Duration,
    Fraction,
    LabelValue,
    Percent,
    PositivePercent,
    Quantity,
    ServingRole,
    Text,
    keyed_by,
)

Hostname = Annotated[
    str,
    Field(
        max_length=253,
        pattern=r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
    ),
]
ResourceList = Annotated[dict[str, Quantity], Field(max_length=16)]
RegisteredModelName = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^/@\s]+$")]
"""A registered model's name in MLflow, as it fits a models:/ URI (no '/', '@' or space)."""
RegistryAlias = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_-]+$")]
"""An MLflow registered model alias, such as champion."""


class ModelSelector(ApiModel):
    """Which Model the Deployment serves."""

    name: DnsLabel
    """The model family (the Models' spec.name)."""
    version: LabelValue | None = None
    """Pin this version; omit to track the family's most recently approved version."""


class Resources(ApiModel):
    """Compute resources of each scoring-server container."""

    requests: ResourceList = Field(default_factory=dict)
    """What the scheduler reserves, such as cpu: 500m, memory: 1Gi."""
    limits: ResourceList = Field(default_factory=dict)
    """The most the container may use."""


class Autoscaling(ApiModel):
    """Scale the scoring servers with load, through a HorizontalPodAutoscaler."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "self.minReplicas <= self.maxReplicas",
                "minReplicas must not be greater than maxReplicas",
                field=".minReplicas",
            )
        )
    )

    min_replicas: int = Field(default=1, ge=1, le=1000)
    """The fewest replicas."""
    max_replicas: int = Field(ge=1, le=1000)
    """The most replicas."""
    target_cpu_utilization: PositivePercent = 80
    """The average CPU use, in percent of the request, to scale towards."""


class Batching(ApiModel):
    """Group concurrent requests into one model call."""

    max_batch_size: int = Field(default=32, ge=1, le=4096)
    """The most rows in one model call."""
    max_latency: Duration = Duration(milliseconds=5)
    """The longest a request waits for others to join its batch."""


class Serving(ApiModel):
    """How each scoring server runs."""

    workers: int = Field(default=1, ge=1, le=64)
    """Model worker processes per replica."""
    batching: Batching | None = None
    """Adaptive micro-batching; omit to call the model once per request."""
    payload_log_sampling: Fraction = 0.0
    """The share of requests and responses written to the payload log, from 0 to 1."""
    probability_sampling: Fraction = 0.1
    """The share of a classifier's model calls whose class probabilities are counted, for a
    DriftMonitor's estimatedPerformance; most models compute them in a second call."""


class TrafficProvider(StrEnum):
    """What splits and mirrors traffic between versions."""

    ROUTER = "Router"
    GATEWAY_API = "GatewayAPI"


class ParentRef(ApiModel):
    """A Gateway the HTTPRoute attaches to."""

    name: DnsLabel
    """The Gateway's name."""
    namespace: DnsLabel | None = None
    """The Gateway's namespace; omit for the Deployment's own."""
    section_name: DnsLabel | None = None
    """A listener of the Gateway; omit for all."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """A port of the Gateway; omit for all."""


class GatewayApi(ApiModel):
    """The Gateway API HTTPRoute that carries the traffic."""

    parent_refs: list[ParentRef] = Field(min_length=1, max_length=32)
    """The Gateways to attach to."""
    hostnames: list[Hostname] = Field(
        default_factory=list, max_length=16, json_schema_extra={"x-kubernetes-list-type": "set"}
    )
    """The host names the route answers; omit for all the Gateway's."""


class Traffic(ApiModel):
    """How requests reach the versions."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            required_when("gatewayAPI", "self.provider == 'GatewayAPI'", "for provider GatewayAPI")
        )
    )

    provider: TrafficProvider = TrafficProvider.ROUTER
    """Router (the built-in router, which also compares shadow predictions) or GatewayAPI
    (an HTTPRoute with backend weights and a RequestMirror filter)."""
    gateway_api: GatewayApi | None = Field(default=None, alias="gatewayAPI")
    """For GatewayAPI: where the HTTPRoute attaches."""


class MlflowFollow(ApiModel):
    """A registered model's alias in the MLflow registry that the family follows."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                f"!self.interval.matches(r'{DURATION_PATTERN}') || "
                "duration(self.interval) >= duration('1s')",
                "interval must be at least 1s",
                field=".interval",
            )
        )
    )

    model: RegisteredModelName
    """The registered model's name in MLflow."""
    alias: RegistryAlias
    """The alias to follow, such as champion: each version it points at becomes a Model."""
    interval: Duration = Duration(minutes=1)
    """How often the operator asks the registry where the alias points."""
    approval: ApprovalPolicy = ApprovalPolicy()
    """Who approves the versions the alias brings: autoApproveUpTo approves those whose risk
    tier is at most it; omit so that a person approves each."""


class Follow(ApiModel):
    """A registry whose alias decides the family's new versions."""

    mlflow: MlflowFollow
    """An MLflow registered model's alias, in the registry at the operator's
    --mlflow-tracking-uri."""


class DeploymentSpec(ApiModel):
    """What to serve and how to roll out a new version."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "!has(self.follow) || !has(self.model.version)",
                "follow brings new versions to roll out: it needs spec.model without a pinned "
                "version",
                field=".follow",
            ),
            rule(
                "!has(self.pool) || !has(self.traffic) || !has(self.traffic.provider) || "
                "self.traffic.provider == 'Router'",
                "a pooled Deployment's traffic goes through its pool's router: provider Router",
                field=".traffic.provider",
            ),
            rule(
                "!has(self.pool) || !has(self.autoscaling)",
                "a pooled Deployment runs no servers of its own: scale its ServingPool instead",
                field=".autoscaling",
            ),
        )
    )

    model: ModelSelector
    """The model family, and optionally a pinned version."""
    replicas: int = Field(default=1, ge=0, le=1000)
    """Scoring servers per version; autoscaling, when set, decides instead."""
    resources: Resources | None = None
    """Compute resources of each scoring server."""
    autoscaling: Autoscaling | None = None
    """Scale with load between minReplicas and maxReplicas."""
    serving: Serving = Serving()
    """How each scoring server runs."""
    traffic: Traffic = Traffic()
    """How requests reach the versions."""
    strategy: Strategy = Strategy()
    """How a new version replaces the stable one."""
    pool: DnsLabel | None = None
    """The name of a ServingPool in this namespace whose servers and router serve the
    versions, loaded on demand; omit for scoring servers and a router of its own. A pooled
    Deployment's replicas, resources and serving.workers and batching are the pool's."""
    follow: Follow | None = None
    """Follow a registry alias: when it points at a version the family lacks, the operator
    creates that version's Model (copied from the family's newest), which then rolls out by
    the strategy."""


class Phase(StrEnum):
    """Where the Deployment is, in one word."""

    PENDING = "Pending"
    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    HEALTHY = "Healthy"
    DEGRADED = "Degraded"
    ABORTED = "Aborted"


class VersionStatus(ApiModel):
    """A version the Deployment runs, and how many of its scoring servers are ready."""

    version: LabelValue
    """The version."""
    model: str = Field(max_length=253)
    """The name of its Model object."""
    replicas: int = Field(default=0, ge=0)
    """Scoring servers asked for."""
    ready_replicas: int = Field(default=0, ge=0)
    """Scoring servers ready."""
    failure: str | None = Field(default=None, max_length=2048)
    """Why its scoring servers fail to start, while they do: the failing pod's step and its
    last words (a fetch step's error names the artifact URI and what the store answered)."""


class Candidate(VersionStatus):
    """The version being rolled out."""

    role: ServingRole
    """Canary, Shadow or Preview."""
    since: datetime
    """When its rollout started."""


class AnalysisPhase(StrEnum):
    """The verdict of a check or of a whole analysis."""

    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    INCONCLUSIVE = "Inconclusive"


class MetricResult(ApiModel):
    """One check's latest result."""

    name: DnsLabel
    """The check, as named in the analysis."""
    phase: AnalysisPhase
    """Successful, Failed, or Inconclusive (no data, or too few requests)."""
    value: float | None = None
    """The measured value; none when there was no data."""
    message: Text = ""
    """Why, for people."""


class AnalysisStatus(ApiModel):
    """One analysis run of the candidate."""

    time: datetime
    """When it ran."""
    step: int | None = Field(default=None, ge=0)
    """The canary step it judged; none for a shadow or a preview."""
    weight: Percent | None = None
    """The candidate's share of requests while it was judged."""
    phase: AnalysisPhase
    """Failed if any check failed, else Inconclusive if any was, else Successful."""
    requests: int | None = Field(default=None, ge=0)
    """The candidate's requests in the interval (for a shadow: mirrored requests so far)."""
    failures: int = Field(default=0, ge=0)
    """Failed runs so far in this rollout, counted as the analysis's countFailures says."""
    message: Text = ""
    """Why the run is Inconclusive or Failed as a whole, such as too few requests or Prometheus
    unreachable."""
    metrics: list[MetricResult] = Field(
        default_factory=list, max_length=16, json_schema_extra=keyed_by("name")
    )
    """Each check's result."""


class ExperimentDecision(StrEnum):
    """What an A/B test's latest reading decides."""

    CONTINUE = "Continue"
    PROMOTE = "Promote"
    ROLL_BACK = "RollBack"
    INCONCLUSIVE = "Inconclusive"


class ArmStatus(ApiModel):
    """One version's outcomes in an A/B test."""

    version: LabelValue
    """The version."""
    samples: int = Field(default=0, ge=0)
    """Its outcomes since the test began."""
    mean: float | None = None
    """Their mean; none before the first."""


class ExperimentStatus(ApiModel):
    """An A/B test's latest reading: each version's outcomes, the effect and the decision."""

    time: datetime
    """When the outcomes were read."""
    since: datetime
    """When the split began: outcomes are counted from then."""
    champion: ArmStatus
    """The stable version."""
    challenger: ArmStatus
    """The candidate."""
    effect: float | None = None
    """The challenger's mean outcome minus the champion's."""
    lower: float | None = None
    """The lower end of the effect's always-valid (1 - alpha) confidence interval."""
    upper: float | None = None
    """Its upper end."""
    p_value: Fraction | None = None
    """The always-valid p-value of equal means (the smallest so far); the test decides when
    it is at most alpha."""
    power: Fraction | None = None
    """At the variance seen so far, the chance of detecting a difference of
    minimumDetectableEffect by maxSamples (a lower bound)."""
    samples: int = Field(default=0, ge=0)
    """The smaller of the two versions' outcome counts."""
    max_samples: int = Field(ge=1)
    """The samples at which an undecided test stops as Inconclusive."""
    decision: ExperimentDecision = ExperimentDecision.CONTINUE
    """Continue, Promote (the challenger is better), RollBack (it is worse) or Inconclusive
    (no difference found by maxSamples)."""
    message: Text = ""
    """The reading in words, or why it could not be taken."""


class Outcome(StrEnum):
    """How a rollout ended."""

    PROMOTED = "Promoted"
    ROLLED_BACK = "RolledBack"
    ABORTED = "Aborted"
    SUPERSEDED = "Superseded"
    WITHDRAWN = "Withdrawn"
    INCONCLUSIVE = "Inconclusive"


class HistoryEntry(ApiModel):
    """One finished rollout."""

    version: LabelValue
    """The candidate version."""
    outcome: Outcome
    """Promoted, RolledBack (by analysis or an A/B test), Aborted (by a person), Superseded
    (another version was selected before it finished), Withdrawn (by a person, for good) or
    Inconclusive (an A/B test found no difference by maxSamples)."""
    started: datetime
    """When the rollout started."""
    finished: datetime
    """When it ended."""
    reason: Text = ""
    """Why it ended so."""


class ManualRequests(ApiModel):
    """The manual requests (annotations) already acted on, so each acts once."""

    promote_step: Text | None = None
    """The last modelkeeper.io/promote-step value acted on."""
    retry: Text | None = None
    """The last modelkeeper.io/retry value acted on."""
    retried_version: LabelValue | None = None
    """The version that retry let back in."""
    retried_at: datetime | None = None
    """When; failures of that version before this moment no longer keep it out."""


class DeploymentConditionType(StrEnum):
    """The conditions a Deployment reports."""

    AVAILABLE = "Available"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"
    APPROVAL_REQUIRED = "ApprovalRequired"
    FOLLOWING = "Following"
    POOLED = "Pooled"


class FollowStatus(ApiModel):
    """Where the followed alias pointed when the operator last asked the registry."""

    registry_version: str | None = Field(default=None, max_length=64)
    """The registry's version number the alias pointed at; none until it was first found."""
    model: str | None = Field(default=None, max_length=253)
    """The name of that version's Model."""
    version: LabelValue | None = None
    """That Model's spec.version."""
    checked_at: datetime | None = None
    """When the operator last asked the registry, whatever the answer."""


class DeploymentStatus(ApiModel):
    """Where the rollout is, so that a restarted operator resumes it."""

    observed_generation: int | None = None
    """The metadata.generation this status describes."""
    phase: Phase | None = None
    """Pending (nothing to serve yet), Progressing, Paused, Healthy, Degraded (the stable
    version is not ready) or Aborted (the last candidate was rolled back)."""
    message: Text = ""
    """What is happening and, when stuck, why."""
    stable: VersionStatus | None = None
    """The version that takes the traffic."""
    candidate: Candidate | None = None
    """The version being rolled out."""
    weight: Percent | None = None
    """The candidate's share of requests, in percent."""
    mirror_percent: Percent | None = None
    """The share of requests copied to a shadow candidate, in percent."""
    step: int | None = Field(default=None, ge=0)
    """The index of the current canary step."""
    step_started: datetime | None = None
    """When the current step started, which times its pause."""
    analysis_runs: list[AnalysisStatus] = Field(default_factory=list, max_length=10)
    """The candidate's latest analysis runs, newest first, at most ten."""
    experiment: ExperimentStatus | None = None
    """Under an ABTest strategy, the latest reading of the current or last A/B test."""
    manual: ManualRequests = ManualRequests()
    """The manual requests already acted on."""
    withdrawn: LabelValue | None = None
    """The selected version a person withdrew (modelkeeper.io/withdraw): it is kept out while
    the stable version serves, until a newer version comes or a retry lets it back in."""
    conditions: list[Condition[DeploymentConditionType]] = conditions_field()
    """Available: the stable version serves. Progressing: a rollout runs. Degraded: the stable
    version is not ready or a rollout failed. ApprovalRequired: a newer version waits for
    approval. Following (with spec.follow): the registry answered where the alias points,
    and the family has that version's Model. Pooled (with spec.pool): its pool exists and
    serves its catalogue, or why not (PoolNotFound, PoolNotReady, ModelNameTaken,
    NotAnArtifact)."""
    follow: FollowStatus | None = None
    """With spec.follow: what the registry said last."""
    history: list[HistoryEntry] = Field(default_factory=list, max_length=10)
    """The latest finished rollouts, newest first, at most ten."""


class DeploymentResource(Resource[DeploymentSpec, DeploymentStatus]):
    """A Deployment serves one model family and rolls out its new versions safely.

    It runs scoring servers for the stable version, routes traffic through the built-in
    router or a Gateway API HTTPRoute, and replaces the stable version by its strategy:
    Direct, Canary, Shadow, BlueGreen or ABTest. Promote, abort and pause through the
    annotations modelkeeper.io/promote, modelkeeper.io/abort and modelkeeper.io/paused,
    never through spec.
    """

    KIND = "Deployment"


DEPLOYMENT = KindDefinition(
    resource=DeploymentResource,
    plural="deployments",
    short_names=("mkd",),
    columns=(
        PrinterColumn("Model", ".spec.model.name", "The model family."),
        PrinterColumn("Stable", ".status.stable.version", "The version taking the traffic."),
        PrinterColumn("Candidate", ".status.candidate.version", "The version rolling out."),
        PrinterColumn(
            "Weight", ".status.weight", "The candidate's share, in percent.", ColumnType.INTEGER
        ),
        PrinterColumn("Step", ".status.step", "The canary step.", ColumnType.INTEGER),
        PrinterColumn("Phase", ".status.phase", "Where the Deployment is."),
    ),
    selectable_fields=(".spec.model.name",),
)
