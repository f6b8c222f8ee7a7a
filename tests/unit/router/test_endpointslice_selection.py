"""The ready addresses of a Service are read from its EndpointSlice objects."""

from __future__ import annotations

from typing import Any

import pytest

from modelkeeper.router.config import Endpoint
from modelkeeper.router.slices import ready_endpoints


def endpoint_slice(
    service: str,
    endpoints: list[tuple[list[str], bool | None]],
    ports: list[dict[str, Any]] | None = None,
    address_type: str = "IPv4",
) -> dict[str, Any]:
    """An EndpointSlice as the API server returns it; `None` leaves `ready` out."""
    return {
        "metadata": {"name": f"{service}-x", "labels": {"kubernetes.io/service-name": service}},
        "addressType": address_type,
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}] if ports is None else ports,
        "endpoints": [
            {"addresses": addresses, "conditions": {} if ready is None else {"ready": ready}}
            for addresses, ready in endpoints
        ],
    }


def at(host: str, port: int = 8080) -> Endpoint:
    return Endpoint(host=host, port=port)


@pytest.mark.parametrize(
    ("slices", "port", "expected"),
    [
        pytest.param([], "http", (), id="no-slices"),
        pytest.param(
            [endpoint_slice("model", [(["10.0.0.2"], True), (["10.0.0.1"], True)])],
            "http",
            (at("10.0.0.1"), at("10.0.0.2")),
            id="ready-sorted",
        ),
        pytest.param(
            [endpoint_slice("model", [(["10.0.0.1"], True), (["10.0.0.2"], False)])],
            "http",
            (at("10.0.0.1"),),
            id="not-ready-left-out",
        ),
        pytest.param(
            [endpoint_slice("model", [(["10.0.0.1"], None)])],
            "http",
            (at("10.0.0.1"),),
            id="unknown-readiness-is-ready",
        ),
        pytest.param(
            [endpoint_slice("other", [(["10.0.0.9"], True)])], "http", (), id="other-service"
        ),
        pytest.param(
            [
                endpoint_slice("model", [(["10.0.0.1"], True)]),
                endpoint_slice("model", [(["10.0.0.2"], True), (["10.0.0.1"], True)]),
            ],
            "http",
            (at("10.0.0.1"), at("10.0.0.2")),
            id="several-slices-merged",
        ),
        pytest.param(
            [
                endpoint_slice(
                    "model",
                    [(["10.0.0.1"], True)],
                    [{"name": "metrics", "port": 9090}, {"name": "http", "port": 8000}],
                )
            ],
            "http",
            (at("10.0.0.1", 8000),),
            id="named-port",
        ),
        pytest.param(
            [endpoint_slice("model", [(["10.0.0.1"], True)], [{"port": 8000}])],
            "",
            (at("10.0.0.1", 8000),),
            id="unnamed-port",
        ),
        pytest.param(
            [endpoint_slice("model", [(["10.0.0.1"], True)], [{"name": "http", "port": 8000}])],
            8000,
            (at("10.0.0.1", 8000),),
            id="port-by-number",
        ),
        pytest.param(
            [endpoint_slice("model", [(["10.0.0.1"], True)], [{"name": "grpc", "port": 9000}])],
            "http",
            (),
            id="port-missing",
        ),
        pytest.param(
            [endpoint_slice("model", [(["10.0.0.1"], True)], [{"name": "http", "port": None}])],
            "http",
            (),
            id="port-without-number",
        ),
        pytest.param(
            [endpoint_slice("model", [(["model.example"], True)], address_type="FQDN")],
            "http",
            (),
            id="fqdn-skipped",
        ),
        pytest.param(
            [endpoint_slice("model", [(["fd00::1"], True)], address_type="IPv6")],
            "http",
            (at("fd00::1"),),
            id="ipv6",
        ),
        pytest.param(
            [{"metadata": {"name": "bare"}, "addressType": "IPv4", "endpoints": None}],
            "http",
            (),
            id="unlabelled-slice",
        ),
    ],
)
def test_ready_endpoints(
    slices: list[dict[str, Any]], port: str | int, expected: tuple[Endpoint, ...]
) -> None:
    assert ready_endpoints(slices, "model", port) == expected
