"""The base every API type shares: camelCase on the wire, docstrings as field descriptions.

The pydantic models of this package are the one source of truth for the custom
resources: the CRD generator reads their JSON schema, and the operator parses each
object it receives into them once, so no handler digs through raw dicts. This module
holds what all kinds share: the model base class, the object metadata, and the
typed resource (metadata, spec and status) with its `from_object` parser.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar, Generic, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

GROUP = "modelkeeper.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"


class ApiModel(BaseModel):
    """Base of every spec and status type: camelCase aliases, docstrings become descriptions.

    Unknown fields are refused, so a field the CRD and the models disagree on is
    found at once instead of being dropped.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        use_attribute_docstrings=True,
        extra="forbid",
        frozen=True,
    )


class ObjectMeta(ApiModel):
    """The part of Kubernetes object metadata that the operator reads."""

    model_config = ConfigDict(extra="ignore")

    name: str
    """Name of the object, unique in its namespace."""
    namespace: str | None = None
    """Namespace of the object."""
    uid: str | None = None
    """Unique identity the API server gave the object."""
    generation: int | None = None
    """Sequence number of the spec, bumped by the API server on each spec change."""
    resource_version: str | None = None
    """Opaque version of the whole object, for optimistic concurrency."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Labels of the object."""
    annotations: dict[str, str] = Field(default_factory=dict)
    """Annotations of the object; manual controls such as `modelkeeper.io/promote` live here."""
    creation_timestamp: datetime | None = None
    """When the object was created."""
    deletion_timestamp: datetime | None = None
    """When deletion was requested; set while finalizers still hold the object."""


SpecT = TypeVar("SpecT", bound=ApiModel)
StatusT = TypeVar("StatusT", bound=ApiModel)


class Resource(ApiModel, Generic[SpecT, StatusT]):
    """One object of a Modelkeeper kind, parsed into typed metadata, spec and status."""

    KIND: ClassVar[str]
    """The kind this resource type parses; each subclass sets it."""

    api_version: str
    """Must be `modelkeeper.io/v1alpha1`."""
    kind: str
    """Must be the subclass's `KIND`."""
    metadata: ObjectMeta
    """Object metadata."""
    spec: SpecT
    """What the user asks for."""
    status: StatusT
    """What the operator observed; empty until the operator first writes it."""

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> Self:
        """Parse an object as the API server returns it (a JSON mapping)."""
        return cls.model_validate(obj)

    @model_validator(mode="before")
    @classmethod
    def _this_kind_with_status(cls, data: Any) -> Any:
        """Refuse another kind before reading its spec; no status yet reads as an empty one."""
        if not isinstance(data, Mapping):
            return data
        found = (data.get("apiVersion"), data.get("kind"))
        if found != (API_VERSION, cls.KIND):
            raise ValueError(f"expected {API_VERSION} {cls.KIND}, got {found[0]} {found[1]}")
        if data.get("status") is None:
            return {**data, "status": {}}
        return data
