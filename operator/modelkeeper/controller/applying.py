"""Applying the objects a plan (`applied.plan_writes`) says changed, for a Deployment or a pool.

Other kinds first, so the pods of an apps/v1 Deployment find their ConfigMap and
ServiceAccount; then the apps/v1 Deployments. What comes back is the fingerprint of the
fields the operator owns in each answer, which a watch event of the object is compared
with to tell someone else's edit from the operator's own apply.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from modelkeeper.controller.applied import Child, ObjectKey, managed_fingerprint, object_key
from modelkeeper.kube.client import FIELD_MANAGER, KubeClient


async def apply_in_waves(client: KubeClient, objects: Sequence[Child]) -> dict[ObjectKey, str]:
    """Apply `objects`; the managed fingerprint of each as the API server returned it."""
    owned: dict[ObjectKey, str] = {}
    for wave in (
        [obj for obj in objects if obj["kind"] != "Deployment"],
        [obj for obj in objects if obj["kind"] == "Deployment"],
    ):
        for answer in await asyncio.gather(*(client.apply(obj) for obj in wave)):
            owned[object_key(answer)] = managed_fingerprint(answer, FIELD_MANAGER)
    return owned
