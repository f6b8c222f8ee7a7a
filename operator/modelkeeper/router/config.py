"""The routing config: which backends serve a model, by what weight, and what is mirrored.

The operator writes it as a ConfigMap that is mounted into the router's pod as a file;
the router reads the file at start, then follows the ConfigMap through the API (or, with
no API access, the file). Parsing, and deciding what a new text or a ConfigMap event
changes, are pure, so that a bad config is rejected with a message naming the field and
the running config stays.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Self

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    field_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from modelkeeper.api.types import ServingRole


@dataclass(frozen=True)
class ProxySettings:
    """Limits set on the command line: they hold for the router's life, whatever the file says."""

    max_body_bytes: int = 4 << 20  # the scoring server's default, so limits agree
    upstream_timeout_seconds: float = 30.0
    shadow_max_in_flight: int = 64


class ConfigError(ValueError):
    """A routing config that cannot be used, with a message naming what is wrong."""


ROUTER_ROLES = (ServingRole.STABLE, ServingRole.CANARY, ServingRole.SHADOW)
"""What a backend can be for: the split is between stable and canary; a shadow only mirrors.

The roles are the Deployment's (api/types.py); the router's config, its status page and its
metric labels spell them in lowercase (`canary`), the Deployment's status and labels as
they are (`Canary`). A preview is reached through its own Service, never through the router.
"""


def role_name(role: ServingRole) -> str:
    """A role as the router spells it: in its config, its status page and its metric labels."""
    return role.value.lower()


def _router_role(value: object) -> ServingRole:
    """A backend's role from the config's spelling (`canary`), or a role given as one."""
    for role in ROUTER_ROLES:
        if value is role or value == role_name(role):
            return role
    expected = ", ".join(f"'{role_name(role)}'" for role in ROUTER_ROLES[:-1])
    raise PydanticCustomError(
        "enum",
        "Input should be {expected}",
        {"expected": f"{expected} or '{role_name(ROUTER_ROLES[-1])}'"},
    )


RouterRole = Annotated[
    ServingRole,
    PlainValidator(_router_role, json_schema_input_type=str),
    PlainSerializer(role_name, return_type=str),
]
"""A ServingRole, read and written in the router's spelling."""


class _Strict(BaseModel):
    """Unknown fields are errors, so a typo in the file is reported, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Endpoint(_Strict):
    """One address that serves a backend: a pod's IP and port, or a static address."""

    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The HTTP origin, with an IPv6 address in brackets."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


class Backend(_Strict):
    """One model version behind the router, found by Service name or by static endpoints."""

    name: str = Field(min_length=1, description="Label value in metrics and errors.")
    role: RouterRole
    weight: int = Field(default=0, ge=0, description="Share of the split; ignored for a shadow.")
    service: str | None = Field(
        default=None, description="Service whose EndpointSlices list the ready endpoints."
    )
    port: str | int = Field(
        default="http", description="EndpointSlice port: its name, or its number."
    )
    endpoints: tuple[Endpoint, ...] = Field(
        default=(), description="Static endpoints, for tests and clusters without EndpointSlices."
    )

    @model_validator(mode="after")
    def _one_way_to_find_endpoints(self) -> Self:
        if (self.service is None) == (not self.endpoints):
            raise ValueError("give exactly one of `service` and `endpoints`")
        if self.role is ServingRole.SHADOW and self.weight:
            raise ValueError("a shadow takes no weight: it gets `mirror_percent` of requests")
        return self


class RoutingConfig(_Strict):
    """Everything the router needs to route one model's traffic."""

    model: str = Field(min_length=1, description="Model family, a label on every metric.")
    deployment: str = Field(
        default="", description="The Deployment (modelkeeper.io) routed, a label on every metric."
    )
    backends: tuple[Backend, ...] = Field(min_length=1)
    mirror_percent: float = Field(default=0.0, ge=0.0, le=100.0)
    compare_output: str | None = Field(
        default="predict",
        description="Output whose data the shadow must match (null: the primary's first).",
    )
    float_tolerance: float = Field(
        default=1e-6, ge=0.0, description="Relative and absolute tolerance for FP outputs."
    )
    versioned_paths: bool = Field(
        default=False,
        description="Forward to `/v2/models/{model}/versions/{backend}/...`: the backends are "
        "versions served by one pool's scoring servers, so the path says which.",
    )

    @model_validator(mode="after")
    def _coherent_roles(self) -> Self:
        names = [backend.name for backend in self.backends]
        if len(set(names)) != len(names):
            raise ValueError("backend names must be unique")
        roles = [backend.role for backend in self.backends]
        if roles.count(ServingRole.STABLE) != 1:
            raise ValueError("exactly one backend must have role `stable`")
        for role in (ServingRole.CANARY, ServingRole.SHADOW):
            if roles.count(role) > 1:
                raise ValueError(f"at most one backend may have role `{role_name(role)}`")
        if not any(backend.weight for backend in self.primaries):
            raise ValueError("the stable and canary weights must not all be 0")
        if self.mirror_percent and self.shadow is None:
            raise ValueError("`mirror_percent` needs a backend with role `shadow`")
        return self

    @field_serializer("mirror_percent")
    def _whole_percent(self, percent: float) -> float | int:
        """A whole percent is written as one (`25`, not `25.0`), as the operator always wrote it."""
        return int(percent) if percent.is_integer() else percent

    def text(self) -> str:
        """The config as the operator writes it: JSON, sorted, with only the fields given."""
        return json.dumps(
            self.model_dump(mode="json", exclude_unset=True), indent=2, sort_keys=True
        )

    @property
    def canary_share(self) -> int:
        """The canary's percent of live requests: its weight's share of the primaries' weights.

        Never a division by zero: a config whose primaries all weigh 0 is refused.
        """
        total = sum(backend.weight for backend in self.primaries)
        canary = sum(b.weight for b in self.primaries if b.role is ServingRole.CANARY)
        return round(100 * canary / total)

    @property
    def primaries(self) -> tuple[Backend, ...]:
        """The backends that answer clients: the stable and the canary."""
        return tuple(backend for backend in self.backends if backend.role is not ServingRole.SHADOW)

    @property
    def stable(self) -> Backend:
        """The backend whose readiness makes the router ready."""
        return next(backend for backend in self.backends if backend.role is ServingRole.STABLE)

    @property
    def shadow(self) -> Backend | None:
        """The backend that mirrored requests go to, if any."""
        return next(
            (backend for backend in self.backends if backend.role is ServingRole.SHADOW), None
        )


def parse_config(text: str) -> RoutingConfig:
    """Read a routing config from YAML or JSON text, or raise ConfigError saying why not."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"not YAML or JSON: {error}") from error
    try:
        return RoutingConfig.model_validate(document)
    except ValidationError as error:
        raise ConfigError(describe_validation_error(error)) from error


def describe_validation_error(error: ValidationError) -> str:
    """One line per problem, each naming the field by its dotted path."""
    problems = []
    for detail in error.errors():
        path = ".".join(str(part) for part in detail["loc"]) or "config"
        problems.append(f"{path}: {detail['msg']}")
    return "; ".join(problems)


@dataclass(frozen=True)
class ConfigChange:
    """A routing config text that differs from the last one seen: its config, or why not."""

    text: str
    """The text to remember as seen, taken or not, so that it is judged only once."""
    config: RoutingConfig | None
    """The config to route by; None when the text cannot be used."""
    error: str = ""
    """Why the text cannot be used, naming where it came from and the field."""


def text_change(seen: str | None, text: str, where: str) -> ConfigChange | None:
    """What a config text brings: None if it is the text seen last (nothing changed)."""
    if text == seen:
        return None
    try:
        return ConfigChange(text, parse_config(text))
    except ConfigError as error:
        return ConfigChange(text, None, f"{where}: {error}")


def configmap_change(
    seen: str | None,
    event: str,
    configmap: Mapping[str, Any],
    key: str,
    where: str,
) -> ConfigChange | None:
    """What a watch event (ADDED, MODIFIED, DELETED) of a routing ConfigMap brings.

    A deleted ConfigMap brings nothing (the router keeps routing by what it has: its
    Deployment is going, or the ConfigMap is about to be written again); one without the
    `key` in its data brings a config that cannot be used.
    """
    if event not in ("ADDED", "MODIFIED"):
        return None
    text = (configmap.get("data") or {}).get(key)
    if not isinstance(text, str):
        missing = ""  # what "seen" holds after a ConfigMap without the key
        if seen == missing:
            return None
        return ConfigChange(missing, None, f"{where}: no {key!r} in its data")
    return text_change(seen, text, where)
