"""A pool server's models: loaded on their first request, unloaded to stay within the budget.

Every version of the catalogue has a slot. A request for one that is not loaded loads
it (fetch into the model cache, load, a data plane of its own); requests that come
while it loads wait for that one load. Loads run one at a time on a thread of their
own, so the event loop keeps serving the loaded models meanwhile. When the loaded
models cost more than the budget, the least recently used ones with no request in
flight are unloaded (`budget.to_unload`); one that leaves the catalogue, or whose
artifact changes, is unloaded at once. A data plane that is unloaded while requests
still use it is closed when the last one is answered.

What a version has counted (its metrics row, the predictions it holds for feedback)
is its `Ledger`, kept while the version is in the catalogue, loaded or not: counters
never go back when a model is unloaded and loaded again, and feedback joins a
prediction of an unloaded model. The model repository extension's index, load and
unload (`serving.repository`) are this class's too.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from modelkeeper.api.pool import PooledFamily
from modelkeeper.serving.budget import Resident, to_unload
from modelkeeper.serving.catalogue import Catalogue, Entry, ModelKey, changed
from modelkeeper.serving.dataplane import DataPlane, HeldPredictions, class_names
from modelkeeper.serving.errors import NOT_FOUND, UNAVAILABLE, PayloadError
from modelkeeper.serving.feedback import FeedbackRequest, FeedbackScore
from modelkeeper.serving.fetch import ArtifactError
from modelkeeper.serving.footprint import footprint
from modelkeeper.serving.metrics import Layout, ServerCollector, WorkerMetrics, base_labels
from modelkeeper.serving.model_cache import ModelCache
from modelkeeper.serving.payload_log import PayloadLog
from modelkeeper.serving.runtime import LoadedModel, ModelLoadError, load_model_dir
from modelkeeper.serving.settings import ModelFormat, ServerSettings

log = logging.getLogger(__name__)

RETRY_SECONDS = 10.0
"""A failed load is not tried again for this long: requests meanwhile get its reason
(a repository load request tries at once)."""
MODEL_THREADS = min(4, os.cpu_count() or 1)
"""Threads the loaded models' calls share (one batch of a model at a time, as ever)."""


class State(StrEnum):
    """A version's state in the model repository index."""

    READY = "READY"
    UNAVAILABLE = "UNAVAILABLE"
    LOADING = "LOADING"


class Ledger:
    """What a version counts while it is in the catalogue, loaded or not."""

    def __init__(self, settings: ServerSettings, model: LoadedModel) -> None:
        layout = Layout.of(model.schema, model.profile, model.runtime.classes)
        self.rows = np.zeros((1, layout.size))
        self.metrics = WorkerMetrics(layout, self.rows[0])
        self.collector = ServerCollector(layout, self.rows, base_labels(settings))
        self.held = HeldPredictions(settings, class_names(model), self.metrics)


@dataclass(eq=False)
class Loaded:
    """A loaded version: its data plane, its cost, the requests using it."""

    dataplane: DataPlane
    cost: int
    in_flight: int = 0
    retired: bool = False
    """Unloaded: closed when the last request using it is answered."""


@dataclass(eq=False)
class Slot:
    """One version of the catalogue in this server."""

    entry: Entry
    settings: ServerSettings
    state: State = State.UNAVAILABLE
    reason: str = "not loaded yet"
    loaded: Loaded | None = None
    loading: asyncio.Task[None] | None = None
    waiting: int = 0
    """Requests waiting for its load: it is not unloaded under them."""
    last_used: float = 0.0
    failed_at: float | None = None
    ledger: Ledger | None = None
    loads: int = 0
    failures: int = 0
    evictions: int = 0
    load_seconds: float = 0.0
    """How long its last load took (fetch included)."""


class ModelPool:
    """The catalogue's versions in this server: a `models.ModelSource` for both protocols."""

    def __init__(
        self,
        settings: ServerSettings,
        budget: int,
        cache: ModelCache,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.budget = budget
        self._cache = cache
        self._clock = clock
        self._catalogue = Catalogue()
        self._slots: dict[ModelKey, Slot] = {}
        self._by_dataplane: dict[DataPlane, Loaded] = {}
        self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="loader")
        self._model_threads = ThreadPoolExecutor(MODEL_THREADS, thread_name_prefix="model")
        self._closing: set[asyncio.Task[None]] = set()
        self._conflicts: list[str] = []

    # The catalogue.

    def replace_catalogue(self, families: Mapping[str, PooledFamily]) -> None:
        """Every family at once, by source name (a listing, or the catalogue directory)."""
        self._catalogue.replace(families)
        self._sync()

    def put_family(self, source: str, family: PooledFamily) -> None:
        self._catalogue.put(source, family)
        self._sync()

    def remove_family(self, source: str) -> None:
        self._catalogue.remove(source)
        self._sync()

    def family(self, source: str) -> PooledFamily | None:
        """The family `source` last gave (kept when a later change of it was bad)."""
        return self._catalogue.family(source)

    def _sync(self) -> None:
        """Bring the slots to the catalogue: new versions are loadable, gone ones unloaded."""
        entries = self._catalogue.entries()
        before = {key: slot.entry for key, slot in self._slots.items()}
        for key in changed(before, entries):
            gone = self._slots.pop(key)
            self._unload(gone, "removed from the catalogue")
            self._cache.forget(gone.entry.version)
            log.info("model %s version %s left the catalogue", *key)
        for key, entry in entries.items():
            slot = self._slots.get(key)
            if slot is None:
                self._slots[key] = Slot(entry, self._version_settings(entry))
            else:
                slot.entry = entry  # its role, weight or split may have changed
        for conflict in self._catalogue.conflicts:
            if conflict not in self._conflicts:
                log.error("catalogue conflict: %s", conflict)
        self._conflicts = list(self._catalogue.conflicts)

    def _version_settings(self, entry: Entry) -> ServerSettings:
        """The server's settings as a single-model server of this version would have them."""
        family, version = entry.family, entry.version
        return self.settings.model_copy(
            update={
                "model_name": family.model,
                "model_version": version.version,
                "model_format": ModelFormat(version.format),
                "model_dir": self._cache.path(version),
                "deployment": family.deployment,
                # A version keeps the role it was first served with, as its pods would.
                "role": version.role.value.lower(),
                "payload_log_sample": family.payload_log_sampling,
                "probability_sample": family.probability_sampling,
                "artifact_uri": version.uri,
                "artifact_sha256": version.sha256,
            }
        )

    def _slot(self, name: str, version: str | None) -> Slot:
        family = self._catalogue.lookup(name)
        if family is None:
            raise PayloadError(
                f"model {name!r} not found (it is in no family of this pool)", NOT_FOUND
            )
        chosen = version or family.stable.version
        slot = self._slots.get((name, chosen))
        if slot is None:
            versions = ", ".join(repr(v.version) for v in family.versions)
            raise PayloadError(
                f"model {name!r} has no version {chosen!r} (its versions: {versions})", NOT_FOUND
            )
        return slot

    # ModelSource.

    def check(self, name: str, version: str | None) -> None:
        self._slot(name, version)

    def ready(self, name: str, version: str | None) -> bool:
        return self._slot(name, version).loaded is not None

    def metrics(self, name: str, version: str | None) -> WorkerMetrics | None:
        ledger = self._slot(name, version).ledger
        return None if ledger is None else ledger.metrics

    async def acquire(self, name: str, version: str | None) -> DataPlane:
        slot = self._slot(name, version)
        if slot.loaded is None:
            await self._wait_for_load(slot, retry=False)
        loaded = slot.loaded
        assert loaded is not None
        loaded.in_flight += 1
        slot.last_used = self._clock()
        return loaded.dataplane

    def release(self, dataplane: DataPlane) -> None:
        loaded = self._by_dataplane[dataplane]
        loaded.in_flight -= 1
        if loaded.retired and loaded.in_flight == 0:
            self._close(loaded)

    def feedback(
        self, name: str, version: str | None, request: FeedbackRequest
    ) -> FeedbackScore | None:
        """Join feedback in the named version, or in any version of the family."""
        if version is not None:
            slots = [self._slot(name, version)]
        else:
            family = self._slot(name, None).entry.family
            slots = [self._slots[(name, v.version)] for v in family.versions]
        for slot in slots:
            if slot.ledger is not None and (score := slot.ledger.held.feedback(request)):
                return score
        return None

    # Loading and unloading.

    async def load(self, name: str, version: str | None) -> None:
        """Load a version now (the repository's load), a failed one too."""
        slot = self._slot(name, version)
        if slot.loaded is None:
            await self._wait_for_load(slot, retry=True)
        slot.last_used = self._clock()

    def unload(self, name: str, version: str | None) -> None:
        """Unload a version (the repository's unload); its next request loads it again."""
        slot = self._slot(name, version)
        if slot.loaded is not None:
            self._unload(slot, "unloaded by request")

    async def _wait_for_load(self, slot: Slot, retry: bool) -> None:
        """Load the slot's version, or wait for the load under way; PayloadError 503 when
        it fails (or failed less than RETRY_SECONDS ago)."""
        if slot.loading is None:
            failed = slot.failed_at is not None and self._clock() - slot.failed_at < RETRY_SECONDS
            if failed and not retry:
                raise PayloadError(self._unavailable(slot), UNAVAILABLE)
            slot.loading = asyncio.create_task(self._load(slot))
            # Retrieved even when every request waiting for it went away.
            slot.loading.add_done_callback(lambda task: task.cancelled() or task.exception())
        task = slot.loading
        slot.waiting += 1
        try:
            await asyncio.shield(task)
        except (ArtifactError, ModelLoadError):
            raise PayloadError(self._unavailable(slot), UNAVAILABLE) from None
        finally:
            slot.waiting -= 1
        if self._slots.get(slot.entry.key) is not slot:
            raise PayloadError(
                f"model {slot.settings.model_name!r} version {slot.settings.model_version!r} "
                "left the catalogue while it loaded",
                NOT_FOUND,
            )

    def _unavailable(self, slot: Slot) -> str:
        settings = slot.settings
        return f"model {settings.model_name!r} version {settings.model_version!r}: {slot.reason}"

    async def _load(self, slot: Slot) -> None:
        slot.state, slot.reason = State.LOADING, "loading"
        started = self._clock()
        version = slot.entry.version
        try:
            model, cost = await asyncio.get_running_loop().run_in_executor(
                self._loader, self._fetch_and_load, slot.entry
            )
        except Exception as error:
            slot.state, slot.reason = State.UNAVAILABLE, f"load failed: {error}"
            slot.failed_at = self._clock()
            slot.failures += 1
            if isinstance(error, ArtifactError | ModelLoadError):
                log.error("model %s version %s: load failed: %s", *slot.entry.key, error)
                raise
            log.exception("model %s version %s: load failed", *slot.entry.key)
            raise ModelLoadError(str(error)) from error
        finally:
            slot.loading = None
            slot.load_seconds = self._clock() - started
        if self._slots.get(slot.entry.key) is not slot:
            return  # it left the catalogue meanwhile: its waiters are told so
        if slot.ledger is None:
            slot.ledger = Ledger(slot.settings, model)
        payload_log = PayloadLog(
            self.settings.payload_log,
            slot.settings.payload_log_sample,
            model.schema,
            slot.settings.model_name,
            slot.settings.model_version,
        )
        dataplane = DataPlane(
            slot.settings,
            model,
            slot.ledger.metrics,
            payload_log,
            held=slot.ledger.held,
            model_thread=self._model_threads,
        )
        loaded = Loaded(dataplane, cost)
        self._by_dataplane[dataplane] = loaded
        slot.loaded, slot.state, slot.reason, slot.failed_at = loaded, State.READY, "", None
        slot.loads += 1
        slot.last_used = self._clock()
        log.info(
            "loaded model %s version %s (%s) in %.1f ms: %d bytes; %d of %d bytes loaded",
            *slot.entry.key,
            version.format,
            slot.load_seconds * 1000,
            cost,
            self.loaded_bytes,
            self.budget,
        )
        self._fit_budget(slot)

    def _fetch_and_load(self, entry: Entry) -> tuple[LoadedModel, int]:
        """On the loader thread: the model directory, the model and its cost."""
        try:
            directory = self._cache.directory(entry.version)
            model = load_model_dir(directory, entry.version.format)
        except OSError as error:
            raise ArtifactError(f"{entry.version.uri}: {error}") from error
        return model, footprint(model, directory)

    def _fit_budget(self, just_loaded: Slot) -> None:
        """Unload the least recently used idle versions until the loaded ones fit."""
        resident = [
            Resident(
                key,
                slot.loaded.cost,
                slot.last_used,
                busy=slot is just_loaded or slot.loaded.in_flight > 0 or slot.waiting > 0,
            )
            for key, slot in self._slots.items()
            if slot.loaded is not None
        ]
        for key in to_unload(resident, self.budget):
            slot = self._slots[key]
            slot.evictions += 1
            self._unload(slot, "unloaded to fit the memory budget (least recently used)")
            log.info("evicted model %s version %s (memory budget)", *slot.entry.key)

    def _unload(self, slot: Slot, reason: str) -> None:
        loaded = slot.loaded
        if slot.loading is None:
            slot.state = State.UNAVAILABLE
        slot.loaded, slot.reason = None, reason
        if loaded is None:
            return
        loaded.retired = True
        if loaded.in_flight == 0:
            self._close(loaded)

    def _close(self, loaded: Loaded) -> None:
        del self._by_dataplane[loaded.dataplane]
        task = asyncio.get_running_loop().create_task(loaded.dataplane.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        for slot in self._slots.values():
            self._unload(slot, "the server stopped")
        if self._closing:
            await asyncio.gather(*self._closing)
        self._loader.shutdown(wait=False, cancel_futures=True)
        self._model_threads.shutdown(wait=True)

    # What the index and the metrics read.

    @property
    def loaded_bytes(self) -> int:
        return sum(slot.loaded.cost for slot in self._slots.values() if slot.loaded is not None)

    def slots(self) -> Iterator[Slot]:
        """Every version, by model and version."""
        for key in sorted(self._slots):
            yield self._slots[key]

    def index(self, ready_only: bool) -> list[dict[str, str]]:
        """The model repository index: every version (or the loaded ones) and its state."""
        return [
            _described(slot) for slot in self.slots() if not ready_only or slot.state is State.READY
        ]

    def describe(self, name: str, version: str | None) -> dict[str, str]:
        """One version's index entry."""
        return _described(self._slot(name, version))


def _described(slot: Slot) -> dict[str, str]:
    return {
        "name": slot.settings.model_name,
        "version": slot.settings.model_version,
        "state": slot.state.value,
        "reason": slot.reason,
    }
