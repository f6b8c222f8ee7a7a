"""`make demo`: the whole loop on the local ground, step by step, then left running.

On the ground that `make cluster-up` started (.ground/state.json): install Modelkeeper from
the chart's manifests (the operator runs as a pod, as it would in a cluster), publish
version 1 of a model trained by the example trainer, serve it by a Canary Deployment,
watch its inputs with a DriftMonitor and retrain it with a RetrainPolicy. Then send
traffic, shift the inputs, and show each step as the operator takes it: drift detected,
a retraining Job, version 2 with its lineage and gate, the canary, version 2 serving, and
last the family's audit record.

The shift plays a recalibrated measurement: three inputs now arrive 0.1 higher for the same
patients, so the outcomes (the labels) are what they were. When the inputs shift, the demo
provides the labelled data of the new period (`recent.csv`: the diabetes data as it is now
measured); the retraining Job trains version 2 on it and measures version 1 and version 2 on
the same held-out quarter of it, which neither trained on, so the gate's message shows both
figures on one holdout.
A step that does not come in time fails the demo with a message (exit 1), so CI runs it
as it is.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.controller.loop_harness import (
    FAMILY,
    MONITOR,
    SHIFT,
    DiabetesTraffic,
    drift_monitor,
    drift_trigger,
    read_rows,
    retrain_policy,
    train_locally,
    trained_model,
)
from tests.ground.binaries import kube_binaries
from tests.ground.ground import REPO_ROOT
from tests.ground.node import running_containers
from tests.support.chart import rendered_objects
from tests.support.dashboards import PrometheusRange, without_data
from tests.support.objects import canary_deployment

STATE_FILE = REPO_ROOT / ".ground" / "state.json"
NAMESPACE = "demo"
POLICY = "diabetes-retrain"
OPERATOR_NAMESPACE = "modelkeeper-system"


class DemoError(RuntimeError):
    """A step that did not happen in time, or a ground that is not there."""


class Cluster:
    """kubectl and the plugin against the recorded ground, printing what they show."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.kubeconfig = state["kubeconfig"]
        self.prometheus = state["prometheus"]
        self.prometheus_for_pods = state["prometheus_for_pods"]
        self.socket = Path(state["node"]["socket"])
        self.workdir = Path(state["node"]["shared"]) / "demo"
        """On the node's shared folder: the trainer's Jobs, the scoring pods' init steps and
        the operator's pod all see it at this path."""
        self.kubectl_path = str(kube_binaries() / "kubectl")

    def kubectl(self, *args: str, input: str | None = None) -> str:
        done = subprocess.run(
            [self.kubectl_path, "--kubeconfig", self.kubeconfig, *args],
            input=input,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise DemoError(f"kubectl {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def apply(self, *objects: dict[str, Any], namespace: str = NAMESPACE) -> None:
        self.kubectl(
            "apply", "--server-side", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(objects)
        )

    def get(self, resource: str) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(
            self.kubectl("get", "-n", NAMESPACE, resource, "-o", "json")
        )
        return found

    def plugin(self, *args: str) -> None:
        """Show what `kubectl modelkeeper ...` shows a person."""
        print(f"$ kubectl modelkeeper {' '.join(args)}")
        command = [sys.executable, "-m", "modelkeeper.plugin.main", *args]
        cluster = ["--kubeconfig", self.kubeconfig, "-n", NAMESPACE]
        subprocess.run([*command, *cluster], check=False)


def step(title: str) -> float:
    print(f"\n=== {title}", flush=True)
    return time.monotonic()


def wait(what: str, check: Callable[[], Any], timeout: float) -> Any:
    """Poll `check` until it returns something true; a DemoError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = check()
        except DemoError:
            found = None
        if found:
            return found
        time.sleep(1)
    raise DemoError(f"not within {timeout:.0f}s: {what}")


def install(cluster: Cluster) -> None:
    """The chart's manifests, with the ground's Prometheus and a local artifact root."""
    artifacts = cluster.workdir / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    artifacts.chmod(0o777)  # the trainer's Jobs run as the image's user
    objects = rendered_objects(
        "modelkeeper",
        OPERATOR_NAMESPACE,
        f"operator.prometheusUrl={cluster.prometheus_for_pods}",
        "operator.logFormat=text",
        f"operator.extraEnv.MODELKEEPER_ARTIFACT_ROOT=file://{artifacts}",
        "operator.extraEnv.MODELKEEPER_RESYNC_SECONDS=5",
        "operator.extraEnv.MODELKEEPER_DRAIN_SECONDS=4",
        "dashboards.enabled=false",
    )
    namespaces = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}
        for n in (OPERATOR_NAMESPACE, NAMESPACE)
    ]
    cluster.apply(*namespaces, namespace="default")
    cluster.kubectl("apply", "--server-side", "-f", str(REPO_ROOT / "crds"))
    crds = [
        f"crd/{path.name.removesuffix('.yaml')}" for path in (REPO_ROOT / "crds").glob("*.yaml")
    ]
    cluster.kubectl("wait", "--for=condition=Established", *crds)
    cluster.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(objects))
    cluster.kubectl(
        "wait",
        "-n",
        OPERATOR_NAMESPACE,
        "--for=condition=Available",
        "deployment",
        "-l",
        "app.kubernetes.io/name=modelkeeper",
        "--timeout=180s",
    )


def shadow_then_canary() -> dict[str, Any]:
    """A new version is first shadowed (every request mirrored, its answers compared with the
    stable version's, never returned), then canaried at 50 % under an error-rate check.

    A version retrained on shifted inputs is expected to answer differently from the old one
    on those inputs: the shadow guards errors and latency, and counts as agreeing any answer
    within 30 of the old one (the target's standard deviation is about 77)."""
    deployment = canary_deployment(FAMILY, FAMILY, (50,), interval_seconds=5)
    deployment["spec"]["strategy"].update(
        type="Shadow",
        shadow={
            "mirrorPercent": 100,
            "interval": "5s",
            "duration": "10s",
            "minRequests": 20,
            "minAgreement": 0.5,
            "agreementTolerance": 30,
            "maxLatencyRatio": 20,
            "onSuccess": "Canary",
        },
    )
    return deployment


def inputs_monitor() -> dict[str, Any]:
    """PSI on every numeric input, and the Jensen-Shannon distance on age (which the demo
    leaves alone), to show a feature judged by a method of its own."""
    monitor = drift_monitor(FAMILY, interval=5, window=20, enter_after=2, exit_after=2)
    age = {"name": "age", "method": "JensenShannon", "warning": 0.2, "critical": 0.3}
    monitor["spec"]["features"] = [age]
    return monitor


def walk(cluster: Cluster) -> dict[str, float]:
    """The loop, step by step; returns how long each step took after the input shift."""
    began = time.time()
    step("1. Install Modelkeeper from manifests (CRDs, RBAC, the operator as a pod)")
    install(cluster)

    step("2. Train version 1 with the example trainer and serve it; new versions: shadow, canary")
    result = train_locally(cluster.workdir / "v1")
    cluster.apply(
        trained_model("1", result, "Low"),
        shadow_then_canary(),
        inputs_monitor(),
        fair_retrain_policy(recent_uri(cluster)),
    )
    wait("version 1 serves", lambda: _serving(cluster, "1"), 240)
    cluster.plugin("status", FAMILY)

    features = [feature["name"] for feature in result["schema"]["inputs"]]
    rows = read_rows(cluster.workdir / "v1" / "training.csv", features)
    with DiabetesTraffic(_router(cluster), rows, features) as traffic:
        step("3. Traffic flows; the DriftMonitor compares live inputs with the reference")
        wait("the monitor says OK", lambda: _monitor_state(cluster) == "OK", 120)
        print(f"DriftMonitor {MONITOR}: OK")

        start = step(f"4. Shift the inputs ({', '.join(f'{k}+{v}' for k, v in SHIFT.items())})")
        traffic.shifted.set()
        write_recent_data(cluster)
        print(f"the labelled data of the shifted period: {recent_uri(cluster)}")
        timings: dict[str, float] = {}
        wait("the monitor goes Drifted", lambda: _monitor_state(cluster) == "Drifted", 180)
        timings["drifted"] = time.monotonic() - start
        print(cluster.kubectl("get", "-n", NAMESPACE, "driftmonitor", MONITOR))

        step("5. The RetrainPolicy starts a Job that runs the example trainer")
        wait("a retraining Job", lambda: cluster.get("jobs")["items"], 120)
        timings["job"] = time.monotonic() - start
        print(cluster.kubectl("get", "-n", NAMESPACE, "jobs"))
        wait("Model version 2", lambda: _model(cluster, "2"), 300)
        timings["model"] = time.monotonic() - start
        cluster.plugin("history", POLICY)
        cluster.plugin("versions", FAMILY)

        show_gate(cluster)

        step("6. Version 2 passed the gate and is approved: the Deployment shadows it")
        wait("version 2 is the shadow", lambda: _candidate(cluster) == ("2", "Shadow"), 240)
        wait("every request is mirrored to version 2", lambda: _mirror_percent(cluster) == 100, 120)
        cluster.plugin("status", FAMILY)

        step("7. The shadow agreed well enough: version 2 is canaried")
        wait("version 2 is the canary", lambda: _candidate(cluster) == ("2", "Canary"), 120)
        cluster.plugin("status", FAMILY)

        step("8. Version 2 serves")
        wait("version 2 serves", lambda: _serving(cluster, "2"), 300)
        timings["serving"] = time.monotonic() - start
        cluster.plugin("status", FAMILY)
        print(f"$ ctr --address {cluster.socket} -n k8s.io tasks list  (the node's containers)")
        for container in running_containers(cluster.socket):
            print(f"  {container}")

    step("9. Every dashboard panel and alert of the chart has data from this loop")
    time.sleep(3)  # the last scrape
    empty, checked = without_data(PrometheusRange(cluster.prometheus, began, time.time()))
    for query in empty:
        print(f"no data: {query.source}: {query.expr}")
    if empty:
        raise DemoError(f"{len(empty)} of {checked} dashboard and alert queries found no data")
    print(f"{checked} queries (dashboard variables and panels, alert series) all have data")

    step("10. The audit record of the family: lineage, verdicts, approvals, triggers, rollouts")
    cluster.plugin("audit", FAMILY)
    cluster.plugin("audit", FAMILY, "-o", "markdown")
    return timings


def recent_uri(cluster: Cluster) -> str:
    return f"file://{cluster.workdir / 'recent.csv'}"


def write_recent_data(cluster: Cluster) -> None:
    """The labelled data of the shifted period: every row of the diabetes data with the
    shift added to its inputs and its outcome unchanged. The trainer holds out the same
    quarter of rows (seed 0) that version 1 held out, so neither version trained on the
    rows both are measured on."""
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).frame
    for feature, delta in SHIFT.items():
        frame[feature] = frame[feature] + delta
    path = cluster.workdir / "recent.csv"
    frame.to_csv(path.with_suffix(".partial"), index=False)
    path.with_suffix(".partial").rename(path)


def fair_retrain_policy(data_uri: str) -> dict[str, Any]:
    """Retrain on drift with the example trainer on the recent data; the gate compares r2 on
    the trainer's holdout and bounds fairness over sex; auto-approval up to Low risk."""
    policy = retrain_policy(
        POLICY,
        ["--data", data_uri],
        triggers=[drift_trigger()],
        approval={"autoApproveUpTo": "Low"},
    )
    policy["spec"]["gate"]["fairness"] = {
        "attribute": "sex",
        "maxDemographicParityDifference": 0.1,
        "maxEqualOpportunityDifference": 0.1,
    }
    return policy


def show_gate(cluster: Cluster) -> None:
    """Version 2 against version 1: the gate's figures on one holdout, and the two artifacts."""
    first, second = (cluster.get(f"model/{FAMILY}-{v}") for v in ("1", "2"))
    evaluation = second["status"]["evaluation"]
    print(f"gate: {evaluation['message']}")
    digests = [model["spec"]["artifact"]["sha256"][:12] for model in (first, second)]
    if digests[0] == digests[1] or evaluation.get("championValue") == evaluation["value"]:
        raise DemoError(f"version 2 is version 1 again: artifacts {digests}, gate {evaluation}")
    print(f"version 1's artifact sha256 {digests[0]}…, version 2's {digests[1]}…")


def _serving(cluster: Cluster, version: str) -> bool:
    status = cluster.get(f"deployments.modelkeeper.io/{FAMILY}").get("status", {})
    return bool(
        status.get("phase") == "Healthy"
        and status.get("stable", {}).get("version") == version
        and "candidate" not in status
    )


def _candidate(cluster: Cluster) -> tuple[str, str] | None:
    """The candidate's version and role."""
    status = cluster.get(f"deployments.modelkeeper.io/{FAMILY}").get("status", {})
    candidate = status.get("candidate")
    return (candidate["version"], candidate["role"]) if candidate else None


def _mirror_percent(cluster: Cluster) -> int | None:
    mirrored: int | None = (
        cluster.get(f"deployments.modelkeeper.io/{FAMILY}").get("status", {}).get("mirrorPercent")
    )
    return mirrored


def _monitor_state(cluster: Cluster) -> str | None:
    state: str | None = cluster.get(f"driftmonitor/{MONITOR}").get("status", {}).get("state")
    return state


def _model(cluster: Cluster, version: str) -> bool:
    return bool(cluster.get(f"model/{FAMILY}-{version}").get("status", {}).get("approved"))


def _router(cluster: Cluster) -> str:
    def address() -> str | None:
        pods = json.loads(
            cluster.kubectl(
                "get",
                "pods",
                "-n",
                NAMESPACE,
                "-o",
                "json",
                "-l",
                f"modelkeeper.io/deployment={FAMILY},app.kubernetes.io/component=router",
            )
        )["items"]
        ips = [p["status"]["podIP"] for p in pods if p.get("status", {}).get("podIP")]
        return f"{ips[0]}:8080" if ips else None

    found: str = wait("the router has an address", address, 60)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.demo", description=__doc__)
    parser.parse_args()
    if not STATE_FILE.exists():
        print(
            "error: no ground is running: run `make cluster-up` (or `make demo`)", file=sys.stderr
        )
        return 1
    cluster = Cluster(json.loads(STATE_FILE.read_text()))
    try:
        timings = walk(cluster)
    except DemoError as error:
        print(f"\ndemo failed: {error}", file=sys.stderr)
        return 1
    print("\nThe loop ran: " + ", ".join(f"{k} after {v:.0f}s" for k, v in timings.items()))
    print(f"""
It is still running. Look around:
  export KUBECONFIG={cluster.kubeconfig}
  kubectl -n {NAMESPACE} get models,deployments.modelkeeper.io,driftmonitors,retrainpolicies
  .venv/bin/kubectl-modelkeeper -n {NAMESPACE} status {FAMILY} --watch
  .venv/bin/kubectl-modelkeeper -n {NAMESPACE} versions {FAMILY}
  .venv/bin/kubectl-modelkeeper -n {NAMESPACE} audit {FAMILY} -o markdown
  Prometheus: {cluster.prometheus}
Stop everything: make cluster-down""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
