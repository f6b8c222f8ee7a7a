"""The router's hop to its backends: a lean HTTP/1.1 client with a keep-alive pool per endpoint.

The router must cost much less CPU per request than a backend, or one router cannot
keep up with two backends. aiohttp's client spends about 200 µs of CPU on a small
request here; writing the request bytes directly and parsing the reply with
httptools (llhttp, the parser of Node.js) takes about 35 µs. The router only ever
sends GET and POST with a whole body in hand, which is all this supports, and it
never decodes what it only passes on: requests go out and replies come back as bytes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import cast

import httptools

from modelkeeper.router.config import Endpoint
from modelkeeper.router.messages import Reply


class UpstreamError(Exception):
    """The backend closed the connection or answered something that is not HTTP."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection to a backend, carrying one request at a time."""

    def __init__(self, on_close: Callable[[_Connection], None]) -> None:
        self._on_close = on_close
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._reply: asyncio.Future[Reply] | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._answered = False
        self._keep_alive = False
        self.closed = False
        self.idle_since = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(UpstreamError(f"connection closed{f': {exc}' if exc else ''}"))
        self.lost.set_result(None)
        self._on_close(self)

    def data_received(self, data: bytes) -> None:
        self._answered = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(UpstreamError(f"not an HTTP reply: {error}"))
            self.close()

    # httptools calls these while parsing.
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._keep_alive = self._parser.should_keep_alive()  # only known while parsing
        if self._reply is not None and not self._reply.done():
            status = self._parser.get_status_code()
            self._reply.set_result(Reply(status, b"".join(self._body), self._headers))

    async def exchange(self, request: bytes, deadline: float) -> Reply:
        """Send one whole request; the reply, once it has all arrived, or TimeoutError at
        `deadline` (event loop time). A plain timer: asyncio.timeout costs several times more."""
        assert self._transport is not None
        loop = asyncio.get_running_loop()
        self._reply = loop.create_future()
        self._headers, self._body = [], []
        self._answered = self._keep_alive = False
        self._transport.write(request)
        timer = loop.call_at(deadline, self._time_out)
        try:
            return await self._reply
        finally:
            timer.cancel()

    @property
    def reusable(self) -> bool:
        return not self.closed and self._keep_alive

    @property
    def answered(self) -> bool:
        """Whether any byte of a reply came back for the last request."""
        return self._answered

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()

    def _time_out(self) -> None:
        self._fail(TimeoutError())

    def _fail(self, error: Exception) -> None:
        if self._reply is not None and not self._reply.done():
            self._reply.set_exception(error)


class ConnectionPool:
    """Keep-alive connections per endpoint, opened on demand and reused while fresh."""

    def __init__(self, idle_seconds: float = 15.0, max_idle_per_endpoint: int = 256) -> None:
        self._idle_seconds = idle_seconds
        self._max_idle = max_idle_per_endpoint
        self._idle: dict[Endpoint, list[_Connection]] = {}
        self._open_connections: set[_Connection] = set()

    async def request(
        self,
        endpoint: Endpoint,
        method: bytes,
        path: bytes,
        headers: bytes,
        body: bytes,
        timeout_seconds: float,
    ) -> Reply:
        """One request and its reply; raise OSError, UpstreamError or TimeoutError.

        `headers` are header lines, each ending in CRLF; Host and Content-Length are added.
        A kept connection that the backend closed while idle fails before any reply
        byte, so that request was never seen: it is sent once more on a new connection.
        """
        host = str(endpoint).encode()
        request = b"%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n%s\r\n%s" % (
            method,
            path,
            host,
            len(body),
            headers,
            body,
        )
        deadline = asyncio.get_running_loop().time() + timeout_seconds
        connection = self._take_idle(endpoint)
        if connection is not None:
            try:
                return await self._exchange(endpoint, connection, request, deadline)
            except UpstreamError:
                if connection.answered:
                    raise
        async with asyncio.timeout_at(deadline):
            connection = await self._open(endpoint)
        return await self._exchange(endpoint, connection, request, deadline)

    async def close(self) -> None:
        """Close every connection, idle or busy, and wait until each is closed."""
        connections = list(self._open_connections)
        for connection in connections:
            connection.close()
        await asyncio.gather(*(connection.lost for connection in connections))
        self._idle.clear()

    def _take_idle(self, endpoint: Endpoint) -> _Connection | None:
        connections = self._idle.get(endpoint)
        stale_before = time.monotonic() - self._idle_seconds
        while connections:
            connection = connections.pop()
            if not connection.closed and connection.idle_since > stale_before:
                return connection
            connection.close()
        return None

    async def _open(self, endpoint: Endpoint) -> _Connection:
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(
            lambda: _Connection(lambda closed: self._forget(endpoint, closed)),
            endpoint.host,
            endpoint.port,
        )
        self._open_connections.add(connection)
        return connection

    def _forget(self, endpoint: Endpoint, connection: _Connection) -> None:
        """Drop a closed connection from the idle ones, and an endpoint left with none."""
        self._open_connections.discard(connection)
        connections = self._idle.get(endpoint)
        if connections is not None and connection in connections:
            connections.remove(connection)
            if not connections:
                del self._idle[endpoint]

    async def _exchange(
        self, endpoint: Endpoint, connection: _Connection, request: bytes, deadline: float
    ) -> Reply:
        """Send on `connection`; keep it for the next request if it may be, else close it."""
        try:
            reply = await connection.exchange(request, deadline)
        except BaseException:
            connection.close()
            raise
        connections = self._idle.setdefault(endpoint, [])
        if connection.reusable and len(connections) < self._max_idle:
            connection.idle_since = time.monotonic()
            connections.append(connection)
        else:
            connection.close()
        return reply
