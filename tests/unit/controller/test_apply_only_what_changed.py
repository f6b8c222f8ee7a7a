"""A reconcile applies only the children that changed or are gone; prunes when the set changed."""

from __future__ import annotations

from typing import Any

import pytest

from modelkeeper.controller.applied import Applied, fingerprint, object_key, plan_writes

RESYNC = 300.0
NOW = 1000.0


def child(kind: str, name: str, **spec: Any) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": name}, "spec": spec}


SERVER = child("Deployment", "fraud-1", replicas=1)
SERVICE = child("Service", "fraud-1", port=80)
ROUTES = child("ConfigMap", "fraud-router", stable="1")
DESIRED = [SERVER, SERVICE, ROUTES]


def applied(
    objects: list[dict[str, Any]], at: float = NOW - 10, keep: frozenset[str] = frozenset()
) -> Applied:
    return Applied({object_key(obj): fingerprint(obj) for obj in objects}, keep, at)


@pytest.mark.parametrize(
    ("last", "missing", "has_children", "applies", "prunes", "full"),
    [
        pytest.param(
            None, set(), False, DESIRED, False, True, id="new-deployment-applies-all-prunes-nothing"
        ),
        pytest.param(
            None,
            set(),
            True,
            DESIRED,
            True,
            True,
            id="after-restart-applies-all-and-prunes-leftovers",
        ),
        pytest.param(
            applied(DESIRED), set(), True, [], False, False, id="unchanged-writes-nothing"
        ),
        pytest.param(
            applied([SERVER, SERVICE, child("ConfigMap", "fraud-router", stable="0")]),
            set(),
            True,
            [ROUTES],
            False,
            False,
            id="one-changed-object-is-applied-alone",
        ),
        pytest.param(
            applied(DESIRED),
            {object_key(SERVER)},
            True,
            [SERVER],
            False,
            False,
            id="a-deleted-server-comes-back",
        ),
        pytest.param(
            applied([SERVICE, ROUTES]),
            set(),
            True,
            [SERVER],
            True,
            False,
            id="a-new-object-is-applied-and-the-rest-pruned",
        ),
        pytest.param(
            applied([*DESIRED, child("Deployment", "fraud-0")]),
            set(),
            True,
            [],
            True,
            False,
            id="an-object-no-longer-desired-is-pruned",
        ),
        pytest.param(
            applied(DESIRED, keep=frozenset({"fraud-0"})),
            set(),
            True,
            [],
            True,
            False,
            id="a-version-no-longer-kept-is-pruned",
        ),
        pytest.param(
            applied(DESIRED, at=NOW - RESYNC),
            set(),
            True,
            DESIRED,
            True,
            True,
            id="each-resync-applies-and-prunes-all",
        ),
    ],
)
def test_writes(
    last: Applied | None,
    missing: set[tuple[str, str]],
    has_children: bool,
    applies: list[dict[str, Any]],
    prunes: bool,
    full: bool,
) -> None:
    writes = plan_writes(DESIRED, set(), missing, last, has_children, NOW, RESYNC)

    assert writes.apply == applies
    assert writes.prune is prunes
    assert writes.record.fingerprints == {object_key(obj): fingerprint(obj) for obj in DESIRED}
    assert writes.record.at == (NOW if full else NOW - 10)


def test_the_fingerprint_ignores_key_order_but_not_values() -> None:
    reordered = {"spec": {"port": 80}, "metadata": {"name": "fraud-1"}, "kind": "Service"}

    assert fingerprint(reordered) == fingerprint(SERVICE)
    assert fingerprint(child("Service", "fraud-1", port=81)) != fingerprint(SERVICE)
