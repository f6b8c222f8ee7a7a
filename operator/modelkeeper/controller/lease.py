"""Leader election by a coordination.k8s.io Lease: what a replica writes to hold it, pure.

The rules are client-go's (controller-runtime's operators use the same): a replica holds
the Lease while it renews it; another may take it over only after it has watched the
Lease stand unchanged for the lease duration, timed by its own clock (no clock
comparison between machines); the holder stops acting when it has not renewed for the
renew deadline, which is shorter than the duration, so two never act at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

LEASE_DURATION_SECONDS = 15
"""How long a standby waits, from the last change it saw of the Lease, before taking it."""
RENEW_DEADLINE_SECONDS = 10.0
"""How long the leader may fail to renew before it stops acting (< the duration)."""
RETRY_SECONDS = 2.0
"""How often every replica tries to renew or take the Lease."""


class Claim(StrEnum):
    """What a replica does with the Lease on one try."""

    CREATE = "create"
    RENEW = "renew"
    TAKE_OVER = "take over"
    WAIT = "wait"


@dataclass(frozen=True)
class Record:
    """The Lease's spec as it was read, and its resourceVersion (the write's precondition)."""

    holder: str
    transitions: int
    resource_version: str

    @classmethod
    def read(cls, lease: dict[str, Any]) -> Record:
        spec = lease.get("spec") or {}
        return cls(
            holder=spec.get("holderIdentity") or "",
            transitions=int(spec.get("leaseTransitions") or 0),
            resource_version=lease["metadata"]["resourceVersion"],
        )


def decide(record: Record | None, identity: str, unchanged_seconds: float) -> Claim:
    """The claim on a Lease that has stood unchanged (as this replica saw it) that long.

    A released Lease (no holder) is free at once; a held one once it outlived its duration.
    """
    if record is None:
        return Claim.CREATE
    if record.holder == identity:
        return Claim.RENEW
    if not record.holder or unchanged_seconds >= LEASE_DURATION_SECONDS:
        return Claim.TAKE_OVER
    return Claim.WAIT


def micro_time(moment: datetime) -> str:
    """A Lease's MicroTime (RFC 3339 with microseconds, UTC)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def spec_for(claim: Claim, record: Record | None, identity: str, now: datetime) -> dict[str, Any]:
    """The Lease spec a claim writes (CREATE, RENEW or TAKE_OVER)."""
    spec: dict[str, Any] = {
        "holderIdentity": identity,
        "leaseDurationSeconds": LEASE_DURATION_SECONDS,
        "renewTime": micro_time(now),
    }
    if claim is not Claim.RENEW:
        spec["acquireTime"] = micro_time(now)
        spec["leaseTransitions"] = 0 if record is None else record.transitions + 1
    return spec


def released_spec(now: datetime) -> dict[str, Any]:
    """What a leader that stops cleanly writes: no holder, so a standby takes over at once."""
    return {"holderIdentity": None, "leaseDurationSeconds": 1, "renewTime": micro_time(now)}
