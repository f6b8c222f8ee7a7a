"""Which loaded models a pool server unloads to stay within its memory budget.

A pool's catalogue may hold far more models than fit in one server (overcommit): each is
loaded on its first request, and when the loaded models together cost more than the
budget, the least recently used go first. A model with a request in flight is never
unloaded under it, and neither is the one just loaded (it is about to be used), so the
total may stay above the budget for a while when everything else is busy. Pure: the
pool (`serving.pool`) measures the costs and keeps the clock.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)

MIB = 1 << 20
GIB = 1 << 30
SERVER_BYTES = 320 * MIB
"""The server itself, before any model: 281 MiB RSS measured with one small model loaded
(Python, numpy, pandas, scikit-learn, gRPC and the HTTP stack; docs/benchmarks.md,
"Pooled serving"), rounded up."""
DEFAULT_BUDGET_SHARE = 0.8
"""Of the container's memory limit beyond SERVER_BYTES: the rest is for requests in
flight, held predictions and the allocator's slack, so that the kubelet's OOM kill is not
what enforces the budget."""
DEFAULT_BUDGET_UNLIMITED = GIB
"""Without a memory limit (a developer's machine, a benchmark): a bound anyway."""
UNLIMITED_CGROUP = 1 << 60
"""cgroup v1 reports "no limit" as a huge number (about 2^63 rounded to a page)."""


@dataclass(frozen=True)
class Resident(Generic[Key]):
    """A loaded model as the budget sees it."""

    key: Key
    cost: int
    """Bytes its load is charged (see `serving.pool` for how they are measured)."""
    last_used: float
    """When a request last used it, on the pool's clock."""
    busy: bool = False
    """A request is in flight on it, or it was just loaded."""


def to_unload(loaded: Sequence[Resident[Key]], budget: int) -> list[Key]:
    """The keys to unload, least recently used first, until the rest fit in `budget`."""
    total = sum(model.cost for model in loaded)
    chosen: list[Key] = []
    for model in sorted(loaded, key=lambda model: model.last_used):
        if total <= budget:
            break
        if not model.busy:
            chosen.append(model.key)
            total -= model.cost
    return chosen


def default_budget(cgroup_limit: int | None) -> int:
    """The budget when none is set: a share of what the container's memory limit leaves
    beyond the server itself (0 when it leaves nothing: one model at a time)."""
    if cgroup_limit is None or cgroup_limit >= UNLIMITED_CGROUP:
        return DEFAULT_BUDGET_UNLIMITED
    return max(0, int((cgroup_limit - SERVER_BYTES) * DEFAULT_BUDGET_SHARE))


def parse_cgroup_limit(text: str) -> int | None:
    """cgroup v2's memory.max (a number of bytes, or "max") or v1's limit_in_bytes."""
    value = text.strip()
    if not value or value == "max":
        return None
    return int(value)
