"""The five kinds of group modelkeeper.io, and parsing any object of them by its kind."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelkeeper.api.base import API_VERSION, Resource
from modelkeeper.api.crd import KindDefinition
from modelkeeper.api.deployment import DEPLOYMENT
from modelkeeper.api.driftmonitor import DRIFT_MONITOR
from modelkeeper.api.model import MODEL
from modelkeeper.api.retrainpolicy import RETRAIN_POLICY
from modelkeeper.api.servingpool import SERVING_POOL

KINDS: tuple[KindDefinition, ...] = (
    MODEL,
    DEPLOYMENT,
    DRIFT_MONITOR,
    RETRAIN_POLICY,
    SERVING_POOL,
)

_BY_KIND = {definition.kind: definition.resource for definition in KINDS}


def parse_object(obj: Mapping[str, Any]) -> Resource[Any, Any]:
    """Parse an object of any Modelkeeper kind into its typed resource."""
    resource = _BY_KIND.get(obj.get("kind", ""))
    if resource is None:
        raise ValueError(
            f"{obj.get('kind')!r} is not a kind of {API_VERSION}: expected one of "
            + ", ".join(_BY_KIND)
        )
    return resource.from_object(obj)
