"""The client hears the most telling of the replicas' answers to its feedback."""

from __future__ import annotations

import pytest

from modelkeeper.api.types import ServingRole
from modelkeeper.router.feedback import choose_feedback_answer

STABLE, CANARY, SHADOW = ServingRole.STABLE, ServingRole.CANARY, ServingRole.SHADOW


@pytest.mark.parametrize(
    ("replies", "expected"),
    [
        pytest.param([], None, id="no-replica"),
        pytest.param([(404, STABLE), (200, STABLE)], 1, id="the-holder-wins"),
        pytest.param([(200, SHADOW), (404, STABLE), (200, CANARY)], 2, id="primary-before-shadow"),
        pytest.param([(404, STABLE), (200, SHADOW)], 1, id="shadow-success-before-404"),
        pytest.param([(404, STABLE), (422, CANARY)], 1, id="labels-misfit-before-404"),
        pytest.param([(400, STABLE), (400, CANARY)], 0, id="malformed-first-of-equals"),
        pytest.param([(502, STABLE), (404, CANARY)], 1, id="404-before-failure"),
        pytest.param([(503, STABLE), (502, CANARY)], 0, id="all-failed-first"),
        pytest.param([(200, STABLE), (200, CANARY)], 0, id="two-holders-first"),
    ],
)
def test_choose_feedback_answer(
    replies: list[tuple[int, ServingRole]], expected: int | None
) -> None:
    assert choose_feedback_answer(replies) == expected
