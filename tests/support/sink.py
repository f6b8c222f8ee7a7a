"""An HTTP receiver of notifications on loopback: it records what it is sent, in order.

A real server (the standard library's), answering each POST with the next status the test
queued (200 once the queue is empty), optionally held until the test lets it go.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    content_type: str
    body: dict[str, Any]


@dataclass
class Sink:
    url: str
    received: list[Received] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    """When each request came (time.monotonic()), answered 2xx or not."""
    statuses: deque[int] = field(default_factory=deque)
    """Statuses to answer with, first to last; then 200."""
    open: threading.Event = field(default_factory=threading.Event)
    """Cleared: each request waits until it is set again."""

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [entry.body for entry in list(self.received) if entry.path == path]


@contextmanager
def running_sink() -> Iterator[Sink]:
    """A sink on 127.0.0.1 at a free port, stopped on exit."""
    lock = threading.Lock()
    sink = Sink(url="")
    sink.open.set()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            sink.arrivals.append(time.monotonic())
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            sink.open.wait(30)
            with lock:
                status = sink.statuses.popleft() if sink.statuses else 200
                if status < 300:
                    sink.received.append(
                        Received(self.path, self.headers.get("Content-Type", ""), body)
                    )
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    sink.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        sink.open.set()
        server.shutdown()
        server.server_close()
