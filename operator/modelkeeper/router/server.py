"""The router's side facing its clients: a lean HTTP/1.1 server over asyncio and httptools.

One router core must keep up with two backends, so the router may spend at most half
of a backend's CPU on a request. aiohttp's server took about 170 µs of CPU per small
request on its own (a request object, a stream reader, a response object, middlewares,
routing tables); parsing with httptools (llhttp, as in upstream.py) and writing the
reply in one piece takes about 20. What the router needs of a server is small: whole
requests with a bounded body, keep-alive and pipelining, `Expect: 100-continue`, JSON
errors, and a graceful stop. Everything else is the handler's.

Each connection answers its requests one at a time, in order. A request the server
refuses itself (malformed, head or body too large) is answered with a JSON error and
ends the connection, since what follows it on the wire cannot be trusted. A client that
does not read its replies stops being read from, so memory stays bounded.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import cast

import httptools

from modelkeeper.router.messages import Reply, Request, error_reply

log = logging.getLogger(__name__)

Handler = Callable[[Request], Awaitable[Reply]]

MAX_HEAD_BYTES = 64 << 10  # request line and headers; aiohttp allows 8 KiB per line
MAX_PIPELINED = 16  # requests read ahead of their replies before reading pauses
KEEP_ALIVE_SECONDS = 75.0  # an idle connection is closed after this long, as aiohttp does

STATUS_LINES = {
    status.value: b"HTTP/1.1 %d %s\r\n" % (status.value, status.phrase.encode())
    for status in HTTPStatus
}
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def encode_reply(reply: Reply, head_only: bool, keep_alive: bool) -> bytes:
    """The reply on the wire: status line, its headers, Content-Length, the body."""
    status_line = STATUS_LINES.get(reply.status) or b"HTTP/1.1 %d \r\n" % reply.status
    parts = [status_line]
    for name, value in reply.headers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"Content-Length: %d\r\n" % len(reply.body))
    if not keep_alive:
        parts.append(b"Connection: close\r\n")
    parts.append(b"\r\n")
    if not head_only:
        parts.append(reply.body)
    return b"".join(parts)


class HttpServer:
    """Serves `handler` on one listening socket until `shutdown`."""

    def __init__(self, handler: Handler, max_body_bytes: int) -> None:
        self.handler = handler
        self.max_body_bytes = max_body_bytes
        self.connections: set[_ClientConnection] = set()
        self.stopping = False
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> list[tuple[str, int]]:
        """Listen; return the addresses listened on."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _ClientConnection(self), host, port)
        return [socket.getsockname()[:2] for socket in self._server.sockets]

    async def shutdown(self, timeout_seconds: float) -> None:
        """Stop listening, close idle connections, let the others finish their requests;
        after `timeout_seconds`, cut whatever is left."""
        self.stopping = True
        if self._server is not None:
            self._server.close()
        connections = list(self.connections)
        for connection in connections:
            connection.close_when_idle()
        lost = [connection.lost for connection in connections]
        if lost:
            _, unfinished = await asyncio.wait(lost, timeout=timeout_seconds)
            if unfinished:
                log.warning("cutting %d connections still busy at shutdown", len(unfinished))
                for connection in connections:
                    connection.abort()
                await asyncio.wait(lost)
        if self._server is not None:
            await self._server.wait_closed()

    async def answer(self, request: Request) -> Reply:
        """The handler's reply; a plain 500 if it failed, the details in the log."""
        try:
            return await self.handler(request)
        except Exception:
            target = request.path.decode("latin-1")
            log.exception("unexpected error answering %s %s", request.method.decode(), target)
            return error_reply(HTTPStatus.INTERNAL_SERVER_ERROR, "the router failed; see its log")


class _ClientConnection(asyncio.Protocol):
    """One client connection: parse requests, answer them in order, keep it alive."""

    def __init__(self, server: HttpServer) -> None:
        self._server = server
        loop = asyncio.get_running_loop()
        self.lost: asyncio.Future[None] = loop.create_future()
        self._transport: asyncio.Transport | None = None
        self._parser: httptools.HttpRequestParser | None = httptools.HttpRequestParser(self)
        self._pending: deque[tuple[Request, bool] | Reply] = deque()
        self._answering: asyncio.Task[None] | None = None
        self._closing = False  # close once the pending requests are answered
        self._write_paused = False
        self._reading_paused = False
        self._active_at = loop.time()
        self._idle_timer = loop.call_later(KEEP_ALIVE_SECONDS, self._close_if_idle)
        self._start_message()

    def _start_message(self) -> None:
        self._path = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._body_bytes = 0
        self._head_bytes: int | None = 0  # None once the head is complete

    # asyncio calls these.
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._server.connections.add(self)
        if self._server.stopping:
            self.close_when_idle()

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.connections.discard(self)
        self._idle_timer.cancel()
        self._pending.clear()
        self._parser = None
        if not self.lost.done():
            self.lost.set_result(None)

    def data_received(self, data: bytes) -> None:
        if self._parser is None:
            return  # a refused request ended what is read from this connection
        self._active_at = asyncio.get_running_loop().time()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._parser = None  # the request before it stands; the router speaks only HTTP
            self._closing = True
        except httptools.HttpParserError as error:
            self._refuse(HTTPStatus.BAD_REQUEST, f"malformed HTTP request: {error}")
            return
        if self._parser is not None and self._head_bytes is not None:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._refuse(
                    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                    f"request head larger than {MAX_HEAD_BYTES} bytes",
                )

    def pause_writing(self) -> None:
        self._write_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._update_reading()

    # httptools calls these while parsing.
    def on_message_begin(self) -> None:
        self._start_message()

    def on_url(self, url: bytes) -> None:
        self._path += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._head_bytes = None
        if self._parser is None:
            return  # refused already
        expect = next((v for k, v in self._headers if k.lower() == b"expect"), None)
        if expect is not None and expect.lower() == b"100-continue" and self._transport:
            self._transport.write(CONTINUE)

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        if self._body_bytes <= self._server.max_body_bytes:
            self._body.append(body)
        else:
            self._body.clear()  # read on to the end, to answer in order, but keep nothing

    def on_message_complete(self) -> None:
        if self._parser is None:
            return  # refused already
        limit = self._server.max_body_bytes
        if self._body_bytes > limit:
            message = (
                f"Maximum request body size {limit} exceeded, actual body size {self._body_bytes}"
            )
            self._refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, message)
            return
        request = Request(
            self._parser.get_method(), self._path, self._headers, b"".join(self._body)
        )
        self._pending.append((request, self._parser.should_keep_alive()))
        self._answer_pending()

    # Answering.
    def _refuse(self, status: HTTPStatus, message: str) -> None:
        """Answer with the router's own error after what came before, then close."""
        self._parser = None
        self._pending.append(error_reply(status, message))
        self._answer_pending()

    def _answer_pending(self) -> None:
        if self._answering is None:
            self._answering = asyncio.get_running_loop().create_task(self._answer_in_order())
        self._update_reading()

    async def _answer_in_order(self) -> None:
        while self._pending:
            item = self._pending.popleft()
            if isinstance(item, Reply):
                self._write(item, head_only=False, keep_alive=False)
            else:
                request, keep_alive = item
                reply = await self._server.answer(request)
                self._write(reply, request.method == b"HEAD", keep_alive)
            self._update_reading()
        self._answering = None
        self._active_at = asyncio.get_running_loop().time()
        if self._closing:
            self.close()

    def _write(self, reply: Reply, head_only: bool, keep_alive: bool) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return  # the client went away
        keep_alive = keep_alive and not self._closing
        transport.write(encode_reply(reply, head_only, keep_alive))
        if not keep_alive:
            self._pending.clear()
            self.close()

    def _update_reading(self) -> None:
        """Read while the client reads its replies and has few requests queued."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        pause = self._write_paused or len(self._pending) >= MAX_PIPELINED
        if pause != self._reading_paused:
            self._reading_paused = pause
            if pause:
                transport.pause_reading()
            else:
                transport.resume_reading()

    # Closing.
    def close_when_idle(self) -> None:
        """Close now if no request is under way, else right after its reply."""
        self._closing = True
        if self._answering is None:
            self.close()

    def _close_if_idle(self) -> None:
        """Close a connection idle for KEEP_ALIVE_SECONDS; else look again when it could be."""
        loop = asyncio.get_running_loop()
        wait = KEEP_ALIVE_SECONDS
        if self._answering is None:
            wait -= loop.time() - self._active_at
            if wait <= 0:
                self.close()
                return
        self._idle_timer = loop.call_later(wait, self._close_if_idle)

    def close(self) -> None:
        self._parser = None
        if self._transport is not None:
            self._transport.close()
        elif not self.lost.done():
            self.lost.set_result(None)

    def abort(self) -> None:
        """Cut the connection and stop answering its request."""
        if self._answering is not None:
            self._answering.cancel()
        if self._transport is not None:
            self._transport.abort()
