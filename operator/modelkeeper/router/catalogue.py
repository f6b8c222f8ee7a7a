"""A pool's router: its catalogue's families as routing configs, and its table of them.

A pool's router routes every family in the pool's catalogue (api/pool.py: one ConfigMap
per pooled Deployment) with the code that routes one family: each family becomes a
`RoutingConfig` whose backends are its versions, all served by the pool's Service, with
paths that name the version. The table keeps one route per model name, set and removed
by the ConfigMap that brought it, so that one ConfigMap event changes one family. Pure:
the router follows the ConfigMaps (reload.py) and forwards (proxy.py).
"""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import ValidationError

from modelkeeper.api.pool import PooledFamily
from modelkeeper.router.config import (
    ROUTER_ROLES,
    ConfigError,
    Parser,
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


def family_parser(service: str) -> Parser:
    """Reads a catalogue's `family.json` into the family's routing config, or ConfigError."""

    def parse(text: str) -> RoutingConfig:
        try:
            family = PooledFamily.model_validate_json(text)
        except ValidationError as error:
            raise ConfigError(describe_validation_error(error)) from error
        return family_config(family, service)

    return parse


class Families(Generic[T]):
    """Routes by model name, each put and removed by the one owner (a ConfigMap) that holds it.

    A model name is routed for one owner at a time: a second owner claiming it is refused
    (its ConfigMap's family stays unrouted), so two Deployments can never take each
    other's traffic. An owner whose family is renamed gives the old name up.
    """

    def __init__(self) -> None:
        self._routes: dict[str, T] = {}
        self._owners: dict[str, str] = {}  # model -> owner
        self._models: dict[str, str] = {}  # owner -> model

    def __len__(self) -> int:
        return len(self._routes)

    def get(self, model: str) -> T | None:
        return self._routes.get(model)

    def routes(self) -> list[T]:
        return list(self._routes.values())

    def put(self, owner: str, model: str, route: T) -> T | None:
        """Route `model` by `route` for `owner`, and return the route it replaces, if any;
        ConfigError if another owner routes `model`."""
        holder = self._owners.get(model, owner)
        if holder != owner:
            raise ConfigError(f"model {model!r} is routed already, for {holder}")
        replaced = self.remove(owner)
        self._routes[model] = route
        self._owners[model] = owner
        self._models[owner] = model
        return replaced

    def remove(self, owner: str) -> T | None:
        """Stop routing what `owner` routed; return that route, if it had one."""
        model = self._models.pop(owner, None)
        if model is None:
            return None
        del self._owners[model]
        return self._routes.pop(model)
