"""A closed-loop V2 gRPC load generator: `concurrency` callers, each on its own connection,
each sending the next prepared `ModelInfer` request as soon as its last one is answered.

    python grpc_load.py HOST:PORT REQUESTS_FILE --concurrency 8 --seconds 10

REQUESTS_FILE holds serialized `ModelInferRequest` messages, each after its 4-byte
little-endian length; they are sent as bytes, never parsed here, so the client's cost is
the same whatever the server. Prints one JSON object: requests per second, p50 and p99
latency in ms, requests, errors (any status other than OK). Run in a process of its own,
like wrk, so that it shares no interpreter with anything else.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import struct
import sys
import time
from pathlib import Path

import grpc
import numpy as np
import uvloop
from grpc import aio

METHOD = "/inference.GRPCInferenceService/ModelInfer"


def read_requests(path: Path) -> list[bytes]:
    data = path.read_bytes()
    requests, offset = [], 0
    while offset < len(data):
        (length,) = struct.unpack_from("<I", data, offset)
        requests.append(data[offset + 4 : offset + 4 + length])
        offset += 4 + length
    return requests


async def caller(
    target: str, requests: list[bytes], start: int, deadline: float, latencies: list[float]
) -> int:
    """Send requests until `deadline`; append each answered call's latency; return errors."""
    # A local subchannel pool: a connection of its own, as wrk's connections are.
    options = [("grpc.use_local_subchannel_pool", 1)]
    errors = 0
    async with aio.insecure_channel(target, options=options) as channel:
        call = channel.unary_unary(METHOD)  # bytes in, bytes out
        index = start
        while time.perf_counter() < deadline:
            body = requests[index % len(requests)]
            index += 1
            began = time.perf_counter()
            try:
                await call(body, timeout=10)
            except grpc.RpcError:
                errors += 1
                continue
            latencies.append(time.perf_counter() - began)
    return errors


async def load(
    target: str, requests: list[bytes], concurrency: int, seconds: float
) -> dict[str, float]:
    latencies: list[float] = []
    began = time.perf_counter()
    deadline = began + seconds
    errors = await asyncio.gather(
        *(caller(target, requests, slot * 7, deadline, latencies) for slot in range(concurrency))
    )
    elapsed = time.perf_counter() - began
    milliseconds = np.array(latencies) * 1000
    return {
        "requests_per_second": len(latencies) / elapsed,
        "p50_ms": float(np.percentile(milliseconds, 50)) if len(latencies) else 0.0,
        "p99_ms": float(np.percentile(milliseconds, 99)) if len(latencies) else 0.0,
        "requests": len(latencies),
        "errors": sum(errors),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("target")
    parser.add_argument("requests", type=Path)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    requests = read_requests(args.requests)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        figures = runner.run(load(args.target, requests, args.concurrency, args.seconds))
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
