"""Which answer to give a client when its ground-truth feedback went to every replica.

Only the replica that served a request holds its prediction, and the router does not
remember which one that was: it sends the feedback to every ready endpoint of every
backend (docs/feedback.md) and answers with the most telling reply. A shadow that saw
the request learns the label too, so its accuracy is measured alongside the primary's.
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus

from modelkeeper.api.types import ServingRole


def choose_feedback_answer(replies: Sequence[tuple[int, ServingRole]]) -> int | None:
    """Index of the reply to pass on, given each replica's status and role; None if none.

    A success wins (that replica held the prediction), a primary's before a shadow's.
    Then a client error other than 404: the body is malformed for every replica, or
    the labels do not fit the request the holder served. Then 404 (no replica held the
    id); then whatever failed.
    """

    def rank(index: int) -> tuple[int, bool, int]:
        status, role = replies[index]
        if 200 <= status < 300:
            kind = 0
        elif 400 <= status < 500 and status != HTTPStatus.NOT_FOUND:
            kind = 1
        else:
            kind = 2 if status == HTTPStatus.NOT_FOUND else 3
        return kind, role is ServingRole.SHADOW, index

    return min(range(len(replies)), key=rank, default=None)
