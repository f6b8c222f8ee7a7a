"""A pool's router holding many families: its memory, the time to route them all, and the
time one family's change takes, at each size.

On a fresh control plane of the test ground, the pool's catalogue grows to each size in
turn (ConfigMaps as the operator writes them: a stable and a canary each, every fifth
family a shadow too), and at each size a fresh `modelkeeper route --pool` is started:

- ready: the time from its start until it is ready and its status page lists every family
  (one list of the ConfigMaps, each family parsed and checked);
- RSS and CPU seconds once ready; how long a scrape of its /metrics takes (the series of
  every family's backends), and the slowest answer to /v2/health/live, asked again and
  again meanwhile (how long the router stops answering while it writes the metrics);
- one change: one family's catalogue gets new weights (a merge patch to the API server),
  and the time from sending it to the router's log line saying it took it (the log's
  millisecond timestamp, on the same clock), for several families in turn. A reload
  proportional to what changed keeps this flat as the catalogue grows.

The servers' EndpointSlice lists an address no server listens on: routing is not
measured here (benchmarks/router/pool.py does that), only holding and changing families.

    python -m benchmarks.router.pool_scale --sizes 50,1000,5000

Prints a markdown table (for docs/benchmarks.md) and writes the raw figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks.router.pool import (
    NAMESPACE,
    POOL,
    cpu_seconds,
    families,
    fetch,
    in_namespace,
    prepare,
    rss_mib,
    servers_slice,
)
from benchmarks.router.run import bench
from modelkeeper.api.pool import PooledFamily, catalogue_name
from modelkeeper.router.config import Endpoint
from tests.ground.controlplane import ControlPlane
from tests.ground.processes import free_port
from tests.support.pools import owned_catalogues

CHANGES = 5


@dataclass
class Size:
    families: int
    seconds_to_ready: float
    rss_mib: float
    cpu_seconds_to_ready: float
    scrape_ms: float
    scrape_kib: float
    live_during_scrape_ms: float
    change_ms: list[float] = field(default_factory=list)
    """Per change: from sending the patch to the router's log line that it took it."""


@dataclass
class Results:
    date: str
    command: str
    machine: str
    sizes: list[Size] = field(default_factory=list)


def version_of(version: str, role: str, weight: int) -> dict[str, Any]:
    """A version document: the router reads the split, never the artifact."""
    uri = f"file:///models/{version}/model.joblib"
    return {
        "version": version,
        "model": version,
        "role": role,
        "weight": weight,
        "uri": uri,
        "format": "sklearn",
    }


def apply_all(plane: ControlPlane, made: list[PooledFamily]) -> None:
    """Create the families' catalogue ConfigMaps, a few hundred to a kubectl call."""
    for start in range(0, len(made), 500):
        items = owned_catalogues(in_namespace(plane), POOL, made[start : start + 500])
        document = json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
        plane.kubectl("create", "-n", NAMESPACE, "-f", "-", input=document)


def weights(url: str) -> dict[str, dict[str, int]]:
    status = fetch(f"{url}/router/status")
    return {
        family["model"]: {backend["name"]: backend["weight"] for backend in family["backends"]}
        for family in status["families"]
    }


def measure_size(plane: ControlPlane, made: list[PooledFamily], count: int, workdir: Path) -> Size:
    """A fresh router over the first `count` families; the changes it times are written
    back into `made`, so that the next size starts from the catalogue as it is."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "modelkeeper.cli", "route", "--pool", POOL]
    argv += ["--namespace", NAMESPACE, "--host", "127.0.0.1", "--http-port", str(port)]
    env = os.environ | {"KUBECONFIG": str(plane.kubeconfig)}
    log = workdir / f"router-{count}.log"
    started = time.perf_counter()
    with log.open("w") as output:
        process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT, env=env)
    try:
        while True:
            try:
                if len(weights(url)) == count and fetch(f"{url}/v2/health/ready")["ready"]:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.perf_counter() - started > 600:
                raise RuntimeError(f"the router did not route every family; see {log}")
            time.sleep(0.05)
        size = Size(
            families=count,
            seconds_to_ready=time.perf_counter() - started,
            rss_mib=rss_mib([process.pid]),
            cpu_seconds_to_ready=cpu_seconds([process.pid]),
            **scrape(url),
        )
        for index in range(CHANGES):
            which = index * count // CHANGES
            pooled = made[which]
            stable, canary = pooled.versions[0], pooled.versions[1]
            moved = pooled.model_copy(
                update={
                    "versions": (
                        stable.model_copy(update={"weight": stable.weight - 5}),
                        canary.model_copy(update={"weight": canary.weight + 5}),
                        *pooled.versions[2:],
                    )
                }
            )
            size.change_ms.append(change_ms(plane, moved, log))
            made[which] = moved
        print(
            f"{size.families} families: ready in {size.seconds_to_ready:.1f} s, RSS "
            f"{size.rss_mib:.0f} MiB, one change {statistics.median(size.change_ms):.0f} ms",
            file=sys.stderr,
        )
        return size
    finally:
        process.terminate()
        process.wait(timeout=30)


def scrape(url: str) -> dict[str, float]:
    """The median time and the size of five scrapes of the router's metrics, and the
    slowest liveness answer while they ran."""
    times: list[float] = []
    size = 0

    def scrapes() -> None:
        nonlocal size
        for _ in range(5):
            started = time.perf_counter()
            with urllib.request.urlopen(f"{url}/metrics", timeout=30) as response:
                size = len(response.read())
            times.append(time.perf_counter() - started)

    scraping = threading.Thread(target=scrapes)
    scraping.start()
    slowest = 0.0
    while scraping.is_alive():
        started = time.perf_counter()
        with urllib.request.urlopen(f"{url}/v2/health/live", timeout=30) as response:
            response.read()
        slowest = max(slowest, time.perf_counter() - started)
    scraping.join()
    return {
        "scrape_ms": statistics.median(times) * 1e3,
        "scrape_kib": size / 1024,
        "live_during_scrape_ms": slowest * 1e3,
    }


def change_ms(plane: ControlPlane, moved: PooledFamily, log: Path) -> float:
    """Write `moved` into its catalogue ConfigMap; the milliseconds until the router logs
    that it took it."""
    name = catalogue_name(moved.deployment)
    taken = f"routing config reloaded from ConfigMap {NAMESPACE}/{name}\n"
    before = log.read_text().count(taken)
    request = urllib.request.Request(
        f"{plane.server}/api/v1/namespaces/{NAMESPACE}/configmaps/{name}",
        data=json.dumps({"data": moved.to_data()}).encode(),
        headers={"Content-Type": "application/merge-patch+json"},
        method="PATCH",
    )
    sent = time.time()
    with urllib.request.urlopen(request, context=plane.admin_ssl_context(), timeout=30):
        pass
    deadline = time.monotonic() + 30
    while (text := log.read_text()).count(taken) == before:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the router did not take {name}; see {log}")
        time.sleep(0.01)
    line = next(line for line in reversed(text.splitlines()) if line.endswith(taken.strip()))
    logged = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
    return (logged - sent) * 1e3


def report(results: Results) -> str:
    lines = [
        f"Run {results.date}; machine: {results.machine}.",
        "",
        "| families | ready (s) | CPU to ready (s) | RSS (MiB) | /metrics (ms) | /metrics (KiB) "
        "| slowest live meanwhile (ms) | one change, median (ms) | one change, max (ms) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for size in results.sizes:
        lines.append(
            f"| {size.families} | {size.seconds_to_ready:.1f} | {size.cpu_seconds_to_ready:.1f} "
            f"| {size.rss_mib:.0f} | {size.scrape_ms:.0f} | {size.scrape_kib:.0f} "
            f"| {size.live_during_scrape_ms:.0f} "
            f"| {statistics.median(size.change_ms):.0f} "
            f"| {max(size.change_ms):.0f} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes",
        type=lambda text: sorted(int(size) for size in text.split(",")),
        default=[50, 1000],
        help="families in the pool, comma-separated",
    )
    parser.add_argument("--out", type=Path, default=Path("benchmark-router-pool-scale.json"))
    args = parser.parse_args()
    results = Results(
        date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        command=" ".join(["python -m benchmarks.router.pool_scale", *sys.argv[1:]]),
        machine=f"{os.cpu_count()} cores, load average before {bench.load_average():.2f}",
    )
    made = families(max(args.sizes), version_of)
    with tempfile.TemporaryDirectory(prefix="modelkeeper-pool-scale-") as scratch:
        workdir = Path(scratch)
        plane = ControlPlane.start(workdir / "control-plane")
        try:
            prepare(plane)
            nowhere = [Endpoint(host="127.64.250.1", port=9)]
            slice_ = json.dumps(servers_slice(nowhere))
            plane.kubectl("apply", "-n", NAMESPACE, "-f", "-", input=slice_)
            created = 0
            for size in args.sizes:
                apply_all(plane, made[created:size])
                created = size
                results.sizes.append(measure_size(plane, made, size, workdir))
        finally:
            plane.stop()
    args.out.write_text(json.dumps(asdict(results), indent=2))
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
