"""The router's HTTP/1.1 client against small raw servers on loopback that misbehave on cue:
chunked replies, `Connection: close`, a kept connection dropped in a race, garbage, silence.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import pytest

from modelkeeper.router.config import Endpoint
from modelkeeper.router.upstream import ConnectionPool, UpstreamError

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Coroutine[Any, Any, None]]


@asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[tuple[Endpoint, list[int]]]:
    """A server whose `handler` gets each connection and its number; yields the endpoint
    and a list with an entry per connection made."""
    requests_per_connection: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        requests_per_connection.append(0)
        try:
            await handler(reader, writer, len(requests_per_connection) - 1)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client closed the connection
        finally:
            writer.close()
            await writer.wait_closed()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield Endpoint(host="127.0.0.1", port=port), requests_per_connection


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    return head + await reader.readexactly(length)


async def test_keeps_the_connection_and_sends_headers_and_body() -> None:
    seen: list[bytes] = []

    async def answer_each(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int
    ) -> None:
        while not reader.at_eof():
            try:
                seen.append(await read_request(reader))
            except asyncio.IncompleteReadError:
                return
            writer.write(OK)

    async with raw_server(answer_each) as (endpoint, _):
        pool = ConnectionPool()
        replies = [
            await pool.request(endpoint, b"POST", b"/a?b=1", b"X-Request-Id: r1\r\n", b"xyz", 5)
            for _ in range(3)
        ]
        await pool.close()

    assert [(reply.status, reply.body) for reply in replies] == [(200, b"{}")] * 3
    assert replies[0].headers == [(b"Content-Type", b"application/json"), (b"Content-Length", b"2")]
    assert (
        seen[0]
        == (
            f"POST /a?b=1 HTTP/1.1\r\nHost: {endpoint}\r\nContent-Length: 3\r\n"
            "X-Request-Id: r1\r\n\r\nxyz"
        ).encode()
    )


@pytest.mark.parametrize(
    ("reply", "body", "reused"),
    [
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
            b"abcde",
            True,
            id="chunked",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi",
            b"hi",
            False,
            id="connection-close",
        ),
        pytest.param(
            b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi", b"hi", False, id="http-1.0"
        ),
    ],
)
async def test_reads_each_framing_and_reuses_only_what_may_be(
    reply: bytes, body: bytes, reused: bool
) -> None:
    async def answer_each(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int
    ) -> None:
        try:
            while True:
                await read_request(reader)
                writer.write(reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return

    async with raw_server(answer_each) as (endpoint, connections):
        pool = ConnectionPool()
        first = await pool.request(endpoint, b"GET", b"/", b"", b"", 5)
        second = await pool.request(endpoint, b"GET", b"/", b"", b"", 5)
        await pool.close()

    assert (first.body, second.body) == (body, body)
    assert len(connections) == (1 if reused else 2)


async def test_a_kept_connection_dropped_unanswered_is_retried_once_on_a_new_one() -> None:
    async def drop_the_second_request(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int
    ) -> None:
        await read_request(reader)
        writer.write(OK)
        if number == 0:
            await read_request(reader)  # the second request on the first connection: drop it

    async with raw_server(drop_the_second_request) as (endpoint, connections):
        pool = ConnectionPool()
        first = await pool.request(endpoint, b"POST", b"/", b"", b"1", 5)
        second = await pool.request(endpoint, b"POST", b"/", b"", b"2", 5)
        await pool.close()

    assert (first.status, second.status) == (200, 200)
    assert len(connections) == 2


@pytest.mark.parametrize(
    ("behaviour", "error"),
    [
        pytest.param(b"garbage\r\n\r\n", UpstreamError, id="not-http"),
        pytest.param(b"", UpstreamError, id="closed-unanswered"),
        pytest.param(None, TimeoutError, id="silent"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", UpstreamError, id="cut"
        ),
    ],
)
async def test_a_backend_that_misbehaves_raises(
    behaviour: bytes | None, error: type[Exception]
) -> None:
    async def misbehave(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await read_request(reader)
        if behaviour is None:
            await asyncio.sleep(2)
        else:
            writer.write(behaviour)
            await writer.drain()

    async with raw_server(misbehave) as (endpoint, _):
        pool = ConnectionPool()
        with pytest.raises(error):
            await pool.request(endpoint, b"GET", b"/", b"", b"", 0.5)
        await pool.close()


async def test_nothing_listening_raises_connection_refused() -> None:
    async with raw_server(lambda *_: asyncio.sleep(0)) as (endpoint, _):
        pass  # the port is free again once the server is closed
    with pytest.raises(ConnectionRefusedError):
        await ConnectionPool().request(endpoint, b"GET", b"/", b"", b"", 5)
