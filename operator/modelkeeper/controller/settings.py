"""The settings of `modelkeeper run`: one pydantic class, read from MODELKEEPER_* and flags.

`modelkeeper.envflags` turns the fields into flags and variables: field `default_image`
is `--default-image` and `MODELKEEPER_DEFAULT_IMAGE`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field

from modelkeeper import __version__
from modelkeeper.api.types import ARTIFACT_URI_PATTERN
from modelkeeper.controller.builders import StoreAccess
from modelkeeper.controller.notifications import Sink, parse_sinks
from modelkeeper.controller.selectors import check_selector
from modelkeeper.prometheus.settings import PrometheusSettings


class LogFormat(StrEnum):
    """JSON lines for machines, plain text for people."""

    JSON = "json"
    TEXT = "text"


def _sinks(value: Any) -> Any:
    return parse_sinks(value) if isinstance(value, str) else value


def _selector(value: str | None) -> str | None:
    return None if value is None else check_selector(value)


def _comma_separated(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


SECRET_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"


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
    leader_election_lease: str | None = Field(
        None,
        pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?/[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$",
        description="NAMESPACE/NAME of the coordination.k8s.io Lease the replicas elect their "
        "leader by (only the leader reconciles, the others stand by); unset: this replica acts "
        "alone",
    )
    identity: str | None = Field(
        None,
        pattern=r"^[-A-Za-z0-9_.]{1,63}$",
        description="this replica's name in the Lease and in its Events' reportingInstance "
        "(the chart passes the pod's name); unset: the host name and a random suffix",
    )
    shard_selector: Annotated[str | None, AfterValidator(_selector)] = Field(
        None,
        description="a label selector (such as modelkeeper.io/shard=a): this instance watches "
        "and reconciles only the Models, Deployments, DriftMonitors and RetrainPolicies it "
        "matches; unset: all of them",
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
        pattern=SECRET_NAME_PATTERN,
        description="a Secret in each Deployment's namespace with MLFLOW_TRACKING_TOKEN, or "
        "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, for the fetch step",
    )
    s3_endpoint_url: str | None = Field(
        None,
        pattern=r"^https?://[^/\s]+/?$",
        description="an S3-compatible store other than AWS (MinIO, SeaweedFS, Ceph) that s3:// "
        "URIs name, addressed path-style (the fetch step's AWS_ENDPOINT_URL_S3); unset: AWS",
    )
    s3_region: str | None = Field(
        None,
        pattern=r"^[a-z0-9-]{1,64}$",
        description="the region s3:// requests are signed for (the fetch step's AWS_REGION); "
        "unset: the Secret's AWS_REGION, else us-east-1",
    )
    s3_credentials_secret: str | None = Field(
        None,
        pattern=SECRET_NAME_PATTERN,
        description="a Secret in each Deployment's namespace with AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), for the fetch step of s3:// URIs",
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

    def stores(self) -> tuple[StoreAccess, ...]:
        """How the scoring pods' fetch steps reach the MLflow registry and the S3 store."""
        stores = []
        if self.mlflow_tracking_uri is not None:
            stores.append(
                StoreAccess(
                    "models",
                    (("MLFLOW_TRACKING_URI", self.mlflow_tracking_uri),),
                    self.mlflow_credentials_secret,
                )
            )
        s3 = (("AWS_ENDPOINT_URL_S3", self.s3_endpoint_url), ("AWS_REGION", self.s3_region))
        s3_env = tuple((name, value) for name, value in s3 if value is not None)
        if s3_env or self.s3_credentials_secret is not None:
            stores.append(StoreAccess("s3", s3_env, self.s3_credentials_secret))
        return tuple(stores)
