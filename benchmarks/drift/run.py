"""What one DriftMonitor evaluation costs the operator, apart from Prometheus' own time.

One evaluation of 50 features of 20 bins each (40 numeric, 10 categorical): parse the
three Prometheus JSON answers (800 bucket series, 200 category series, 50 missing
series) exactly as the operator receives them, align them with the profile, compute
the statistics and build the whole status. CPU time (time.process_time), median of
rounds. Then the throughput that follows: 100 monitors evaluated every 30 seconds.
The peer: the statistics alone computed per feature with scipy in a loop
(scipy.spatial.distance.jensenshannon), which is what a straightforward implementation
would call.

    .venv/bin/python benchmarks/drift/run.py
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
from scipy.spatial.distance import jensenshannon

from modelkeeper.api.driftmonitor import DriftMonitorSpec, DriftMonitorStatus
from modelkeeper.drift import statistics as drift_statistics
from modelkeeper.drift.queries import Observed, align
from modelkeeper.drift.state import evaluate
from modelkeeper.profile import CategoricalProfile, NumericProfile, Profile
from modelkeeper.prometheus.client import parse_answer

NUMERIC, CATEGORICAL, BINS = 40, 10, 20
ROUNDS, REPEATS = 7, 50
MONITORS, INTERVAL_SECONDS = 100, 30
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def build_profile(generator: np.random.Generator) -> Profile:
    numeric = [
        NumericProfile(
            name=f"n{i}",
            edges=np.linspace(0, 10, BINS - 1).tolist(),
            counts=[*generator.integers(100, 1000, BINS - 1).tolist(), 0],
            missing=0,
            mean=5.0,
            std=2.9,
        )
        for i in range(NUMERIC)
    ]
    categorical = [
        CategoricalProfile(
            name=f"c{i}",
            categories=[f"v{j}" for j in range(BINS - 1)],
            counts=generator.integers(100, 1000, BINS).tolist(),
            missing=0,
        )
        for i in range(CATEGORICAL)
    ]
    return Profile(rows=10**6, features=[*numeric, *categorical])


def vector(series: list[tuple[dict[str, str], float]]) -> bytes:
    """An instant query's answer as Prometheus writes it."""
    result = [
        {"metric": labels, "value": [NOW.timestamp(), repr(float(value))]}
        for labels, value in series
    ]
    return json.dumps(
        {"status": "success", "data": {"resultType": "vector", "result": result}}
    ).encode()


def answers(profile: Profile, generator: np.random.Generator) -> tuple[bytes, bytes, bytes]:
    buckets, categories, missing = [], [], []
    for feature in profile.features:
        live = generator.integers(50, 500, BINS).astype(float)
        if isinstance(feature, NumericProfile):
            cumulative = np.cumsum(live)
            les = [*(repr(edge) for edge in feature.edges), "+Inf"]
            buckets += [
                ({"feature": feature.name, "le": le}, c)
                for le, c in zip(les, cumulative, strict=True)
            ]
        else:
            names = [*feature.categories, "__other__"]
            categories += [
                ({"feature": feature.name, "category": n}, c)
                for n, c in zip(names, live, strict=True)
            ]
        missing.append(({"feature": feature.name}, 3.0))
    return vector(buckets), vector(categories), vector(missing)


def cpu_ms(work: Callable[[], object]) -> float:
    """Median over rounds of the CPU milliseconds one call takes."""
    work()  # warm caches and imports
    per_call = []
    for _ in range(ROUNDS):
        started = time.process_time()
        for _ in range(REPEATS):
            work()
        per_call.append((time.process_time() - started) / REPEATS * 1000)
    return statistics.median(per_call)


def main() -> None:
    generator = np.random.default_rng(1)
    profile = build_profile(generator)
    bodies = answers(profile, generator)
    specs = {
        "PSI, Fixed (the default)": DriftMonitorSpec(deployment="d"),
        "JensenShannon, SampleSizeAware, BenjaminiHochberg": DriftMonitorSpec.model_validate(
            {
                "deployment": "d",
                "byType": {
                    kind: {
                        "method": "JensenShannon",
                        "mode": "SampleSizeAware",
                        "warning": 0.05,
                        "critical": 0.01,
                    }
                    for kind in ("numeric", "categorical")
                },
                "multipleTesting": {"correction": "BenjaminiHochberg"},
            }
        ),
    }
    previous = DriftMonitorStatus()

    def parse() -> object:
        return [parse_answer(200, body) for body in bodies]

    samples = [parse_answer(200, body) for body in bodies]
    features, misaligned = align(profile, *samples)
    observed = Observed(features=features, misaligned=misaligned)

    def judge(spec: DriftMonitorSpec) -> Callable[[], object]:
        return lambda: evaluate(spec, previous, profile, "v1", observed, NOW, 1)

    def whole(spec: DriftMonitorSpec) -> Callable[[], object]:
        def run() -> object:
            parsed = [parse_answer(200, body) for body in bodies]
            counts, off = align(profile, *parsed)
            seen = Observed(features=counts, misaligned=off)
            return evaluate(spec, previous, profile, "v1", seen, NOW, 1)

        return run

    pairs = [
        (np.asarray(feature.counts, dtype=np.float64), features[feature.name].bins)
        for feature in profile.features
    ]

    def scipy_loop() -> object:
        return [jensenshannon(reference, live, base=2) for reference, live in pairs]

    def own_loop() -> object:
        return [drift_statistics.jensen_shannon(reference, live) for reference, live in pairs]

    rows = [("parse the 3 answers (1,050 series)", cpu_ms(parse))]
    rows.append(("align with the profile", cpu_ms(lambda: align(profile, *samples))))
    for name, spec in specs.items():
        rows.append((f"statistics and status, {name}", cpu_ms(judge(spec))))
        rows.append((f"whole evaluation, {name}", cpu_ms(whole(spec))))
    rows.append(("Modelkeeper's jensen_shannon per feature, 50 calls", cpu_ms(own_loop)))
    rows.append(("peer: scipy jensenshannon per feature, 50 calls", cpu_ms(scipy_loop)))
    print(f"50 features x {BINS} bins; CPU ms per call, median of {ROUNDS} rounds of {REPEATS}")
    print("| step | CPU ms |")
    print("| --- | --- |")
    for name, ms in rows:
        print(f"| {name} | {ms:.2f} |")
    worst = max(ms for name, ms in rows if name.startswith("whole"))
    per_interval = worst * MONITORS
    print(
        f"\n{MONITORS} monitors every {INTERVAL_SECONDS} s, the costlier configuration: "
        f"{per_interval:.0f} ms CPU per {INTERVAL_SECONDS} s = "
        f"{per_interval / (INTERVAL_SECONDS * 1000):.1%} of one core"
    )


if __name__ == "__main__":
    main()
