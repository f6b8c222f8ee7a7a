"""One interface for the reconcilers of the four kinds, and the opening they share.

The workers take a key (kind, namespace, name) from the queue and call the kind's
reconciler, found in a map by kind; it returns the seconds until it wants to run again,
or None. Every kind's reconcile opens the same way, written here once: look the object
up in the cache; if it is gone (or on its way out), forget what the operator keeps of it
and stop; if the cache has not yet caught up with the operator's own last status write
of it, come back in a moment (the watch brings the write, and a reconcile after it).
Only then does the kind's own work run, on the object's body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from modelkeeper.controller.cache import Body
from modelkeeper.controller.statuswrite import StatusWriter

STALE_RETRY_SECONDS = 0.2
"""How soon a reconcile that met a cache older than its own status write runs again."""

LookUp = Callable[[str, str], Body | None]
"""The object's body in the cache, by (namespace, name)."""
Forget = Callable[[str, str], None]
"""Drop what is kept of a gone object (its metrics, what was applied for it)."""
Work = Callable[[str, str, Body], Awaitable[float | None]]
"""A kind's own reconcile of an object that is there and fresh."""


class KindReconciler(Protocol):
    """What the workers call for a key of one kind."""

    async def reconcile(self, namespace: str, name: str) -> float | None:
        """Reconcile one object; returns the seconds until it wants to run again, if it does."""
        ...


def _keep_nothing(namespace: str, name: str) -> None:
    """For a kind that keeps nothing of an object beyond its status write."""


@dataclass(frozen=True)
class Opening:
    """A kind's reconciler: the common opening, then the kind's work."""

    look_up: LookUp
    statuses: StatusWriter
    """The kind's status writer: it knows when the cache is older than its last write."""
    work: Work
    forget: Forget = _keep_nothing

    async def reconcile(self, namespace: str, name: str) -> float | None:
        body = self.look_up(namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            self.forget(namespace, name)
            self.statuses.forget(namespace, name)
            return None
        if self.statuses.stale(body):
            return STALE_RETRY_SECONDS
        return await self.work(namespace, name, body)
