"""Which of a Deployment's desired objects a reconcile writes: those that changed since last time.

Server-side apply of an object exactly as the operator applied it a moment ago writes
nothing, yet each one is a request the API server has to decode, merge and compare, and
a Deployment is reconciled again on every event of itself, its Models and its scoring
servers. So each applied object's manifest is remembered by a fingerprint: a reconcile
applies only the objects whose manifest changed or that are known to be missing, and
prunes only when the set of objects (or of versions kept without a Model) changed.
Once per resync period everything is applied and pruned again, so an object edited or
deleted by hand comes back. Pure: the caller brings the clock and does the writing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Child = Mapping[str, Any]
ObjectKey = tuple[str, str]
"""(kind, name) of a child object."""


def object_key(obj: Child) -> ObjectKey:
    return obj["kind"], obj["metadata"]["name"]


def fingerprint(obj: Child) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Applied:
    """What the operator last applied for one Deployment."""

    fingerprints: Mapping[ObjectKey, str]
    keep: frozenset[str]
    """The names kept although no longer built (a version whose Model is gone)."""
    at: float
    """When everything was last applied and pruned (monotonic seconds)."""


@dataclass(frozen=True)
class Writes:
    """The objects to apply, whether to prune, and what to remember once both succeeded."""

    apply: list[Child]
    prune: bool
    record: Applied


def plan_writes(
    desired: Sequence[Child],
    keep: Collection[str],
    missing: Collection[ObjectKey],
    last: Applied | None,
    has_children: bool,
    now: float,
    resync_seconds: float,
) -> Writes:
    """The writes that bring the Deployment's objects to `desired`.

    `missing` names desired objects known not to exist (a scoring-server Deployment
    deleted by hand); `has_children` says whether any object of the Deployment exists,
    so that a new Deployment skips the prune and an operator restarted with no memory
    prunes what an earlier one left.
    """
    fingerprints = {object_key(obj): fingerprint(obj) for obj in desired}
    kept = frozenset(keep)
    if last is None or now - last.at >= resync_seconds:
        return Writes(
            list(desired), last is not None or has_children, Applied(fingerprints, kept, now)
        )
    changed = [
        obj
        for obj in desired
        if object_key(obj) in missing
        or last.fingerprints.get(object_key(obj)) != fingerprints[object_key(obj)]
    ]
    prune = fingerprints.keys() != last.fingerprints.keys() or kept != last.keep
    return Writes(changed, prune, Applied(fingerprints, kept, last.at))
