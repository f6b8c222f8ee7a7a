"""Each request goes to the answer docs/router.md's table gives its method and path."""

from __future__ import annotations

import pytest

from modelkeeper.router.routes import Route, route_of


@pytest.mark.parametrize(
    ("method", "target", "expected"),
    [
        pytest.param(b"POST", b"/v2/models/iris/infer", Route.INFER, id="v2-infer"),
        pytest.param(b"POST", b"/v2/models/iris/versions/3/infer", Route.INFER, id="versioned"),
        pytest.param(b"POST", b"/v2/models/iris/infer?trace=1", Route.INFER, id="with-query"),
        pytest.param(b"POST", b"/v1/models/iris:predict", Route.INFER, id="v1-predict"),
        pytest.param(b"POST", b"/v2/models/iris/feedback", Route.FEEDBACK, id="feedback"),
        pytest.param(
            b"POST", b"/v2/models/iris/versions/3/feedback", Route.FEEDBACK, id="versioned-fb"
        ),
        pytest.param(b"GET", b"/v2/health/live", Route.LIVE, id="live"),
        pytest.param(b"HEAD", b"/v2/health/ready", Route.READY, id="ready-head"),
        pytest.param(b"GET", b"/metrics?name[]=x", Route.METRICS, id="metrics-with-query"),
        pytest.param(b"GET", b"/router/status", Route.STATUS, id="status"),
        pytest.param(b"GET", b"/v2/models/iris", Route.TO_STABLE, id="metadata"),
        pytest.param(b"GET", b"/v2/models/iris/infer", Route.TO_STABLE, id="get-infer"),
        pytest.param(b"POST", b"/v2/health/live", Route.TO_STABLE, id="post-live"),
        pytest.param(b"POST", b"/v2/models/a/b/infer", Route.TO_STABLE, id="name-with-slash"),
        pytest.param(b"POST", b"/v1/models/a:b:predict", Route.TO_STABLE, id="name-with-colon"),
        pytest.param(b"POST", b"/v2/models//infer", Route.TO_STABLE, id="empty-name"),
        pytest.param(b"POST", b"/v2/models/iris/infer/", Route.TO_STABLE, id="trailing-slash"),
        pytest.param(b"PUT", b"/v2/models/iris/infer", Route.METHOD_NOT_ALLOWED, id="put"),
        pytest.param(b"DELETE", b"/v2/health/live", Route.METHOD_NOT_ALLOWED, id="delete"),
    ],
)
def test_route_of(method: bytes, target: bytes, expected: Route) -> None:
    assert route_of(method, target) is expected
