"""A pool's catalogue: what each family served by a shared pool of scoring servers is.

A pooled Deployment owns no scoring-server pods and no router of its own. The operator
writes one ConfigMap per pooled Deployment instead, labelled with its pool's name, whose
`family.json` is a `PooledFamily`: the model name clients use, the versions it runs with
their artifacts and roles, and the split. The pool's scoring servers follow these
ConfigMaps (a list, then a watch) to know what they may load, and the pool's router to
know where a family's requests go, so a change to one family is one ConfigMap event.
Pure: the writer is the operator, the readers are the two data planes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from modelkeeper.api.model import ArtifactFormat, Reference, Signature
from modelkeeper.api.types import ServingRole

POOL_LABEL = "modelkeeper.io/pool"
"""On each catalogue ConfigMap: the pool whose servers and router read it."""
CATALOGUE_KEY = "family.json"
"""The ConfigMap key holding a PooledFamily as JSON."""


def catalogue_name(deployment: str) -> str:
    """The name of a pooled Deployment's catalogue ConfigMap."""
    return f"{deployment}-catalogue"


def pool_service(pool: str) -> str:
    """The Service in front of a pool's scoring servers (http and grpc ports)."""
    return f"{pool}-servers"


def pool_router(pool: str) -> str:
    """The name of a pool's router: its apps/v1 Deployment and Service."""
    return pool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PooledVersion(_Strict):
    """One version a pool's servers may load, and the part it plays in its family."""

    version: str = Field(min_length=1)
    model: str = Field(min_length=1, description="The Model object's name.")
    role: ServingRole
    weight: int = Field(ge=0, le=100, description="Percent of live requests; 0 for a shadow.")
    uri: str = Field(min_length=1)
    sha256: str | None = None
    format: ArtifactFormat
    signature: Signature | None = None
    """The Model's spec.schema: a server writes it as the model directory's schema.json."""
    reference: Reference | None = None
    """The Model's spec.reference: a server fetches its profile.json from reference.uri."""

    @model_validator(mode="after")
    def _profile_by_uri(self) -> Self:
        if self.reference is not None and self.reference.uri is None:
            raise ValueError(
                "reference: a pooled version's profile is fetched by uri (a path points into "
                "a model image, which a pool does not run)"
            )
        return self


class PooledFamily(_Strict):
    """A pooled Deployment as its pool's servers and router see it."""

    deployment: str = Field(min_length=1)
    model: str = Field(min_length=1, description="The model name in the V2 path.")
    versions: tuple[PooledVersion, ...] = Field(min_length=1)
    mirror_percent: int = Field(default=0, ge=0, le=100)
    """The percent of requests copied to the shadow version, if there is one."""
    payload_log_sampling: float = Field(default=0.0, ge=0.0, le=1.0)
    probability_sampling: float = Field(default=0.1, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _one_stable(self) -> Self:
        stable = [v for v in self.versions if v.role is ServingRole.STABLE]
        if len(stable) != 1:
            raise ValueError(f"a family has one stable version, not {len(stable)}")
        if len({v.version for v in self.versions}) != len(self.versions):
            raise ValueError("each version appears once")
        return self

    @property
    def stable(self) -> PooledVersion:
        """The version a request that names no version gets."""
        return next(v for v in self.versions if v.role is ServingRole.STABLE)

    def version(self, version: str) -> PooledVersion | None:
        return next((v for v in self.versions if v.version == version), None)

    def to_data(self) -> dict[str, str]:
        """The ConfigMap's `data`."""
        return {CATALOGUE_KEY: json.dumps(self.model_dump(mode="json"), sort_keys=True)}

    @classmethod
    def from_config_map(cls, config_map: Mapping[str, Any]) -> Self:
        """Parse a catalogue ConfigMap; a ValidationError (a ValueError) names the field."""
        data = config_map.get("data") or {}
        if CATALOGUE_KEY not in data:
            raise ValueError(f"no {CATALOGUE_KEY} in its data")
        return cls.model_validate_json(data[CATALOGUE_KEY])
