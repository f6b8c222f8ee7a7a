"""The linear runtime against the estimator's own path: the same server, model and load.

The benchmarks' logistic regression (StandardScaler, then LogisticRegression) is served
by `modelkeeper serve` twice over, once as it is (the linear runtime, numpy) and once
with the runtime choice told to skip the linear runtime (scikit-learn's `predict` and
`predict_proba`, as before it), in alternating pairs so that a slow spell of the
machine does not fall on one side only; grpc_load.py drives 1-row gRPC calls as run.py
does.

    python benchmarks/serving/linear_ab.py --pairs 3 --concurrency 8,16

Prints, per pair, side and level: requests per second, p99 and the CPU milliseconds the
server's processes used per call; first, the CPU microseconds of one model call on either
path, in this process (`Runtime.predict`, labels only and with probabilities).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run  # noqa: E402 (the benchmark's own helpers, beside this file)

SIDES = ("linear", "estimator")


def serve_on_the_estimators_path(argv: list[str]) -> int:
    """`modelkeeper serve` with the linear runtime never chosen (workers fork after loading)."""
    from modelkeeper.cli import main
    from modelkeeper.serving.runtime import LinearRuntime

    LinearRuntime.of = classmethod(lambda cls, estimator, schema: None)  # type: ignore[method-assign,assignment]
    return main(argv)


def model_call_microseconds(trained: run.Trained, keeper: Path, calls: int = 2000) -> None:
    """One model call's CPU time on either path, in this process, as the server makes it."""
    from modelkeeper.serving.frames import FeatureBatch
    from modelkeeper.serving.runtime import JoblibRuntime, LinearRuntime, load_model_dir

    model = load_model_dir(keeper, "sklearn")
    assert isinstance(model.runtime, LinearRuntime)
    runtimes = {
        "linear": model.runtime,
        "estimator": JoblibRuntime(trained.estimator, model.schema),
    }
    for rows in (1, 64):
        numeric = next(run.request_rows(trained, rows)).astype("float64")
        batch = FeatureBatch(numeric=numeric, categorical=numeric[:, :0].astype(object))
        for side, runtime in runtimes.items():
            for probabilities in (False, True):
                runtime.predict(batch, probabilities)
                started = time.process_time()
                for _ in range(calls):
                    runtime.predict(batch, probabilities)
                spent = (time.process_time() - started) / calls * 1e6
                asked = "with probabilities" if probabilities else "labels only"
                print(f"model call, {side:9}, {rows} row(s), {asked}: {spent:.1f} CPU µs")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", default="8,16")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rows", type=int, default=1, help="rows per request")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="modelkeeper-linear-ab-") as scratch:
        root = Path(scratch)
        trained = next(model for model in run.train() if model.name == "logistic")
        keeper, _, _ = run.write_model_dirs(trained, root / "model")
        requests = root / "requests.bin"
        run.write_grpc_requests(trained, requests, args.rows)
        model_call_microseconds(trained, keeper)
        for pair in range(args.pairs):
            for side in SIDES if pair % 2 == 0 else SIDES[::-1]:
                port, grpc_port = run.free_port(), run.free_port()
                serve = ["serve", "--model-dir", str(keeper), "--model-name", trained.name,
                         "--host", "127.0.0.1", "--http-port", str(port),
                         "--grpc-port", str(grpc_port), "--workers", str(args.workers)]  # fmt: skip
                command = (
                    [sys.executable, "-m", "modelkeeper.cli", *serve]
                    if side == "linear"
                    else [sys.executable, __file__, "--serve", *serve]
                )
                ready = f"http://127.0.0.1:{port}/v2/health/ready"
                with run.running(command, ready, root / f"{side}-{pair}.log") as group:
                    target = f"127.0.0.1:{grpc_port}"
                    run.grpc_load(target, requests, 8, 1.0)  # warm-up
                    for level in (int(value) for value in args.concurrency.split(",")):
                        before = run.group_cpu_seconds(group)
                        figures = run.grpc_load(target, requests, level, args.seconds)
                        cpu = run.group_cpu_seconds(group) - before
                        print(
                            f"pair {pair}, {side:9}, {args.rows} row(s), concurrency {level}: "
                            f"{figures['requests_per_second']:.0f} req/s, "
                            f"p99 {figures['p99_ms']:.2f} ms, "
                            f"{cpu * 1000 / max(1, int(figures['requests'])):.3f} CPU ms/req, "
                            f"load average {run.load_average():.2f}",
                            flush=True,
                        )
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        sys.exit(serve_on_the_estimators_path(sys.argv[2:]))
    sys.exit(main())
