"""The Model kind: one immutable version of a model family.

A Model names a family (`spec.name`) and a version, and says where the model is (a
model image or an artifact URI), what it takes and returns, where its reference
profile for drift is, how well it did offline, where it came from and who answers
for it. What identifies the version and what it serves can never change: a
changed model is a new Model, so that what is running is always what was approved.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field

from modelkeeper.api.base import ApiModel, Resource
from modelkeeper.api.cel import (
    JsonDict,
    exactly_one,
    immutable,
    present_forever,
    required_when,
    rule,
    validations,
)
from modelkeeper.api.conditions import Condition, conditions_field
from modelkeeper.api.crd import ColumnType, KindDefinition, PrinterColumn
from modelkeeper.api.retrainpolicy import TriggerKind
from modelkeeper.api.types import (
    METRIC_NAME_PATTERN,
    ArtifactUri,
    DnsLabel,
    FeatureName,
    ImageRef,
    LabelValue,
    MetricName,
    ModelArtifactUri,
    RiskTier,
    ServingRole,
    Sha256,
    Text,
    keyed_by,
)

NEW_VERSION = "create a new Model version instead"

Category = Annotated[str, Field(min_length=1, max_length=256)]
Person = Annotated[str, Field(min_length=1, max_length=253)]
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
ImageDigest = Annotated[str, Field(max_length=71, pattern=r"^sha256:[0-9a-f]{64}$")]
ParameterValue = Annotated[str, Field(max_length=256)]


def named_like_metrics(what: str) -> JsonDict:
    """A map's keys must be metric names."""
    return rule(
        f"self.all(name, name.matches(r'{METRIC_NAME_PATTERN}'))",
        f"{what} names must start with a letter or '_', then letters, digits, '_', '.', ':' or '-'",
    )


MAX_APPROVERS = 32
"""Approvers recorded in status.approvals; names past this many are not counted."""


class ArtifactFormat(StrEnum):
    """The library that reads a model file."""

    SKLEARN = "sklearn"
    XGBOOST = "xgboost"
    LIGHTGBM = "lightgbm"
    ONNX = "onnx"
    MLFLOW = "mlflow"


class Artifact(ApiModel):
    """A model file (or, for mlflow, directory) that the scoring server fetches and loads."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "!self.uri.startsWith('models:') || self.format == 'mlflow'",
                "a models:/ URI names an MLflow model: it needs format mlflow",
                field=".format",
            )
        )
    )

    uri: ModelArtifactUri
    """Where the file is: s3://, gs://, https://, http://, file:// or pvc://<claim>/<path>; for
    format mlflow a directory (file://, pvc://) or a registered model, models:/NAME/VERSION or
    models:/NAME@ALIAS (resolved when the scoring pod starts: an alias is not reproducible)."""
    sha256: Sha256 | None = None
    """The file's SHA-256 digest (of a directory: docs/publishing-models.md); when set, the
    scoring server refuses one that differs."""
    format: ArtifactFormat
    """The library that reads the file: sklearn, xgboost, lightgbm, onnx, or mlflow (an MLflow
    model directory with the sklearn flavour)."""


class FeatureType(StrEnum):
    """What kind of values a feature takes."""

    NUMERIC = "Numeric"
    CATEGORICAL = "Categorical"


class Feature(ApiModel):
    """One input of the model."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "self.type == 'Categorical' || !has(self.categories)",
                "categories apply only to Categorical features",
                field=".categories",
            )
        )
    )

    name: FeatureName
    """The feature's name in a request."""
    type: FeatureType
    """Numeric (binned by the reference profile's quantiles) or Categorical."""
    categories: list[Category] | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    """The allowed values of a Categorical feature; the scoring server refuses others.
    Omit to allow any."""


class OutputType(StrEnum):
    """What the model predicts."""

    CLASSIFICATION = "Classification"
    REGRESSION = "Regression"


class Output(ApiModel):
    """What the model returns."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            required_when("classes", "self.type == 'Classification'", "for Classification output")
        )
    )

    type: OutputType
    """Classification (one of the class labels) or Regression (a number)."""
    classes: list[Category] | None = Field(
        default=None,
        min_length=2,
        max_length=1000,
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    """The class labels of a classifier, in the order of its probability outputs."""


class Signature(ApiModel):
    """The model's inputs and output, which the scoring server checks each request against."""

    inputs: list[Feature] = Field(min_length=1, max_length=512, json_schema_extra=keyed_by("name"))
    """The input features, each once."""
    output: Output
    """The prediction."""


class Reference(ApiModel):
    """Where the reference profile is: the training data's binned distribution of each input."""

    model_config = ConfigDict(json_schema_extra=validations(exactly_one("uri", "path")))

    uri: ArtifactUri | None = None
    """A profile stored beside the artifact: s3://, gs://, https://, http://, file:// or pvc://."""
    path: str | None = Field(default=None, max_length=1024, pattern=r"^/\S*$")
    """An absolute path to the profile inside the model image."""
    sha256: Sha256 | None = None
    """The profile's SHA-256 digest; when set, a profile that differs is refused."""


class DataRef(ApiModel):
    """A data set, by location and digest."""

    uri: ArtifactUri
    """Where the data is."""
    sha256: Sha256 | None = None
    """The data's SHA-256 digest, so that the same bytes can be found again."""


class RetrainingRun(ApiModel):
    """The retraining run that produced a version, and why it ran."""

    policy: DnsLabel
    """The RetrainPolicy that ran it."""
    run: DnsLabel
    """The run's name in the policy's status history."""
    trigger: TriggerKind | None = None
    """What started the run: Drift, Performance, Schedule or Manual."""
    reason: Text = ""
    """Its evidence, such as the monitor's state and since when; kept here because the
    policy's history forgets old runs."""


class RegistryVersion(ApiModel):
    """The MLflow registry's version a Model was made from, as the registry described it."""

    tracking_uri: str = Field(max_length=2048)
    """The tracking server whose registry it is."""
    model: str = Field(max_length=256)
    """The registered model's name."""
    version: str = Field(max_length=64)
    """The registry's version number."""
    alias: str | None = Field(default=None, max_length=255)
    """The alias that pointed at it when the operator made the Model, if one did."""
    run_id: str | None = Field(default=None, max_length=256)
    """The MLflow run that logged it; its metrics are the Model's spec.metrics."""
    source: str | None = Field(default=None, max_length=2048)
    """Where the registry says its files came from, such as models:/m-…"""


class Lineage(ApiModel):
    """Where a version came from, so that it can be rebuilt and audited."""

    training_data: list[DataRef] = Field(default_factory=list, max_length=16)
    """The data it was trained on."""
    holdout: DataRef | None = None
    """The labelled data held out from training that its metrics were measured on."""
    code_image: ImageRef | None = None
    """The training image that produced it."""
    code_image_digest: ImageDigest | None = None
    """The digest of the image the trainer's container ran (its pod's imageID), which a tag
    does not pin."""
    parameters: dict[str, ParameterValue] | None = Field(
        default=None,
        max_length=64,
        json_schema_extra=validations(named_like_metrics("parameter")),
    )
    """The training parameters the trainer reported, such as alpha: "0.1"."""
    parent_version: LabelValue | None = None
    """The version it was retrained from."""
    retraining_run: RetrainingRun | None = None
    """The retraining run that produced it, when one did."""
    registry: RegistryVersion | None = None
    """The registry version it was made from, when a Deployment followed an alias to it."""


class Approval(ApiModel):
    """A person's approval, written into the manifest (for example by a reviewed pull request)."""

    by: Person
    """Who approved, such as an e-mail address."""
    at: datetime
    """When they approved, as an RFC 3339 time."""


class Governance(ApiModel):
    """Who answers for the version, how risky it is, and who approved it."""

    owner: Person | None = None
    """The team or person who answers for the model."""
    risk_tier: RiskTier = RiskTier.HIGH
    """How much harm a wrong prediction can do; unknown risk counts as High."""
    approval: Approval | None = None
    """An approval recorded in the manifest. The CLI approves through an annotation instead."""


class ModelSpec(ApiModel):
    """The version: its identity, what it serves, and what is known about it."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            exactly_one("image", "artifact"),
            rule(
                "!has(self.reference) || !has(self.reference.path) || has(self.image)",
                "reference.path points into the model image, so it needs image; "
                "with an artifact, use reference.uri",
                field=".reference.path",
            ),
            *(
                present_forever(field, NEW_VERSION)
                for field in ("image", "artifact", "schema", "reference", "lineage")
            ),
        )
    )

    name: DnsLabel = Field(json_schema_extra=validations(immutable("name", NEW_VERSION)))
    """The model family, such as fraud; the versions of a family share it."""
    version: LabelValue = Field(json_schema_extra=validations(immutable("version", NEW_VERSION)))
    """The version within the family, such as 1.4.0; it must fit a label value."""
    image: ImageRef | None = Field(
        default=None, json_schema_extra=validations(immutable("image", NEW_VERSION))
    )
    """A model image, built FROM the serving image with the model file inside."""
    artifact: Artifact | None = Field(
        default=None, json_schema_extra=validations(immutable("artifact", NEW_VERSION))
    )
    """A model file that the standard serving image fetches and loads."""
    signature: Signature | None = Field(
        default=None,
        alias="schema",
        json_schema_extra=validations(immutable("schema", NEW_VERSION)),
    )
    """The inputs and output; without it the scoring server checks no request."""
    reference: Reference | None = Field(
        default=None, json_schema_extra=validations(immutable("reference", NEW_VERSION))
    )
    """The reference profile that drift is measured against."""
    metrics: dict[str, float] = Field(
        default_factory=dict,
        max_length=64,
        json_schema_extra=validations(named_like_metrics("metric")),
    )
    """Offline evaluation results by metric name, such as auc: 0.91."""
    lineage: Lineage | None = Field(
        default=None, json_schema_extra=validations(immutable("lineage", NEW_VERSION))
    )
    """Where the version came from."""
    governance: Governance = Governance()
    """Ownership, risk tier and approval."""


class Stage(StrEnum):
    """Where a version is in its life."""

    REGISTERED = "Registered"
    EVALUATING = "Evaluating"
    REJECTED = "Rejected"
    CANDIDATE = "Candidate"
    PRODUCTION = "Production"
    RETIRED = "Retired"


class ApprovalSource(StrEnum):
    """How a version came to be approved."""

    MANIFEST = "Manifest"
    ANNOTATION = "Annotation"
    POLICY = "Policy"


class ApprovalRecord(ApiModel):
    """The approval the operator acted on."""

    by: Person
    """Who approved: a person, or the RetrainPolicy that auto-approved."""
    at: datetime
    """When the approval was given."""
    source: ApprovalSource
    """Manifest (spec.governance.approval), Annotation (modelkeeper.io/approved-by, the CLI) or
    Policy (auto-approval)."""


class Fairness(ApiModel):
    """How evenly a version's decisions fall on the groups of one sensitive attribute, as its
    trainer measured them on the holdout."""

    attribute: FeatureName
    """The sensitive attribute whose values make the groups, such as sex."""
    positive: Text = ""
    """What counts as a positive decision, such as `prediction >= 139`."""
    demographic_parity_difference: Fraction | None = None
    """The largest difference between two groups' shares of positive decisions."""
    equal_opportunity_difference: Fraction | None = None
    """The largest difference between two groups' true positive rates (the share of positive
    decisions among those whose label is positive); none when a group has no positive label."""


class FairnessVerdict(Fairness):
    """A version's fairness figures against its RetrainPolicy's bounds."""

    max_demographic_parity_difference: float | None = None
    """The policy's bound on the demographic parity difference."""
    max_equal_opportunity_difference: float | None = None
    """The policy's bound on the equal opportunity difference."""
    passed: bool
    """Whether every bounded figure was measured and is within its bound."""
    message: Text = ""
    """Each figure against its bound, for people."""


class GateResult(ApiModel):
    """The version's evaluation against the champion, by its RetrainPolicy's gate."""

    metric: MetricName
    """The metric compared."""
    value: float
    """This version's value."""
    champion: LabelValue | None = None
    """The champion's version; none when the family had none."""
    champion_value: float | None = None
    """The champion's value, measured by the trainer on the same holdout."""
    holdout: DataRef | None = None
    """The labelled held-out data both values were measured on."""
    fairness: FairnessVerdict | None = None
    """The fairness figures against the policy's bounds, when it sets any."""
    passed: bool
    """Whether this version beat the champion by the required margin and kept within the
    fairness bounds."""
    message: Text = ""
    """Why it passed or failed."""


class Serving(ApiModel):
    """A Deployment that serves this version."""

    deployment: DnsLabel
    """The Deployment's name."""
    role: ServingRole
    """The part the version plays there."""


class ModelConditionType(StrEnum):
    """The conditions a Model reports."""

    VALIDATED = "Validated"
    EVALUATED = "Evaluated"
    APPROVED = "Approved"
    STARTED = "Started"


class ModelStatus(ApiModel):
    """What the operator knows about the version."""

    observed_generation: int | None = None
    """The metadata.generation this status describes."""
    stage: Stage | None = None
    """Where the version is in its life."""
    approved: bool | None = None
    """Whether the version may be rolled out."""
    approval: ApprovalRecord | None = None
    """The approval the operator acted on: for approvals by annotation, the one that made
    enough (docs/approvals.md)."""
    approvals: list[ApprovalRecord] = Field(
        default_factory=list, max_length=MAX_APPROVERS, json_schema_extra=keyed_by("by")
    )
    """Every approver named in modelkeeper.io/approved-by, with when the operator first saw
    the name."""
    evaluation: GateResult | None = None
    """The evaluation against the champion."""
    served_by: list[Serving] = Field(
        default_factory=list, max_length=64, json_schema_extra=keyed_by("deployment")
    )
    """The Deployments that serve the version now."""
    conditions: list[Condition[ModelConditionType]] = conditions_field()
    """Validated: the image or artifact and the reference profile were found and match their
    digests. Evaluated: the version went through its RetrainPolicy's gate. Approved: it may be
    rolled out. Started: its scoring servers became ready in a Deployment (True), or fail
    to start there (False, with why: a fetch step's error, a crash), or neither yet."""


class ModelResource(Resource[ModelSpec, ModelStatus]):
    """A Model is one immutable version of a model family: where it is, what it takes, who
    approved it.

    The versions of a family are the Models that share spec.name. A changed model
    is a new Model: identity, artifact, schema, reference and lineage never change.
    """

    KIND = "Model"


MODEL = KindDefinition(
    resource=ModelResource,
    plural="models",
    short_names=("mkm",),
    columns=(
        PrinterColumn("Family", ".spec.name", "The model family."),
        PrinterColumn("Version", ".spec.version", "The version within the family."),
        PrinterColumn("Stage", ".status.stage", "Where the version is in its life."),
        PrinterColumn(
            "Approved", ".status.approved", "Whether it may be rolled out.", ColumnType.BOOLEAN
        ),
    ),
    selectable_fields=(".spec.name", ".spec.version"),
)
