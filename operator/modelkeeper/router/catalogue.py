"""A pool's router: its catalogue's families as routing configs, and its table of them.

A pool's router routes every family in the pool's catalogue (api/pool.py: one ConfigMap
per pooled Deployment) with the code that routes one family: each family becomes a
`RoutingConfig` whose backends are its versions, all served by the pool's Service, with
paths that name the version. The table keeps every ConfigMap's route, set and removed by
the ConfigMap that brought it, so that one ConfigMap event changes one family, and routes
each model name by the one its pool's servers serve it for (`api.pool.name_holders`).
Pure: the router follows the ConfigMaps (reload.py) and forwards (proxy.py).
"""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import ValidationError

from modelkeeper.api.pool import Claim, PooledFamily, name_holders
from modelkeeper.router.config import (
    ROUTER_ROLES,
    ConfigError,
    RoutingConfig,
    describe_validation_error,
)

T = TypeVar("T")


def family_config(family: PooledFamily, service: str, port: str | int = "http") -> RoutingConfig:
    """The routing config of one pooled family: its versions on the pool's `service`.

    A preview version is loaded by the pool but reached by naming it, never by the split,
    so it is no backend. What the family's fields cannot be (a shadow with a weight, a
    mirror share without a shadow) is refused as in any routing config, naming the field.
    """
    backends = [
        {
            "name": version.version,
            "role": version.role,
            "weight": version.weight,
            "service": service,
            "port": port,
        }
        for version in family.versions
        if version.role in ROUTER_ROLES
    ]
    document = {
        "model": family.model,
        "deployment": family.deployment,
        "backends": backends,
        "mirror_percent": family.mirror_percent,
        "float_tolerance": family.float_tolerance,
        "versioned_paths": True,
    }
    try:
        return RoutingConfig.model_validate(document)
    except ValidationError as error:
        raise ConfigError(describe_validation_error(error)) from error


class Families(Generic[T]):
    """Routes by model name: every owner's (a ConfigMap's) claim and route, and the one
    route each name is routed by, its holder's (`name_holders`).

    An owner claiming a name another holds waits, unrouted, so two Deployments never take
    each other's traffic, and is routed as soon as the holder leaves or gives the name up.
    """

    def __init__(self) -> None:
        self._claims: dict[str, tuple[Claim, T]] = {}  # by owner
        self._holders: dict[str, str] = {}  # model -> owner

    def __len__(self) -> int:
        return len(self._holders)

    def get(self, model: str) -> T | None:
        owner = self._holders.get(model)
        return self._claims[owner][1] if owner is not None else None

    def holder(self, model: str) -> str | None:
        """The owner whose route `model` is routed by."""
        return self._holders.get(model)

    def routes(self) -> list[T]:
        return [self._claims[owner][1] for owner in self._holders.values()]

    def put(self, owner: str, claim: Claim, route: T) -> list[T]:
        """Set `owner`'s claim and route; return the routes routed no more."""
        before = self.routes()
        self._claims[owner] = (claim, route)
        return self._resolve(before)

    def remove(self, owner: str) -> list[T]:
        """Drop what `owner` claimed; return the routes routed no more."""
        before = self.routes()
        self._claims.pop(owner, None)
        return self._resolve(before)

    def _resolve(self, before: list[T]) -> list[T]:
        self._holders = name_holders({owner: claim for owner, (claim, _) in self._claims.items()})
        routed = {id(route) for route in self.routes()}
        return [route for route in before if id(route) not in routed]
