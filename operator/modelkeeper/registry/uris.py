"""`models:/NAME/VERSION` and `models:/NAME@ALIAS`: an MLflow registry URI, parsed (pure).

A version is pinned: the same URI gives the same files tomorrow. An alias is resolved
when it is read, so the same URI can give another version after someone moves it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from modelkeeper.api.types import REGISTRY_URI_PATTERN

REGISTRY_SCHEME = "models"
_URI = re.compile(r"models:/(?P<name>[^/@\s]+)(?:/(?P<version>[0-9]+)|@(?P<alias>[^/@\s]+))")


class RegistryUriError(ValueError):
    """Not a `models:/NAME/VERSION` or `models:/NAME@ALIAS` URI."""


@dataclass(frozen=True)
class RegistryUri:
    """A registered model and either a version number or an alias."""

    name: str
    version: str | None = None
    alias: str | None = None

    @property
    def pinned(self) -> bool:
        """Whether the URI always names the same version (an alias can move)."""
        return self.version is not None

    def __str__(self) -> str:
        if self.version is not None:
            return f"models:/{self.name}/{self.version}"
        return f"models:/{self.name}@{self.alias}"


def is_registry_uri(uri: str) -> bool:
    return uri.startswith(f"{REGISTRY_SCHEME}:")


def parse_registry_uri(uri: str) -> RegistryUri:
    """The name and the version or alias of a `models:/` URI; anything else is refused."""
    match = _URI.fullmatch(uri) if re.fullmatch(REGISTRY_URI_PATTERN, uri) else None
    if match is None:
        raise RegistryUriError(
            f"{uri}: not an MLflow registry URI; use models:/NAME/VERSION (a version number) "
            "or models:/NAME@ALIAS"
        )
    return RegistryUri(match["name"], version=match["version"], alias=match["alias"])
