"""The floor of Python gRPC: what a V2 `ModelInfer` call costs a grpc.aio server that does
nothing with it (fixed answer bytes, no decoding), driven by grpc_load.py as run.py drives
the real servers, so that their CPU per call can be read against it.

    python benchmarks/serving/grpc_floor.py --workers 2 --concurrency 8,16,32

Prints, per concurrency level: requests per second, p99 and the CPU milliseconds the
server's processes used per call. The server runs `--workers` processes on one port with
SO_REUSEPORT, on uvloop, as `modelkeeper serve` runs its gRPC.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import grpc
import uvloop
from grpc import aio

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run  # noqa: E402 (the benchmark's own helpers, beside this file)

ANSWER = b"\n\x08logistic"  # a ModelInferResponse with model_name only


async def _answer(request: bytes, context: aio.ServicerContext[bytes, bytes]) -> bytes:
    return ANSWER


async def _serve(port: int) -> None:
    server = aio.server(options=[("grpc.so_reuseport", 1)])
    methods: dict[str, grpc.RpcMethodHandler[bytes, bytes]] = {
        "ModelInfer": grpc.unary_unary_rpc_method_handler(_answer)
    }  # bytes, unparsed
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("inference.GRPCInferenceService", methods),)
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", default="8,16,32")
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    port = run.free_port()
    with tempfile.TemporaryDirectory(prefix="modelkeeper-floor-") as scratch:
        requests = Path(scratch) / "requests-1.bin"
        trained = next(model for model in run.train() if model.name == "logistic")
        run.write_grpc_requests(trained, requests, 1)
        group = os.fork()
        if group == 0:
            os.setpgid(0, 0)
            for _ in range(args.workers - 1):
                if os.fork() == 0:
                    break
            uvloop.run(_serve(port))
            os._exit(0)
        try:
            time.sleep(2)
            run.grpc_load(f"127.0.0.1:{port}", requests, 8, 1.0)  # warm-up
            for level in (int(value) for value in args.concurrency.split(",")):
                before = run.group_cpu_seconds(group)
                figures = run.grpc_load(f"127.0.0.1:{port}", requests, level, args.seconds)
                cpu = run.group_cpu_seconds(group) - before
                print(
                    f"floor, {args.workers} worker(s), concurrency {level}: "
                    f"{figures['requests_per_second']:.0f} req/s, p99 {figures['p99_ms']:.2f} ms, "
                    f"{cpu * 1000 / max(1, int(figures['requests'])):.3f} CPU ms/req, "
                    f"load average {run.load_average():.2f}"
                )
        finally:
            os.killpg(group, 15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
