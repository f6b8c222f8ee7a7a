"""The scoring server's settings: one pydantic class, read from MODELKEEPER_* variables and flags.

The operator sets environment variables; a person at a terminal passes flags.
`modelkeeper.envflags` derives both from this field list, so a setting exists in
exactly one place: field `max_batch_size` is `MODELKEEPER_MAX_BATCH_SIZE` and
`--max-batch-size`, and a flag wins over the variable.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class ModelFormat(StrEnum):
    """How the server loads the model directory.

    The Model resource's artifact formats (`api.model.ArtifactFormat`, which the operator
    passes on; a unit test keeps them a subset), and `python`: the model's own code,
    `model.py`, which only a model image brings, never an artifact URI.
    """

    SKLEARN = "sklearn"
    XGBOOST = "xgboost"
    LIGHTGBM = "lightgbm"
    ONNX = "onnx"
    MLFLOW = "mlflow"
    PYTHON = "python"


class ServerSettings(BaseModel):
    """Everything one `modelkeeper serve` is configured with (docs/serving.md lists them)."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    model_dir: Path = Field(
        Path("/model"), description="directory with the model file, schema.json and profile.json"
    )
    model_name: str = Field(
        "model",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="the model family: the name in /v2/models/NAME and the `model` metric label",
    )
    model_version: str = Field("1", min_length=1, description="the version label and V2 version")
    model_format: ModelFormat = Field(
        ModelFormat.SKLEARN,
        description="sklearn, xgboost, lightgbm (model.joblib), onnx (model.onnx), mlflow "
        "(mlflow/MLmodel, the sklearn flavour) or python (model.py, the model's own code)",
    )
    deployment: str = Field("", description="the `deployment` metric label")
    role: str = Field("stable", description="the `role` metric label: stable, canary or shadow")
    host: str = Field("0.0.0.0", description="address to listen on")
    http_port: int = Field(8080, ge=0, le=65535, description="HTTP port; 0 picks a free one")
    grpc_port: int = Field(
        8081, ge=0, le=65535, description="V2 gRPC port (inference.GRPCInferenceService); 0: none"
    )
    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="serve /metrics on this port instead of the HTTP port"
    )
    workers: int = Field(1, ge=1, le=64, description="worker processes sharing the port")
    max_batch_size: int = Field(64, ge=1, description="most rows scored in one model call")
    max_batch_wait_ms: float = Field(
        0.0, ge=0, le=1000, description="how long a batch that is not full waits for more requests"
    )
    max_body_bytes: int = Field(4 << 20, ge=1024, description="larger request bodies get 413")
    payload_log: str | None = Field(
        None, description="log sampled requests as JSON lines to this file, or - for stdout"
    )
    payload_log_sample: float = Field(0.1, ge=0, le=1, description="share of requests logged")
    feedback_capacity: int = Field(
        100_000, ge=0, description="predictions held per worker for ground-truth feedback"
    )
    feedback_ttl_seconds: float = Field(
        3600.0, ge=0, description="how long a prediction waits for its feedback"
    )
    drift_counting: bool = Field(
        True,
        description="count input features into profile bins, and a sample of a classifier's "
        "probabilities",
    )
    probability_sample: float = Field(
        0.1,
        ge=0,
        le=1,
        description="with drift counting, the share of model calls whose class probabilities "
        "are computed (if not asked for) and counted, for estimated performance",
    )
    artifact_uri: str | None = Field(
        None,
        description="fetch the model file from here (file, http, https, s3, gs; models:/ for "
        "mlflow) at start",
    )
    artifact_sha256: Sha256Hex | None = Field(
        None, description="refuse to start unless the fetched file has this SHA-256"
    )
    shutdown_timeout_seconds: float = Field(
        30.0, ge=0, description="on SIGTERM, how long requests in flight may take to finish"
    )
    pool: str | None = Field(
        None,
        min_length=1,
        description="serve the families of this pool: every catalogue ConfigMap labelled "
        "modelkeeper.io/pool=POOL in --namespace, each model loaded on its first request",
    )
    namespace: str | None = Field(
        None, min_length=1, description="the namespace whose catalogue ConfigMaps --pool follows"
    )
    catalogue_dir: Path | None = Field(
        None,
        description="serve the families of the *.json files here (each a pool catalogue's "
        "family.json), read once at start: a pool without API access",
    )
    memory_budget: int | None = Field(
        None,
        ge=0,
        description="bytes of loaded models a pool server keeps before it unloads the least "
        "recently used; unset: 80% of the container's memory limit beyond 320 MiB for the "
        "server itself, or 1 GiB without a limit",
    )

    @model_validator(mode="after")
    def _pool_alone(self) -> ServerSettings:
        if self.pool is not None and self.namespace is None:
            raise ValueError("--pool follows ConfigMaps through the API: it needs --namespace")
        if self.namespace is not None and self.pool is None:
            raise ValueError("--namespace is where --pool's catalogue is: give --pool too")
        if self.pool is not None and self.catalogue_dir is not None:
            raise ValueError(
                "a pool's catalogue is --pool's ConfigMaps or --catalogue-dir, not both"
            )
        if self.pooled and self.workers != 1:
            raise ValueError(
                "a pool server runs one worker process (its models load on demand, one copy "
                "each): scale it by replicas"
            )
        return self

    @property
    def pooled(self) -> bool:
        """Whether this server serves a pool's catalogue rather than one model directory."""
        return self.pool is not None or self.catalogue_dir is not None

    @model_validator(mode="after")
    def _code_comes_in_the_image(self) -> ServerSettings:
        if self.model_format is ModelFormat.PYTHON and self.artifact_uri is not None:
            raise ValueError(
                "model format python runs model.py from the model directory in the image; "
                "it takes no artifact URI"
            )
        return self

    @property
    def max_batch_wait_seconds(self) -> float:
        return self.max_batch_wait_ms / 1000
