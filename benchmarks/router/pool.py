"""One router for a pool's families against one router per Deployment, in the same run.

On a fresh control plane of the test ground, N families (Deployments) are served by one
pool of two real scoring servers (`modelkeeper serve --pool`, scikit-learn's logistic
regression on the breast-cancer data, every version loaded before measuring). Each
family has its own split: the canary takes 0, 10, 20, 25, 50, 75 or 90 percent, in turn,
and every fifth family also mirrors half its requests to a shadow. The same families are
routed two ways, one after the other in each round:

- pool:           one `modelkeeper route --pool`, following the N catalogue ConfigMaps
                  and the servers' EndpointSlices through the API;
- per-deployment: N `modelkeeper route --config` processes, one per family, as the
                  operator runs today, each with its family's routing config and the
                  two servers as static endpoints.

The backends are the same processes in both, and each router names the version it
chose in the path, so the difference measured is the routers'. The load is a closed
loop of C clients in this process (the router's own HTTP client, so that the load
generator costs little), sending one row per request to the families in turn. For each
family, the realised split is the share of its answers whose `model_version` is the
canary, against the canary's weight; the shadow's share is the pool router's mirror
count against the family's requests. Throughput, p50 and p99 are the client's; router
CPU per request and RSS come from /proc (all N processes for per-deployment). Every
figure is the median of the rounds.

    python -m benchmarks.router.pool                  # 20 families, about 4 minutes
    python -m benchmarks.router.pool --families 50    # about 7 minutes

Prints a markdown table (for docs/benchmarks.md) and writes the raw figures as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
import uvloop

from benchmarks.router.run import bench
from modelkeeper.api.pool import PooledFamily, pool_service
from modelkeeper.router.catalogue import family_config
from modelkeeper.router.config import Endpoint
from modelkeeper.router.upstream import ConnectionPool
from modelkeeper.serving.runtime import save_model_dir
from modelkeeper.serving.schema import ModelSchema
from tests.ground.controlplane import ControlPlane
from tests.ground.processes import free_port
from tests.support.pools import family as pooled_family
from tests.support.pools import owned_catalogues, pooled_version

REPO = Path(__file__).resolve().parents[2]
POOL = "bench"
NAMESPACE = "bench"
CANARY_SHARES = (0, 10, 20, 25, 50, 75, 90)
SHADOW_EVERY = 5
MIRROR_PERCENT = 50
SERVER_HOSTS = ("127.64.0.1", "127.64.0.2")  # the ground's API server admits these in slices
SCENARIOS = ("pool", "per-deployment")


@dataclass
class Measurement:
    round: int
    scenario: str
    requests: int
    errors: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    router_cpu_us_per_request: float
    router_rss_mib: float
    load_average: float
    canary_share: dict[str, float]
    """Per family: the percent of its answers that came from the canary."""
    mirrored_share: dict[str, float] = field(default_factory=dict)
    """Per shadow family (pool scenario): the percent of its requests mirrored."""


@dataclass
class Results:
    date: str
    command: str
    families: int
    concurrency: int
    seconds: float
    machine: str
    weights: dict[str, int] = field(default_factory=dict)
    """Per family: the canary's weight (percent of live requests)."""
    measurements: list[Measurement] = field(default_factory=list)


VersionOf = Callable[[str, str, int], dict[str, Any]]
"""A pooled version's document from its version, role and weight."""


def families(count: int, version_of: VersionOf) -> list[PooledFamily]:
    """`count` families, each with its split; every SHADOW_EVERY-th with a shadow too."""
    made = []
    for index in range(count):
        name = f"family-{index:04d}"
        canary = CANARY_SHARES[index % len(CANARY_SHARES)]
        versions = [version_of("v1", "Stable", 100 - canary), version_of("v2", "Canary", canary)]
        mirror = 0
        if index % SHADOW_EVERY == SHADOW_EVERY - 1:
            versions.append(version_of("v3", "Shadow", 0))
            mirror = MIRROR_PERCENT
        made.append(
            pooled_family(name, name, *versions).model_copy(update={"mirror_percent": mirror})
        )
    return made


def servers_slice(endpoints: list[Endpoint]) -> dict[str, Any]:
    """The EndpointSlice of the pool's Service: both servers, ready, on port `http`."""
    (port,) = {endpoint.port for endpoint in endpoints}
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{pool_service(POOL)}-bench",
            "namespace": NAMESPACE,
            "labels": {
                "kubernetes.io/service-name": pool_service(POOL),
                "endpointslice.kubernetes.io/managed-by": "modelkeeper-benchmark",
            },
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": [endpoint.host], "conditions": {"ready": True}} for endpoint in endpoints
        ],
    }


def own_router_config(family: PooledFamily, endpoints: list[Endpoint]) -> dict[str, Any]:
    """The family's routing config for a router of its own: the pool router's, with the
    servers as static endpoints in place of the Service."""
    document = family_config(family, pool_service(POOL)).model_dump(mode="json")
    for backend in document["backends"]:
        del backend["service"]
        backend["endpoints"] = [endpoint.model_dump() for endpoint in endpoints]
    return document


def proc_stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pids: list[int]) -> float:
    ticks = sum(int(proc_stat(pid)[11]) + int(proc_stat(pid)[12]) for pid in pids)
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def fetch(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def metric_sum(url: str, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


@dataclass
class Load:
    """What a closed loop of clients got: latencies, errors, and which version answered."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    answered: Counter[tuple[str, str]] = field(default_factory=Counter)  # (family, version)
    seconds: float = 0.0


async def closed_loop(
    targets: dict[str, Endpoint], body: bytes, concurrency: int, seconds: float
) -> Load:
    """`concurrency` clients, each sending the next family's request as soon as it has the
    last answer, for `seconds`; the families in turn, so each gets the same share."""
    pool = ConnectionPool()
    names = list(targets)
    paths = {name: f"/v2/models/{name}/infer".encode() for name in names}
    headers = b"Content-Type: application/json\r\n"
    load = Load()
    turn = iter(range(1 << 62))
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + seconds

    async def client() -> None:
        while loop.time() < stop_at:
            name = names[next(turn) % len(names)]
            started = time.perf_counter()
            try:
                reply = await pool.request(targets[name], b"POST", paths[name], headers, body, 30)
            except (OSError, TimeoutError) as error:
                load.errors += 1
                print(f"{name}: {error}", file=sys.stderr)
                continue
            load.latencies.append(time.perf_counter() - started)
            if reply.status != 200:
                load.errors += 1
                continue
            load.answered[(name, orjson.loads(reply.body)["model_version"])] += 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    load.seconds = time.perf_counter() - started
    await pool.close()
    return load


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def measure(args: argparse.Namespace, results: Results, workdir: Path) -> None:
    trained = next(model for model in bench.train() if model.name == "logistic")
    schema_document = {
        "inputs": [{"name": name, "type": "numeric"} for name in trained.features],
        "output": {"type": "classification"},
    }
    model_dir = workdir / "model"
    save_model_dir(
        model_dir,
        trained.estimator,
        ModelSchema.model_validate(schema_document),
        trained.frame,
        target="target",
    )

    def version_of(version: str, role: str, weight: int) -> dict[str, Any]:
        return pooled_version(version, model_dir, role, weight)

    made = families(args.families, version_of)
    results.weights = {pooled.model: pooled.versions[1].weight for pooled in made}
    bodies = workdir / "bodies.jsonl"
    bench.write_bodies(trained, bodies)
    body = bodies.read_text().splitlines()[0].encode()

    plane = ControlPlane.start(workdir / "control-plane")
    try:
        prepare(plane)
        for configmap in owned_catalogues(in_namespace(plane), POOL, made):
            plane.kubectl("apply", "-n", NAMESPACE, "-f", "-", input=json.dumps(configmap))
        env = os.environ | {"KUBECONFIG": str(plane.kubeconfig)}
        port = free_port(SERVER_HOSTS[0])
        endpoints = [Endpoint(host=host, port=port) for host in SERVER_HOSTS]
        slice_ = json.dumps(servers_slice(endpoints))
        plane.kubectl("apply", "-n", NAMESPACE, "-f", "-", input=slice_)
        with contextlib.ExitStack() as stack:
            routers = start_all(stack, workdir, env, made, endpoints)
            # Warm up: every version loaded on both servers, every connection open.
            for scenario in SCENARIOS:
                uvloop.run(closed_loop(routers.targets[scenario], body, args.concurrency, 3.0))
            for round_ in range(args.rounds):
                for scenario in SCENARIOS:
                    measurement = measure_once(round_, scenario, routers, body, args, made)
                    results.measurements.append(measurement)
    finally:
        plane.stop()


@dataclass
class Routers:
    """Where each scenario sends each family's requests, and its router processes."""

    pool_url: str
    targets: dict[str, dict[str, Endpoint]] = field(default_factory=dict)
    pids: dict[str, list[int]] = field(default_factory=dict)


def start_all(
    stack: contextlib.ExitStack[Any],
    workdir: Path,
    env: dict[str, str],
    made: list[PooledFamily],
    endpoints: list[Endpoint],
) -> Routers:
    """The pool's two servers, its router, and a router of its own for each family."""
    command = [sys.executable, "-m", "modelkeeper.cli"]
    for index, server in enumerate(endpoints):
        argv = [*command, "serve", "--pool", POOL, "--namespace", NAMESPACE]
        argv += ["--host", server.host, "--http-port", str(server.port)]
        argv += ["--grpc-port", "0", "--workers", "1"]
        ready = f"{server.url}/v2/health/ready"
        stack.enter_context(bench.running(argv, ready, workdir / f"server-{index}.log", env))
    pool = Endpoint(host="127.0.0.1", port=free_port())
    argv = [*command, "route", "--pool", POOL, "--namespace", NAMESPACE, "--host", pool.host]
    argv += ["--http-port", str(pool.port), "--log-level", "WARNING"]
    ready = f"{pool.url}/v2/health/ready"
    pid = stack.enter_context(bench.running(argv, ready, workdir / "pool-router.log", env))
    routers = Routers(pool.url)
    routers.pids["pool"] = [pid]
    routers.targets["pool"] = dict.fromkeys((pooled.model for pooled in made), pool)
    deadline = time.monotonic() + 60
    while len(fetch(f"{pool.url}/router/status")["families"]) < len(made):
        if time.monotonic() > deadline:
            raise RuntimeError("the pool router did not take every family")
        time.sleep(0.2)
    routers.pids["per-deployment"], routers.targets["per-deployment"] = [], {}
    for pooled in made:
        config = workdir / f"{pooled.deployment}.json"
        config.write_text(json.dumps(own_router_config(pooled, endpoints)))
        own = Endpoint(host="127.0.0.1", port=free_port())
        argv = [*command, "route", "--config", str(config), "--host", own.host]
        argv += ["--http-port", str(own.port), "--log-level", "WARNING"]
        log = workdir / f"{pooled.deployment}.log"
        pid = stack.enter_context(bench.running(argv, f"{own.url}/v2/health/ready", log))
        routers.pids["per-deployment"].append(pid)
        routers.targets["per-deployment"][pooled.model] = own
    return routers


def measure_once(
    round_: int,
    scenario: str,
    routers: Routers,
    body: bytes,
    args: argparse.Namespace,
    made: list[PooledFamily],
) -> Measurement:
    """One scenario's closed loop; the realised splits, and the pool router's mirrors."""
    pool_url, pids = routers.pool_url, routers.pids[scenario]
    shadows = [family for family in made if family.mirror_percent]
    mirrored_before = {
        f.model: metric_sum(pool_url, "modelkeeper_router_mirror_requests_total", model=f.model)
        for f in shadows
    }
    cpu_before = cpu_seconds(pids)
    load = uvloop.run(closed_loop(routers.targets[scenario], body, args.concurrency, args.seconds))
    spent = cpu_seconds(pids) - cpu_before
    requests = len(load.latencies)
    by_family: Counter[str] = Counter()
    canary: Counter[str] = Counter()
    for (name, version), count in load.answered.items():
        by_family[name] += count
        if version == "v2":
            canary[name] += count
    mirrored = {}
    if scenario == "pool":
        for family in shadows:
            count = metric_sum(
                pool_url, "modelkeeper_router_mirror_requests_total", model=family.model
            )
            mirrored[family.model] = (
                100 * (count - mirrored_before[family.model]) / by_family[family.model]
            )
    measurement = Measurement(
        round=round_,
        scenario=scenario,
        requests=requests,
        errors=load.errors,
        requests_per_second=requests / load.seconds,
        p50_ms=percentile(load.latencies, 0.50) * 1e3,
        p99_ms=percentile(load.latencies, 0.99) * 1e3,
        router_cpu_us_per_request=spent / max(requests, 1) * 1e6,
        router_rss_mib=rss_mib(pids),
        load_average=bench.load_average(),
        canary_share={name: 100 * canary[name] / total for name, total in by_family.items()},
        mirrored_share=mirrored,
    )
    print(
        f"round {round_} {scenario:15} {measurement.requests_per_second:7.1f} req/s "
        f"p50 {measurement.p50_ms:6.2f} ms p99 {measurement.p99_ms:6.2f} ms errors "
        f"{measurement.errors} router CPU {measurement.router_cpu_us_per_request:.0f} us/req "
        f"RSS {measurement.router_rss_mib:.0f} MiB",
        file=sys.stderr,
    )
    return measurement


def report(results: Results) -> str:
    rounds = len({m.round for m in results.measurements})

    def median(scenario: str, figure: str) -> float:
        return statistics.median(
            getattr(m, figure) for m in results.measurements if m.scenario == scenario
        )

    lines = [
        f"Run {results.date}; {results.families} families, {results.concurrency} clients, "
        f"{results.seconds:g} s per scenario and round, medians of {rounds} rounds; machine: "
        f"{results.machine}.",
        "",
        "| routing | router processes | req/s | p50 ms | p99 ms | errors | router CPU us/req "
        "| router RSS MiB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for scenario in SCENARIOS:
        processes = 1 if scenario == "pool" else results.families
        errors = sum(m.errors for m in results.measurements if m.scenario == scenario)
        lines.append(
            f"| {scenario} | {processes} | {median(scenario, 'requests_per_second'):.0f} "
            f"| {median(scenario, 'p50_ms'):.2f} | {median(scenario, 'p99_ms'):.2f} | {errors} "
            f"| {median(scenario, 'router_cpu_us_per_request'):.0f} "
            f"| {median(scenario, 'router_rss_mib'):.0f} |"
        )
    lines += [
        "",
        "Realised canary share per family (percent of its answers from the canary, by the "
        "answer's model_version), against its weight; pool router and per-deployment routers:",
        "",
        "| canary weight | families | pool: realised (min to max) | per-deployment: realised "
        "(min to max) |",
        "| --- | --- | --- | --- |",
    ]
    for weight in sorted(set(results.weights.values())):
        names = [name for name, w in results.weights.items() if w == weight]
        cells = []
        for scenario in SCENARIOS:
            shares = [
                m.canary_share[name]
                for m in results.measurements
                if m.scenario == scenario
                for name in names
            ]
            cells.append(f"{min(shares):.1f} to {max(shares):.1f}")
        lines.append(f"| {weight} | {len(names)} | {cells[0]} | {cells[1]} |")
    mirrored = [share for m in results.measurements for share in m.mirrored_share.values()]
    if mirrored:
        lines += [
            "",
            f"Mirrored to the shadow (pool router), per shadow family and round, against "
            f"{MIRROR_PERCENT}%: {min(mirrored):.1f}% to {max(mirrored):.1f}% "
            f"({len(mirrored)} family-rounds).",
        ]
    lines += [
        "",
        "All measurements:",
        "",
        "| round | routing | requests | req/s | p50 ms | p99 ms | errors | router CPU us/req "
        "| router RSS MiB | load avg |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for m in results.measurements:
        lines.append(
            f"| {m.round} | {m.scenario} | {m.requests} | {m.requests_per_second:.0f} "
            f"| {m.p50_ms:.2f} | {m.p99_ms:.2f} | {m.errors} "
            f"| {m.router_cpu_us_per_request:.0f} | {m.router_rss_mib:.0f} "
            f"| {m.load_average:.2f} |"
        )
    return "\n".join(lines)


def prepare(plane: ControlPlane) -> None:
    """The benchmark's namespace, and the CRDs: a catalogue is taken only when a
    modelkeeper.io Deployment owns it."""
    plane.kubectl("create", "namespace", NAMESPACE)
    plane.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
    plane.kubectl(
        "wait", "--for=condition=Established", "crd/deployments.modelkeeper.io", "--timeout=60s"
    )


def in_namespace(plane: ControlPlane) -> Callable[..., Any]:
    """kubectl against the plane, in the benchmark's namespace."""
    return functools.partial(plane.kubectl, "-n", NAMESPACE)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--families", type=int, default=20, help="Deployments in the pool")
    parser.add_argument("--concurrency", type=int, default=16, help="clients at once")
    parser.add_argument("--seconds", type=float, default=20.0, help="per scenario and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("benchmark-router-pool.json"))
    args = parser.parse_args()
    results = Results(
        date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        command=" ".join(["python -m benchmarks.router.pool", *sys.argv[1:]]),
        families=args.families,
        concurrency=args.concurrency,
        seconds=args.seconds,
        machine=f"{os.cpu_count()} cores, load average before {bench.load_average():.2f}",
    )
    with tempfile.TemporaryDirectory(prefix="modelkeeper-pool-router-bench-") as scratch:
        measure(args, results, Path(scratch))
    args.out.write_text(json.dumps(asdict(results), indent=2))
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
