"""A pool server's models: loaded on their first request, unloaded to stay within the budget.

Every version of the catalogue has a slot. A request for one that is not loaded loads
it (fetch into the model cache, load, a data plane of its own); requests that come
while it loads wait for that one load. Artifacts are fetched on a few threads, so one
slow fetch does not hold the others back; models are then loaded one at a time (each
may take much memory while it loads), and the event loop keeps serving the loaded ones
meanwhile. A Canary or Shadow version is loaded as soon as it enters the catalogue, so
a load failure shows (and counts) before its traffic comes. When the loaded
models cost more than the budget, the least recently used ones with no request in
flight are unloaded (`budget.to_unload`); one that leaves the catalogue, or whose
artifact, deployment or sampling changes (`catalogue.changed`), is unloaded at once;
its model directory is removed only when no version uses it any more. A data plane
that is unloaded while requests still use it is closed when the last one is answered.

What a version has counted (its metrics row, the predictions it holds for feedback)
is its `Ledger`, from the moment the version enters the catalogue until it leaves:
counters never go back when a model is unloaded and loaded again, the 503s of a
version that cannot load are counted as its server errors, and feedback joins a
prediction of an unloaded model. The model repository extension's index, load and
unload (`serving.repository`) are this class's too. What a client reads (503 bodies,
the index) never holds an artifact URI, which may carry credentials; the log does.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from modelkeeper.api.model import ArtifactFormat
from modelkeeper.api.pool import PooledFamily
from modelkeeper.api.types import ServingRole
from modelkeeper.profile import Profile
from modelkeeper.serving.budget import Resident, to_unload
from modelkeeper.serving.catalogue import Catalogue, Entry, ModelKey, changed
from modelkeeper.serving.dataplane import DataPlane, HeldPredictions, class_names
from modelkeeper.serving.errors import NOT_FOUND, UNAVAILABLE, PayloadError
from modelkeeper.serving.feedback import FeedbackRequest, FeedbackScore
from modelkeeper.serving.fetch import ArtifactError
from modelkeeper.serving.footprint import footprint
from modelkeeper.serving.metrics import Layout, ServerCollector, WorkerMetrics, base_labels
from modelkeeper.serving.model_cache import ModelCache, schema_document
from modelkeeper.serving.models import metadata_of
from modelkeeper.serving.payload_log import PayloadLog
from modelkeeper.serving.payloads import model_metadata
from modelkeeper.serving.runtime import LoadedModel, ModelLoadError, load_model_dir
from modelkeeper.serving.schema import ModelSchema, OutputKind
from modelkeeper.serving.settings import ModelFormat, ServerSettings

log = logging.getLogger(__name__)

RETRY_SECONDS = 10.0
"""A failed load is not tried again for this long: requests meanwhile get its reason
(a repository load request tries at once)."""
MODEL_THREADS = min(4, os.cpu_count() or 1)
"""Threads the loaded models' calls share (one batch of a model at a time, as ever)."""
FETCH_THREADS = 4
"""Artifacts fetched at once: fetching waits on the network, not on memory."""
PRELOADED = frozenset({ServingRole.CANARY, ServingRole.SHADOW})
"""Roles loaded as soon as they enter the catalogue: what analysis judges must load."""
URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+?(?=[:;,]?(?:\s|$))")
"""A URI in a message, up to a space or the punctuation before one."""
REQUESTS_ONLY = Layout(Profile(rows=1, features=[]), [], [], None)
"""A version's metrics before its model first loads: its requests."""


def client_reason(error: object) -> str:
    """Why a load failed, as a client may read it: every URI (which may carry a signed
    query or a password) left out; the server log has the whole message."""
    return URI.sub("<artifact URI, in the server log>", str(error))


class State(StrEnum):
    """A version's state in the model repository index."""

    READY = "READY"
    UNAVAILABLE = "UNAVAILABLE"
    LOADING = "LOADING"


class Ledger:
    """What a version counts while it is in the catalogue, loaded or not.

    Until its model first loads, its requests only (`REQUESTS_ONLY`): its features and
    classes are the model's. Then a ledger of the model takes over the counts so far.
    """

    def __init__(
        self, settings: ServerSettings, model: LoadedModel | None, before: Ledger | None = None
    ) -> None:
        layout = (
            REQUESTS_ONLY
            if model is None
            else Layout.of(model.schema, model.profile, model.runtime.classes)
        )
        self.rows = np.zeros((1, layout.size))
        if before is not None:
            counted = layout.request_series
            self.rows[:, counted] = before.rows[:, counted]
        self.metrics = WorkerMetrics(layout, self.rows[0])
        self.collector = ServerCollector(layout, self.rows, base_labels(settings))
        self.held = (
            None if model is None else HeldPredictions(settings, class_names(model), self.metrics)
        )


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
    ledger: Ledger
    state: State = State.UNAVAILABLE
    reason: str = "not loaded yet"
    loaded: Loaded | None = None
    loading: asyncio.Task[None] | None = None
    waiting: int = 0
    """Requests waiting for its load: it is not unloaded under them."""
    last_used: float = 0.0
    failed_at: float | None = None
    metadata: dict[str, Any] | None = None
    """Its V2 model metadata, once known (from the catalogue's signature or the model)."""
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
        self._fetcher = ThreadPoolExecutor(FETCH_THREADS, thread_name_prefix="fetch")
        self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="loader")
        self._forgetting: dict[Path, asyncio.Future[None]] = {}
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

    def _sync(self) -> None:
        """Bring the slots to the catalogue: new versions are loadable, gone ones unloaded."""
        entries = self._catalogue.entries()
        before = {key: slot.entry for key, slot in self._slots.items()}
        gone = [self._slots.pop(key) for key in changed(before, entries)]
        for old in gone:
            self._unload(old, "removed from the catalogue")
            log.info("model %s version %s left the catalogue (or changed)", *old.entry.key)
        for key, entry in entries.items():
            if (slot := self._slots.get(key)) is not None:
                slot.entry = entry  # its role, weight or split may have changed
                continue
            settings = self._version_settings(entry)
            slot = self._slots[key] = Slot(entry, settings, Ledger(settings, None))
            slot.metadata = _signature_metadata(settings, entry)
            if entry.version.role in PRELOADED:
                self._start_load(slot)
        used = {slot.settings.model_dir for slot in self._slots.values()}
        for path in {old.settings.model_dir for old in gone} - used:
            self._forget(path)
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
        """Servable: in the catalogue, and its last load did not just fail (loaded or
        not: a request loads it; the index says which are loaded)."""
        return not self._failed(self._slot(name, version))

    def metadata(self, name: str, version: str | None) -> dict[str, Any] | None:
        return self._slot(name, version).metadata

    def metrics(self, name: str, version: str | None) -> WorkerMetrics | None:
        return self._slot(name, version).ledger.metrics

    async def acquire(self, name: str, version: str | None) -> DataPlane:
        slot = self._slot(name, version)
        # An unload (or the server's stop) may come between the load and this request's turn.
        while (loaded := slot.loaded) is None:
            await self._wait_for_load(slot, retry=False)
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
            held = slot.ledger.held
            if held is not None and (score := held.feedback(request)):
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
        if slot.loading is None and self._failed(slot) and not retry:
            raise PayloadError(self._unavailable(slot), UNAVAILABLE)
        task = self._start_load(slot)
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

    def _failed(self, slot: Slot) -> bool:
        """Its last load failed less than RETRY_SECONDS ago."""
        return slot.failed_at is not None and self._clock() - slot.failed_at < RETRY_SECONDS

    def _start_load(self, slot: Slot) -> asyncio.Task[None]:
        """The slot's load under way, started now unless one is."""
        if slot.loading is None:
            slot.loading = asyncio.create_task(self._load(slot))
            # Retrieved even when every request waiting for it went away.
            slot.loading.add_done_callback(lambda task: task.cancelled() or task.exception())
        return slot.loading

    def _unavailable(self, slot: Slot) -> str:
        settings = slot.settings
        return f"model {settings.model_name!r} version {settings.model_version!r}: {slot.reason}"

    async def _load(self, slot: Slot) -> None:
        slot.state, slot.reason = State.LOADING, "loading"
        started = self._clock()
        version = slot.entry.version
        loop = asyncio.get_running_loop()
        try:
            forgetting = self._forgetting.get(slot.settings.model_dir)
            if forgetting is not None:  # the same directory, of a version gone before
                await forgetting
            directory = await loop.run_in_executor(self._fetcher, self._fetch, slot.entry)
            model, cost = await loop.run_in_executor(
                self._loader, _load_model, directory, version.format
            )
        except Exception as error:
            slot.state, slot.reason = State.UNAVAILABLE, f"load failed: {client_reason(error)}"
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
        if slot.ledger.held is None:
            slot.ledger = Ledger(slot.settings, model, slot.ledger)
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
        slot.metadata = metadata_of(dataplane)
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

    def _fetch(self, entry: Entry) -> Path:
        """On a fetch thread: the version's model directory."""
        try:
            return self._cache.directory(entry.version)
        except OSError as error:
            raise ArtifactError(f"{entry.version.uri}: {error}") from error

    def _forget(self, path: Path) -> None:
        """Remove a model directory no version uses, off the event loop; a version of the
        same artifact that comes meanwhile fetches it after (`_load`)."""
        future = asyncio.get_running_loop().run_in_executor(self._fetcher, self._cache.forget, path)
        self._forgetting[path] = future

        def done(finished: asyncio.Future[None]) -> None:
            if self._forgetting.get(path) is finished:
                del self._forgetting[path]

        future.add_done_callback(done)

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
        self._fetcher.shutdown(wait=False, cancel_futures=True)
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


def _load_model(directory: Path, model_format: ArtifactFormat) -> tuple[LoadedModel, int]:
    """On the loader thread: the model and its cost."""
    try:
        model = load_model_dir(directory, model_format)
    except OSError as error:
        raise ModelLoadError(f"{directory}: {error}") from error
    return model, footprint(model, directory)


def _signature_metadata(settings: ServerSettings, entry: Entry) -> dict[str, Any] | None:
    """The metadata the catalogue's signature gives without the model: a regressor's.

    A classifier's outputs are typed by its labels (integers, strings, booleans), which
    only the model says: its metadata is known once it has loaded (kept after an unload).
    """
    signature = entry.version.signature
    if signature is None:
        return None
    schema = ModelSchema.model_validate(schema_document(signature))
    if schema.output.type is not OutputKind.REGRESSION:
        return None
    return model_metadata(
        settings.model_name, settings.model_version, settings.model_format, schema, None
    )


def _described(slot: Slot) -> dict[str, str]:
    return {
        "name": slot.settings.model_name,
        "version": slot.settings.model_version,
        "state": slot.state.value,
        "reason": slot.reason,
    }
