"""Side-by-side serving benchmark: Modelkeeper's scoring server against MLServer 1.7.1.

One run, one machine: the same scikit-learn models (a 100-tree random forest and a
logistic regression on scikit-learn's bundled breast-cancer data), the same model
files, the same request bodies (one row per request, one 2-D FP32 tensor, V2 REST),
the same number of worker processes, driven by the same load generator (wrk, one
thread) at several concurrency levels. Servers run one after the other, never
together. MLServer is installed from PyPI into its own virtual environment under
~/.cache/modelkeeper/bench on first use.

    python benchmarks/serving/run.py            # full size, about 15 minutes
    python benchmarks/serving/run.py --quick    # CI size, about 3 minutes

With --protocols it compares protocols instead: each server's V2 gRPC beside its JSON
REST, Modelkeeper against MLServer, with 1-row and 64-row requests (one [rows, features]
FP32 tensor; gRPC's values in typed `contents`, the same message bytes to both servers),
REST driven by wrk and gRPC by grpc_load.py (a closed-loop client of its own process,
a connection per caller), each server with its batching off and on (Modelkeeper's
matched to MLServer's: up to 64 requests, waiting up to 2 ms):

    python benchmarks/serving/run.py --protocols --quick --models logistic

Prints markdown tables (paste them into docs/benchmarks.md) and writes the raw
figures as JSON (--out).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelkeeper.protocol import grpc_predict_v2_pb2 as pb
from modelkeeper.serving.runtime import save_model_dir
from modelkeeper.serving.schema import ModelSchema

HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("MODELKEEPER_CACHE", Path.home() / ".cache" / "modelkeeper")) / "bench"
MLSERVER_REQUIREMENTS = [
    "mlserver==1.7.1",
    "mlserver-sklearn==1.7.1",
    "uvloop<0.22",  # newer uvloop breaks MLServer 1.7.1's worker pool at start
    f"scikit-learn=={sklearn.__version__}",  # the same pickles must load in both
    f"joblib=={joblib.__version__}",
    f"numpy=={np.__version__}",
]
MAX_BATCH_SIZE = 64
MLSERVER_MAX_BATCH_TIME = 0.002  # seconds; its adaptive batching waits up to this long
BODIES = 256


@dataclass
class Trained:
    name: str
    estimator: Any
    frame: Any  # the training DataFrame with a `target` column
    features: list[str]


@dataclass
class Measurement:
    server: str
    model: str
    concurrency: int
    round: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    cpu_ms_per_request: float
    load_average: float
    rows_per_model_call: float | None = None  # Modelkeeper's batching, from its own metrics
    protocol: str = "rest"  # rest (JSON, wrk) or grpc (grpc_load.py)
    rows: int = 1  # rows per request


@dataclass
class Results:
    date: str
    command: str
    workers: int
    rounds: int
    duration_seconds: float
    machine: str
    measurements: list[Measurement] = field(default_factory=list)
    in_process_rows_per_second: dict[str, float] = field(default_factory=dict)


def train() -> list[Trained]:
    data = load_breast_cancer(as_frame=True)
    frame = data.frame
    frame.columns = [re.sub(r"\W+", "_", str(column)).strip("_") for column in frame.columns]
    features = [column for column in frame.columns if column != "target"]
    x, y = frame[features].to_numpy(), frame["target"].to_numpy()
    forest = RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=1).fit(x, y)
    logistic = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y)
    return [
        Trained("forest", forest, frame, features),
        Trained("logistic", logistic, frame, features),
    ]


def request_rows(trained: Trained, rows: int) -> Iterator[Any]:
    """BODIES requests' rows, `rows` each, drawn from the training data (always the same)."""
    data = trained.frame[trained.features].to_numpy()
    generator = np.random.default_rng(0)
    for _ in range(BODIES):
        yield data[generator.integers(0, len(data), rows)].astype(np.float32)


def write_bodies(trained: Trained, path: Path, rows: int = 1) -> None:
    """One request body per line: `rows` rows as one [rows, features] FP32 tensor."""
    with path.open("w") as out:
        for matrix in request_rows(trained, rows):
            body = {
                "inputs": [
                    {
                        "name": "input-0",
                        "shape": list(matrix.shape),
                        "datatype": "FP32",
                        "data": matrix.ravel().tolist(),
                    }
                ]
            }
            out.write(json.dumps(body) + "\n")


def write_grpc_requests(trained: Trained, path: Path, rows: int) -> None:
    """The same requests as `write_bodies` as serialized ModelInferRequests, each after its
    4-byte little-endian length (grpc_load.py's input)."""
    with path.open("wb") as out:
        for matrix in request_rows(trained, rows):
            request = pb.ModelInferRequest(model_name=trained.name)
            tensor = request.inputs.add(name="input-0", datatype="FP32", shape=list(matrix.shape))
            tensor.contents.fp32_contents.extend(matrix.ravel().tolist())
            message = request.SerializeToString()
            out.write(struct.pack("<I", len(message)) + message)


def write_model_dirs(trained: Trained, root: Path) -> tuple[Path, Path, Path]:
    """A Modelkeeper model directory and two MLServer repositories (batching off, on), one file."""
    schema = ModelSchema.model_validate(
        {
            "inputs": [{"name": name, "type": "numeric"} for name in trained.features],
            "output": {"type": "classification"},
        }
    )
    keeper = root / "modelkeeper"
    save_model_dir(keeper, trained.estimator, schema, trained.frame, target="target")
    repositories = []
    for batching in (False, True):
        repository = root / ("mlserver-batching" if batching else "mlserver")
        model_dir = repository / trained.name
        model_dir.mkdir(parents=True)
        shutil.copy(keeper / "model.joblib", model_dir / "model.joblib")
        model_settings: dict[str, Any] = {
            "name": trained.name,
            "implementation": "mlserver_sklearn.SKLearnModel",
            "parameters": {"uri": "./model.joblib"},
        }
        if batching:
            model_settings |= {
                "max_batch_size": MAX_BATCH_SIZE,
                "max_batch_time": MLSERVER_MAX_BATCH_TIME,
            }
        (model_dir / "model-settings.json").write_text(json.dumps(model_settings))
        repositories.append(repository)
    return keeper, repositories[0], repositories[1]


def ensure_mlserver() -> Path:
    venv = CACHE / "mlserver-venv"
    executable = venv / "bin" / "mlserver"
    marker = venv / "requirements.txt"
    wanted = "\n".join(MLSERVER_REQUIREMENTS)
    if executable.exists() and marker.exists() and marker.read_text() == wanted:
        return executable
    print(f"installing MLServer into {venv} ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", *MLSERVER_REQUIREMENTS], check=True
    )
    marker.write_text(wanted)
    return executable


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def batch_totals(url: str) -> tuple[float, float]:
    """Modelkeeper's `modelkeeper_batch_size` sum and count: rows scored and model calls."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        text = response.read().decode()
    totals = []
    for name in ("modelkeeper_batch_size_sum", "modelkeeper_batch_size_count"):
        match = re.search(rf"^{name}{{[^}}]*}} (\S+)$", text, re.MULTILINE)
        if match is None:
            raise RuntimeError(f"no {name} in {url}/metrics")
        totals.append(float(match.group(1)))
    return totals[0], totals[1]


def group_cpu_seconds(group: int) -> float:
    """CPU time (user + system) used so far by the processes of one process group."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        if int(fields[2]) == group:  # pgrp; utime and stime follow at 11 and 12
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


@contextmanager
def running(
    command: list[str], ready_url: str, log: Path, env: dict[str, str] | None = None
) -> Iterator[int]:
    """Run a server in its own process group until the block ends; wait for readiness first."""
    with log.open("w") as output:
        process = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            cwd=log.parent,  # MLServer writes .metrics/ and .envs/ where it runs
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited; see {log}:\n{log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(ready_url, timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command[0]} not ready; see {log}")
            time.sleep(0.2)
        yield process.pid
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(url: str, bodies: Path, path: str, concurrency: int, seconds: float) -> dict[str, float]:
    output = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{concurrency}",
            f"-d{round(seconds)}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            str(HERE / "post.lua"),
            url,
            "--",
            str(bodies),
            path,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout

    def latency(percent: str) -> float:
        match = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        if match is None:
            raise RuntimeError(f"no {percent}% latency in wrk output:\n{output}")
        return float(match.group(1)) * UNITS[match.group(2)]

    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if rate is None or total is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    errors = int(non_2xx.group(1)) if non_2xx else 0
    errors += sum(int(count) for count in socket_errors.groups()) if socket_errors else 0
    return {
        "requests_per_second": float(rate.group(1)),
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "requests": int(total.group(1)),
        "errors": errors,
    }


def in_process_limit(trained: Trained, seconds: float) -> float:
    """Rows per second of predict on 32-row batches, one core, no HTTP: the ceiling."""
    rows = trained.frame[trained.features].to_numpy()[:32]
    scored, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        trained.estimator.predict(rows)
        scored += len(rows)
    return scored / (time.perf_counter() - started)


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


@dataclass
class Prepared:
    """One model's files and request bodies for every server."""

    trained: Trained
    keeper: Path
    mlserver_plain: Path
    mlserver_batching: Path
    bodies: Path


def server_command(
    server: str, prepared: Prepared, port: int, workers: int, mlserver: Path, grpc_port: int = 0
) -> list[str]:
    """The command line of one server configuration, on `port` (and gRPC on `grpc_port`;
    0: none for Modelkeeper, any free one for MLServer), with `workers` processes."""
    if server.startswith("modelkeeper"):
        batching = ["--max-batch-size", str(MAX_BATCH_SIZE)]
        if server.endswith("batching"):
            batching = KEEPER_BATCHING
        return [
            sys.executable, "-m", "modelkeeper.cli", "serve",
            "--model-dir", str(prepared.keeper), "--model-name", prepared.trained.name,
            "--host", "127.0.0.1", "--http-port", str(port), "--grpc-port", str(grpc_port),
            "--workers", str(workers), *batching,
            "--drift-counting", "false" if server.endswith("no-drift") else "true",
        ]  # fmt: skip
    repository = (
        prepared.mlserver_batching if server.endswith("batching") else prepared.mlserver_plain
    )
    settings = {
        "debug": False,
        "host": "127.0.0.1",
        "http_port": port,
        "grpc_port": grpc_port or free_port(),
        "metrics_port": free_port(),
        "parallel_workers": workers,
    }
    (repository / "settings.json").write_text(json.dumps(settings))
    return [str(mlserver), "start", str(repository)]


def measure(args: argparse.Namespace, results: Results) -> None:
    ensure_mlserver()
    with tempfile.TemporaryDirectory(prefix="modelkeeper-bench-") as scratch:
        root = Path(scratch)
        prepared = []
        for trained in train():
            results.in_process_rows_per_second[trained.name] = in_process_limit(trained, 2.0)
            model_root = root / trained.name
            keeper, plain, batching = write_model_dirs(trained, model_root)
            bodies = model_root / "bodies.jsonl"
            write_bodies(trained, bodies)
            prepared.append(Prepared(trained, keeper, plain, batching, bodies))
        # Rounds alternate the order of the servers, so that a slow spell of the
        # machine does not always fall on the same one; the report takes medians.
        for round_number in range(args.rounds):
            order = args.servers if round_number % 2 == 0 else args.servers[::-1]
            for model in prepared:
                for server in order:
                    log = root / f"{server}-{model.trained.name}-{round_number}.log"
                    for measurement in measure_server(server, model, round_number, args, log):
                        results.measurements.append(measurement)
                        print(progress(measurement), file=sys.stderr)


def measure_server(
    server: str, model: Prepared, round_number: int, args: argparse.Namespace, log: Path
) -> Iterator[Measurement]:
    """Start one server, warm it up, and drive it at each concurrency level in turn."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = server_command(server, model, port, args.workers, ensure_mlserver())
    path = f"/v2/models/{model.trained.name}/infer"
    with running(command, f"{url}/v2/health/ready", log) as group:
        wrk(url, model.bodies, path, max(args.concurrency), 2.0)  # warm-up
        keeper = server.startswith("modelkeeper")
        for concurrency in args.concurrency:
            cpu_before = group_cpu_seconds(group)
            rows_before, calls_before = batch_totals(url) if keeper else (0.0, 0.0)
            figures = wrk(url, model.bodies, path, concurrency, args.seconds)
            cpu = group_cpu_seconds(group) - cpu_before
            rows, calls = batch_totals(url) if keeper else (0.0, 0.0)
            yield Measurement(
                server=server,
                model=model.trained.name,
                concurrency=concurrency,
                round=round_number,
                cpu_ms_per_request=cpu * 1000 / max(1, int(figures["requests"])),
                load_average=load_average(),
                rows_per_model_call=(rows - rows_before) / (calls - calls_before)
                if keeper
                else None,
                **figures,
            )


PROTOCOL_ROWS = (1, 64)
PROTOCOL_SERVERS = ["modelkeeper", "modelkeeper-batching", "mlserver", "mlserver-batching"]
# Modelkeeper's batching configuration matched to MLServer's: MLServer's max_batch_size
# counts requests and Modelkeeper's rows, so 64 requests of the largest size; both wait
# up to MLSERVER_MAX_BATCH_TIME for a batch that is not full.
KEEPER_BATCHING = [
    "--max-batch-size", str(MAX_BATCH_SIZE * max(PROTOCOL_ROWS)),
    "--max-batch-wait-ms", f"{MLSERVER_MAX_BATCH_TIME * 1000:g}",
]  # fmt: skip


def grpc_load(target: str, requests: Path, concurrency: int, seconds: float) -> dict[str, float]:
    output = subprocess.run(
        [
            sys.executable,
            str(HERE / "grpc_load.py"),
            target,
            str(requests),
            "--concurrency",
            str(concurrency),
            "--seconds",
            str(seconds),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    figures: dict[str, float] = json.loads(output)
    return figures


def measure_protocols(args: argparse.Namespace, results: Results) -> None:
    """Every server over REST and gRPC, 1-row and 64-row requests, at each concurrency."""
    if any(server.startswith("mlserver") for server in args.servers):
        ensure_mlserver()
    with tempfile.TemporaryDirectory(prefix="modelkeeper-bench-") as scratch:
        root = Path(scratch)
        for trained in train():
            if args.models and trained.name not in args.models:
                continue
            model_root = root / trained.name
            keeper, plain, batching = write_model_dirs(trained, model_root)
            prepared = Prepared(trained, keeper, plain, batching, model_root / "bodies-1.jsonl")
            files = {}
            for rows in PROTOCOL_ROWS:
                write_bodies(trained, model_root / f"bodies-{rows}.jsonl", rows)
                write_grpc_requests(trained, model_root / f"requests-{rows}.bin", rows)
                files[rows] = (
                    model_root / f"bodies-{rows}.jsonl",
                    model_root / f"requests-{rows}.bin",
                )
            for round_number in range(args.rounds):
                order = args.servers if round_number % 2 == 0 else args.servers[::-1]
                for server in order:
                    log = root / f"{server}-{trained.name}-{round_number}.log"
                    for measurement in measure_protocols_of(
                        server, prepared, files, round_number, args, log
                    ):
                        results.measurements.append(measurement)
                        print(progress(measurement), file=sys.stderr)


def measure_protocols_of(
    server: str,
    model: Prepared,
    files: dict[int, tuple[Path, Path]],
    round_number: int,
    args: argparse.Namespace,
    log: Path,
) -> Iterator[Measurement]:
    port, grpc_port = free_port(), free_port()
    url, target = f"http://127.0.0.1:{port}", f"127.0.0.1:{grpc_port}"
    mlserver = ensure_mlserver() if server.startswith("mlserver") else Path("mlserver")
    command = server_command(server, model, port, args.workers, mlserver, grpc_port)
    path = f"/v2/models/{model.trained.name}/infer"
    with running(command, f"{url}/v2/health/ready", log) as group:
        for rows in files:
            for protocol in ("rest", "grpc"):

                def drive(
                    concurrency: int, seconds: float, protocol: str = protocol, rows: int = rows
                ) -> dict[str, float]:
                    bodies, requests = files[rows]
                    if protocol == "rest":
                        return wrk(url, bodies, path, concurrency, seconds)
                    return grpc_load(target, requests, concurrency, seconds)

                drive(max(args.concurrency), 1.0)  # warm-up
                for concurrency in args.concurrency:
                    cpu_before = group_cpu_seconds(group)
                    figures = drive(concurrency, args.seconds)
                    cpu = group_cpu_seconds(group) - cpu_before
                    yield Measurement(
                        server=server,
                        model=model.trained.name,
                        concurrency=concurrency,
                        round=round_number,
                        cpu_ms_per_request=cpu * 1000 / max(1, int(figures["requests"])),
                        load_average=load_average(),
                        protocol=protocol,
                        rows=rows,
                        **figures,
                    )


def report_protocols(results: Results) -> str:
    """Per model, rows and concurrency: both protocols of both servers, with the ratios."""
    groups: dict[tuple[str, str, str, int, int], list[Measurement]] = {}
    for m in results.measurements:
        groups.setdefault((m.server, m.protocol, m.model, m.rows, m.concurrency), []).append(m)

    def median(key: tuple[str, str, str, int, int]) -> tuple[float, float, float] | None:
        group = groups.get(key)
        if not group:
            return None
        return (
            float(np.median([m.requests_per_second for m in group])),
            float(np.median([m.p99_ms for m in group])),
            float(np.median([m.cpu_ms_per_request for m in group])),
        )

    def best(server: str, protocol: str, model: str, rows: int, level: int) -> list[Any]:
        """The better of `server` with batching off and on: req/s, p99, CPU, which."""
        found = [
            [*figures, "on" if name.endswith("batching") else "off"]
            for name in (server, f"{server}-batching")
            if (figures := median((name, protocol, model, rows, level))) is not None
        ]
        return max(found) if found else [math.nan, math.nan, math.nan, "-"]

    lines = [
        f"Run {results.date}, {results.workers} worker process(es) each, "
        f"{results.duration_seconds:g} s per level, medians of {results.rounds} round(s); REST: "
        f"wrk -t1, JSON; gRPC: grpc_load.py, typed contents; machine: {results.machine}. "
        "Each server: the better of its batching on and off (in brackets).",
        "",
        "| model | rows | conc. | MK gRPC req/s | p99 ms | CPU ms/req | MK REST req/s | p99 ms "
        "| MLS gRPC req/s | p99 ms | CPU ms/req | MLS REST req/s | p99 ms | gRPC MK/MLS "
        "| p99 MK/MLS | MK gRPC/REST | MLS gRPC/REST |",
        "|" + " --- |" * 17,
    ]
    keys = sorted({(m.model, m.rows, m.concurrency) for m in results.measurements})
    for model, rows, level in keys:
        keeper_grpc = best("modelkeeper", "grpc", model, rows, level)
        keeper_rest = best("modelkeeper", "rest", model, rows, level)
        mls_grpc = best("mlserver", "grpc", model, rows, level)
        mls_rest = best("mlserver", "rest", model, rows, level)
        lines.append(
            f"| {model} | {rows} | {level} "
            f"| {keeper_grpc[0]:.0f} ({keeper_grpc[3]}) | {keeper_grpc[1]:.2f} "
            f"| {keeper_grpc[2]:.3f} | {keeper_rest[0]:.0f} ({keeper_rest[3]}) "
            f"| {keeper_rest[1]:.2f} | {mls_grpc[0]:.0f} ({mls_grpc[3]}) | {mls_grpc[1]:.2f} "
            f"| {mls_grpc[2]:.3f} | {mls_rest[0]:.0f} ({mls_rest[3]}) | {mls_rest[1]:.2f} "
            f"| {keeper_grpc[0] / mls_grpc[0]:.2f}x | {keeper_grpc[1] / mls_grpc[1]:.2f} "
            f"| {keeper_grpc[0] / keeper_rest[0]:.2f}x | {mls_grpc[0] / mls_rest[0]:.2f}x |"
        )
    lines += [
        "",
        "CPU ms the servers' processes used per gRPC call, each configuration against its like:",
        "",
        "| model | rows | conc. | MK off | MLS off | MLS/MK off | MK on | MLS on | MLS/MK on |",
        "|" + " --- |" * 9,
    ]
    for model, rows, level in keys:
        cpu = {
            name: figures[2]
            for name in PROTOCOL_SERVERS
            if (figures := median((name, "grpc", model, rows, level))) is not None
        }
        if len(cpu) == len(PROTOCOL_SERVERS):
            off, on = (
                cpu["mlserver"] / cpu["modelkeeper"],
                cpu["mlserver-batching"] / cpu["modelkeeper-batching"],
            )
            lines.append(
                f"| {model} | {rows} | {level} | {cpu['modelkeeper']:.3f} | {cpu['mlserver']:.3f} "
                f"| {off:.2f}x | {cpu['modelkeeper-batching']:.3f} "
                f"| {cpu['mlserver-batching']:.3f} | {on:.2f}x |"
            )
    lines += [
        "",
        "All measurements:",
        "",
        "| round | server | protocol | model | rows | conc. | req/s | p50 ms | p99 ms "
        "| CPU ms/req | errors | load avg |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for m in results.measurements:
        lines.append(
            f"| {m.round} | {m.server} | {m.protocol} | {m.model} | {m.rows} | {m.concurrency} "
            f"| {m.requests_per_second:.0f} | {m.p50_ms:.2f} | {m.p99_ms:.2f} "
            f"| {m.cpu_ms_per_request:.3f} | {m.errors} | {m.load_average:.2f} |"
        )
    return "\n".join(lines)


def progress(m: Measurement) -> str:
    return (
        f"round {m.round} {m.server:22} {m.protocol:4} rows={m.rows:<3} {m.model:9} "
        f"c={m.concurrency:<3} "
        f"{m.requests_per_second:9.1f} req/s  p50 {m.p50_ms:7.2f} ms  p99 {m.p99_ms:7.2f} ms  "
        f"cpu {m.cpu_ms_per_request:6.3f} ms/req  errors {m.errors}"
    )


def medians(results: Results) -> dict[tuple[str, str, int], Measurement]:
    """Per server, model and concurrency: the median of each figure over the rounds."""
    groups: dict[tuple[str, str, int], list[Measurement]] = {}
    for m in results.measurements:
        groups.setdefault((m.server, m.model, m.concurrency), []).append(m)
    return {
        key: Measurement(
            server=key[0],
            model=key[1],
            concurrency=key[2],
            round=-1,
            requests_per_second=float(np.median([m.requests_per_second for m in group])),
            p50_ms=float(np.median([m.p50_ms for m in group])),
            p99_ms=float(np.median([m.p99_ms for m in group])),
            requests=sum(m.requests for m in group),
            errors=sum(m.errors for m in group),
            cpu_ms_per_request=float(np.median([m.cpu_ms_per_request for m in group])),
            load_average=float(np.median([m.load_average for m in group])),
        )
        for key, group in groups.items()
    }


def report(results: Results) -> str:
    """Markdown tables: both servers side by side per model and concurrency, with ratios."""
    by_key = medians(results)
    models = list(dict.fromkeys(m.model for m in results.measurements))
    levels = sorted({m.concurrency for m in results.measurements})
    speed = [
        "| model | conc. | Modelkeeper req/s | p50 ms | p99 ms | MLServer best req/s (batching) "
        "| p50 ms | p99 ms | throughput MK/MLS | p99 MK/MLS |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    cost = [
        "| model | conc. | Modelkeeper CPU ms/req | MLServer CPU ms/req (same run) | CPU MLS/MK "
        "| Modelkeeper without drift counting CPU ms/req | drift counting: CPU | drift counting: "
        "req/s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for model in models:
        for level in levels:
            keeper = by_key.get(("modelkeeper", model, level))
            peers = [by_key.get((name, model, level)) for name in ("mlserver", "mlserver-batching")]
            peers = [peer for peer in peers if peer is not None]
            if keeper is None or not peers:
                continue
            best = max(peers, key=lambda peer: peer.requests_per_second)
            batching = "on" if best.server.endswith("batching") else "off"
            speed.append(
                f"| {model} | {level} | {keeper.requests_per_second:.0f} | {keeper.p50_ms:.2f} "
                f"| {keeper.p99_ms:.2f} | {best.requests_per_second:.0f} ({batching}) "
                f"| {best.p50_ms:.2f} | {best.p99_ms:.2f} "
                f"| {keeper.requests_per_second / best.requests_per_second:.2f}x "
                f"| {keeper.p99_ms / best.p99_ms:.2f} |"
            )
            plain = by_key.get(("modelkeeper-no-drift", model, level))
            drift_cpu = drift_rate = plain_cpu = "n/a"
            if plain is not None:
                plain_cpu = f"{plain.cpu_ms_per_request:.3f}"
                drift_cpu = f"{(keeper.cpu_ms_per_request / plain.cpu_ms_per_request - 1):+.1%}"
                drift_rate = f"{(keeper.requests_per_second / plain.requests_per_second - 1):+.1%}"
            cost.append(
                f"| {model} | {level} | {keeper.cpu_ms_per_request:.3f} "
                f"| {best.cpu_ms_per_request:.3f} "
                f"| {best.cpu_ms_per_request / keeper.cpu_ms_per_request:.2f}x "
                f"| {plain_cpu} | {drift_cpu} | {drift_rate} |"
            )
    lines = [
        f"Run {results.date}, {results.workers} worker process(es) each, "
        f"{results.duration_seconds:g} s per level, wrk -t1, medians of {results.rounds} "
        f"round(s); machine: {results.machine}.",
        "",
        "Throughput and latency (MLServer: the better of batching on and off at each level):",
        "",
        *speed,
        "",
        "CPU time the server's processes used per request (less sensitive to other load on "
        "the machine than throughput):",
        "",
        *cost,
        "",
        "All measurements:",
        "",
        "| round | server | model | conc. | req/s | p50 ms | p99 ms | CPU ms/req "
        "| rows per model call | errors | load avg |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for m in results.measurements:
        lines.append(
            f"| {m.round} | {m.server} | {m.model} | {m.concurrency} "
            f"| {m.requests_per_second:.0f} | {m.p50_ms:.2f} | {m.p99_ms:.2f} "
            f"| {m.cpu_ms_per_request:.3f} "
            f"| {'' if m.rows_per_model_call is None else f'{m.rows_per_model_call:.1f}'} "
            f"| {m.errors} | {m.load_average:.2f} |"
        )
    lines += ["", "In-process batched predict (32 rows per call, one core, no HTTP):", ""]
    for model, rate in results.in_process_rows_per_second.items():
        lines.append(f"- {model}: {rate:,.0f} rows/s")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="CI size: 2 levels, 3 s each")
    parser.add_argument("--workers", type=int, default=2, help="worker processes per server")
    parser.add_argument("--seconds", type=float, help="duration per concurrency level")
    parser.add_argument("--rounds", type=int, help="runs of every server, medians reported")
    parser.add_argument("--concurrency", type=lambda text: [int(v) for v in text.split(",")])
    parser.add_argument(
        "--servers",
        type=lambda text: text.split(","),
        default=["modelkeeper", "modelkeeper-no-drift", "mlserver", "mlserver-batching"],
    )
    parser.add_argument("--out", type=Path, default=Path("benchmark-serving.json"))
    parser.add_argument(
        "--protocols",
        action="store_true",
        help="compare V2 gRPC and JSON REST (1-row and 64-row requests) instead",
    )
    parser.add_argument(
        "--models", type=lambda text: text.split(","), help="only these (forest, logistic)"
    )
    args = parser.parse_args()
    if args.protocols and args.servers == parser.get_default("servers"):
        args.servers = PROTOCOL_SERVERS
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop servers on the way out
    if args.concurrency is None:
        if args.protocols:
            args.concurrency = [8, 16, 32]
        else:
            args.concurrency = [8, 32] if args.quick else [1, 8, 32, 64]
    if args.seconds is None:
        args.seconds = 3.0 if args.quick else 10.0
    if args.rounds is None:
        args.rounds = 1 if args.quick else 3
    if shutil.which("wrk") is None:
        print("wrk is needed: apt-get install wrk", file=sys.stderr)
        return 2
    results = Results(
        date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        command=" ".join(["python", *sys.argv]),
        workers=args.workers,
        rounds=args.rounds,
        duration_seconds=args.seconds,
        machine=f"{os.cpu_count()} cores, load average before {load_average():.2f}",
    )
    if args.protocols:
        measure_protocols(args, results)
    else:
        measure(args, results)
    args.out.write_text(json.dumps(asdict(results), indent=2))
    print(report_protocols(results) if args.protocols else report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
