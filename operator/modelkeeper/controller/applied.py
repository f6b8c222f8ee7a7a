"""Which of a Deployment's desired objects a reconcile writes: those that changed or drifted.

Server-side apply of an object exactly as the operator applied it a moment ago writes
nothing, yet each one is a request the API server has to decode, merge and compare, and
a Deployment is reconciled again on every event of itself, its Models and its children.
So each applied object's manifest is remembered by a fingerprint, and the object as the
API server returned it by the fingerprint of the fields the operator's field manager owns
(its `managedFields` entry). The operator watches the objects it owns: one deleted, or
one whose owned fields another manager changed (`kubectl edit` takes the fields it
changes from the operator's entry), is applied again at once; everything else is applied
only when its manifest changes. Pruning reads what the watch holds instead of listing,
and runs only when the set of objects (or of versions kept without a Model) changed. So
a Deployment at rest costs the API server nothing, however many there are. Pure: the
caller brings what the watch saw and does the writing.
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
FINGERPRINT_BYTES = 8
"""Enough to tell versions of one object apart; 5,000 Deployments keep ~40,000 of them."""


def object_key(obj: Child) -> ObjectKey:
    return obj["kind"], obj["metadata"]["name"]


def _digest(value: Any) -> str:
    encoded = json.dumps(value, sort_keys=True).encode()
    return hashlib.blake2b(encoded, digest_size=FINGERPRINT_BYTES).hexdigest()


def fingerprint(obj: Child) -> str:
    return _digest(obj)


def managed_fingerprint(obj: Child, manager: str) -> str:
    """The fingerprint of the fields `manager` owns by server-side apply in a live object.

    Another manager changing one of them takes it over, so this changes; the API server's
    and controllers' own writes (a status, a revision annotation) leave it alone.
    """
    entries = obj.get("metadata", {}).get("managedFields") or []
    owned = [
        entry.get("fieldsV1")
        for entry in entries
        if entry.get("manager") == manager
        and entry.get("operation") == "Apply"
        and not entry.get("subresource")
    ]
    return _digest(owned)


@dataclass(frozen=True)
class Applied:
    """What the operator last applied for one Deployment."""

    fingerprints: Mapping[ObjectKey, str]
    """Each desired object's manifest."""
    keep: frozenset[str]
    """The names kept although no longer built (a version whose Model is gone)."""
    owned: Mapping[ObjectKey, str]
    """Each object's `managed_fingerprint` as its last apply returned it."""


@dataclass(frozen=True)
class Writes:
    """The objects to apply, whether to prune, and what to remember once both succeeded
    (`record` lacks the `owned` fingerprints of the objects applied now: the caller adds
    them from the API server's answers)."""

    apply: list[Child]
    prune: bool
    record: Applied


def drifted(last: Applied | None, observed: Mapping[ObjectKey, str]) -> set[ObjectKey]:
    """The applied objects that the watch shows changed by someone else since.

    `observed` maps the owned objects the watch holds to their `managed_fingerprint`.
    An object not observed is not taken as drifted: it may be on its way (the watch is a
    moment behind the apply); a deletion comes as an event of its own (`missing`).
    """
    if last is None:
        return set()
    return {
        key
        for key, seen in observed.items()
        if key in last.fingerprints and last.owned.get(key, seen) != seen
    }


def plan_writes(
    desired: Sequence[Child],
    keep: Collection[str],
    missing: Collection[ObjectKey],
    observed: Mapping[ObjectKey, str],
    last: Applied | None,
) -> Writes:
    """The writes that bring the Deployment's objects to `desired`.

    `missing` names objects deleted since they were last applied; `observed` is what the
    watch holds of the Deployment's objects (see `drifted`). A Deployment seen for the
    first time (a new one, or after a restart with no memory) applies everything, and
    prunes if any object of it exists (one an earlier operator left).
    """
    fingerprints = {object_key(obj): fingerprint(obj) for obj in desired}
    kept = frozenset(keep)
    if last is None:
        return Writes(list(desired), bool(observed), Applied(fingerprints, kept, {}))
    stale = set(missing) | drifted(last, observed)
    changed = [
        obj
        for obj in desired
        if object_key(obj) in stale
        or last.fingerprints.get(object_key(obj)) != fingerprints[object_key(obj)]
    ]
    prune = fingerprints.keys() != last.fingerprints.keys() or kept != last.keep
    owned = {key: value for key, value in last.owned.items() if key in fingerprints}
    return Writes(changed, prune, Applied(fingerprints, kept, owned))


REFERRING_KINDS = frozenset({"Deployment", "RoleBinding"})
"""Kinds applied after the rest: an apps/v1 Deployment's pods need their ConfigMap and
ServiceAccount, and the API server answers 404 to a RoleBinding whose Role it cannot find
yet (its check that the binding grants nothing the operator does not hold reads the Role)."""


def waves(objects: Sequence[Child]) -> list[list[Child]]:
    """The objects in the order they can be applied: the rest together, then the
    REFERRING_KINDS together."""
    return [
        [obj for obj in objects if obj["kind"] not in REFERRING_KINDS],
        [obj for obj in objects if obj["kind"] in REFERRING_KINDS],
    ]
