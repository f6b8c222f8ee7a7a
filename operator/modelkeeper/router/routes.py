"""Which of the router's answers a request gets, from its method and target alone.

The table is docs/router.md's "What it answers": inference is split, feedback fanned
out, the health, metrics and status pages are the router's own, and any other GET or
POST (model metadata, model readiness) belongs to the stable backend. HEAD is a GET
answered without its body. The query string plays no part.
"""

from __future__ import annotations

import functools
import re
from enum import StrEnum


class Route(StrEnum):
    LIVE = "live"
    READY = "ready"
    METRICS = "metrics"
    STATUS = "status"
    INFER = "infer"
    FEEDBACK = "feedback"
    TO_STABLE = "to_stable"
    METHOD_NOT_ALLOWED = "method_not_allowed"


PAGES = {
    b"/v2/health/live": Route.LIVE,
    b"/v2/health/ready": Route.READY,
    b"/metrics": Route.METRICS,
    b"/router/status": Route.STATUS,
}
_MODEL = rb"/v2/models/[^/]+(?:/versions/[^/]+)?"
INFER = re.compile(_MODEL + rb"/infer|/v1/models/[^/:]+:predict")
FEEDBACK = re.compile(_MODEL + rb"/feedback")


@functools.lru_cache(maxsize=1024)
def route_of(method: bytes, target: bytes) -> Route:
    """The route for a request; remembered, as clients send the same few again and again."""
    path = target.partition(b"?")[0]
    if method in (b"GET", b"HEAD"):
        return PAGES.get(path, Route.TO_STABLE)
    if method != b"POST":
        return Route.METHOD_NOT_ALLOWED
    if INFER.fullmatch(path):
        return Route.INFER
    if FEEDBACK.fullmatch(path):
        return Route.FEEDBACK
    return Route.TO_STABLE
