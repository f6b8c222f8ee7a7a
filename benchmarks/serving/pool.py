"""Pooled serving measured: memory per loaded model, one process per model, cold loads.

    python benchmarks/serving/pool.py --models 200 --single 12

(a) One pool server (`modelkeeper serve --catalogue-dir`, one worker, gRPC on, a budget
    that holds them all) is asked for N small logistic regressions one after another,
    each a family of its own; its RSS (and PSS) is read after every tenth first request.
    The growth per model, from the first model loaded to the last, is set beside the
    model's own size: its joblib file and what the pool charges it (its objects' bytes).
    Then /metrics is scraped three times: its size, time and the RSS after each.
(b) The first `--single` of the same models, each served by a `modelkeeper serve` of its
    own (one worker, gRPC on: as a Deployment's pod runs it), all running together;
    each process's RSS and PSS after a first request, and 1,000 of them extrapolated by
    the mean per process.
(c) Latency, as a client sees it (one keep-alive connection, one request at a time,
    V2 REST, one row): a loaded model of the pool (round robin over ten), the first
    request to a model never loaded (its artifact fetched from file:// and loaded), the
    first request after the repository unloaded it (loaded again from the local
    cache), and, beside them, a single-model server's model.

Prints a markdown summary (docs/benchmarks.md, "Pooled serving") and writes the raw
figures as JSON (--out).
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import importlib.util
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from modelkeeper.api.pool import PooledFamily
from modelkeeper.serving.runtime import save_model_dir
from modelkeeper.serving.schema import ModelSchema

HERE = Path(__file__).resolve().parent


def load_serving_benchmark() -> ModuleType:
    """The serving benchmark's process control (`running`, `free_port`), shared."""
    spec = importlib.util.spec_from_file_location("serving_benchmark", HERE / "run.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bench = load_serving_benchmark()


def write_models(root: Path, count: int) -> tuple[list[Path], list[str]]:
    """`count` logistic regressions on breast cancer (30 features), each on its own
    bootstrap sample, so that no two model files are the same."""
    data = load_breast_cancer(as_frame=True)
    frame = data.frame.rename(columns=lambda name: re.sub(r"\W+", "_", str(name)))
    features = [column for column in frame.columns if column != "target"]
    schema = ModelSchema.model_validate(
        {
            "inputs": [{"name": name, "type": "numeric"} for name in features],
            "output": {"type": "classification", "classes": [0, 1]},
        }
    )
    random = np.random.default_rng(0)
    directories = []
    for number in range(count):
        sample = frame.iloc[random.integers(0, len(frame), len(frame))]
        estimator = LogisticRegression(solver="liblinear").fit(sample[features], sample["target"])
        directory = root / f"m{number:04d}"
        save_model_dir(directory, estimator, schema, sample, target="target")
        directories.append(directory)
    return directories, features


def write_catalogue(directories: list[Path], features: list[str], catalogue: Path) -> None:
    catalogue.mkdir(parents=True, exist_ok=True)
    signature = {
        "inputs": [{"name": name, "type": "Numeric"} for name in features],
        "output": {"type": "Classification", "classes": ["0", "1"]},
    }
    for directory in directories:
        name = directory.name
        family = PooledFamily.model_validate(
            {
                "deployment": name,
                "model": name,
                "versions": [
                    {
                        "version": "1",
                        "model": f"{name}-1",
                        "role": "Stable",
                        "weight": 100,
                        "uri": f"file://{directory}/model.joblib",
                        "sha256": hashlib.sha256(
                            (directory / "model.joblib").read_bytes()
                        ).hexdigest(),
                        "format": "sklearn",
                        "signature": signature,
                        "reference": {"uri": f"file://{directory}/profile.json"},
                    }
                ],
            }
        )
        (catalogue / f"{name}.json").write_text(json.dumps(family.model_dump(mode="json")))


def serve_command(port: int, grpc_port: int, *flags: str) -> list[str]:
    """`modelkeeper serve` on loopback with gRPC on, as a pod runs it."""
    return [
        sys.executable,
        "-m",
        "modelkeeper.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--http-port",
        str(port),
        "--grpc-port",
        str(grpc_port),
        *flags,
    ]


def memory(pid: int) -> tuple[int, int]:
    """The process's RSS and PSS in bytes (PSS shares each shared page among its users)."""
    rss = pss = 0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Rss:"):
            rss = int(line.split()[1]) * 1024
        elif line.startswith("Pss:"):
            pss = int(line.split()[1]) * 1024
    return rss, pss


class Client:
    """One keep-alive HTTP connection, one request at a time."""

    def __init__(self, port: int) -> None:
        self._connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def post(self, path: str, body: bytes) -> tuple[int, bytes, float]:
        return self._send("POST", path, body)

    def get(self, path: str) -> tuple[int, bytes, float]:
        return self._send("GET", path, None)

    def _send(self, method: str, path: str, body: bytes | None) -> tuple[int, bytes, float]:
        began = time.perf_counter()
        self._connection.request(method, path, body, {"Content-Type": "application/json"})
        response = self._connection.getresponse()
        payload = response.read()
        return response.status, payload, time.perf_counter() - began

    def infer(self, model: str, body: bytes) -> float:
        status, payload, seconds = self.post(f"/v2/models/{model}/infer", body)
        if status != 200:
            raise RuntimeError(f"{model}: {status} {payload[:300]!r}")
        return seconds

    def metric(self, name: str) -> list[float]:
        text = self.get("/metrics")[1].decode()
        return [float(value) for value in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M)]


def row_body(features: list[str], row: np.ndarray) -> bytes:
    inputs = [
        {"name": name, "datatype": "FP64", "shape": [1], "data": [float(value)]}
        for name, value in zip(features, row, strict=True)
    ]
    return json.dumps({"inputs": inputs}).encode()


def percentiles(seconds: list[float]) -> dict[str, float]:
    values = np.asarray(seconds) * 1000
    return {
        "p50_ms": float(np.percentile(values, 50)),
        "p99_ms": float(np.percentile(values, 99)),
        "count": len(values),
    }


def measure_pool(
    work: Path, directories: list[Path], features: list[str], body: bytes, loaded_requests: int
) -> dict[str, Any]:
    catalogue = work / "catalogue"
    write_catalogue(directories, features, catalogue)
    port, grpc_port = bench.free_port(), bench.free_port()
    command = serve_command(
        port, grpc_port, "--catalogue-dir", str(catalogue), "--memory-budget", str(1 << 40)
    )
    env = {**os.environ, "TMPDIR": str(work / "tmp")}
    (work / "tmp").mkdir(exist_ok=True)
    ready = f"http://127.0.0.1:{port}/v2/health/ready"
    with bench.running(command, ready, work / "pool.log", env) as pid:
        client = Client(port)
        names = [directory.name for directory in directories]
        started_rss, started_pss = memory(pid)
        cold = [client.infer(names[0], body)]
        first_rss, first_pss = memory(pid)
        samples = [(1, first_rss, first_pss)]
        for number, name in enumerate(names[1:], start=2):
            cold.append(client.infer(name, body))
            if number % 10 == 0 or number == len(names):
                rss, pss = memory(pid)
                samples.append((number, rss, pss))
        last_rss, last_pss = memory(pid)
        scrapes = []
        for _ in range(3):
            _, text, seconds = client.get("/metrics")
            scrapes.append(
                {
                    "seconds": seconds,
                    "bytes": len(text),
                    "lines": text.count(b"\n"),
                    "rss_after": memory(pid)[0],
                }
            )
        charged = client.metric("modelkeeper_pool_model_bytes")
        loaded = [client.infer(names[i % 10], body) for i in range(loaded_requests)]
        reloads = []
        for name in names[: min(100, len(names))]:
            status, payload, _ = client.post(f"/v2/repository/models/{name}/unload", b"{}")
            if status != 200:
                raise RuntimeError(f"unload {name}: {status} {payload!r}")
            reloads.append(client.infer(name, body))
        rss_after_reloads, _ = memory(pid)
    files = [(directory / "model.joblib").stat().st_size for directory in directories]
    models = len(directories)
    return {
        "models": models,
        "rss_started": started_rss,
        "pss_started": started_pss,
        "rss_first_model": first_rss,
        "rss_last_model": last_rss,
        "rss_after_reloads": rss_after_reloads,
        "rss_growth_per_model": (last_rss - first_rss) / (models - 1),
        "pss_growth_per_model": (last_pss - first_pss) / (models - 1),
        "model_file_bytes_mean": statistics.mean(files),
        "charged_bytes_mean": statistics.mean(charged),
        "samples": samples,
        "scrapes": scrapes,
        "latency_loaded": percentiles(loaded),
        "latency_cold_first": percentiles(cold),
        "latency_cold_reload": percentiles(reloads),
    }


def measure_single(
    work: Path, directories: list[Path], body: bytes, count: int, loaded_requests: int
) -> dict[str, Any]:
    chosen = directories[:count]
    figures = []
    ports = []
    with ExitStack() as stack:
        pids = []
        for directory in chosen:
            port, grpc_port = bench.free_port(), bench.free_port()
            ports.append(port)
            command = serve_command(
                port, grpc_port, "--model-dir", str(directory), "--model-name", directory.name
            )
            ready = f"http://127.0.0.1:{port}/v2/health/ready"
            log = work / f"single-{directory.name}.log"
            pid = stack.enter_context(bench.running(command, ready, log))
            Client(port).infer(directory.name, body)
            pids.append(pid)
        for pid in pids:
            figures.append(memory(pid))
        client = Client(ports[0])
        single = [client.infer(chosen[0].name, body) for _ in range(loaded_requests)]
    rss = [figure[0] for figure in figures]
    pss = [figure[1] for figure in figures]
    return {
        "processes": count,
        "rss_per_process_mean": statistics.mean(rss),
        "rss_per_process_min": min(rss),
        "rss_per_process_max": max(rss),
        "pss_per_process_mean": statistics.mean(pss),
        "rss_1000_extrapolated": 1000 * statistics.mean(rss),
        "pss_1000_extrapolated": 1000 * statistics.mean(pss),
        "latency_loaded": percentiles(single),
    }


MIB = 1 << 20


def report(results: dict[str, Any]) -> str:
    pool, single = results["pool"], results["single"]
    pool_1000 = pool["rss_first_model"] + 999 * pool["rss_growth_per_model"]
    lines = [
        f"Command: `{results['command']}`; {results['date']}; {results['machine']}.",
        "",
        "| | per model | 1,000 models |",
        "|---|---|---|",
        f"| pool: RSS growth per loaded model ({pool['models']} loaded) | "
        f"{pool['rss_growth_per_model'] / 1024:.1f} KiB | {pool_1000 / MIB:.0f} MiB "
        f"(one process: {pool['rss_started'] / MIB:.0f} MiB at start, "
        f"{pool['rss_first_model'] / MIB:.0f} MiB with one model, extrapolated) |",
        f"| pool: PSS growth per loaded model | {pool['pss_growth_per_model'] / 1024:.1f} KiB | |",
        f"| the model's joblib file | {pool['model_file_bytes_mean'] / 1024:.1f} KiB | |",
        f"| what the pool charges it (objects' bytes) | "
        f"{pool['charged_bytes_mean'] / 1024:.1f} KiB | |",
        f"| one process per model ({single['processes']} running): RSS per process | "
        f"{single['rss_per_process_mean'] / MIB:.1f} MiB "
        f"({single['rss_per_process_min'] / MIB:.1f} to {single['rss_per_process_max'] / MIB:.1f}) "
        f"| {single['rss_1000_extrapolated'] / 2**30:.1f} GiB |",
        f"| one process per model: PSS per process | "
        f"{single['pss_per_process_mean'] / MIB:.1f} MiB | "
        f"{single['pss_1000_extrapolated'] / 2**30:.1f} GiB |",
        "",
        "| request (V2 REST, one row, one at a time) | p50 | p99 | requests |",
        "|---|---|---|---|",
    ]
    for figures, label in (
        (pool["latency_loaded"], "pool: a loaded model (ten in turn)"),
        (pool["latency_cold_first"], "pool: first request, never loaded (fetch and load)"),
        (pool["latency_cold_reload"], "pool: first request after an unload (load from cache)"),
        (single["latency_loaded"], "one process per model: its model"),
    ):
        lines.append(
            f"| {label} | {figures['p50_ms']:.2f} ms | {figures['p99_ms']:.2f} ms | "
            f"{figures['count']} |"
        )
    scrapes = pool["scrapes"]
    lines += [
        "",
        f"/metrics with {pool['models']} models loaded: {scrapes[0]['bytes'] / MIB:.1f} MiB, "
        f"{scrapes[0]['lines']} lines; "
        + ", ".join(f"{scrape['seconds']:.2f} s" for scrape in scrapes)
        + f" for three scrapes; RSS {pool['rss_last_model'] / MIB:.0f} MiB before, "
        + ", ".join(f"{scrape['rss_after'] / MIB:.0f}" for scrape in scrapes)
        + " MiB after each.",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=200, help="models in the pool")
    parser.add_argument("--single", type=int, default=12, help="single-model processes")
    parser.add_argument("--loaded-requests", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    args = parser.parse_args()
    if args.models < max(args.single, 10):
        parser.error("--models must be at least --single and 10")
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="modelkeeper-pool-bench-") as scratch:
        work = Path(scratch)
        directories, features = write_models(work / "models", args.models)
        data = load_breast_cancer().data
        body = row_body(features, data[0])
        results: dict[str, Any] = {
            "command": "python benchmarks/serving/pool.py " + " ".join(sys.argv[1:]),
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
            f"load average {os.getloadavg()[0]:.1f} at start",
        }
        results["pool"] = measure_pool(work, directories, features, body, args.loaded_requests)
        results["single"] = measure_single(
            work, directories, body, args.single, args.loaded_requests
        )
        results["duration_seconds"] = time.monotonic() - began
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=2))
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
