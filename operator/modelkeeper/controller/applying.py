"""Applying the objects a plan (`applied.plan_writes`) says changed, for a Deployment or a pool.

In two waves (`applied.waves`): what others refer to first, then what refers to it. What
comes back is the fingerprint of the fields the operator owns in each answer, which a
watch event of the object is compared with to tell someone else's edit from the
operator's own apply.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace

from modelkeeper.controller.applied import (
    Applied,
    Child,
    ObjectKey,
    Writes,
    drifted,
    managed_fingerprint,
    object_key,
    plan_writes,
    waves,
)
from modelkeeper.kube.client import FIELD_MANAGER, KubeClient

Owner = tuple[str, str]
"""(namespace, name) of a Deployment or a ServingPool."""


async def apply_in_waves(client: KubeClient, objects: Sequence[Child]) -> dict[ObjectKey, str]:
    """Apply `objects`; the managed fingerprint of each as the API server returned it."""
    owned: dict[ObjectKey, str] = {}
    for wave in waves(objects):
        for answer in await asyncio.gather(*(client.apply(obj) for obj in wave)):
            owned[object_key(answer)] = managed_fingerprint(answer, FIELD_MANAGER)
    return owned


@dataclass
class OwnedObjects:
    """What was last applied for each owner, and which of its objects the watch saw
    deleted or edited by someone else since: the memory both a Deployment's and a pool's
    reconcile apply through."""

    client: KubeClient
    applied: dict[Owner, Applied] = field(default_factory=dict)
    gone: dict[Owner, set[ObjectKey]] = field(default_factory=dict)

    def seen(self, owner: Owner, key: ObjectKey, managed: str | None) -> bool:
        """The watch saw an owned object deleted (`managed` None) or changed (`managed`: the
        fingerprint of the operator's fields in it); whether its owner must look again (and
        apply it: it is kept as missing until an apply has written it)."""
        if managed is not None and not drifted(self.applied.get(owner), {key: managed}):
            return False
        self.gone.setdefault(owner, set()).add(key)
        return True

    def forget(self, owner: Owner) -> None:
        self.applied.pop(owner, None)
        self.gone.pop(owner, None)

    async def apply(
        self,
        owner: Owner,
        desired: Sequence[Child],
        keep: Collection[str],
        observed: Mapping[ObjectKey, str],
    ) -> Writes:
        """Apply what changed, was deleted or was edited since the last apply (`plan_writes`);
        the writes, whose `prune` the caller acts on."""
        missing = set(self.gone.get(owner, ()))
        writes = plan_writes(desired, keep, missing, observed, self.applied.get(owner))
        owned = await apply_in_waves(self.client, writes.apply)
        self.applied[owner] = replace(writes.record, owned={**writes.record.owned, **owned})
        if owner in self.gone:  # a deletion seen during this apply stays for the next one
            self.gone[owner] -= missing
            if not self.gone[owner]:
                del self.gone[owner]
        return writes
