"""The ServingPool kind: scoring servers and a router shared by many Deployments.

A pool is a kind of its own, not a field of Deployment, because it lives apart from any
one family: its replicas, memory budget, image and status outlive every Deployment that
uses it, and many Deployments name one pool (`Deployment.spec.pool`). Its servers load
the artifacts of the families assigned to it on demand and keep the most used within
the memory budget; its router sends each family's requests by the model name in the
path, with the family's own split. docs/pools.md tells the whole story.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from modelkeeper.api.base import ApiModel, Resource
from modelkeeper.api.conditions import Condition, conditions_field
from modelkeeper.api.crd import ColumnType, KindDefinition, PrinterColumn
from modelkeeper.api.deployment import Resources
from modelkeeper.api.types import ImageRef, Quantity, Text


class PoolRouter(ApiModel):
    """The pool's router, which serves every family of the pool by model name."""

    replicas: int = Field(default=1, ge=0, le=100)
    """Router replicas."""


class ServingPoolSpec(ApiModel):
    """How many scoring servers the pool runs, how much each may load, and its router."""

    replicas: int = Field(default=2, ge=0, le=1000)
    """Scoring servers; each may load any family's versions of the pool."""
    memory_budget: Quantity = "1Gi"
    """The memory each server keeps loaded models within (its --memory-budget): past it, the
    least recently used model is unloaded and loaded again on its next request."""
    resources: Resources | None = None
    """Compute resources of each scoring server; a memory limit should leave room above
    memoryBudget for the server itself."""
    image: ImageRef | None = None
    """The scoring servers' and router's image; omit for the operator's default image."""
    router: PoolRouter = PoolRouter()
    """The pool's router."""


class ServingPoolConditionType(StrEnum):
    """The conditions a ServingPool reports."""

    READY = "Ready"


class ServingPoolStatus(ApiModel):
    """How many of the pool's servers are ready, and how many families it serves."""

    observed_generation: int | None = None
    """The metadata.generation this status describes."""
    replicas: int = Field(default=0, ge=0)
    """Scoring servers asked for."""
    ready_replicas: int = Field(default=0, ge=0)
    """Scoring servers ready."""
    router_ready_replicas: int = Field(default=0, ge=0)
    """Router replicas ready."""
    families: int = Field(default=0, ge=0)
    """The Deployments whose spec.pool names this pool."""
    message: Text = ""
    """What is happening, for people."""
    conditions: list[Condition[ServingPoolConditionType]] = conditions_field()
    """Ready: every asked-for scoring server and router replica is ready."""


class ServingPoolResource(Resource[ServingPoolSpec, ServingPoolStatus]):
    """A ServingPool runs scoring servers and one router that many Deployments share.

    A Deployment joins it with spec.pool: it then owns no pods of its own, only a catalogue
    of the versions it serves, which the pool's servers load on demand (least recently used
    unloaded past memoryBudget) and the pool's router routes to by the model name in the
    path, with the Deployment's own split, mirroring and rollout.
    """

    KIND = "ServingPool"


SERVING_POOL = KindDefinition(
    resource=ServingPoolResource,
    plural="servingpools",
    short_names=("mkp",),
    columns=(
        PrinterColumn("Replicas", ".spec.replicas", "Scoring servers.", ColumnType.INTEGER),
        PrinterColumn(
            "Ready", ".status.readyReplicas", "Scoring servers ready.", ColumnType.INTEGER
        ),
        PrinterColumn(
            "Families", ".status.families", "Deployments in the pool.", ColumnType.INTEGER
        ),
    ),
)
