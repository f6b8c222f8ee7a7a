"""A reply goes on the wire whole, in one piece: status line, headers, length, body."""

from __future__ import annotations

import pytest

from modelkeeper.router.messages import Reply
from modelkeeper.router.server import encode_reply

JSON = ((b"Content-Type", b"application/json"),)


@pytest.mark.parametrize(
    ("reply", "head_only", "keep_alive", "expected"),
    [
        pytest.param(
            Reply(200, b"{}", JSON),
            False,
            True,
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
            id="kept",
        ),
        pytest.param(
            Reply(503, b"{}", JSON),
            False,
            False,
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            b"Content-Length: 2\r\nConnection: close\r\n\r\n{}",
            id="closing",
        ),
        pytest.param(
            Reply(200, b"abc"),
            True,
            True,
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
            id="head-keeps-the-length",
        ),
        pytest.param(
            Reply(299, b"", ((b"X-A", b"1"), (b"x-a", b"2"))),
            False,
            True,
            b"HTTP/1.1 299 \r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 0\r\n\r\n",
            id="unknown-status-repeated-headers",
        ),
    ],
)
def test_encode_reply(reply: Reply, head_only: bool, keep_alive: bool, expected: bytes) -> None:
    assert encode_reply(reply, head_only, keep_alive) == expected
