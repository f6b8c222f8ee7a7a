"""The settings of `modelkeeper run`: one pydantic class, read from MODELKEEPER_* and flags.

`modelkeeper.envflags` turns the fields into flags and variables: field `default_image`
is `--default-image` and `MODELKEEPER_DEFAULT_IMAGE`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field

from modelkeeper import __version__
from modelkeeper.api.types import ARTIFACT_URI_PATTERN
from modelkeeper.controller.notifications import Sink, parse_sinks
from modelkeeper.prometheus.settings import PrometheusSettings


class LogFormat(StrEnum):
    """JSON lines for machines, plain text for people."""

    JSON = "json"
    TEXT = "text"


def _sinks(value: Any) -> Any:
    return parse_sinks(value) if isinstance(value, str) else value


def _comma_separated(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class OperatorSettings(PrometheusSettings):
    """Everything `modelkeeper run` can be told (where Prometheus is, first)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    namespaces: Annotated[list[str], BeforeValidator(_comma_separated)] = Field(
        default_factory=list,
        description="namespaces to watch, comma-separated; empty watches all",
    )
    default_image: str = Field(
        f"ghcr.io/modelkeeper/modelkeeper:{__version__}",
        min_length=1,
        description="image of the scoring servers of artifact Models, and of the router",
    )
    log_format: LogFormat = Field(LogFormat.TEXT, description="json or text")
    host: str = Field("0.0.0.0", description="address for the metrics and liveness endpoints")
    metrics_port: int = Field(8080, ge=0, le=65535, description="port of /metrics; 0 turns it off")
    liveness_port: int = Field(8081, ge=0, le=65535, description="port of /healthz; 0: off")
    peering: str | None = Field(
        None,
        description="kopf peering name for high availability (one active replica); "
        "unset runs standalone",
    )
    progress_deadline_seconds: float = Field(
        600.0, gt=0, description="how long a new version may take to become ready"
    )
    drain_seconds: float = Field(
        60.0,
        ge=0,
        description="how long the old version runs after the router switched away from it "
        "(the router's config file must be refreshed first)",
    )
    resync_seconds: float = Field(
        60.0, gt=0, description="how often every object is reconciled even without a change"
    )
    workers: int = Field(8, ge=1, le=256, description="objects reconciled at once")
    mlflow_tracking_uri: str | None = Field(
        None,
        pattern=r"^https?://\S+$",
        description="the MLflow tracking server whose registry models:/ artifact URIs name "
        "(passed to the scoring pods' fetch step as MLFLOW_TRACKING_URI), and where the "
        "operator follows the aliases of Deployments with spec.follow.mlflow",
    )
    mlflow_credentials_secret: str | None = Field(
        None,
        pattern=r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$",
        description="a Secret in each Deployment's namespace with MLFLOW_TRACKING_TOKEN, or "
        "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, for the fetch step",
    )
    artifact_root: str = Field(
        "file:///var/lib/modelkeeper/artifacts",
        pattern=ARTIFACT_URI_PATTERN,
        description="where retraining runs write their artifacts, as <root>/<family>/<version>/ "
        "(the trainer's MODELKEEPER_OUTPUT_URI)",
    )
    notify_sinks: Annotated[list[Sink], BeforeValidator(_sinks)] = Field(
        default_factory=list,
        description="where to send a notification of every decision: FORMAT=URL items "
        "separated by spaces, FORMAT cloudevents (CloudEvents 1.0 over HTTP, the default for a "
        "bare URL) or slack (an incoming webhook); a URL with a token belongs in a Secret",
    )
