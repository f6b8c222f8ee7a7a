"""Adaptive micro-batching: requests that arrive while the model is busy are scored together.

A model call costs a large fixed overhead and little per row, so under load one
call for many requests is far cheaper than one each. The batcher takes every
request waiting when the model is free, up to `max_batch_size` rows, and, if
`max_wait` is set and the batch is not full, waits that long for more. At low
load it adds no delay at all. The model runs on one thread of its own, so the
event loop keeps accepting, decoding and answering (health probes too) while it
computes. A batch of requests that do their I/O off the event loop (gRPC's, which its
own threads read and write) is scored on the loop itself when the model's last call
took under `INLINE_SECONDS`: handing it to the model thread and back (two thread
switches and a wake-up of the loop, each waiting for a core on a busy machine) then
costs more than the call, and the loop has nothing else to do meanwhile that cannot
wait that long. REST's requests always go to the thread: the loop does their socket
I/O, and measured, scoring them on the loop made REST slower. Rows are independent, so a
batched result is the unbatched one (tests/unit/serving prove it); a batch that fails
is retried request by request, so one bad request fails alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from modelkeeper.serving.frames import FeatureBatch, Prediction, concat_batches, split_prediction

Predict = Callable[[FeatureBatch, bool], Prediction]
# A model call expected to take less than this (its last one did) may run on the event loop.
INLINE_SECONDS = 0.002


@dataclass(frozen=True)
class _Waiting:
    batch: FeatureBatch
    probabilities: bool
    inline: bool  # may be scored on the event loop
    result: asyncio.Future[Prediction]


class Batcher:
    """Scores requests through `predict` in adaptive batches; one per worker process."""

    def __init__(
        self,
        predict: Predict,
        max_batch_size: int,
        max_wait_seconds: float,
        inline_seconds: float = INLINE_SECONDS,
        model_thread: ThreadPoolExecutor | None = None,
    ) -> None:
        self._predict = predict
        self._inline_seconds = inline_seconds
        self._max_rows = max_batch_size
        self._max_wait = max_wait_seconds
        self._waiting: deque[_Waiting] = deque()
        self._arrived = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # A pool server's models share its model threads; their owner shuts them down.
        self._owns_thread = model_thread is None
        self._model_thread = model_thread or ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="model"
        )
        self._last_call_seconds = math.inf  # the first call goes to the model thread

    async def predict(
        self, batch: FeatureBatch, probabilities: bool, inline: bool = False
    ) -> Prediction:
        """The prediction for `batch`, scored together with whatever else is waiting;
        `inline`: the caller's I/O does not need the event loop (see the module's doc)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        result: asyncio.Future[Prediction] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(batch, probabilities, inline, result))
        self._arrived.set()
        return await result

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._owns_thread:
            self._model_thread.shutdown(wait=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._waiting:
                self._arrived.clear()
                await self._arrived.wait()
            if self._max_wait > 0:
                deadline = loop.time() + self._max_wait
                while self._rows_waiting() < self._max_rows and loop.time() < deadline:
                    self._arrived.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._arrived.wait(), deadline - loop.time())
            await self._score(self._take())

    def _rows_waiting(self) -> int:
        return sum(waiting.batch.rows for waiting in self._waiting)

    def _take(self) -> list[_Waiting]:
        """The oldest requests that fit in one batch (always at least one)."""
        taken = [self._waiting.popleft()]
        rows = taken[0].batch.rows
        while self._waiting and rows + self._waiting[0].batch.rows <= self._max_rows:
            rows += self._waiting[0].batch.rows
            taken.append(self._waiting.popleft())
        return taken

    def _timed_predict(self, batch: FeatureBatch, probabilities: bool) -> Prediction:
        started = time.perf_counter()
        try:
            return self._predict(batch, probabilities)
        finally:
            self._last_call_seconds = time.perf_counter() - started

    async def _score(self, taken: list[_Waiting]) -> None:
        batch = concat_batches([waiting.batch for waiting in taken])
        probabilities = any(waiting.probabilities for waiting in taken)
        try:
            if self._last_call_seconds < self._inline_seconds and all(w.inline for w in taken):
                prediction = self._timed_predict(batch, probabilities)
            else:
                prediction = await asyncio.get_running_loop().run_in_executor(
                    self._model_thread, self._timed_predict, batch, probabilities
                )
        except Exception as error:
            if len(taken) == 1:
                _settle(taken[0].result, error)
            else:
                for waiting in taken:
                    await self._score([waiting])
            return
        parts = split_prediction(prediction, [waiting.batch.rows for waiting in taken])
        for waiting, part in zip(taken, parts, strict=True):
            _settle(waiting.result, part)


def _settle(result: asyncio.Future[Prediction], outcome: Prediction | Exception) -> None:
    """Deliver to a request still waiting (a client that hung up has cancelled its future)."""
    if result.done():
        return
    if isinstance(outcome, Exception):
        result.set_exception(outcome)
    else:
        result.set_result(outcome)
