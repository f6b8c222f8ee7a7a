"""Writing a status: exactly the fields the operator owns, never over a newer object.

Every controller (Deployments, Models, DriftMonitors, RetrainPolicies) writes its
status the same way: a server-side apply of the status subresource carrying the
resourceVersion the status was computed from, only when the status changed, and it
remembers the resourceVersion it wrote so that a reconcile started from a stale watch
event waits for the watch to catch up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelkeeper.api.base import ApiModel
from modelkeeper.kube.client import JsonObject, KubeClient

Body = Mapping[str, Any]


def status_document(body: Body, status: ApiModel) -> JsonObject:
    """An apply configuration of the status subresource: exactly the fields the operator owns.

    It carries the resourceVersion it was computed from, so a status computed from a stale
    view is refused (409) and computed again, never written over a newer one.
    """
    metadata = body["metadata"]
    return {
        "apiVersion": body["apiVersion"],
        "kind": body["kind"],
        "metadata": {
            "name": metadata["name"],
            "namespace": metadata["namespace"],
            "resourceVersion": metadata["resourceVersion"],
        },
        "status": status.model_dump(mode="json", by_alias=True, exclude_none=True),
    }


def unchanged(old: ApiModel, new: ApiModel) -> bool:
    return old.model_dump(mode="json") == new.model_dump(mode="json")


def _older(seen: str, written: str) -> bool:
    """Whether the watch has not yet delivered the version the operator wrote."""
    try:
        return int(seen) < int(written)
    except ValueError:  # resourceVersions are opaque; without numbers, trust the watch
        return False


@dataclass
class StatusWriter:
    """Writes statuses of one kind and tells when the watch has not caught up with a write."""

    client: KubeClient
    written: dict[tuple[str, str], str] = field(default_factory=dict)
    """The resourceVersion of each object's last status write, until the watch shows it."""

    def stale(self, body: Body) -> bool:
        """Whether `body` is older than the operator's own last write of its status."""
        metadata = body["metadata"]
        key = (metadata["namespace"], metadata["name"])
        written = self.written.get(key)
        if written is not None and _older(metadata["resourceVersion"], written):
            return True
        self.written.pop(key, None)
        return False

    async def write(self, body: Body, old: ApiModel, new: ApiModel) -> bool:
        """Write `new` if it differs from `old`; returns whether it wrote."""
        if unchanged(old, new):
            return False
        result = await self.client.apply(status_document(body, new), "status")
        metadata = body["metadata"]
        self.written[(metadata["namespace"], metadata["name"])] = result["metadata"][
            "resourceVersion"
        ]
        return True

    def forget(self, namespace: str, name: str) -> None:
        self.written.pop((namespace, name), None)
