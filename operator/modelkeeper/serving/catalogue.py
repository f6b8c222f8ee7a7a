"""What a pool server may load: its catalogue's families, and what a change to one means.

The catalogue comes from one source per family (a ConfigMap, or a file of
`--catalogue-dir`), named by that source. A request names a model (the family's V2
name) and perhaps a version; `lookup` finds the entry. Two families claiming one model
name are a conflict, settled as the pool's router settles it (`api.pool.name_holders`):
the other is reported, kept, and served once the holder is gone.
A version whose artifact, schema or profile changed is a new thing to load, so the pool
unloads the old one (`changed`); so is one now served for another deployment or with
other sampling settings, as a pod rollout would start it afresh with its own counters.
A change of role, weight or split is not. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from modelkeeper.api.pool import PooledFamily, PooledVersion, name_holders

ModelKey = tuple[str, str]
"""(model name in the V2 path, version)."""


@dataclass(frozen=True)
class Entry:
    """One loadable version and the family it belongs to."""

    family: PooledFamily
    version: PooledVersion

    @property
    def key(self) -> ModelKey:
        return (self.family.model, self.version.version)

    @property
    def artifact(self) -> tuple[object, ...]:
        """What the loaded model is made of: when it changes, the model must load again."""
        version = self.version
        return (version.uri, version.sha256, version.format, version.signature, version.reference)

    @property
    def identity(self) -> tuple[object, ...]:
        """What a served version is: its artifact, the deployment its metrics are labelled
        with, and its sampling; when it changes, the version starts afresh."""
        family = self.family
        return (
            self.artifact,
            family.deployment,
            family.payload_log_sampling,
            family.probability_sampling,
        )


class Catalogue:
    """The families of a pool by source name, and the index requests are looked up in."""

    def __init__(self) -> None:
        self._families: dict[str, PooledFamily] = {}
        self._by_model: dict[str, PooledFamily] = {}
        self.conflicts: list[str] = []
        """Why a family is not served: another source already serves its model name."""

    def replace(self, families: Mapping[str, PooledFamily]) -> None:
        """Everything at once (a listing, or the catalogue directory)."""
        self._families = dict(families)
        self._reindex()

    def put(self, source: str, family: PooledFamily) -> None:
        self._families[source] = family
        self._reindex()

    def remove(self, source: str) -> None:
        self._families.pop(source, None)
        self._reindex()

    def _reindex(self) -> None:
        holders = name_holders({s: family.claim for s, family in self._families.items()})
        self._by_model = {model: self._families[source] for model, source in holders.items()}
        self.conflicts = [
            f"{source}: model {family.model!r} is already served for deployment "
            f"{self._by_model[family.model].deployment!r}; deployment {family.deployment!r} "
            "is not served"
            for source, family in sorted(self._families.items())
            if holders[family.model] != source
        ]

    def lookup(self, model: str) -> PooledFamily | None:
        """The family a request for `model` is served by."""
        return self._by_model.get(model)

    def entries(self) -> dict[ModelKey, Entry]:
        """Every loadable version."""
        return {
            (family.model, version.version): Entry(family, version)
            for family in self._by_model.values()
            for version in family.versions
        }


def changed(before: Mapping[ModelKey, Entry], after: Mapping[ModelKey, Entry]) -> set[ModelKey]:
    """The versions to unload: gone from the catalogue, or another thing to serve now."""
    return {
        key
        for key, entry in before.items()
        if key not in after or after[key].identity != entry.identity
    }
