"""A queue of objects to reconcile: each key at most once in the queue and never twice at once.

Watch events only say "look at this object again": many events for one object collapse
into one reconcile, an event that arrives during a reconcile makes it run once more
after, and a reconcile can ask to run again later (a deadline, a drain, a backoff).
This is the work queue of controller-runtime, in a few lines of asyncio.
"""

from __future__ import annotations

import asyncio

Key = tuple[str, str, str]
"""(kind, namespace, name)"""


class WorkQueue:
    def __init__(self) -> None:
        self._queue: asyncio.Queue[Key] = asyncio.Queue()
        self._queued: set[Key] = set()
        self._active: set[Key] = set()
        self._again: set[Key] = set()
        self._timers: dict[Key, asyncio.TimerHandle] = {}

    def add(self, key: Key) -> None:
        """Reconcile `key` soon."""
        if key in self._active:
            self._again.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    def add_after(self, key: Key, delay: float) -> None:
        """Reconcile `key` in `delay` seconds, unless an earlier wake-up is already set."""
        loop = asyncio.get_running_loop()
        timer = self._timers.get(key)
        when = loop.time() + delay
        if timer is not None and not timer.cancelled() and timer.when() <= when:
            return
        if timer is not None:
            timer.cancel()
        self._timers[key] = loop.call_at(when, self._wake, key)

    def _wake(self, key: Key) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def forget(self, key: Key) -> None:
        """The object is gone: drop its wake-up."""
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    async def get(self) -> Key:
        """The next key; the caller must call `done` with it."""
        key = await self._queue.get()
        self._queued.discard(key)
        self._active.add(key)
        return key

    def done(self, key: Key) -> None:
        self._active.discard(key)
        if key in self._again:
            self._again.discard(key)
            self.add(key)
