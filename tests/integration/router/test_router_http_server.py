"""The router's own HTTP/1.1 server at the wire: raw bytes over loopback sockets to an
`HttpServer` in this process, whose handler echoes what it got (or fails on cue).

What a client may do and the server must take: pipelining, `Expect: 100-continue`,
chunked bodies, HTTP/1.0, HEAD; what it must refuse with a JSON error and a closed
connection: malformed requests, oversized heads and bodies; and a stop that lets the
requests under way finish.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
import pytest

from modelkeeper.router.messages import Reply, Request, json_reply
from modelkeeper.router.server import MAX_HEAD_BYTES, HttpServer

LIMIT = 1000


async def echo(request: Request) -> Reply:
    """The request as JSON; `/fail` raises, `/slow` answers after 0.5 s."""
    if request.path == b"/fail":
        raise RuntimeError("the handler failed")
    if request.path == b"/slow":
        await asyncio.sleep(0.5)
    return json_reply(
        200,
        {
            "method": request.method.decode(),
            "path": request.path.decode(),
            "body": request.body.decode(),
            "headers": [[name.decode(), value.decode()] for name, value in request.headers],
        },
    )


@asynccontextmanager
async def serving() -> AsyncIterator[tuple[HttpServer, int]]:
    server = HttpServer(echo, max_body_bytes=LIMIT)
    [(_, port)] = await server.start("127.0.0.1", 0)
    try:
        yield server, port
    finally:
        await server.shutdown(5)


Answer = tuple[bytes, dict[bytes, bytes], bytes]


async def read_reply(reader: asyncio.StreamReader) -> Answer:
    """One reply: status line, headers (lower-case names), body by Content-Length."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    status, *lines = head[:-4].split(b"\r\n")
    headers = {name.lower(): value for name, value in (line.split(b": ", 1) for line in lines)}
    return status, headers, await reader.readexactly(int(headers[b"content-length"]))


async def exchange(port: int, data: bytes, replies: int = 1) -> list[Answer]:
    """Send `data` at once on a new connection; read `replies` replies."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    try:
        return [await read_reply(reader) for _ in range(replies)]
    finally:
        writer.close()


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    return await asyncio.wait_for(reader.read(), 5) == b""


def post(path: bytes, body: bytes, *extra: bytes) -> bytes:
    lines = [b"POST %s HTTP/1.1" % path, b"Host: x", b"Content-Length: %d" % len(body), *extra]
    return b"\r\n".join([*lines, b"", body])


async def test_pipelined_requests_are_answered_in_order_on_a_kept_connection() -> None:
    async with serving() as (_, port):
        replies = await exchange(
            port,
            post(b"/slow", b"first") + post(b"/a?q=1", b"second", b"X-Id: 2"),
            replies=2,
        )

    bodies = [orjson.loads(body) for _, _, body in replies]
    assert [status for status, _, _ in replies] == [b"HTTP/1.1 200 OK"] * 2
    assert [(b["path"], b["body"]) for b in bodies] == [("/slow", "first"), ("/a?q=1", "second")]
    assert ["X-Id", "2"] in bodies[1]["headers"]
    assert b"connection" not in replies[1][1]


async def test_expect_100_continue_is_answered_before_the_body_is_sent() -> None:
    async with serving() as (_, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
        writer.write(head)
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.write(b"body")
        _, _, body = await read_reply(reader)
        writer.close()

    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert orjson.loads(body)["body"] == "body"


async def test_a_chunked_body_arrives_whole() -> None:
    chunked = (
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    async with serving() as (_, port):
        [(_, _, body)] = await exchange(port, chunked)

    assert orjson.loads(body)["body"] == "abcde"


@pytest.mark.parametrize(
    ("request_bytes", "keep_alive"),
    [
        pytest.param(b"GET /a HTTP/1.0\r\n\r\n", False, id="http-1.0"),
        pytest.param(b"GET /a HTTP/1.1\r\nConnection: close\r\n\r\n", False, id="close"),
        pytest.param(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", True, id="1.0-kept"),
    ],
)
async def test_the_connection_closes_when_the_client_asks(
    request_bytes: bytes, keep_alive: bool
) -> None:
    async with serving() as (_, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request_bytes)
        status, headers, _ = await read_reply(reader)
        if keep_alive:
            writer.write(request_bytes)
            again, _, _ = await read_reply(reader)
            assert again == b"HTTP/1.1 200 OK"
        else:
            assert headers[b"connection"] == b"close"
            assert await closed_by_server(reader)
        writer.close()

    assert status == b"HTTP/1.1 200 OK"


async def test_head_gets_the_length_of_the_body_but_not_the_body() -> None:
    async with serving() as (_, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"HEAD /a HTTP/1.1\r\n\r\nGET /a HTTP/1.1\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        _, _, body = await read_reply(reader)  # the GET's reply comes right after
        writer.close()

    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert f"Content-Length: {len(body) + 1}".encode() in head  # "HEAD" is one letter longer
    assert orjson.loads(body)["method"] == "GET"


@pytest.mark.parametrize(
    ("request_bytes", "status", "message"),
    [
        pytest.param(b"garbage\r\n\r\n", b"400", "malformed HTTP request", id="not-http"),
        pytest.param(
            b"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", b"400", "malformed HTTP request", id="bad-header"
        ),
        pytest.param(
            post(b"/", b"x" * (LIMIT + 1)),
            b"413",
            f"Maximum request body size {LIMIT} exceeded, actual body size {LIMIT + 1}",
            id="body-too-large",
        ),
        pytest.param(
            b"GET / HTTP/1.1\r\nX: " + b"a" * MAX_HEAD_BYTES,
            b"431",
            f"request head larger than {MAX_HEAD_BYTES} bytes",
            id="head-too-large",
        ),
    ],
)
async def test_what_the_server_refuses_gets_a_json_error_and_ends_the_connection(
    request_bytes: bytes, status: bytes, message: str
) -> None:
    async with serving() as (_, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request_bytes)
        line, headers, body = await read_reply(reader)
        closed = await closed_by_server(reader)
        writer.close()

    assert line.split(b" ")[1] == status
    assert headers[b"content-type"] == b"application/json"
    assert headers[b"connection"] == b"close"
    assert message in orjson.loads(body)["error"]
    assert closed


async def test_a_failing_handler_gets_a_json_500_and_the_connection_carries_on() -> None:
    async with serving() as (_, port):
        failed, fine = await exchange(port, post(b"/fail", b"") + post(b"/", b""), replies=2)

    assert failed[0] == b"HTTP/1.1 500 Internal Server Error"
    assert orjson.loads(failed[2]) == {"error": "the router failed; see its log"}
    assert fine[0] == b"HTTP/1.1 200 OK"


async def test_a_request_before_a_refused_one_is_still_answered() -> None:
    async with serving() as (_, port):
        replies = await exchange(port, post(b"/slow", b"fine") + b"garbage\r\n\r\n", replies=2)

    assert [status for status, _, _ in replies] == [b"HTTP/1.1 200 OK", b"HTTP/1.1 400 Bad Request"]


async def test_shutdown_finishes_the_request_under_way_and_closes_idle_connections() -> None:
    server = HttpServer(echo, max_body_bytes=LIMIT)
    [(_, port)] = await server.start("127.0.0.1", 0)
    idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", port)
    busy_reader, busy_writer = await asyncio.open_connection("127.0.0.1", port)
    busy_writer.write(post(b"/slow", b"under way"))
    await asyncio.sleep(0.1)

    stopping = asyncio.create_task(server.shutdown(5))
    status, headers, body = await read_reply(busy_reader)
    await stopping

    assert status == b"HTTP/1.1 200 OK"
    assert headers[b"connection"] == b"close"
    assert orjson.loads(body)["body"] == "under way"
    assert await closed_by_server(idle_reader)
    assert await closed_by_server(busy_reader)
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)
    idle_writer.close()
    busy_writer.close()


async def test_shutdown_cuts_what_outlasts_its_timeout() -> None:
    server = HttpServer(echo, max_body_bytes=LIMIT)
    [(_, port)] = await server.start("127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(post(b"/slow", b""))
    await asyncio.sleep(0.1)

    await server.shutdown(0.1)

    assert await closed_by_server(reader)
    writer.close()
