"""Which of the router's answers a request gets, from its method and target alone.

The table is docs/router.md's "What it answers": inference is split, feedback fanned
out, the health, metrics and status pages are the router's own, and any other GET or
POST (model metadata, model readiness) belongs to the stable backend. HEAD is a GET
answered without its body. The query string plays no part.

A pool's router also reads the model a request is for from its path (`model_target`),
and names the version it chose in the path it forwards (`versioned_path`).
"""

from __future__ import annotations

import functools
import re
from enum import StrEnum
from typing import NamedTuple


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


_TARGET = re.compile(
    rb"/v2/models/([^/?]+)(?:/versions/[^/?]+)?((?:/infer|/feedback|/ready)?(?:\?.*)?)", re.DOTALL
)
_V1_TARGET = re.compile(rb"/v1/models/([^/:?]+)(?::predict)?(?:\?.*)?", re.DOTALL)


class ModelTarget(NamedTuple):
    """A request's target read as a model's: the model named, and what follows the model
    (and the version, if the client named one) with the query; `rest` is None for a V1
    target, whose protocol has no way to name a version."""

    model: str
    rest: bytes | None


@functools.lru_cache(maxsize=1024)
def model_target(target: bytes) -> ModelTarget | None:
    """The model a V2 or V1 model target names, or None if it names none.

    The version a client names plays no part: a router routes a family, and which of its
    versions answers is the split's choice, as with one family's router.
    """
    found = _TARGET.fullmatch(target)
    if found is not None:
        return ModelTarget(found[1].decode("latin-1"), found[2])
    found = _V1_TARGET.fullmatch(target)
    if found is not None:
        return ModelTarget(found[1].decode("latin-1"), None)
    return None


def versioned_path(target: ModelTarget, version: str) -> bytes | None:
    """The V2 path naming `version` of the target's model, which a pool's servers answer;
    None for a V1 target."""
    if target.rest is None:
        return None
    return b"/v2/models/%s/versions/%s%s" % (
        target.model.encode("latin-1"),
        version.encode("latin-1"),
        target.rest,
    )
