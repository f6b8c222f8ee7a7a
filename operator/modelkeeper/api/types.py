"""Field types shared by the kinds: names, versions, durations, schedules, URIs, quantities.

Each type carries its wire constraint (pattern, bounds) once; the CRD generator
turns it into the schema the API server enforces, and pydantic enforces the same
constraint when the operator parses an object. Durations and schedules also parse
into Python values here, so the operator never re-reads a duration string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from croniter import croniter
from pydantic import AfterValidator, Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from modelkeeper.api.cel import JsonDict, rule, validations

DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
LABEL_VALUE_PATTERN = r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
METRIC_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.:-]*$"
SHA256_PATTERN = r"^[a-f0-9]{64}$"
ARTIFACT_URI_PATTERN = (
    r"^((s3|gs|https?|file)://\S+|pvc://[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/\S+)$"
)
"""A pvc:// URI names a claim (a DNS-1123 subdomain) and a path inside it."""
REGISTRY_URI_PATTERN = r"models:/[^/@\s]+(/[1-9][0-9]{0,17}|@[A-Za-z0-9_-]{1,255})"
"""MLflow's registry URI: a registered model's name, then a version number or an alias."""
MODEL_ARTIFACT_URI_PATTERN = ARTIFACT_URI_PATTERN[:-2] + "|" + REGISTRY_URI_PATTERN + ")$"
"""A model's artifact: a file's URI, or an MLflow registry URI (models:/NAME/VERSION or @ALIAS)."""
PVC_MOUNT_ROOT = "/mnt/modelkeeper/claims"
"""Where the operator mounts the claim of a pvc:// URI, read-only, into the step that reads it."""
IMAGE_PATTERN = (
    r"^[a-z0-9]([a-z0-9._/:-]*[a-z0-9])?(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?"
    r"(@sha256:[a-f0-9]{64})?$"
)
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
TIME_ZONE_PATTERN = r"^[A-Za-z][A-Za-z0-9_+/-]*$"
# At most four parts, each bounded, so that no accepted duration overflows Go's (the API
# server's CEL `duration()`, about 2562047h) or Python's timedelta.
DURATION_PATTERN = r"^([0-9]{1,5}h|[0-9]{1,7}m|[0-9]{1,9}s|[0-9]{1,12}ms){1,4}$"


@dataclass(frozen=True)
class ClaimPath:
    """A file on a PersistentVolumeClaim, as a pvc://<claim>/<path> URI names it."""

    claim: str
    path: str

    @property
    def mount_path(self) -> str:
        return f"{PVC_MOUNT_ROOT}/{self.claim}"

    @property
    def local_path(self) -> str:
        """The file's path in a pod that has the claim mounted at `mount_path`."""
        return f"{self.mount_path}/{self.path}"


def claim_path(uri: str) -> ClaimPath | None:
    """The claim and the path inside it of a pvc:// URI; None for every other scheme."""
    if not uri.startswith("pvc://"):
        return None
    claim, _, path = uri.removeprefix("pvc://").partition("/")
    return ClaimPath(claim, path.lstrip("/"))


def keyed_by(*keys: str) -> JsonDict:
    """A list whose items are unique by these keys, merged by them under server-side apply."""
    return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": list(keys)}


DnsLabel = Annotated[str, Field(max_length=63, pattern=DNS_LABEL_PATTERN)]
"""A DNS-1123 label: lowercase letters, digits and '-', at most 63, as object names are."""

LabelValue = Annotated[str, Field(max_length=63, pattern=LABEL_VALUE_PATTERN)]
"""A value that fits a Kubernetes label and a Prometheus label, such as a model version."""

MetricName = Annotated[str, Field(max_length=63, pattern=METRIC_NAME_PATTERN)]
"""The name of a metric: a letter or '_', then letters, digits, '_', '.', ':' or '-'."""

FeatureName = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^\S(.*\S)?$")]
"""The name of an input feature, as the scoring server receives it."""

Sha256 = Annotated[str, Field(max_length=64, pattern=SHA256_PATTERN)]
"""A SHA-256 digest: 64 lowercase hexadecimal digits."""

ArtifactUri = Annotated[str, Field(max_length=2048, pattern=ARTIFACT_URI_PATTERN)]
"""Where a file lives: s3://, gs://, https://, http://, file:// or pvc://<claim>/<path>."""

ModelArtifactUri = Annotated[str, Field(max_length=2048, pattern=MODEL_ARTIFACT_URI_PATTERN)]
"""Where a model is: a file's URI, or models:/NAME/VERSION or models:/NAME@ALIAS (MLflow)."""

ImageRef = Annotated[str, Field(max_length=512, pattern=IMAGE_PATTERN)]
"""A container image reference, such as registry.example.com/fraud-model:1.2.0."""

PromQL = Annotated[str, Field(min_length=1, max_length=4096)]
"""A PromQL expression that returns one number."""

Text = Annotated[str, Field(max_length=1024)]
"""Free text written for people."""

TimeZone = Annotated[str, Field(max_length=64, pattern=TIME_ZONE_PATTERN)]
"""An IANA time zone name, such as Europe/Berlin or UTC."""

Percent = Annotated[int, Field(ge=0, le=100)]
"""A whole percentage from 0 to 100."""

PositivePercent = Annotated[int, Field(ge=1, le=100)]
"""A whole percentage from 1 to 100."""

Fraction = Annotated[float, Field(ge=0, le=1)]
"""A share from 0 to 1."""

Quantity = Annotated[
    int | str,
    Field(
        json_schema_extra={
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": QUANTITY_PATTERN,
            "x-kubernetes-int-or-string": True,
        }
    ),
]
"""A Kubernetes resource quantity, such as 500m, 2 or 1Gi."""

_QUANTITY_SUFFIXES = {
    **{f"{prefix}i": Decimal(1024) ** power for power, prefix in enumerate("KMGTPE", 1)},
    **{prefix: Decimal(1000) ** power for power, prefix in enumerate("kMGTPE", 1)},
    "m": Decimal("0.001"),
    "n": Decimal("0.000000001"),
}


def quantity_value(quantity: int | str) -> Decimal:
    """A quantity's value, such as 1Gi as 1073741824: for a program that takes plain numbers."""
    text = str(quantity)
    if not re.fullmatch(QUANTITY_PATTERN, text):
        raise ValueError(f"{text!r} is not a Kubernetes quantity")
    for suffix in sorted(_QUANTITY_SUFFIXES, key=len, reverse=True):
        if text.endswith(suffix):
            return Decimal(text[: -len(suffix)]) * _QUANTITY_SUFFIXES[suffix]
    return Decimal(text)


# One cron field: '*' or a number or range of numbers, an optional '/step', comma-separated.
_CRON_FIELDS = (
    r"[1-5]?[0-9]",  # minute
    r"(1?[0-9]|2[0-3])",  # hour
    r"([1-9]|[12][0-9]|3[01])",  # day of month
    r"([1-9]|1[0-2]|[A-Za-z]{3})",  # month
    r"([0-7]|[A-Za-z]{3})",  # day of week
)


def _cron_field(number: str) -> str:
    item = rf"(\*|{number}(-{number})?)(/[0-9]{{1,2}})?"
    return rf"{item}(,{item})*"


CRON_PATTERN = (
    r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|"
    + " ".join(_cron_field(number) for number in _CRON_FIELDS)
    + ")$"
)
CRON_HELP = (
    "must be a cron schedule of five fields, minute (0-59) hour (0-23) day-of-month (1-31) "
    "month (1-12 or jan-dec) day-of-week (0-7 or sun-sat), such as '0 3 * * 0', "
    "or one of @hourly, @daily, @weekly, @monthly, @yearly"
)


def _check_cron(expression: str) -> str:
    """The schema checks the shape; croniter has the last word on what a schedule means."""
    if not re.fullmatch(CRON_PATTERN, expression) or not croniter.is_valid(expression):
        raise ValueError(f"{expression!r} {CRON_HELP}")
    return expression


Cron = Annotated[
    str,
    AfterValidator(_check_cron),
    Field(
        max_length=128,
        json_schema_extra=validations(
            rule(
                f"self.matches(r'{CRON_PATTERN}')",
                CRON_HELP,
                # The API server shows a CEL rule's value as its type ("string"): say the value.
                message_expression=f"'\"' + self + '\" ' + \"{CRON_HELP}\"",
            )
        ),
    ),
]
"""A cron schedule of five fields, or a macro such as @daily."""

_DURATION_UNITS_MS = {"h": 3_600_000, "m": 60_000, "s": 1_000, "ms": 1}
_DURATION_PART = re.compile(r"([0-9]+)(ms|s|m|h)")


class Duration(timedelta):
    """A span of time, written on the wire like Go durations: 250ms, 90s, 5m, 1h30m."""

    @classmethod
    def parse(cls, text: str) -> Duration:
        """Read a duration string; a string that does not parse is a ValueError."""
        if not re.fullmatch(DURATION_PATTERN, text):
            raise ValueError(f"{text!r} is not a duration such as 250ms, 30s, 5m or 1h30m")
        milliseconds = sum(
            int(amount) * _DURATION_UNITS_MS[unit] for amount, unit in _DURATION_PART.findall(text)
        )
        return cls(milliseconds=milliseconds)

    def __str__(self) -> str:
        """The shortest wire form, such as 1h30m; whole milliseconds, as the wire has."""
        remaining = (self.days * 86_400 + self.seconds) * 1_000 + self.microseconds // 1_000
        parts = []
        for unit, size in _DURATION_UNITS_MS.items():
            amount, remaining = divmod(remaining, size)
            if amount:
                parts.append(f"{amount}{unit}")
        return "".join(parts) or "0s"

    @classmethod
    def _validate(cls, value: Any) -> Duration:
        if isinstance(value, Duration):
            return value
        if isinstance(value, timedelta):
            return cls(seconds=value.total_seconds())
        if isinstance(value, str):
            return cls.parse(value)
        raise ValueError(f"a duration must be a string such as 5m, not {value!r}")

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls._validate, serialization=core_schema.plain_serializer_function_ser_schema(str)
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "pattern": DURATION_PATTERN, "maxLength": 32}


class ServingRole(StrEnum):
    """The part a model version plays in a Deployment."""

    STABLE = "Stable"
    CANARY = "Canary"
    SHADOW = "Shadow"
    PREVIEW = "Preview"


class RiskTier(StrEnum):
    """How much harm a wrong prediction can do; it decides who must approve a version."""

    LOW = "Low"
    MEDIUM = "Medium"
    HIGH = "High"
