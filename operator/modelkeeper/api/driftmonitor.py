"""The DriftMonitor kind: watch one Deployment's live inputs for drift through Prometheus.

Every interval the monitor reads each feature's binned counts over the window,
compares them with the model's reference profile by the configured method, judges
each feature against its thresholds (fixed, or sample-size-aware false-alarm
rates), corrects for testing many features at once, and moves its state with
hysteresis. The meaning of each method and threshold is written in docs/concepts.md.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import ConfigDict, Field

from modelkeeper.api.base import ApiModel, Resource
from modelkeeper.api.cel import compare_durations, rule, validations
from modelkeeper.api.conditions import Condition, conditions_field
from modelkeeper.api.crd import ColumnType, KindDefinition, PrinterColumn
from modelkeeper.api.types import (
    DURATION_PATTERN,
    DnsLabel,
    Duration,
    FeatureName,
    Fraction,
    LabelValue,
    PromQL,
    Text,
    keyed_by,
)


class DriftMethod(StrEnum):
    """How a feature's live distribution is compared with its reference."""

    PSI = "PSI"
    JENSEN_SHANNON = "JensenShannon"
    KS = "KS"
    CHI_SQUARE = "ChiSquare"
    WASSERSTEIN = "Wasserstein"


class ThresholdMode(StrEnum):
    """What warning and critical are."""

    FIXED = "Fixed"
    SAMPLE_SIZE_AWARE = "SampleSizeAware"


# Inside list items the API server fills in no defaults (see openapi.py), so rules that
# read a defaulted field spell the default out.
_MODE = "(has(self.mode) ? self.mode : 'Fixed')"
_P_VALUES = f"({_MODE} == 'SampleSizeAware' || self.method == 'ChiSquare')"


class DriftTest(ApiModel):
    """A method and its two thresholds."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                f"!(self.method == 'Wasserstein' && {_MODE} == 'SampleSizeAware')",
                "Wasserstein has no sample-size-aware threshold: use mode Fixed",
                field=".mode",
            ),
            rule(
                f"!{_P_VALUES} || "
                "(0.0 < self.critical && self.critical < self.warning && self.warning < 1.0)",
                "for ChiSquare and for mode SampleSizeAware, warning and critical are false-alarm "
                "rates (p-values): 0 < critical < warning < 1",
                field=".critical",
            ),
            rule(
                f"{_P_VALUES} || self.warning < self.critical",
                "warning must be below critical",
                field=".warning",
            ),
            rule(
                f"{_P_VALUES} || !(self.method in ['JensenShannon', 'KS']) || self.critical <= 1.0",
                "JensenShannon (base 2) and KS lie between 0 and 1, so critical must be at most 1",
                field=".critical",
            ),
        )
    )

    method: DriftMethod
    """PSI (population stability index), JensenShannon (distance, base 2), KS
    (Kolmogorov-Smirnov statistic, numeric features), ChiSquare (test of homogeneity,
    categorical features) or Wasserstein (distance in reference standard deviations,
    numeric features)."""
    mode: ThresholdMode = ThresholdMode.FIXED
    """Fixed: warning and critical are scores (for ChiSquare, p-values). SampleSizeAware:
    they are false-alarm rates that hold for the model's one fixed reference profile,
    turned into the score a window of this size reaches by chance against it, so small
    windows do not raise false alarms."""
    warning: float = Field(ge=0)
    """The threshold for Warning: a score to reach, or a p-value to fall below."""
    critical: float = Field(ge=0)
    """The threshold for Critical: a score to reach, or a p-value to fall below."""


PSI_RULE_OF_THUMB = DriftTest(method=DriftMethod.PSI, warning=0.1, critical=0.25)


class FeatureTest(DriftTest):
    """The test for one feature, instead of the one for its type."""

    name: FeatureName
    """The feature."""


class TypeTests(ApiModel):
    """The test for every feature of a type that has none of its own."""

    numeric: DriftTest = PSI_RULE_OF_THUMB
    """The test for Numeric features: PSI with warning 0.1 and critical 0.25 unless set."""
    categorical: DriftTest = PSI_RULE_OF_THUMB
    """The test for Categorical features: PSI with warning 0.1 and critical 0.25 unless set."""


class Correction(StrEnum):
    """How p-values are corrected for testing many features at once."""

    NONE = "None"
    BONFERRONI = "Bonferroni"
    BENJAMINI_HOCHBERG = "BenjaminiHochberg"


class MultipleTesting(ApiModel):
    """How testing many features at once is kept from raising false alarms."""

    correction: Correction = Correction.NONE
    """For tests judged by p-value: None, Bonferroni (family-wise error) or
    BenjaminiHochberg (false discovery rate)."""
    drifted_share: Fraction | None = None
    """Drifted only when at least this share of the features is Critical; omit for any one."""


class Hysteresis(ApiModel):
    """How many evaluations in a row it takes to change state, so that a blip changes nothing."""

    enter_after: int = Field(default=3, ge=1, le=100)
    """Critical evaluations in a row that make the monitor Drifted."""
    exit_after: int = Field(default=3, ge=1, le=100)
    """Clean evaluations in a row that bring a Drifted monitor back to OK."""


class Direction(StrEnum):
    """Which way a value goes when things get worse."""

    ABOVE = "Above"
    BELOW = "Below"


_DIRECTION = "(has(self.direction) ? self.direction : 'Above')"


class CustomDriftMetric(ApiModel):
    """A drift score computed elsewhere (Evidently, alibi-detect, NannyML...) and read by PromQL."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                f"!has(self.warning) || ({_DIRECTION} == 'Above' "
                "? self.warning < self.critical : self.warning > self.critical)",
                "warning must be reached before critical: below it for direction Above, "
                "above it for Below",
                field=".warning",
            )
        )
    )

    name: DnsLabel
    """The metric's name in status."""
    query: PromQL
    """The expression, which may use {{ namespace }}, {{ deployment }} and {{ window }}."""
    direction: Direction = Direction.ABOVE
    """Above: drift when the value rises past a threshold; Below: when it falls past one."""
    warning: float | None = None
    """The threshold for Warning; omit for none."""
    critical: float
    """The threshold for Critical, in the metric's own units."""


class PerformanceMetric(StrEnum):
    """A quality measure computed from ground-truth feedback."""

    ACCURACY = "Accuracy"
    PRECISION = "Precision"
    RECALL = "Recall"
    F1 = "F1"
    MAE = "MAE"
    RMSE = "RMSE"


_LOWER_IS_BETTER = "self.metric in ['MAE', 'RMSE']"


class Performance(ApiModel):
    """How well the model does on requests whose true outcome came back as feedback."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                f"{_LOWER_IS_BETTER} || (has(self.min) && !has(self.max))",
                "Accuracy, Precision, Recall and F1 are better when higher: set min, not max",
                field=".min",
            ),
            rule(
                f"!({_LOWER_IS_BETTER}) || (has(self.max) && !has(self.min))",
                "MAE and RMSE are better when lower: set max, not min",
                field=".max",
            ),
            rule(
                "!has(self.min) || self.min <= 1.0",
                "Accuracy, Precision, Recall and F1 lie between 0 and 1, so min must be at most 1",
                field=".min",
            ),
        )
    )

    metric: PerformanceMetric
    """Accuracy, Precision, Recall or F1 (classification) or MAE or RMSE (regression)."""
    min: float | None = Field(default=None, ge=0)
    """For Accuracy, Precision, Recall and F1: Degraded below this."""
    max: float | None = Field(default=None, ge=0)
    """For MAE and RMSE: Degraded above this."""
    window: Duration | None = None
    """The feedback window; omit for the monitor's window."""
    min_samples: int = Field(default=100, ge=1)
    """The fewest feedback samples in the window to judge."""


class EstimatedMetric(StrEnum):
    """A quality measure estimated from a classifier's own probabilities, without labels."""

    ACCURACY = "Accuracy"
    ROC_AUC = "RocAuc"


class EstimatedPerformance(ApiModel):
    """Quality estimated from the model's calibrated probabilities (confidence-based
    performance estimation, CBPE), for when labels come late or never."""

    metric: EstimatedMetric
    """Accuracy (any classifier) or RocAuc (binary classifiers)."""
    reference: Fraction | None = None
    """The value the estimate is compared with; omit for the stable Model's spec.metrics
    entry `accuracy` (Accuracy) or `roc_auc` (RocAuc)."""
    max_drop: float = Field(default=0.05, gt=0, le=1)
    """Degraded when the estimate is more than this below the reference."""
    window: Duration | None = None
    """The window of predictions estimated over; omit for the monitor's window."""
    min_samples: int = Field(default=100, ge=1)
    """The fewest predictions with probabilities in the window to estimate."""


class DriftMonitorSpec(ApiModel):
    """What to watch, how to compare, and when to call it drift."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                compare_durations("window", ">=", "interval", DURATION_PATTERN),
                "window must be at least as long as interval",
                field=".window",
            )
        )
    )

    deployment: DnsLabel
    """The Deployment (modelkeeper.io) whose stable version's inputs are watched."""
    interval: Duration = Duration(minutes=5)
    """How often to evaluate, such as 5m."""
    window: Duration = Duration(hours=1)
    """How much recent traffic each evaluation compares with the reference."""
    min_samples: int | None = Field(default=None, ge=1)
    """The fewest live samples of a feature in the window to judge it; fewer is
    InsufficientData. Omit for 30 times the feature's number of bins."""
    by_type: TypeTests = TypeTests()
    """The test for each feature type; PSI with 0.1 and 0.25 unless set."""
    features: list[FeatureTest] = Field(
        default_factory=list, max_length=512, json_schema_extra=keyed_by("name")
    )
    """Tests for single features, instead of their type's."""
    exclude: list[FeatureName] = Field(
        default_factory=list, max_length=512, json_schema_extra={"x-kubernetes-list-type": "set"}
    )
    """Features not watched at all; this wins over features."""
    multiple_testing: MultipleTesting = MultipleTesting()
    """How many features tested at once are kept from raising false alarms."""
    hysteresis: Hysteresis = Hysteresis()
    """How many evaluations in a row it takes to enter and to leave Drifted."""
    custom_metrics: list[CustomDriftMetric] = Field(
        default_factory=list, max_length=16, json_schema_extra=keyed_by("name")
    )
    """Drift scores from other tools, read by PromQL and judged like features."""
    performance: Performance | None = None
    """Quality from ground-truth feedback, with its bound."""
    estimated_performance: EstimatedPerformance | None = None
    """Quality estimated without labels from the model's probabilities, with its bound."""


class DriftState(StrEnum):
    """The monitor's verdict."""

    OK = "OK"
    WARNING = "Warning"
    DRIFTED = "Drifted"
    INSUFFICIENT_DATA = "InsufficientData"
    UNKNOWN = "Unknown"


class Level(StrEnum):
    """The verdict on one feature or metric in one evaluation."""

    OK = "OK"
    WARNING = "Warning"
    CRITICAL = "Critical"
    INSUFFICIENT_DATA = "InsufficientData"


class FeatureScore(ApiModel):
    """One feature's result in the last evaluation."""

    name: FeatureName
    """The feature."""
    method: DriftMethod
    """The method used."""
    score: float | None = None
    """The method's score; none without enough data."""
    p_value: float | None = Field(default=None, ge=0, le=1)
    """The p-value, for tests judged by one, after correction."""
    samples: int = Field(default=0, ge=0)
    """Live samples in the window."""
    level: Level
    """OK, Warning, Critical or InsufficientData."""


class MetricScore(ApiModel):
    """One custom drift metric's result in the last evaluation."""

    name: DnsLabel
    """The metric, as named in spec."""
    value: float | None = None
    """The value the query returned; none without data."""
    level: Level
    """OK, Warning, Critical or InsufficientData."""


class PerformanceStatus(ApiModel):
    """The quality measured from feedback in the last evaluation."""

    metric: PerformanceMetric
    """The metric."""
    value: float | None = None
    """Its value; none without enough feedback."""
    samples: int = Field(default=0, ge=0)
    """Feedback samples in the window."""
    level: Level
    """OK, Critical (beyond the bound) or InsufficientData."""


class EstimatedPerformanceStatus(ApiModel):
    """The quality estimated from the model's probabilities in the last evaluation."""

    metric: EstimatedMetric
    """The metric."""
    value: float | None = None
    """The estimate; none without enough predictions."""
    reference: float | None = None
    """The value it is compared with."""
    samples: int = Field(default=0, ge=0)
    """Predictions with probabilities in the window."""
    level: Level
    """OK, Critical (more than maxDrop below the reference) or InsufficientData."""


class DriftMonitorConditionType(StrEnum):
    """The conditions a DriftMonitor reports."""

    READY = "Ready"
    DRIFTED = "Drifted"
    PERFORMANCE_DEGRADED = "PerformanceDegraded"


class DriftMonitorStatus(ApiModel):
    """The verdict, the scores behind it, and the counts hysteresis resumes from."""

    observed_generation: int | None = None
    """The metadata.generation this status describes."""
    state: DriftState | None = None
    """OK, Warning, Drifted, InsufficientData, or Unknown (no data could be read: missing data
    is never Drifted)."""
    since: datetime | None = None
    """When the monitor entered its state."""
    last_evaluation: datetime | None = None
    """When it last evaluated."""
    model_version: LabelValue | None = None
    """The version whose reference profile the last evaluation used."""
    critical_streak: int = Field(default=0, ge=0)
    """Critical evaluations in a row, towards hysteresis.enterAfter."""
    clean_streak: int = Field(default=0, ge=0)
    """Clean evaluations in a row, towards hysteresis.exitAfter."""
    features: list[FeatureScore] = Field(
        default_factory=list, max_length=512, json_schema_extra=keyed_by("name")
    )
    """Each feature's result in the last evaluation."""
    custom_metrics: list[MetricScore] = Field(
        default_factory=list, max_length=16, json_schema_extra=keyed_by("name")
    )
    """Each custom metric's result in the last evaluation."""
    performance: PerformanceStatus | None = None
    """The quality from feedback in the last evaluation."""
    estimated_performance: EstimatedPerformanceStatus | None = None
    """The quality estimated from the model's probabilities in the last evaluation."""
    message: Text = ""
    """What the verdict rests on, for people."""
    conditions: list[Condition[DriftMonitorConditionType]] = conditions_field()
    """Ready: the monitor can read Prometheus and the reference profile. Drifted: state is
    Drifted. PerformanceDegraded: quality, measured from feedback or estimated from the
    model's probabilities, is beyond its bound."""


class DriftMonitorResource(Resource[DriftMonitorSpec, DriftMonitorStatus]):
    """A DriftMonitor watches one Deployment's live inputs and says whether they drifted.

    Every interval it compares each feature's distribution over the window, read from
    Prometheus, with the model's reference profile, and moves between OK, Warning,
    Drifted, InsufficientData and Unknown with hysteresis. A RetrainPolicy can retrain
    on its state.
    """

    KIND = "DriftMonitor"


DRIFT_MONITOR = KindDefinition(
    resource=DriftMonitorResource,
    plural="driftmonitors",
    short_names=("mkdm",),
    columns=(
        PrinterColumn("Deployment", ".spec.deployment", "The Deployment watched."),
        PrinterColumn("State", ".status.state", "The verdict."),
        PrinterColumn("Since", ".status.since", "Time in this state.", ColumnType.DATE),
    ),
    selectable_fields=(".spec.deployment",),
)
