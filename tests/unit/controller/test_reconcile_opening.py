"""Every kind's reconcile opens the same way: gone is forgotten, stale comes back soon."""

from __future__ import annotations

from typing import Any, cast

import pytest

from modelkeeper.controller.cache import Body
from modelkeeper.controller.reconciler import STALE_RETRY_SECONDS, Opening
from modelkeeper.controller.statuswrite import StatusWriter
from modelkeeper.kube.client import KubeClient

KEY = ("shop", "fraud")
WOKEN = 42.0
"""What the kind's work returns, so a test sees that it ran."""


def body(resource_version: str = "7", **metadata: Any) -> Body:
    return {
        "metadata": {
            "namespace": "shop",
            "name": "fraud",
            "resourceVersion": resource_version,
            **metadata,
        }
    }


class Kind:
    """One kind's cache entry, its kept state and its work, as an Opening sees them."""

    def __init__(self, found: Body | None, written: str | None) -> None:
        self.found = found
        self.statuses = StatusWriter(cast(KubeClient, None))
        if written is not None:
            self.statuses.written[KEY] = written
        self.forgotten: list[tuple[str, str]] = []
        self.worked: list[Body] = []

    def look_up(self, namespace: str, name: str) -> Body | None:
        assert (namespace, name) == KEY
        return self.found

    def forget(self, namespace: str, name: str) -> None:
        self.forgotten.append((namespace, name))

    async def work(self, namespace: str, name: str, found: Body) -> float | None:
        self.worked.append(found)
        return WOKEN

    def opening(self) -> Opening:
        return Opening(self.look_up, self.statuses, self.work, self.forget)


@pytest.mark.parametrize(
    ("found", "written", "returns", "forgotten", "worked", "still_written"),
    [
        pytest.param(None, None, None, True, False, False, id="gone"),
        pytest.param(None, "9", None, True, False, False, id="gone-after-a-write"),
        pytest.param(
            body(deletionTimestamp="2026-12-06T05:00:00Z"),
            "5",
            None,
            True,
            False,
            False,
            id="being-deleted",
        ),
        pytest.param(body("7"), "9", STALE_RETRY_SECONDS, False, False, True, id="stale"),
        pytest.param(body("9"), "9", WOKEN, False, True, False, id="caught-up"),
        pytest.param(body("10"), "9", WOKEN, False, True, False, id="newer"),
        pytest.param(body("7"), None, WOKEN, False, True, False, id="never-written"),
        pytest.param(body("opaque"), "9", WOKEN, False, True, False, id="opaque-versions"),
    ],
)
async def test_the_opening(
    found: Body | None,
    written: str | None,
    returns: float | None,
    forgotten: bool,
    worked: bool,
    still_written: bool,
) -> None:
    kind = Kind(found, written)

    assert await kind.opening().reconcile(*KEY) == returns

    assert kind.forgotten == ([KEY] if forgotten else [])
    assert kind.worked == ([found] if worked else [])
    assert (KEY in kind.statuses.written) is still_written


async def test_a_kind_that_keeps_nothing_needs_no_forget() -> None:
    kind = Kind(None, "9")

    assert await Opening(kind.look_up, kind.statuses, kind.work).reconcile(*KEY) is None

    assert kind.statuses.written == {}
