"""A reconcile applies only the children that changed, are gone or were edited by someone
else; prunes when the set changed; a Deployment at rest writes nothing, ever."""

from __future__ import annotations

from typing import Any

import pytest

from modelkeeper.controller.applied import (
    Applied,
    drifted,
    fingerprint,
    managed_fingerprint,
    object_key,
    plan_writes,
    waves,
)


def child(kind: str, name: str, **spec: Any) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": name}, "spec": spec}


SERVER = child("Deployment", "fraud-1", replicas=1)
SERVICE = child("Service", "fraud-1", port=80)
ROUTES = child("ConfigMap", "fraud-router", stable="1")
DESIRED = [SERVER, SERVICE, ROUTES]
OURS = "ours"
"""The managed fingerprint each object had when the operator last applied it."""


def applied(objects: list[dict[str, Any]], keep: frozenset[str] = frozenset()) -> Applied:
    return Applied(
        {object_key(obj): fingerprint(obj) for obj in objects},
        keep,
        {object_key(obj): OURS for obj in objects},
    )


def seen(*objects: dict[str, Any], managed: str = OURS) -> dict[tuple[str, str], str]:
    return {object_key(obj): managed for obj in objects}


AT_REST = seen(*DESIRED)


@pytest.mark.parametrize(
    ("last", "missing", "observed", "applies", "prunes"),
    [
        pytest.param(
            None, set(), {}, DESIRED, False, id="new-deployment-applies-all-prunes-nothing"
        ),
        pytest.param(
            None, set(), AT_REST, DESIRED, True, id="after-restart-applies-all-and-prunes-leftovers"
        ),
        pytest.param(applied(DESIRED), set(), AT_REST, [], False, id="at-rest-writes-nothing"),
        pytest.param(
            applied([SERVER, SERVICE, child("ConfigMap", "fraud-router", stable="0")]),
            set(),
            AT_REST,
            [ROUTES],
            False,
            id="one-changed-object-is-applied-alone",
        ),
        pytest.param(
            applied(DESIRED),
            {object_key(SERVER)},
            seen(SERVICE, ROUTES),
            [SERVER],
            False,
            id="a-deleted-server-comes-back",
        ),
        pytest.param(
            applied(DESIRED),
            {object_key(ROUTES)},
            seen(SERVER, SERVICE),
            [ROUTES],
            False,
            id="a-deleted-configmap-comes-back",
        ),
        pytest.param(
            applied(DESIRED),
            set(),
            seen(SERVER, ROUTES) | seen(SERVICE, managed="edited"),
            [SERVICE],
            False,
            id="an-object-edited-by-hand-is-applied-again",
        ),
        pytest.param(
            applied(DESIRED),
            set(),
            seen(SERVER, SERVICE),
            [],
            False,
            id="an-object-not-yet-in-the-watch-is-not-applied-again",
        ),
        pytest.param(
            applied([SERVICE, ROUTES]),
            set(),
            seen(SERVICE, ROUTES),
            [SERVER],
            True,
            id="a-new-object-is-applied-and-the-rest-pruned",
        ),
        pytest.param(
            applied([*DESIRED, child("Deployment", "fraud-0")]),
            set(),
            AT_REST | seen(child("Deployment", "fraud-0")),
            [],
            True,
            id="an-object-no-longer-desired-is-pruned",
        ),
        pytest.param(
            applied(DESIRED, keep=frozenset({"fraud-0"})),
            set(),
            AT_REST,
            [],
            True,
            id="a-version-no-longer-kept-is-pruned",
        ),
    ],
)
def test_writes(
    last: Applied | None,
    missing: set[tuple[str, str]],
    observed: dict[tuple[str, str], str],
    applies: list[dict[str, Any]],
    prunes: bool,
) -> None:
    writes = plan_writes(DESIRED, set(), missing, observed, last)

    assert writes.apply == applies
    assert writes.prune is prunes
    assert writes.record.fingerprints == {object_key(obj): fingerprint(obj) for obj in DESIRED}
    assert writes.record.owned == {
        key: OURS for key in (last.owned if last else {}) if key in writes.record.fingerprints
    }


@pytest.mark.parametrize(
    ("last", "observed", "found"),
    [
        pytest.param(None, seen(SERVICE, managed="edited"), set(), id="nothing-applied-yet"),
        pytest.param(applied(DESIRED), AT_REST, set(), id="as-applied"),
        pytest.param(
            applied(DESIRED),
            seen(SERVICE, managed="edited"),
            {object_key(SERVICE)},
            id="edited-by-another-manager",
        ),
        pytest.param(
            applied([SERVER]),
            seen(child("Service", "someone-elses"), managed="edited"),
            set(),
            id="not-one-the-operator-applied",
        ),
    ],
)
def test_drift(
    last: Applied | None, observed: dict[tuple[str, str], str], found: set[tuple[str, str]]
) -> None:
    assert drifted(last, observed) == found


def live(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "Service", "metadata": {"name": "fraud-1", "managedFields": list(entries)}}


APPLY = {"manager": "modelkeeper", "operation": "Apply", "fieldsV1": {"f:spec": {"f:port": {}}}}
STATUS = {
    "manager": "modelkeeper",
    "operation": "Apply",
    "subresource": "status",
    "fieldsV1": {"f:status": {}},
}
CONTROLLER = {"manager": "kube-controller-manager", "operation": "Update", "fieldsV1": {"f:a": {}}}
EDIT = {"manager": "kubectl-edit", "operation": "Update", "fieldsV1": {"f:spec": {"f:port": {}}}}


@pytest.mark.parametrize(
    ("after", "same"),
    [
        pytest.param(live(APPLY, CONTROLLER), True, id="another-manager-writes-other-fields"),
        pytest.param(live(APPLY, STATUS), True, id="a-status-apply-is-not-the-object"),
        pytest.param(
            live({**APPLY, "fieldsV1": {"f:spec": {}}}, EDIT),
            False,
            id="an-edit-takes-a-field-from-the-operator",
        ),
        pytest.param(live(CONTROLLER), False, id="the-operator-owns-nothing-any-more"),
    ],
)
def test_the_managed_fingerprint_changes_only_with_the_operators_fields(
    after: dict[str, Any], same: bool
) -> None:
    before = managed_fingerprint(live(APPLY), "modelkeeper")

    assert (managed_fingerprint(after, "modelkeeper") == before) is same


def test_the_fingerprint_ignores_key_order_but_not_values() -> None:
    reordered = {"spec": {"port": 80}, "metadata": {"name": "fraud-1"}, "kind": "Service"}

    assert fingerprint(reordered) == fingerprint(SERVICE)
    assert fingerprint(child("Service", "fraud-1", port=81)) != fingerprint(SERVICE)


ROLE = child("Role", "fraud-router")
BINDING = child("RoleBinding", "fraud-router")
ACCOUNT = child("ServiceAccount", "fraud-router")


@pytest.mark.parametrize(
    ("objects", "expected"),
    [
        ([SERVER, SERVICE, ROUTES], [[SERVICE, ROUTES], [SERVER]]),
        # The API server answers 404 to a RoleBinding applied beside the Role it names
        ([BINDING, ROLE, ACCOUNT, SERVER], [[ROLE, ACCOUNT], [BINDING, SERVER]]),
        ([BINDING], [[], [BINDING]]),
        ([], [[], []]),
    ],
)
def test_what_others_refer_to_is_applied_before_what_refers_to_it(
    objects: list[dict[str, Any]], expected: list[list[dict[str, Any]]]
) -> None:
    assert waves(objects) == expected
