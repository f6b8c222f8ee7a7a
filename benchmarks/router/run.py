"""Router overhead: client -> server directly, side by side with client -> router -> server.

One run, one machine, the same load generator (wrk, one thread, the serving
benchmark's post.lua), the same request bodies (one row of scikit-learn's
breast-cancer data per request, one 2-D FP32 tensor, V2 REST) and the same real
scoring servers (`modelkeeper serve`, logistic regression, one worker each: the
fastest backend, so the router's share of the work shows most). At each concurrency
level the scenarios run one after the other:

- direct:        wrk -> server A
- router-1:      wrk -> router -> server A
- router-2:      wrk -> router -> servers A and B (balanced round robin)
- router-mirror: wrk -> router -> server A, every request mirrored to server B (shadow)

Targets (issue 4): the router adds at most 1 ms at p50, and keeps up with two
backends. The second is judged from CPU time per request, the router's (from its
`process_cpu_seconds_total`) against the backends' (from /proc, the processes of the
session listening on each server's port): one router core keeps up with two backends,
each on a core of its own, when it spends at most half what a backend spends per
request. On this machine everything shares two cores, so the measured router-2
throughput is also reported, but it cannot show two backends at full speed. Every
figure is the median of three rounds (the scenarios interleaved in each), since other
work on a shared machine comes and goes; the load average is recorded with each.

It also measures, in this process, the CPU per request of the router's hop to a backend
with aiohttp's client and with the router's own HTTP/1.1 client, which is why it has one.

    python benchmarks/router/run.py            # about 6 minutes
    python benchmarks/router/run.py --quick    # about 1 minute

Prints a markdown table (for docs/benchmarks.md) and writes the raw figures as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import itertools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import uvloop
from prometheus_client.parser import text_string_to_metric_families

from modelkeeper.router.config import Endpoint
from modelkeeper.router.upstream import ConnectionPool
from modelkeeper.serving.runtime import save_model_dir
from modelkeeper.serving.schema import ModelSchema

HERE = Path(__file__).resolve().parent
SCENARIOS = ("direct", "router-1", "router-2", "router-mirror")


def load_serving_benchmark() -> ModuleType:
    """The serving benchmark's helpers (training, bodies, wrk, process control), shared."""
    spec = importlib.util.spec_from_file_location(
        "serving_benchmark", HERE.parent / "serving" / "run.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


bench = load_serving_benchmark()


@dataclass
class Measurement:
    round: int
    scenario: str
    concurrency: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    router_cpu_us_per_request: float | None
    backend_cpu_us_per_request: float
    load_average: float


@dataclass
class Results:
    date: str
    command: str
    duration_seconds: float
    machine: str
    measurements: list[Measurement] = field(default_factory=list)
    client_cpu_us_per_request: dict[str, float] = field(default_factory=dict)


def session_cpu_seconds(url: str) -> float:
    """CPU seconds used so far by the processes of the session that listens at `url`
    (a server with all its workers), from /proc."""
    port = url.rsplit(":", 1)[1]
    listing = subprocess.run(
        ["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout
    sessions = {_stat(int(pid))[3] for pid in re.findall(r"pid=(\d+)", listing)}
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = _stat(int(entry.name))
            except OSError:
                continue  # ended meanwhile
            if fields[3] in sessions:
                total += (int(fields[11]) + int(fields[12])) / ticks
    if not sessions:
        raise RuntimeError(f"nothing listens at {url}")
    return total


def _stat(pid: int) -> list[str]:
    """/proc/PID/stat after the command name: [state, ppid, pgrp, session, ...]."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def router_cpu_seconds(url: str) -> float:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        text = response.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "process_cpu_seconds_total":
                return float(sample.value)
    raise RuntimeError("the router exports no process_cpu_seconds_total")


async def client_cost(base_url: str, path: str, body: bytes, requests: int) -> dict[str, float]:
    """CPU per request, in this process, of sending to a backend with aiohttp's client and
    with the router's own (`upstream.ConnectionPool`), 8 requests in flight: the one part
    of the router's work that it chose how to do."""
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    endpoint = Endpoint(host=host, port=int(port))
    headers = {"Content-Type": "application/json"}
    pool = ConnectionPool()
    session = aiohttp.ClientSession(auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar())

    async def with_aiohttp() -> None:
        async with session.post(base_url + path, data=body, headers=headers) as response:
            await response.read()

    async def with_pool() -> None:
        await pool.request(
            endpoint, b"POST", path.encode(), b"Content-Type: application/json\r\n", body, 30.0
        )

    costs = {}
    clients = {"aiohttp ClientSession": with_aiohttp, "upstream.ConnectionPool": with_pool}
    for name, send in clients.items():

        async def worker(count: int, send: Callable[[], Awaitable[None]] = send) -> None:
            for _ in range(count):
                await send()

        await worker(200)  # warm-up: connections open, code paths hot
        started = time.process_time()
        await asyncio.gather(*(worker(requests // 8) for _ in range(8)))
        costs[name] = (time.process_time() - started) / requests * 1e6
    await session.close()
    await pool.close()
    return costs


def routing_config(path: Path, model: str, stable: list[str], shadow: str | None) -> Path:
    def endpoint(url: str) -> dict[str, Any]:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        return {"host": host, "port": int(port)}

    backends: list[dict[str, Any]] = [
        {"name": "a", "role": "stable", "weight": 1, "endpoints": [endpoint(u) for u in stable]}
    ]
    if shadow is not None:
        backends.append({"name": "b", "role": "shadow", "endpoints": [endpoint(shadow)]})
    config = {"model": model, "backends": backends, "mirror_percent": 100 if shadow else 0}
    path.write_text(json.dumps(config))
    return path


def measure(args: argparse.Namespace, results: Results) -> None:
    trained = next(model for model in bench.train() if model.name == "logistic")
    schema = ModelSchema.model_validate(
        {
            "inputs": [{"name": name, "type": "numeric"} for name in trained.features],
            "output": {"type": "classification"},
        }
    )
    with tempfile.TemporaryDirectory(prefix="modelkeeper-router-bench-") as scratch:
        root = Path(scratch)
        model_dir = root / "model"
        save_model_dir(model_dir, trained.estimator, schema, trained.frame, target="target")
        bodies = root / "bodies.jsonl"
        bench.write_bodies(trained, bodies)
        servers = [f"http://127.0.0.1:{bench.free_port()}" for _ in range(2)]
        routers = {name: f"http://127.0.0.1:{bench.free_port()}" for name in SCENARIOS[1:]}
        configs = {
            "router-1": routing_config(root / "one.json", trained.name, servers[:1], None),
            "router-2": routing_config(root / "two.json", trained.name, servers, None),
            "router-mirror": routing_config(
                root / "mirror.json", trained.name, servers[:1], servers[1]
            ),
        }
        with contextlib.ExitStack() as stack:
            for index, url in enumerate(servers):
                stack.enter_context(
                    bench.running(
                        [
                            sys.executable,
                            "-m",
                            "modelkeeper.cli",
                            "serve",
                            "--model-dir",
                            str(model_dir),
                            "--model-name",
                            trained.name,
                            "--host",
                            "127.0.0.1",
                            "--http-port",
                            url.rsplit(":", 1)[1],
                            "--workers",
                            "1",
                        ],
                        f"{url}/v2/health/ready",
                        root / f"server-{index}.log",
                    )
                )
            for name, url in routers.items():
                stack.enter_context(
                    bench.running(
                        [
                            sys.executable,
                            "-m",
                            "modelkeeper.cli",
                            "route",
                            "--config",
                            str(configs[name]),
                            "--host",
                            "127.0.0.1",
                            "--http-port",
                            url.rsplit(":", 1)[1],
                            "--log-level",
                            "WARNING",
                        ],
                        f"{url}/v2/health/ready",
                        root / f"{name}.log",
                    )
                )
            path = f"/v2/models/{trained.name}/infer"
            body = bodies.read_text().splitlines()[0].encode()
            results.client_cpu_us_per_request = uvloop.run(
                client_cost(servers[0], path, body, 800 if args.quick else 4000)
            )
            targets = {"direct": servers[0], **routers}
            for url in targets.values():
                bench.wrk(url, bodies, path, max(args.concurrency), 2.0)  # warm-up
            for round_, concurrency, (scenario, url) in itertools.product(
                range(args.rounds), args.concurrency, targets.items()
            ):
                before = router_cpu_seconds(url) if scenario != "direct" else None
                backends_before = sum(session_cpu_seconds(server) for server in servers)
                figures = bench.wrk(url, bodies, path, concurrency, args.seconds)
                backends = sum(session_cpu_seconds(server) for server in servers) - backends_before
                cpu = None
                if before is not None:
                    spent = router_cpu_seconds(url) - before
                    cpu = spent / figures["requests"] * 1e6
                measurement = Measurement(
                    round=round_,
                    scenario=scenario,
                    concurrency=concurrency,
                    router_cpu_us_per_request=cpu,
                    backend_cpu_us_per_request=backends / figures["requests"] * 1e6,
                    load_average=bench.load_average(),
                    **figures,
                )
                results.measurements.append(measurement)
                print(
                    f"round {round_} {scenario:14} c={concurrency:<3} "
                    f"{measurement.requests_per_second:8.1f} "
                    f"req/s  p50 {measurement.p50_ms:6.2f} ms  p99 {measurement.p99_ms:6.2f} "
                    f"ms  errors {measurement.errors}  router cpu {cpu or 0:.0f} us/req  "
                    f"backends cpu {measurement.backend_cpu_us_per_request:.0f} us/req",
                    file=sys.stderr,
                )


def median(results: Results, scenario: str, level: int) -> Measurement:
    """The median of each figure over the rounds, so one noisy round cannot sway the result."""
    rounds = [m for m in results.measurements if (m.scenario, m.concurrency) == (scenario, level)]
    figures = {
        name: statistics.median(getattr(m, name) for m in rounds)
        for name in (
            "requests_per_second",
            "p50_ms",
            "p99_ms",
            "backend_cpu_us_per_request",
            "load_average",
        )
    }
    cpu = [m.router_cpu_us_per_request for m in rounds if m.router_cpu_us_per_request is not None]
    return Measurement(
        round=-1,
        scenario=scenario,
        concurrency=level,
        requests=sum(m.requests for m in rounds),
        errors=sum(m.errors for m in rounds),
        router_cpu_us_per_request=statistics.median(cpu) if cpu else None,
        **figures,
    )


def report(results: Results) -> str:
    """Direct and routed side by side per concurrency level, with ratios and the CPU budget."""
    levels = sorted({m.concurrency for m in results.measurements})
    rounds = len({m.round for m in results.measurements})
    lines = [
        f"Run {results.date}; medians of {rounds} rounds, {results.duration_seconds:g} s per "
        f"scenario, level and round, wrk -t1; machine: {results.machine}.",
        "",
        "| conc. | direct req/s | p50 ms | p99 ms | via router req/s | p50 ms | p99 ms "
        "| added p50 ms | throughput ratio | 2 backends req/s | mirror 100% req/s "
        "| mirror p50 ms | router CPU us/req | backend CPU us/req | router/backend CPU |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- "
        "| --- |",
    ]
    medians = {
        (scenario, level): median(results, scenario, level)
        for scenario in SCENARIOS
        for level in levels
    }
    for level in levels:
        direct, one = medians[("direct", level)], medians[("router-1", level)]
        two, mirror = medians[("router-2", level)], medians[("router-mirror", level)]
        router_cpu = one.router_cpu_us_per_request or 0.0
        lines.append(
            f"| {level} | {direct.requests_per_second:.0f} | {direct.p50_ms:.2f} "
            f"| {direct.p99_ms:.2f} | {one.requests_per_second:.0f} | {one.p50_ms:.2f} "
            f"| {one.p99_ms:.2f} | {one.p50_ms - direct.p50_ms:+.2f} "
            f"| {one.requests_per_second / direct.requests_per_second:.2f}x "
            f"| {two.requests_per_second:.0f} | {mirror.requests_per_second:.0f} "
            f"| {mirror.p50_ms:.2f} | {router_cpu:.0f} | {direct.backend_cpu_us_per_request:.0f} "
            f"| {router_cpu / direct.backend_cpu_us_per_request:.2f} |"
        )
    lines += [
        "",
        "One router core keeps up with two backends (each on a core of its own) when its CPU "
        "per request is at most half a backend's: router/backend CPU <= 0.50. Both are "
        "measured in the same run, so contention from other work inflates both alike.",
        "",
        "The hop to a backend, CPU per request in one process (8 in flight, the same body): "
        + ", ".join(
            f"{name} {cost:.0f} us" for name, cost in results.client_cpu_us_per_request.items()
        )
        + ".",
        "",
        "All measurements:",
        "",
        "| round | scenario | conc. | req/s | p50 ms | p99 ms | errors | router CPU us/req "
        "| backend CPU us/req | load avg |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for m in results.measurements:
        cpu_text = (
            "" if m.router_cpu_us_per_request is None else f"{m.router_cpu_us_per_request:.0f}"
        )
        lines.append(
            f"| {m.round} | {m.scenario} | {m.concurrency} | {m.requests_per_second:.0f} "
            f"| {m.p50_ms:.2f} | {m.p99_ms:.2f} | {m.errors} | {cpu_text} "
            f"| {m.backend_cpu_us_per_request:.0f} | {m.load_average:.2f} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="CI size: 1 round, 2 levels, 3 s")
    parser.add_argument("--rounds", type=int, help="rounds over every level and scenario")
    parser.add_argument("--seconds", type=float, help="duration per scenario and level")
    parser.add_argument("--concurrency", type=lambda text: [int(v) for v in text.split(",")])
    parser.add_argument("--out", type=Path, default=Path("benchmark-router.json"))
    args = parser.parse_args()
    if args.concurrency is None:
        args.concurrency = [1, 16] if args.quick else [1, 8, 32]
    if args.seconds is None:
        args.seconds = 3.0 if args.quick else 8.0
    if args.rounds is None:
        args.rounds = 1 if args.quick else 3
    if shutil.which("wrk") is None:
        print("wrk is needed: apt-get install wrk", file=sys.stderr)
        return 2
    results = Results(
        date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        command=" ".join(["python", *sys.argv]),
        duration_seconds=args.seconds,
        machine=f"{os.cpu_count()} cores, load average before {bench.load_average():.2f}",
    )
    measure(args, results)
    args.out.write_text(json.dumps(asdict(results), indent=2))
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
