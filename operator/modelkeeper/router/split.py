"""How traffic is divided: the weighted split, the balance across endpoints, the mirror share.

The split uses smooth weighted round robin (nginx's upstream algorithm): a random
choice only converges to the weights on average, this one hits them exactly in every
window of `sum(weights)` picks and interleaves the choices evenly, so a 90/10 canary
sees one request in ten from the start. With equal weights it is plain round robin,
which is how endpoints are balanced. Mirroring, on the other hand, samples at random,
so that the shadow never sees a pattern of the clients aliased by a fixed stride.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class SmoothWeightedRoundRobin(Generic[K]):
    """Picks keys in proportion to their weights, remembering where it was between picks."""

    def __init__(self) -> None:
        self._current: dict[K, int] = {}

    def pick(self, weights: Mapping[K, int]) -> K | None:
        """The next key among those with a positive weight; None when there is none.

        The candidates may change from one pick to the next (an endpoint leaves, a
        backend loses its last ready endpoint): those that stay keep their place, and
        those that leave are forgotten, so the state never outgrows the candidates.
        """
        previous = self._current
        current: dict[K, int] = {}
        total = 0
        best: K | None = None
        for key, weight in weights.items():
            if weight > 0:
                current[key] = previous.get(key, 0) + weight
                total += weight
                if best is None or current[key] > current[best]:
                    best = key
        if best is not None:
            current[best] -= total
        self._current = current
        return best


def should_mirror(percent: float, draw: Callable[[], float]) -> bool:
    """Whether to mirror this request, given the share in percent and a uniform draw in [0, 1)."""
    return draw() * 100.0 < percent
