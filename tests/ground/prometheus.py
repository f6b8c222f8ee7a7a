"""A real Prometheus that finds pods through the test API server and scrapes those
that carry the usual `prometheus.io/scrape|port|path` annotations; the chart's operator
pods as the chart's ServiceMonitor would.

Pods get addresses on the node's bridge, which this machine reaches directly, so the
scrape address is the pod IP and the annotated port: no ClusterIP, no DNS.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry, start_http_server

from tests.ground.binaries import go_tool
from tests.ground.controlplane import ControlPlane
from tests.ground.processes import Component, free_port

SCRAPE_INTERVAL = "1s"


def scrape_config(plane: ControlPlane) -> dict[str, Any]:
    """Prometheus' configuration: pod discovery with annotation relabelling."""
    tls = {
        "ca_file": str(plane.ca_file),
        "cert_file": str(plane.admin.cert),
        "key_file": str(plane.admin.key),
    }
    annotated = [
        {
            "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"],
            "action": "keep",
            "regex": "true",
        },
        {
            "source_labels": ["__meta_kubernetes_pod_phase"],
            "action": "keep",
            "regex": "Running",
        },
        {
            "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_path"],
            "action": "replace",
            "target_label": "__metrics_path__",
            "regex": "(.+)",
        },
        {
            "source_labels": [
                "__meta_kubernetes_pod_ip",
                "__meta_kubernetes_pod_annotation_prometheus_io_port",
            ],
            "action": "replace",
            "regex": "(.+);(\\d+)",
            "replacement": "$1:$2",
            "target_label": "__address__",
        },
        {"action": "labelmap", "regex": "__meta_kubernetes_pod_label_(.+)"},
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
    ]
    discovery = [{"role": "pod", "api_server": plane.server, "tls_config": tls}]
    # The chart's operator pods, scraped as its ServiceMonitor has them scraped: job
    # modelkeeper-operator (the alerts find the operator by it) and honor_labels (its
    # metrics' own `namespace` label, the object's, is kept).
    operator = {
        "source_labels": [
            "__meta_kubernetes_pod_label_app_kubernetes_io_name",
            "__meta_kubernetes_pod_label_app_kubernetes_io_component",
        ],
        "regex": "modelkeeper;operator",
    }
    pods = {
        "job_name": "kubernetes-pods",
        "kubernetes_sd_configs": discovery,
        "relabel_configs": [{**operator, "action": "drop"}, *annotated],
    }
    operators = {
        "job_name": "modelkeeper-operator",
        "honor_labels": True,
        "kubernetes_sd_configs": discovery,
        "relabel_configs": [{**operator, "action": "keep"}, *annotated],
    }
    return {
        "global": {
            "scrape_interval": SCRAPE_INTERVAL,
            "scrape_timeout": SCRAPE_INTERVAL,
            "evaluation_interval": SCRAPE_INTERVAL,
        },
        "scrape_configs": [pods, operators],
    }


def static_scrape_config(jobs: list[dict[str, Any]]) -> dict[str, Any]:
    """Prometheus' configuration for the given scrape jobs, each scraped every second."""
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "scrape_timeout": SCRAPE_INTERVAL},
        "scrape_configs": jobs,
    }


@dataclass
class Prometheus:
    component: Component
    url: str

    @classmethod
    def start(cls, plane: ControlPlane, workdir: Path, port: int | None = None) -> Prometheus:
        """Prometheus on `port` (default: a free one); the same workdir and port restart it."""
        return cls.serve(
            workdir,
            scrape_config(plane),
            port,
            "--web.enable-lifecycle",
            "--storage.tsdb.retention.time=2h",
        )

    @classmethod
    def serve(
        cls, workdir: Path, config: dict[str, Any], port: int | None = None, *flags: str
    ) -> Prometheus:
        """The project's Prometheus with `config` on `port` (default: a free one) of the
        loopback, once ready; stopped again if it does not get ready."""
        binary = str(go_tool("prometheus"))
        workdir.mkdir(parents=True, exist_ok=True)
        config_file = workdir / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        port = free_port() if port is None else port
        url = f"http://127.0.0.1:{port}"
        component = Component(
            "prometheus",
            [
                binary,
                f"--config.file={config_file}",
                f"--web.listen-address=127.0.0.1:{port}",
                f"--storage.tsdb.path={workdir / 'data'}",
                *flags,
                "--log.level=warn",
            ],
            workdir / "prometheus.log",
        )
        prometheus = cls(component, url)
        component.start()
        try:
            component.wait_until(
                lambda: urllib.request.urlopen(f"{url}/-/ready", timeout=2).status == 200, 60
            )
        except BaseException:
            component.stop()
            raise
        return prometheus

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query's result vector (raises on an HTTP or PromQL error)."""
        params = urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(f"{self.url}/api/v1/query?{params}", timeout=5) as response:
            answer = json.load(response)
        return list(answer["data"]["result"])

    def value(self, promql: str) -> float | None:
        """The first sample's value of an instant query; None when the result is empty."""
        result = self.query(promql)
        return float(result[0]["value"][1]) if result else None

    def stop(self) -> None:
        self.component.stop()


@contextmanager
def scraping(registry: CollectorRegistry, workdir: Path, **labels: str) -> Iterator[Prometheus]:
    """A Prometheus scraping `registry` every second (served by prometheus_client on the
    loopback, job `modelkeeper`), `labels` added to every series as relabelling adds
    `namespace` in a cluster; both stopped at the end."""
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    job = {
        "job_name": "modelkeeper",
        "static_configs": [{"targets": [f"127.0.0.1:{port}"], "labels": labels}],
    }
    try:
        prometheus = Prometheus.serve(workdir, static_scrape_config([job]))
        try:
            yield prometheus
        finally:
            prometheus.stop()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
