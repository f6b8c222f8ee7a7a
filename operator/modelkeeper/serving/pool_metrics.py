"""A pool server's /metrics: every version's own series, and the pool's loads and memory.

Each version counts into its own row (`pool.Ledger`), with the labels a single-model
server of it would have (BASE_LABELS: deployment, model, version, role), so canary
analysis and DriftMonitors read a pooled version as they read one with pods of its own.
The families of all versions are merged here into one family per name, since the
exposition format allows a name once. The pool's own series say what is loaded, how
often versions were loaded and unloaded, and the memory they are charged against the
budget. Names and labels are documented in docs/metrics.md.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from modelkeeper.serving.metrics import BASE_LABELS, base_labels
from modelkeeper.serving.pool import ModelPool


class PoolCollector(Collector):
    def __init__(self, pool: ModelPool) -> None:
        self._pool = pool

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        for slot in self._pool.slots():
            if slot.ledger is None:
                continue
            for family in slot.ledger.collector.collect():
                known = merged.setdefault(family.name, family)
                if known is not family:
                    known.samples.extend(family.samples)
        yield from merged.values()
        yield from self._pool_families()

    def _pool_families(self) -> Iterator[Metric]:
        labels = list(BASE_LABELS)
        loaded = GaugeMetricFamily(
            "modelkeeper_pool_model_loaded",
            "1 while the version is loaded in this server, 0 while it is not.",
            labels=labels,
        )
        model_bytes = GaugeMetricFamily(
            "modelkeeper_pool_model_bytes",
            "The bytes the loaded version is charged against the memory budget (0 unloaded).",
            labels=labels,
        )
        loads = CounterMetricFamily(
            "modelkeeper_pool_loads",
            "Loads of the version, by result (ok, failed).",
            labels=[*labels, "result"],
        )
        evictions = CounterMetricFamily(
            "modelkeeper_pool_evictions",
            "Unloads of the version to fit the memory budget.",
            labels=labels,
        )
        load_seconds = GaugeMetricFamily(
            "modelkeeper_pool_load_seconds",
            "How long the version's last load took, fetching its artifact included.",
            labels=labels,
        )
        for slot in self._pool.slots():
            values = list(base_labels(slot.settings).values())
            cost = 0 if slot.loaded is None else slot.loaded.cost
            loaded.add_metric(values, 0 if slot.loaded is None else 1)
            model_bytes.add_metric(values, cost)
            loads.add_metric([*values, "ok"], slot.loads)
            loads.add_metric([*values, "failed"], slot.failures)
            evictions.add_metric(values, slot.evictions)
            load_seconds.add_metric(values, slot.load_seconds)
        yield from (loaded, model_bytes, loads, evictions, load_seconds)
        yield GaugeMetricFamily(
            "modelkeeper_pool_loaded_bytes",
            "The bytes all loaded versions are charged against the memory budget.",
            value=self._pool.loaded_bytes,
        )
        yield GaugeMetricFamily(
            "modelkeeper_pool_memory_budget_bytes",
            "The memory budget: past it, the least recently used idle versions are unloaded.",
            value=self._pool.budget,
        )
