"""The Lease rules: who may write it when, and what each claim writes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from modelkeeper.controller.lease import (
    LEASE_DURATION_SECONDS,
    RENEW_DEADLINE_SECONDS,
    RETRY_SECONDS,
    Claim,
    Record,
    decide,
    released_spec,
    spec_for,
)

ME, OTHER = "op-a", "op-b"
NOW = datetime(2026, 12, 6, 9, 30, 0, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    ("record", "unchanged", "claim"),
    [
        pytest.param(None, 0.0, Claim.CREATE, id="no-lease"),
        pytest.param(Record(ME, 3, "7"), 60.0, Claim.RENEW, id="mine-even-if-old"),
        pytest.param(Record(OTHER, 3, "7"), 0.0, Claim.WAIT, id="held"),
        pytest.param(
            Record(OTHER, 3, "7"), LEASE_DURATION_SECONDS - 0.1, Claim.WAIT, id="held-just"
        ),
        pytest.param(Record(OTHER, 3, "7"), LEASE_DURATION_SECONDS, Claim.TAKE_OVER, id="expired"),
        pytest.param(Record("", 3, "7"), 0.0, Claim.TAKE_OVER, id="released"),
    ],
)
def test_decide(record: Record | None, unchanged: float, claim: Claim) -> None:
    assert decide(record, ME, unchanged) is claim


@pytest.mark.parametrize(
    ("claim", "record", "expected"),
    [
        pytest.param(
            Claim.CREATE,
            None,
            {"acquireTime": "2026-12-06T09:30:00.123456Z", "leaseTransitions": 0},
            id="create",
        ),
        pytest.param(Claim.RENEW, Record(ME, 3, "7"), {}, id="renew-keeps-acquire-time"),
        pytest.param(
            Claim.TAKE_OVER,
            Record(OTHER, 3, "7"),
            {"acquireTime": "2026-12-06T09:30:00.123456Z", "leaseTransitions": 4},
            id="take-over-counts",
        ),
    ],
)
def test_spec_for(claim: Claim, record: Record | None, expected: dict[str, object]) -> None:
    assert spec_for(claim, record, ME, NOW) == {
        "holderIdentity": ME,
        "leaseDurationSeconds": LEASE_DURATION_SECONDS,
        "renewTime": "2026-12-06T09:30:00.123456Z",
        **expected,
    }


def test_record_reads_a_lease_and_a_release_frees_it() -> None:
    lease = {"metadata": {"resourceVersion": "9"}, "spec": released_spec(NOW)}
    assert Record.read(lease) == Record("", 0, "9")
    assert decide(Record.read(lease), ME, 0.0) is Claim.TAKE_OVER


def test_the_leader_stops_before_a_standby_may_take_over() -> None:
    # The last renewal the leader made is at most RETRY_SECONDS older than the change a
    # standby saw; the leader gives up RENEW_DEADLINE_SECONDS after it, a standby waits the
    # whole duration after the change.
    assert RENEW_DEADLINE_SECONDS + RETRY_SECONDS < LEASE_DURATION_SECONDS
    # A takeover after a kill: at most the duration plus one retry, well under 30 s.
    assert LEASE_DURATION_SECONDS + RETRY_SECONDS < 30
