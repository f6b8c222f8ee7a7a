"""Operator scale: N families created at once, Modelkeeper against kopf's floor.

On a fresh control plane of the test ground (no node: pods stay Pending, so this
measures the operator, not the pods), for each operator in turn, in its own namespace:

- modelkeeper: `modelkeeper run`, which for every Deployment applies the version's
  apps/v1 Deployment and Service, the router's Deployment, Service, ServiceAccount,
  Role, RoleBinding and ConfigMap, and writes the status of every Deployment and Model;
  with --pooled, every Deployment names one ServingPool (whose servers, router and
  account the operator creates once) and has a DriftMonitor, and its one object is its
  catalogue ConfigMap;
- floor: a bare kopf operator (floor.py) whose handler creates one ConfigMap per object.

Measured: the time from the first `kubectl apply` until every Deployment has all its
owned objects and a status (and every DriftMonitor a state; floor: until every object
has its ConfigMap), the reconcile (handler) duration p50 and p99, and the operator's
peak RSS (VmHWM). To say where the time goes, also the CPU seconds each process (the
operator, kube-apiserver, etcd, the controller-manager, the scheduler) spent over the
same interval, and the API requests the server answered meanwhile, by verb and resource
(its `apiserver_request_total`); the benchmark's own polling (a list of names per owned
kind per poll, and of the Deployments for their phase) is counted apart and left out of
the requests per Deployment. Then, at rest: the requests per second the server answered
over --steady-periods resync periods (the operator runs with --resync-seconds), which
should not grow with N.

    python -m benchmarks.operator.run --size 200     # by hand, from the repository root
    python -m benchmarks.operator.run --size 1000 --pooled
    python -m benchmarks.operator.run --size 20      # CI

Prints a markdown table for docs/benchmarks.md and writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.ground.controlplane import ControlPlane
from tests.ground.processes import Component, free_port

REPO = Path(__file__).resolve().parents[2]
MODELKEEPER = str(Path(sys.executable).parent / "modelkeeper")
CHUNK = 25
MANAGED = "app.kubernetes.io/managed-by=modelkeeper"
APPROVAL = {"by": "bench@example.com", "at": "2026-01-01T00:00:00Z"}
SCHEMA = {"inputs": [{"name": "x", "type": "Numeric"}], "output": {"type": "Regression"}}


POOL = "shared"
CRDS = ("deployments", "models", "driftmonitors", "servingpools")


@dataclass
class Result:
    operator: str
    size: int
    pooled: bool
    seconds_to_converge: float
    reconcile_p50_ms: float
    reconcile_p99_ms: float
    peak_rss_mib: float
    cpu_seconds: dict[str, float]
    """Per process, from the first create until converged."""
    requests: dict[str, int]
    """API requests answered meanwhile, by "verb resource[/subresource]"."""
    reconciles: dict[str, int]
    """Reconciles (floor: handler calls) by kind, until measured."""
    polls: int
    """The benchmark's own lists among `requests`."""
    steady_seconds: float
    steady_requests: dict[str, int]
    """API requests answered at rest (no watches), by "verb resource[/subresource]"."""
    steady_reconciles: int
    """Reconciles run at rest (floor: none; it has no resync)."""
    own_requests: int | None
    """Requests the operator's client made until converged, by its own count (floor: None)."""
    steady_own_requests: int | None
    """The same, at rest."""

    @property
    def per_deployment(self) -> float:
        return (sum(self.requests.values()) - self.polls) / self.size

    @property
    def steady_per_second(self) -> float:
        return sum(self.steady_requests.values()) / self.steady_seconds


def manifests(indices: range, pooled: bool) -> str:
    """A Model (valid and approved, artifact form) and a Deployment tracking its family, per
    index; pooled, the Deployment names the pool and has a DriftMonitor. The artifact and
    profile are https URIs, which the operator does not read: it serves such a Model as
    validated in part, and nothing is fetched with no node."""
    objects: list[dict[str, object]] = []
    for index in indices:
        family = f"family-{index}"
        objects.append(
            {
                "apiVersion": "modelkeeper.io/v1alpha1",
                "kind": "Model",
                "metadata": {"name": f"{family}-1"},
                "spec": {
                    "name": family,
                    "version": "1",
                    "artifact": {"uri": "https://models.example.com/m.joblib", "format": "sklearn"},
                    "schema": SCHEMA,
                    "reference": {"uri": "https://models.example.com/profile.json"},
                    "governance": {"approval": APPROVAL},
                },
            }
        )
        objects.append(
            {
                "apiVersion": "modelkeeper.io/v1alpha1",
                "kind": "Deployment",
                "metadata": {"name": family},
                "spec": {"model": {"name": family}} | ({"pool": POOL} if pooled else {}),
            }
        )
        if pooled:
            objects.append(
                {
                    "apiVersion": "modelkeeper.io/v1alpha1",
                    "kind": "DriftMonitor",
                    "metadata": {"name": family},
                    "spec": {"deployment": family},
                }
            )
    return yaml.safe_dump_all(objects)


POOL_MANIFEST = {
    "apiVersion": "modelkeeper.io/v1alpha1",
    "kind": "ServingPool",
    "metadata": {"name": POOL},
    "spec": {},
}


OWNED_PATHS = {
    "Deployment": "/apis/apps/v1/namespaces/{}/deployments",
    "Service": "/api/v1/namespaces/{}/services",
    "ConfigMap": "/api/v1/namespaces/{}/configmaps",
    "ServiceAccount": "/api/v1/namespaces/{}/serviceaccounts",
    "Role": "/apis/rbac.authorization.k8s.io/v1/namespaces/{}/roles",
    "RoleBinding": "/apis/rbac.authorization.k8s.io/v1/namespaces/{}/rolebindings",
}
MODELKEEPER_DEPLOYMENTS = "/apis/modelkeeper.io/v1alpha1/namespaces/{}/deployments"
DRIFT_MONITORS = "/apis/modelkeeper.io/v1alpha1/namespaces/{}/driftmonitors"
POOLED = "modelkeeper.io/pool"
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"


class Poller:
    """The benchmark's own lists from the API server, as the admin, counted."""

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane
        self.count = 0

    def list(
        self, path: str, selector: str = "", metadata_only: bool = False
    ) -> list[dict[str, Any]]:
        """One list; names only when `metadata_only`.

        Polling asks for no more than it counts: a full listing of everything would cost
        the API server (and the poll) more the more objects an operator creates, and would
        make the poll itself slower than the operator's work at large sizes.
        """
        self.count += 1
        query = f"?labelSelector={urllib.parse.quote(selector)}" if selector else ""
        request = urllib.request.Request(
            self.plane.server + path + query,
            headers={"Accept": METADATA_ONLY if metadata_only else "application/json"},
        )
        context = self.plane.admin_ssl_context()
        with urllib.request.urlopen(request, context=context, timeout=60) as answer:
            items: list[dict[str, Any]] = json.loads(answer.read())["items"] or []
        return items

    def counted(self, kind: str, namespace: str, selector: str) -> int:
        return len(self.list(OWNED_PATHS[kind].format(namespace), selector, metadata_only=True))

    def with_status(self, path: str, key: str) -> int:
        return sum(bool(item.get("status", {}).get(key)) for item in self.list(path))


def converged_modelkeeper(poll: Poller, namespace: str, size: int, pooled: bool) -> bool:
    """Every Deployment has a phase (pooled: every DriftMonitor a state), and every owned
    object exists."""
    if poll.with_status(MODELKEEPER_DEPLOYMENTS.format(namespace), "phase") < size:
        return False
    if pooled:
        if poll.with_status(DRIFT_MONITORS.format(namespace), "state") < size:
            return False
        # the pool's servers and router, and a catalogue per Deployment
        return poll.counted("Deployment", namespace, POOLED) >= 2 and (
            poll.counted("ConfigMap", namespace, f"{MANAGED},{POOLED}") >= size
        )
    expected = {
        "Deployment": 2 * size,  # a version's and the router's apps/v1 Deployments
        "Service": 2 * size,
        "ConfigMap": size,
        "ServiceAccount": size,
        "Role": size,
        "RoleBinding": size,
    }
    return all(
        poll.counted(kind, namespace, MANAGED) >= wanted for kind, wanted in expected.items()
    )


def converged_floor(poll: Poller, namespace: str, size: int, pooled: bool) -> bool:
    """Every Model and Deployment (and DriftMonitor) has its ConfigMap."""
    found = poll.list(OWNED_PATHS["ConfigMap"].format(namespace), metadata_only=True)
    names: list[str] = [item["metadata"]["name"] for item in found]
    kinds = ("model-", "deployment-", "driftmonitor-")
    return sum(name.startswith(kinds) for name in names) >= (3 if pooled else 2) * size


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for {pid}")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (/proc/PID/stat, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def api_requests(plane: ControlPlane) -> Counter[str]:
    """The API server's request counter so far, by "verb resource[/subresource]"."""
    request = urllib.request.Request(f"{plane.server}/metrics")
    with urllib.request.urlopen(request, context=plane.admin_ssl_context(), timeout=10) as answer:
        text = answer.read().decode()
    counts: Counter[str] = Counter()
    for line in text.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels_text, value = line[len("apiserver_request_total{") :].rsplit("} ", 1)
        labels = dict(
            (pair.split("=", 1)[0], pair.split("=", 1)[1].strip('"'))
            for pair in labels_text.split('",')
        )
        resource = labels.get("resource", "") + (
            f"/{labels['subresource']}" if labels.get("subresource") else ""
        )
        counts[f"{labels.get('verb', '')} {resource}"] += int(float(value))
    return counts


def reconcile_counts(metrics: str) -> dict[str, int]:
    """How many reconciles of each kind the operator ran: its duration histogram's counts."""
    prefix = 'modelkeeper_operator_reconcile_duration_seconds_count{kind="'
    return {
        line[len(prefix) :].split('"', 1)[0]: int(float(line.rsplit(" ", 1)[1]))
        for line in metrics.splitlines()
        if line.startswith(prefix)
    }


def own_requests(metrics: str) -> int:
    """The requests the operator's client made, by its own counter (kopf's watches aside)."""
    prefix = "modelkeeper_kube_requests_total{"
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in metrics.splitlines()
        if line.startswith(prefix)
    )


def histogram_quantiles(metrics: str, kind: str) -> tuple[float, float]:
    """p50 and p99 of the reconcile histogram, interpolated within buckets as PromQL does."""
    buckets: list[tuple[float, float]] = []
    prefix = f'modelkeeper_operator_reconcile_duration_seconds_bucket{{kind="{kind}",le="'
    for line in metrics.splitlines():
        if line.startswith(prefix):
            bound, value = line[len(prefix) :].split('"} ')
            buckets.append((float(bound), float(value)))
    total = buckets[-1][1]

    def quantile(q: float) -> float:
        rank, lower, below = q * total, 0.0, 0.0
        for bound, cumulative in buckets:
            if cumulative >= rank:
                if bound == float("inf"):
                    return lower
                return lower + (bound - lower) * (rank - below) / max(cumulative - below, 1e-9)
            lower, below = bound, cumulative
        return lower

    return quantile(0.5), quantile(0.99)


@dataclass(frozen=True)
class Setup:
    size: int
    pooled: bool
    resync_seconds: float
    steady_periods: int


def metrics_text(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=120) as response:
        text: str = response.read().decode()
    return text


def counted(requests: Counter[str]) -> dict[str, int]:
    return dict(sorted(((call, n) for call, n in requests.items() if n > 0), key=lambda c: -c[1]))


def measure(plane: ControlPlane, name: str, setup: Setup, workdir: Path) -> Result:
    namespace = f"bench-{name}"
    plane.kubectl("create", "namespace", namespace)
    env = {**os.environ, "KUBECONFIG": str(plane.kubeconfig), "PYTHONPATH": str(REPO)}
    metrics_port = free_port()
    durations_file = workdir / f"{name}-durations.json"
    if name == "modelkeeper":
        argv = [
            MODELKEEPER,
            "run",
            f"--namespaces={namespace}",
            "--host=127.0.0.1",
            f"--metrics-port={metrics_port}",
            "--liveness-port=0",
            f"--resync-seconds={setup.resync_seconds:g}",
            "--prometheus-url=http://127.0.0.1:9",  # none: a DriftMonitor reads no data
        ]
    else:
        argv = [sys.executable, str(Path(__file__).with_name("floor.py")), namespace]
        env["FLOOR_DURATIONS"] = str(durations_file)
    component = Component(name, argv, workdir / f"{name}.log", env=env)
    component.start()
    poll = Poller(plane)
    size = setup.size
    try:
        time.sleep(3)  # the operator has listed the (empty) namespace
        converged = converged_modelkeeper if name == "modelkeeper" else converged_floor
        processes = {"operator": component.pid} | {c.name: c.pid for c in plane.components}
        cpu_before = {name: cpu_seconds(pid) for name, pid in processes.items()}
        requests_before = api_requests(plane)
        started = time.monotonic()
        if setup.pooled:
            plane.kubectl("create", "-n", namespace, "-f", "-", input=yaml.safe_dump(POOL_MANIFEST))
        for chunk in range(0, size, CHUNK):  # one kubectl call per chunk stays within its timeout
            batch = manifests(range(chunk, min(size, chunk + CHUNK)), setup.pooled)
            plane.kubectl("create", "-n", namespace, "-f", "-", input=batch)
        while not converged(poll, namespace, size, setup.pooled):
            if time.monotonic() - started > 1800:
                raise RuntimeError(f"{name} did not converge in 1800 s; log: {component.log}")
            time.sleep(0.5)
        seconds = time.monotonic() - started
        cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in processes.items()}
        requests = api_requests(plane)
        requests.subtract(requests_before)
        mine = name == "modelkeeper"
        if mine:
            metrics = metrics_text(metrics_port)
            p50, p99 = histogram_quantiles(metrics, "Deployment")
            reconciles = reconcile_counts(metrics)
        # At rest: a few resync periods with nothing to do, after a moment to settle.
        time.sleep(setup.resync_seconds)
        rest_before = api_requests(plane)
        before = metrics_text(metrics_port) if mine else ""
        rest_started = time.monotonic()
        time.sleep(setup.steady_periods * setup.resync_seconds)
        rest_seconds = time.monotonic() - rest_started
        at_rest = api_requests(plane)
        at_rest.subtract(rest_before)
        after = metrics_text(metrics_port) if mine else ""
        steady_reconciles = sum(reconcile_counts(after).values()) - sum(
            reconcile_counts(before).values()
        )
        rss = peak_rss_mib(component.pid)
    finally:
        component.stop()
    if name != "modelkeeper":
        durations = sorted(json.loads(durations_file.read_text()))
        p50 = statistics.median(durations)
        p99 = durations[min(len(durations) - 1, int(0.99 * len(durations)))]
        reconciles = {"Model, Deployment, DriftMonitor": len(durations)}
    plane.kubectl("delete", "namespace", namespace, "--wait=false")
    return Result(
        name,
        size,
        setup.pooled,
        round(seconds, 1),
        round(p50 * 1000, 1),
        round(p99 * 1000, 1),
        round(rss, 1),
        {process: round(used, 1) for process, used in cpu.items()},
        counted(requests),
        reconciles,
        poll.count,
        round(rest_seconds, 1),
        counted(at_rest),
        steady_reconciles,
        own_requests(metrics) if name == "modelkeeper" else None,
        own_requests(after) - own_requests(before) if name == "modelkeeper" else None,
    )


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=200, help="families (Models, Deployments)")
    parser.add_argument(
        "--pooled", action="store_true", help="one ServingPool; a DriftMonitor per Deployment"
    )
    parser.add_argument("--resync-seconds", type=float, default=20.0)
    parser.add_argument("--steady-periods", type=int, default=3, help="resync periods at rest")
    parser.add_argument("--json", type=Path, default=Path("operator-benchmark.json"))
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the control plane, too
    setup = Setup(args.size, args.pooled, args.resync_seconds, args.steady_periods)
    workdir = Path(tempfile.mkdtemp(prefix="modelkeeper-operator-bench-"))
    print(f"load average before: {load_average()}", flush=True)
    plane = ControlPlane.start(workdir / "control-plane")
    try:
        plane.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
        plane.kubectl(
            "wait",
            "--for=condition=Established",
            *(f"crd/{plural}.modelkeeper.io" for plural in CRDS),
            "--timeout=60s",
        )
        results = [measure(plane, name, setup, workdir) for name in ("modelkeeper", "floor")]
    finally:
        plane.stop()
    print(f"load average after: {load_average()}")
    mk, floor = results
    objects = "Models + Deployments" + (" + DriftMonitors, pooled" if setup.pooled else "")
    print(f"\n{setup.size} each of {objects}\n")
    print(
        "| operator | converged (s) | reconcile p50 (ms) | p99 (ms) | peak RSS (MiB) "
        "| requests per Deployment | at rest (requests/s) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for result in results:
        print(
            f"| {result.operator} | {result.seconds_to_converge} | {result.reconcile_p50_ms} | "
            f"{result.reconcile_p99_ms} | {result.peak_rss_mib} | {result.per_deployment:.1f} | "
            f"{result.steady_per_second:.2f} |"
        )
    ratio = mk.seconds_to_converge / floor.seconds_to_converge
    print(f"\nratio (modelkeeper / floor), time to converge: {ratio:.2f}")
    for result in results:
        spent = ", ".join(f"{process} {used}" for process, used in result.cpu_seconds.items())
        print(f"\n{result.operator}: CPU seconds {spent}")
        counts = ", ".join(f"{kind} {n}" for kind, n in sorted(result.reconciles.items()))
        print(f"{result.operator}: reconciles {counts}")
        total = sum(result.requests.values())
        top = ", ".join(f"{call} {n}" for call, n in list(result.requests.items())[:12])
        print(
            f"{result.operator}: {total} API requests, {result.polls} of them the benchmark's "
            f"polls ({result.per_deployment:.1f} per Deployment without): {top}"
        )
        if result.own_requests is not None:
            print(f"{result.operator}: its own client's count: {result.own_requests} requests")
        rest = ", ".join(f"{call} {n}" for call, n in result.steady_requests.items())
        own = (
            f"; {result.steady_own_requests} by its own client's count"
            if result.steady_own_requests is not None
            else ""
        )
        print(
            f"{result.operator}: at rest, {sum(result.steady_requests.values())} requests in "
            f"{result.steady_seconds} s ({result.steady_reconciles} reconciles{own}): {rest}"
        )
    args.json.write_text(
        json.dumps(
            [
                asdict(r) | {"per_deployment": r.per_deployment, "at_rest": r.steady_per_second}
                for r in results
            ],
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
