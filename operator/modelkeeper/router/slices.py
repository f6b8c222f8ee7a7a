"""Which endpoints of a Service are ready, read from its EndpointSlice objects.

The router sends traffic straight to pod addresses, so it needs neither cluster DNS
nor kube-proxy (nor a ClusterIP that the test ground could not reach). This is the
pure half: EndpointSlice objects as the API server returns them in, addresses out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from modelkeeper.router.config import Endpoint

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
IP_ADDRESS_TYPES = frozenset({"IPv4", "IPv6"})


def ready_endpoints(
    slices: Iterable[Mapping[str, Any]], service: str, port: str | int
) -> tuple[Endpoint, ...]:
    """The ready addresses of `service` on `port` (a port name, or a number), sorted.

    An endpoint whose `ready` condition is absent counts as ready, as the API
    documents; FQDN slices are skipped, since the router dials addresses.
    """
    found: set[Endpoint] = set()
    for endpoint_slice in slices:
        labels = endpoint_slice.get("metadata", {}).get("labels") or {}
        if labels.get(SERVICE_NAME_LABEL) != service:
            continue
        if endpoint_slice.get("addressType") not in IP_ADDRESS_TYPES:
            continue
        number = _port_number(endpoint_slice.get("ports") or [], port)
        if number is None:
            continue
        for endpoint in endpoint_slice.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            found.update(Endpoint(host=host, port=number) for host in endpoint["addresses"])
    return tuple(sorted(found, key=lambda endpoint: (endpoint.host, endpoint.port)))


def _port_number(ports: Iterable[Mapping[str, Any]], wanted: str | int) -> int | None:
    """The slice's port number for a port name (unnamed ports are "") or a port number."""
    for port in ports:
        number = port.get("port")
        if number is None:
            continue
        key = (port.get("name") or "") if isinstance(wanted, str) else number
        if key == wanted:
            return int(number)
    return None
