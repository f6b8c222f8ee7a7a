"""How a Deployment moves traffic to a new version: Direct, Canary, Shadow, BlueGreen or ABTest.

These are the structures the progressive-delivery state machine reads: canary
steps, the Prometheus analysis that judges a candidate, the shadow's comparison
with the stable version, the blue-green switch, and the A/B test on outcomes. They
live apart from the rest of the Deployment spec because they are the part that grows.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field

from modelkeeper.api.base import ApiModel
from modelkeeper.api.cel import exactly_one, required_when, rule, validations
from modelkeeper.api.types import (
    DnsLabel,
    Duration,
    Fraction,
    Percent,
    PositivePercent,
    PromQL,
    keyed_by,
)


class MetricType(StrEnum):
    """What an analysis metric measures."""

    ERROR_RATE = "ErrorRate"
    LATENCY_QUANTILE = "LatencyQuantile"
    PREDICTION_SHIFT = "PredictionShift"
    PROMQL = "PromQL"


class AnalysisMetric(ApiModel):
    """One check of the candidate, run every interval; it passes while its value stays in bounds."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            required_when("quantile", "self.type == 'LatencyQuantile'", "for type LatencyQuantile"),
            required_when("query", "self.type == 'PromQL'", "for type PromQL"),
            rule("has(self.min) || has(self.max)", "set min, max or both", field=".max"),
            rule(
                "!has(self.min) || !has(self.max) || self.min <= self.max",
                "min must not be greater than max",
                field=".min",
            ),
        )
    )

    name: DnsLabel
    """The check's name, unique within the analysis; status reports results under it."""
    type: MetricType
    """ErrorRate (the candidate's share of failed requests), LatencyQuantile (its latency
    quantile in seconds), PredictionShift (the Jensen-Shannon distance, base 2, between the
    candidate's and the stable version's prediction distributions) or PromQL (query)."""
    quantile: float | None = Field(default=None, gt=0, lt=1)
    """For LatencyQuantile: which quantile, such as 0.99."""
    query: PromQL | None = None
    """For PromQL: the expression, which may use {{ namespace }}, {{ deployment }},
    {{ version }} (the candidate's) and {{ interval }}."""
    min: float | None = None
    """The check fails when the value is below this."""
    max: float | None = None
    """The check fails when the value is above this."""


class FailureCounting(StrEnum):
    """How failed checks add up towards the failure limit."""

    CONSECUTIVE = "Consecutive"
    TOTAL = "Total"


class MissingData(StrEnum):
    """What to do when a check has no data or too few requests: it is Inconclusive."""

    PAUSE = "Pause"
    FAIL = "Fail"
    IGNORE = "Ignore"


class Analysis(ApiModel):
    """How the candidate is judged from Prometheus while it takes traffic."""

    interval: Duration = Duration(minutes=1)
    """How often the checks run, over the traffic of that interval."""
    min_requests: int = Field(default=100, ge=0)
    """The fewest candidate requests in an interval for a check to count; fewer is Inconclusive."""
    failure_limit: int = Field(default=2, ge=1, le=100)
    """How many failed checks roll the candidate back."""
    count_failures: FailureCounting = FailureCounting.CONSECUTIVE
    """Consecutive: only failures in a row count, so a flapping metric does not roll back;
    Total: every failure counts."""
    on_missing_data: MissingData = MissingData.PAUSE
    """For an Inconclusive check: Pause the rollout until data comes or a person acts, Fail
    the check, or Ignore it."""
    metrics: list[AnalysisMetric] = Field(
        min_length=1, max_length=16, json_schema_extra=keyed_by("name")
    )
    """The checks; every one must pass."""


class Pause(ApiModel):
    """A stop on the way: for a while, or until a person promotes."""

    duration: Duration | None = None
    """How long to stay; without it, stay until the modelkeeper.io/promote annotation."""


class CanaryStep(ApiModel):
    """One step of a canary: set the candidate's weight, or pause."""

    model_config = ConfigDict(json_schema_extra=validations(exactly_one("setWeight", "pause")))

    set_weight: Percent | None = None
    """Send this percentage of requests to the candidate."""
    pause: Pause | None = None
    """Stay at the current weight, for a duration or until promoted."""


class Canary(ApiModel):
    """Move traffic to the candidate in steps, judged by analysis at every interval."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "self.steps.exists(s, has(s.setWeight))",
                "steps need at least one setWeight",
                field=".steps",
            ),
            rule(
                "self.steps.all(i, s, !has(s.setWeight) || self.steps.all(j, earlier, j >= i "
                "|| !has(earlier.setWeight) || earlier.setWeight < s.setWeight))",
                "setWeight must increase strictly from step to step",
                field=".steps",
            ),
        )
    )

    steps: list[CanaryStep] = Field(min_length=1, max_length=32)
    """The steps in order; after the last one the candidate is promoted to all traffic."""
    analysis: Analysis | None = None
    """How the candidate is judged; without it, only the steps and pauses decide."""


class ShadowOutcome(StrEnum):
    """What follows a shadow that passed."""

    PROMOTE = "Promote"
    CANARY = "Canary"
    HOLD = "Hold"


class Shadow(ApiModel):
    """Mirror live requests to the candidate, whose answers are compared, never returned."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "has(self.duration) || has(self.minRequests)",
                "set duration, minRequests or both: the point at which the shadow is judged",
                field=".duration",
            )
        )
    )

    mirror_percent: PositivePercent = 100
    """The percentage of requests copied to the candidate."""
    interval: Duration = Duration(seconds=30)
    """How often the comparison so far is read from Prometheus and recorded in status."""
    duration: Duration | None = None
    """Judge no sooner than this long after mirroring starts."""
    min_requests: int | None = Field(default=None, ge=1)
    """Judge no sooner than this many requests have been mirrored."""
    min_agreement: Fraction = 0.95
    """The smallest share of mirrored requests on which both versions must agree."""
    agreement_tolerance: float = Field(default=0.0, ge=0)
    """For regression, the largest absolute difference that still counts as agreeing."""
    max_error_rate: Fraction = 0.01
    """The largest share of mirrored requests the candidate may fail."""
    latency_quantile: float = Field(default=0.99, gt=0, lt=1)
    """The latency quantile compared between the versions."""
    max_latency_ratio: float = Field(default=1.5, ge=1)
    """How many times the stable version's latency quantile the candidate's may be."""
    on_success: ShadowOutcome = ShadowOutcome.HOLD
    """Promote the candidate, start a Canary (strategy.canary), or Hold until a person promotes."""


class BlueGreen(ApiModel):
    """Run the candidate beside the stable version, then switch all traffic at once."""

    preview_duration: Duration = Duration(0)
    """How long the candidate runs as a preview, reachable only through the preview route,
    before the switch."""
    auto_promote: bool = True
    """Switch by itself once preview and analysis pass; false waits for modelkeeper.io/promote."""
    analysis: Analysis | None = None
    """How the candidate is judged on preview traffic before the switch."""
    scale_down_delay: Duration = Duration(seconds=30)
    """How long the old version keeps running after the switch, for requests in flight and a
    fast way back."""


class OutcomeSource(StrEnum):
    """Which outcome of feedback an A/B test compares."""

    FEEDBACK = "Feedback"
    CORRECT = "Correct"
    ABSOLUTE_ERROR = "AbsoluteError"


class OutcomeType(StrEnum):
    """Whether each outcome is 0 or 1 (a conversion) or any number (a score)."""

    BINARY = "Binary"
    CONTINUOUS = "Continuous"


class Direction(StrEnum):
    """Which way an outcome is better."""

    HIGHER = "Higher"
    LOWER = "Lower"


class OutcomeMetric(ApiModel):
    """The outcome an A/B test compares between the versions, one per predicted row."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "self.source == 'Feedback' || (!has(self.type) && !has(self.direction))",
                "type and direction are for source Feedback only: Correct is Binary and "
                "Higher, AbsoluteError is Continuous and Lower",
                field=".source",
            )
        )
    )

    source: OutcomeSource = OutcomeSource.FEEDBACK
    """Feedback (the outcomes feedback carries, such as a reward or a conversion), Correct
    (whether the prediction matched the feedback's label: classifiers) or AbsoluteError
    (|prediction - label|: regressors)."""
    type: OutcomeType | None = None
    """For source Feedback: Binary (0 or 1; the default) or Continuous."""
    direction: Direction | None = None
    """For source Feedback: Higher (the default) or Lower is better."""

    def resolved(self) -> tuple[OutcomeType, Direction]:
        """The type and direction, as set or as the source implies."""
        match self.source:
            case OutcomeSource.CORRECT:
                return OutcomeType.BINARY, Direction.HIGHER
            case OutcomeSource.ABSOLUTE_ERROR:
                return OutcomeType.CONTINUOUS, Direction.LOWER
        return self.type or OutcomeType.BINARY, self.direction or Direction.HIGHER


class ABTest(ApiModel):
    """Split traffic at a fixed weight and keep the version whose outcome is better.

    Every interval the outcomes since the split began are compared with an always-valid
    sequential test (mSPRT), so reading them every interval keeps the false-positive rate
    at alpha: a challenger significantly better is promoted, one significantly worse is
    rolled back, and one still undecided at maxSamples outcomes is stopped as Inconclusive
    while the champion keeps serving.
    """

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "self.minSamples <= self.maxSamples",
                "minSamples must not be greater than maxSamples",
                field=".minSamples",
            )
        )
    )

    weight: int = Field(default=50, ge=1, le=99)
    """The challenger's percentage of requests; the champion takes the rest."""
    metric: OutcomeMetric = OutcomeMetric()
    """The outcome compared."""
    minimum_detectable_effect: float = Field(gt=0)
    """The smallest difference of the mean outcome worth detecting, in the outcome's units
    (0.02 for two points of conversion); the test's mixing prior has this spread."""
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    """The chance of declaring a difference between equal versions, however often read."""
    min_samples: int = Field(default=100, ge=1)
    """The fewest outcomes of each version before the first decision."""
    max_samples: int = Field(default=10000, ge=1, le=1_000_000_000)
    """The outcomes of each version (the smaller count) at which an undecided test stops."""
    interval: Duration = Duration(seconds=30)
    """How often the outcomes are read from Prometheus and the test is decided."""


PrometheusUrl = Annotated[str, Field(max_length=2048, pattern=r"^https?://\S+$")]
"""The base URL of a Prometheus HTTP API, such as http://prometheus.monitoring:9090."""


class StrategyType(StrEnum):
    """How a new version replaces the stable one."""

    DIRECT = "Direct"
    CANARY = "Canary"
    SHADOW = "Shadow"
    BLUE_GREEN = "BlueGreen"
    AB_TEST = "ABTest"


class Strategy(ApiModel):
    """How a new version replaces the stable one."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            required_when(
                "canary",
                "self.type == 'Canary' || (self.type == 'Shadow' && has(self.shadow) "
                "&& self.shadow.onSuccess == 'Canary')",
                "for type Canary or a Shadow whose onSuccess is Canary",
            ),
            required_when("shadow", "self.type == 'Shadow'", "for type Shadow"),
            required_when("blueGreen", "self.type == 'BlueGreen'", "for type BlueGreen"),
            required_when("abTest", "self.type == 'ABTest'", "for type ABTest"),
        )
    )

    type: StrategyType = StrategyType.DIRECT
    """Direct (replace at once), Canary (weighted steps), Shadow (mirrored traffic, then
    promote, canary or hold), BlueGreen (preview, then switch) or ABTest (a fixed split,
    decided by the versions' outcomes)."""
    prometheus_url: PrometheusUrl | None = Field(default=None, alias="prometheusURL")
    """The Prometheus that analysis queries for this Deployment; omit for the operator's."""
    canary: Canary | None = None
    """For type Canary, and for a Shadow whose onSuccess is Canary: the weighted steps and
    the analysis that judges them."""
    shadow: Shadow | None = None
    """For type Shadow: how much traffic to mirror, when to judge, and what must hold."""
    blue_green: BlueGreen | None = None
    """For type BlueGreen: the preview, its analysis and the switch."""
    ab_test: ABTest | None = None
    """For type ABTest: the split, the outcome compared and the test's error rate and size."""
