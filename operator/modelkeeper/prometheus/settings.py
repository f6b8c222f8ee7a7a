"""How to reach Prometheus: its URL, a timeout, and the credentials and CAs of its TLS.

The operator's settings extend these (`--prometheus-url` and the rest), and the client's
pool of providers needs nothing else, so the client does not depend on the operator.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PrometheusSettings(BaseModel):
    """Where Prometheus is and how to talk to it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prometheus_url: str = Field(
        "http://prometheus:9090", description="Prometheus, for rollout analysis"
    )
    prometheus_timeout_seconds: float = Field(
        10.0, gt=0, description="how long one Prometheus query may take"
    )
    prometheus_bearer_token_file: str | None = Field(
        None,
        description="file holding a bearer token for Prometheus, read again for every query "
        "(tokens rotate); unset sends none",
    )
    prometheus_ca_file: str | None = Field(
        None, description="CA bundle that signs Prometheus' TLS certificate; unset: system CAs"
    )
    prometheus_insecure_skip_verify: bool = Field(
        False, description="accept any TLS certificate from Prometheus (tests only)"
    )
