"""A pool server's /metrics: every version's own series, and the pool's loads and memory.

Each version counts into its own row (`pool.Ledger`), with the labels a single-model
server of it would have (BASE_LABELS: deployment, model, version, role), so canary
analysis and DriftMonitors read a pooled version as they read one with pods of its own.
The exposition format allows each family name once, so the versions' text is merged
family by family. A version's text is rendered again only when its row changed since
the last scrape, and kept compressed in between: most versions of a large pool are idle
at any moment, and rendering one costs milliseconds (hundreds of series, most of them
its features' drift histograms), which a scrape of a thousand would pay every time.
The pool's own series say what is loaded, how often versions were loaded and unloaded,
and the memory they are charged against the budget. Names and labels are documented in
docs/metrics.md.
"""

from __future__ import annotations

import weakref
import zlib
from collections.abc import Iterable, Iterator

import numpy as np
from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from modelkeeper.serving.frames import FloatMatrix
from modelkeeper.serving.metrics import BASE_LABELS, base_labels
from modelkeeper.serving.pool import Ledger, ModelPool

HELP = b"# HELP "


class _Families:
    """Metric families as prometheus_client's formatter takes a registry."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


class _Rendered:
    """A version's exposition text, compressed, and the row it was rendered from."""

    def __init__(self) -> None:
        self.rows: FloatMatrix | None = None
        self.text = b""


def blocks(text: bytes) -> Iterator[tuple[bytes, bytes, bytes]]:
    """The families of an exposition text: name, its HELP and TYPE lines, its sample lines.

    A family starts at a line `# HELP name ...` (a label value's newline is escaped, so
    no sample line can hold one).
    """
    for block in (b"\n" + text).split(b"\n" + HELP)[1:]:
        help_line, _, rest = block.partition(b"\n")
        type_line, _, samples = rest.partition(b"\n")
        if samples and not samples.endswith(b"\n"):
            samples += b"\n"
        name = help_line.split(b" ", 1)[0]
        yield name, HELP + help_line + b"\n" + type_line + b"\n", samples


class PoolExposition:
    """Renders the pool server's /metrics."""

    def __init__(self, pool: ModelPool) -> None:
        self._pool = pool
        self._rendered: weakref.WeakKeyDictionary[Ledger, _Rendered] = weakref.WeakKeyDictionary()

    def _text(self, ledger: Ledger) -> bytes:
        """The version's text, rendered again only if its row moved."""
        rendered = self._rendered.setdefault(ledger, _Rendered())
        if rendered.rows is None or not np.array_equal(rendered.rows, ledger.rows):
            rows = ledger.rows.copy()  # before rendering: a change meanwhile renders again
            rendered.text = zlib.compress(generate_latest(_Families(ledger.collector.collect())), 1)
            rendered.rows = rows
        return zlib.decompress(rendered.text)

    def render(self) -> bytes:
        headers: dict[bytes, bytes] = {}
        samples: dict[bytes, list[bytes]] = {}
        for slot in self._pool.slots():
            for name, header, lines in blocks(self._text(slot.ledger)):
                headers.setdefault(name, header)
                samples.setdefault(name, []).append(lines)
        merged = [headers[name] + b"".join(samples[name]) for name in headers]
        return b"".join([*merged, generate_latest(_Families(self._pool_families()))])

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
