"""What the drift integration tests share: counters Prometheus scrapes before and after a
jump, and a DriftMonitor evaluated as the operator evaluates it, from plain objects.

An exporter on 127.0.0.1 serves a registry that counts nothing at first; Prometheus
scrapes it every second, then the counters jump at once, so the windowed counts over
the window from the start to the last scrape are exact. The cache is built from plain
objects instead of the API server's watch: nothing here needs the cluster.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server

from modelkeeper.api.driftmonitor import DriftMonitorResource
from modelkeeper.controller.cache import Cache
from modelkeeper.controller.driftmonitor import DriftMonitors
from modelkeeper.drift.reference import ProfileStore
from modelkeeper.drift.state import Evaluation
from modelkeeper.prometheus.client import ProviderPool
from tests.ground.polling import eventually
from tests.ground.processes import free_port
from tests.ground.prometheus import Prometheus, static_scrape_config

NAMESPACE = "shop"


@dataclass(frozen=True)
class Scraped:
    """Prometheus after the jump, and the window that holds it."""

    prometheus: Prometheus
    window: timedelta
    now: datetime


@contextmanager
def scraped_jump(
    folder: Path, registry: CollectorRegistry, total: str, jumped: float, jump: Callable[[], None]
) -> Iterator[Scraped]:
    """Prometheus scraping `registry` at zero, then after `jump()`: `total` (a PromQL sum)
    is 0 before and `jumped` after."""
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    job = {
        "job_name": "modelkeeper",
        "static_configs": [{"targets": [f"127.0.0.1:{port}"], "labels": {"namespace": NAMESPACE}}],
    }
    prometheus = Prometheus.serve(folder, static_scrape_config([job]))
    try:
        started = time.time()
        eventually(lambda: prometheus.value(total) == 0, 30, "zeros are scraped")
        time.sleep(1.5)  # a second scrape at zero inside the window
        jump()
        eventually(lambda: prometheus.value(total) == jumped, 30, "the jump is scraped")
        time.sleep(2.5)
        last_scrape = prometheus.value('timestamp(up{job="modelkeeper"})')
        assert last_scrape is not None
        window = timedelta(seconds=last_scrape - started)
        yield Scraped(prometheus, window, datetime.fromtimestamp(last_scrape, UTC))
    finally:
        prometheus.stop()
        server.shutdown()
        server.server_close()
        thread.join(5)


def watching(monitor: dict[str, Any], served: dict[str, Any], model: dict[str, Any]) -> Cache:
    """The cache as the operator's watch would fill it with a monitor, the Deployment it
    watches and the Model that Deployment serves, all in NAMESPACE."""
    for body in (monitor, served, model):
        body["metadata"].update({"namespace": NAMESPACE, "generation": 1})

    def index(body: dict[str, Any]) -> dict[tuple[str, str], list[dict[str, Any]]]:
        return {(NAMESPACE, body["metadata"]["name"]): [body]}

    family = model["spec"]["name"]
    return Cache(
        models=index(model),
        model_families={(NAMESPACE, family): [model["metadata"]["name"]]},
        deployments=index(served),
        deployment_families={(NAMESPACE, family): [served["metadata"]["name"]]},
        drift_monitors=index(monitor),
        retrain_policies={},
        retrain_policy_families={},
    )


async def evaluate(
    cache: Cache, name: str, pool: ProviderPool, at: datetime
) -> tuple[Evaluation, DriftMonitorResource]:
    """The monitor `name`'s evaluation at `at`, as the operator makes it."""
    monitors = DriftMonitors(client=None, cache=cache, prometheus=pool, profiles=ProfileStore())  # type: ignore[arg-type]
    body = cache.drift_monitor(NAMESPACE, name)
    assert body is not None
    monitor = DriftMonitorResource.from_object(body)
    return await monitors.evaluate(NAMESPACE, monitor, at), monitor
