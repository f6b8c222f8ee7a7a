"""A pool's catalogue: what each family served by a shared pool of scoring servers is.

A pooled Deployment owns no scoring-server pods and no router of its own. The operator
writes one ConfigMap per pooled Deployment instead, labelled with its pool's name, whose
`family.json` is a `PooledFamily`: the model name clients use, the versions it runs with
their artifacts and roles, and the split. The pool's scoring servers follow these
ConfigMaps (a list, then a watch) to know what they may load, and the pool's router to
know where a family's requests go, so a change to one family is one ConfigMap event.

Both readers take only what looks like the operator's own catalogue (`refusal`), and
both decide by one rule which family serves a model name two claim (`name_holders`),
so that they never disagree and a family refused while another holds its name is
served the moment that one leaves. Pure: the writer is the operator, the readers are
the two data planes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from modelkeeper.api.base import GROUP
from modelkeeper.api.labels import MANAGED_BY, MANAGER
from modelkeeper.api.model import ArtifactFormat, Reference, Signature
from modelkeeper.api.types import ServingRole

POOL_LABEL = "modelkeeper.io/pool"
"""On each catalogue ConfigMap: the pool whose servers and router read it."""
CATALOGUE_KEY = "family.json"
"""The ConfigMap key holding a PooledFamily as JSON."""


def catalogue_name(deployment: str) -> str:
    """The name of a pooled Deployment's catalogue ConfigMap."""
    return f"{deployment}-catalogue"


def catalogue_selector(pool: str) -> dict[str, str]:
    """What picks a pool's catalogue ConfigMaps from their namespace's, in a list or watch."""
    return {"labelSelector": f"{POOL_LABEL}={pool}"}


def pool_service(pool: str) -> str:
    """The Service in front of a pool's scoring servers (http and grpc ports)."""
    return f"{pool_router(pool)}-servers"


def pool_router(pool: str) -> str:
    """The name of a pool's router (its apps/v1 Deployment and Service), its account and its
    PodMonitor: `<pool>-pool`, so that a pool and a Deployment of one name (whose Service
    and PodMonitor take the Deployment's name) do not claim one object."""
    return f"{pool}-pool"


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
    float_tolerance: float = Field(default=1e-6, ge=0.0)
    """How far apart two numbers may be (relative and absolute) and still be the same
    answer, when the router compares the shadow's predictions with the primary's: the
    Deployment's shadow agreementTolerance if it sets one, as in a router's own config."""
    payload_log_sampling: float = Field(default=0.0, ge=0.0, le=1.0)
    probability_sampling: float = Field(default=0.1, ge=0.0, le=1.0)
    _created: datetime | None = PrivateAttr(default=None)
    """When its ConfigMap was created: metadata, never in family.json (`from_config_map`
    sets it), so that of two families claiming one model name the elder holds it."""

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

    @property
    def claim(self) -> Claim:
        """What this family claims: its model name, since its ConfigMap's creation."""
        return Claim(self.model, self._created)

    def to_data(self) -> dict[str, str]:
        """The ConfigMap's `data`."""
        return {CATALOGUE_KEY: json.dumps(self.model_dump(mode="json"), sort_keys=True)}

    @classmethod
    def from_config_map(cls, config_map: Mapping[str, Any]) -> Self:
        """Parse a catalogue ConfigMap, which `refusal` took; a ValueError (a pydantic
        ValidationError is one) names the field."""
        data = config_map.get("data") or {}
        if CATALOGUE_KEY not in data:
            raise ValueError(f"no {CATALOGUE_KEY} in its data")
        family = cls.model_validate_json(data[CATALOGUE_KEY])
        metadata = config_map["metadata"]
        if catalogue_name(family.deployment) != metadata["name"]:
            raise ValueError(
                f"deployment: {family.deployment!r} is not the Deployment whose catalogue "
                f"this is ({metadata['name']})"
            )
        created = metadata.get("creationTimestamp")
        family._created = datetime.fromisoformat(created) if created else None
        return family


def refusal(config_map: Mapping[str, Any]) -> str | None:
    """Why a pool's servers and router do not take this ConfigMap as a catalogue; None when
    it looks like one the operator wrote: labelled as managed by it, and controlled (an
    ownerReference) by the modelkeeper.io Deployment whose catalogue its name says it is.

    This keeps a stray or mislabelled ConfigMap, and one named to sort first, from deciding
    what a pool loads; it cannot stop a forgery by someone allowed to write ConfigMaps in
    the namespace (docs/security.md).
    """
    metadata = config_map.get("metadata") or {}
    name = metadata.get("name")
    if (metadata.get("labels") or {}).get(MANAGED_BY) != MANAGER:
        return f"it is not labelled {MANAGED_BY}={MANAGER}"
    owners = [
        owner
        for owner in metadata.get("ownerReferences") or ()
        if owner.get("controller") is True
        and str(owner.get("apiVersion", "")).split("/")[0] == GROUP
        and owner.get("kind") == "Deployment"
    ]
    if not owners:
        return f"no {GROUP} Deployment controls it (an ownerReference with controller: true)"
    if name != catalogue_name(owners[0].get("name", "")):
        return f"it is not named as the catalogue of its Deployment {owners[0].get('name')}"
    return None


@dataclass(frozen=True)
class Claim:
    """A family's claim to a model name: the name, and since when (None: not known)."""

    model: str
    created: datetime | None = None


def name_holders(claims: Mapping[str, Claim]) -> dict[str, str]:
    """The source (a ConfigMap's name, or a file's) whose family serves each model name.

    Of two sources claiming one name, the one whose ConfigMap was created first holds it,
    and by source name among equals (or without creation times: a catalogue directory).
    The operator writes a catalogue only for the oldest Deployment serving a name (by the
    Deployments' creation, which the ConfigMaps' mostly follows), so two claims meet only
    while it hands a name over (a deleted Deployment's catalogue awaits garbage collection,
    a refused one's is pruned): the incumbent keeps the name until its ConfigMap is gone.
    Every reader resolves again on each change, so the next claimant is served then.
    """
    holders: dict[str, str] = {}
    for source in sorted(claims, key=lambda source: _rank(source, claims[source])):
        holders.setdefault(claims[source].model, source)
    return holders


def _rank(source: str, claim: Claim) -> tuple[bool, float, str]:
    created = claim.created.timestamp() if claim.created is not None else 0.0
    return (claim.created is None, created, source)
