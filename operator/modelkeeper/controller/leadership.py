"""The leader election loop: try the Lease every few seconds; lead, wait, or stop acting.

A standby runs everything but the workers: kopf watches and indexes as usual, events
queue keys, and only the leader's workers take them. So a replica that becomes leader
reconciles at once from a warm cache and an already full queue. A leader that can no
longer renew exits the process (as controller-runtime does): whatever it had in flight
is cut off before the renew deadline, and its restart comes back as a standby.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from datetime import UTC, datetime

import aiohttp

from modelkeeper.controller import metrics
from modelkeeper.controller.lease import (
    RENEW_DEADLINE_SECONDS,
    RETRY_SECONDS,
    Claim,
    Record,
    decide,
    released_spec,
    spec_for,
)
from modelkeeper.kube.client import FIELD_MANAGER, LEASE, ApiError, KubeClient

log = logging.getLogger("modelkeeper.controller.leadership")


class Leadership:
    """One replica's side of the election on the Lease `namespace/name`."""

    def __init__(self, client: KubeClient, namespace: str, name: str, identity: str) -> None:
        self.client, self.namespace, self.name, self.identity = client, namespace, name, identity
        self.leading = asyncio.Event()
        # The Lease's resourceVersion last seen and when (monotonic): this replica's clock.
        self._seen: tuple[str, float] | None = None
        self._renewed = 0.0

    async def run(self) -> None:
        """Try the Lease until cancelled; exit the process when leadership is lost."""
        while True:
            try:
                held = await self._try()
            except (ApiError, aiohttp.ClientError, TimeoutError) as error:
                log.warning("lease %s/%s: %s", self.namespace, self.name, error)
                held = None
            now = time.monotonic()
            if held:
                self._renewed = now
                if not self.leading.is_set():
                    log.info("%s leads (lease %s/%s)", self.identity, self.namespace, self.name)
                    metrics.LEADER.set(1)
                    self.leading.set()
            elif self.leading.is_set() and (
                held is False or now - self._renewed > RENEW_DEADLINE_SECONDS
            ):
                log.critical(
                    "%s lost the lease %s/%s; exiting", self.identity, self.namespace, self.name
                )
                logging.shutdown()
                os._exit(1)
            await asyncio.sleep(RETRY_SECONDS)

    async def release(self) -> None:
        """On a clean stop, give the Lease up so that a standby takes over at once."""
        if not self.leading.is_set():
            return
        patch = {"spec": released_spec(datetime.now(UTC))}
        try:
            await self.client.merge_patch(LEASE, self.namespace, self.name, patch, FIELD_MANAGER)
        except (ApiError, aiohttp.ClientError, TimeoutError) as error:
            log.warning("lease %s/%s not released: %s", self.namespace, self.name, error)

    async def _try(self) -> bool:
        """One try: whether this replica holds the Lease now. A write that lost a race
        (409) means another replica wrote first: not held."""
        found = await self.client.get(LEASE, self.namespace, self.name)
        record = Record.read(found) if found else None
        now = time.monotonic()
        if record is not None and (self._seen is None or self._seen[0] != record.resource_version):
            self._seen = (record.resource_version, now)
        unchanged = now - self._seen[1] if self._seen else 0.0
        claim = decide(record, self.identity, unchanged)
        if claim is Claim.WAIT:
            return False
        spec = spec_for(claim, record, self.identity, datetime.now(UTC))
        try:
            if record is None:
                await self.client.create(
                    LEASE,
                    {
                        "apiVersion": LEASE.api_version,
                        "kind": LEASE.kind,
                        "metadata": {"name": self.name, "namespace": self.namespace},
                        "spec": spec,
                    },
                )
            else:
                # The resourceVersion makes the write conditional: of two replicas that
                # read the same expired Lease, only the first write succeeds.
                patch = {"metadata": {"resourceVersion": record.resource_version}, "spec": spec}
                written = await self.client.merge_patch(
                    LEASE, self.namespace, self.name, patch, FIELD_MANAGER
                )
                if written is None:  # deleted meanwhile: created again on the next try
                    return False
        except ApiError as error:
            if error.status == 409:
                return False
            raise
        return True
