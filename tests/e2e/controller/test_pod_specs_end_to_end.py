"""The pod specs the operator writes, proven under a real kubelet rather than assumed.

Each test would fail if the kubelet, containerd and runc did not enforce what the spec
asks: the restricted security context (read-only root, the image's non-root uid, no
capabilities, no privilege escalation, the runtime's seccomp filter), the memory limit,
and the artifact init step that checks the model file's digest, whose error the kubelet
reports as the init container's termination message.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.ground.ground import Kubectl
from tests.ground.imagebuild import MODELKEEPER_IMAGE
from tests.ground.polling import eventually
from tests.support.kube import apply, condition, get, router_address, serving_only, wait_for
from tests.support.models import write_constant_model
from tests.support.objects import artifact_model, deployment
from tests.support.operator_process import RunningOperator
from tests.support.traffic import SteadyTraffic

FAMILY = "fleet"
SERVER = "app.kubernetes.io/component=server"

PROBE = """
import json, os
try:
    open("/written-by-the-server", "w")
    root = "writable"
except OSError as error:
    root = error.strerror
status = dict(line.split(":\\t", 1) for line in open("/proc/self/status").read().splitlines())
scratch = os.environ["TMPDIR"] + "/probe"
open(scratch, "w").write("ok")
print(json.dumps({
    "uid": os.getuid(), "gid": os.getgid(), "root": root, "scratch": open(scratch).read(),
    "CapEff": status["CapEff"], "NoNewPrivs": status["NoNewPrivs"], "Seccomp": status["Seccomp"],
}))
"""


def _pods(kubectl: Kubectl, family: str) -> list[dict[str, Any]]:
    found = kubectl(
        "get", "pods", "-l", f"modelkeeper.io/deployment={family},{SERVER}", "-o", "json"
    )
    items: list[dict[str, Any]] = json.loads(found.stdout)["items"]
    return items


def test_the_scoring_server_runs_restricted(
    shared_operator: RunningOperator,
    kubectl: Kubectl,
    tmp_path: Path,
) -> None:
    # Given version 1 served by the operator's own pod spec
    sha = write_constant_model(tmp_path / "v1", 1.0)
    apply(
        kubectl,
        artifact_model("locked-1", "locked", "1", tmp_path / "v1", sha),
        deployment("locked", "locked"),
    )
    wait_for(kubectl, "deployments.modelkeeper.io/locked", serving_only("1"), "serves", 120)
    [pod] = _pods(kubectl, "locked")

    # When the server's container looks at itself
    probed = kubectl("exec", pod["metadata"]["name"], "-c", "server", "--", "python3", "-c", PROBE)
    seen = json.loads(probed.stdout)

    # Then it is the image's user, its root is read-only, its scratch space is the emptyDir,
    # and it holds no capability, cannot gain privileges and is under a seccomp filter
    assert (seen["uid"], seen["gid"]) == (10001, 10001)
    assert seen["root"] == "Read-only file system"
    assert seen["scratch"] == "ok"
    assert int(seen["CapEff"], 16) == 0
    assert seen["NoNewPrivs"].strip() == "1"
    assert seen["Seccomp"].strip() == "2"  # filter mode: the runtime's default profile


def test_a_server_over_its_memory_limit_is_oom_killed(
    shared_operator: RunningOperator,
    kubectl: Kubectl,
    tmp_path: Path,
) -> None:
    # Given a Deployment whose servers may use 40 MiB, less than the scoring server needs
    sha = write_constant_model(tmp_path / "v1", 1.0)
    small = deployment(
        "tight",
        "tight",
        resources={"limits": {"memory": "40Mi", "cpu": "1"}, "requests": {"memory": "40Mi"}},
    )
    apply(kubectl, artifact_model("tight-1", "tight", "1", tmp_path / "v1", sha), small)

    # When its server starts, the kernel kills it at the limit
    def oom_killed() -> dict[str, Any] | None:
        for pod in _pods(kubectl, "tight"):
            for status in pod.get("status", {}).get("containerStatuses", []):
                terminated = status.get("lastState", {}).get("terminated") or {}
                if terminated.get("reason") == "OOMKilled":
                    return terminated
        return None

    terminated = eventually(oom_killed, 120, "the server is OOMKilled")
    # Then the kubelet reports the kill (exit 137: SIGKILL) in the pod's status, and
    # the Deployment says which container was killed and why
    assert terminated["exitCode"] == 137
    degraded = wait_for(
        kubectl,
        "deployments.modelkeeper.io/tight",
        lambda d: "OOMKilled" in (condition(d, "Degraded") or {}).get("message", ""),
        "the Deployment reports the OOM kill",
        120,
    )
    assert condition(degraded, "Degraded")["reason"] == "ContainerFailing"  # type: ignore[index]


def artifact_store(directory: Path) -> dict[str, Any]:
    """A pod serving `directory` over HTTP on port 8000: an artifact store that the
    operator does not read, so only the scoring pod's fetch step checks what it serves."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "store", "labels": {"app": "store"}},
        "spec": {
            "containers": [
                {
                    "name": "http",
                    "image": MODELKEEPER_IMAGE,
                    "command": ["python3", "-m", "http.server", "8000"],
                    "args": ["--directory", str(directory)],
                    "ports": [{"containerPort": 8000}],
                    "readinessProbe": {"tcpSocket": {"port": 8000}, "periodSeconds": 1},
                }
            ]
        },
    }


def test_the_fetch_step_refuses_a_file_whose_digest_differs_and_the_deployment_says_so(
    shared_operator: RunningOperator,
    kubectl: Kubectl,
    tmp_path: Path,
) -> None:
    # Given a model file served over HTTP, and a Model that gives another file's digest
    write_constant_model(tmp_path / "store", 1.0)
    claimed = write_constant_model(tmp_path / "other", 2.0)
    apply(kubectl, artifact_store(tmp_path / "store"))
    kubectl("wait", "--for=condition=Ready", "pod/store", "--timeout=90s")
    store = get(kubectl, "pod/store")["status"]["podIP"]
    model = artifact_model("digest-1", "digest", "1", tmp_path / "store", claimed)
    model["spec"]["artifact"]["uri"] = f"http://{store}:8000/model.joblib"
    model["spec"]["reference"]["uri"] = f"http://{store}:8000/profile.json"

    # When it is served
    apply(kubectl, model, deployment("digest", "digest"))

    # Then the scoring pod stays in its init step, whose error the Deployment shows
    degraded = wait_for(
        kubectl,
        "deployments.modelkeeper.io/digest",
        lambda d: (condition(d, "Degraded") or {}).get("reason") == "InitContainerFailing",
        "the Deployment says its fetch step fails",
        120,
    )
    message = condition(degraded, "Degraded")["message"]  # type: ignore[index]
    assert "fetch-model" in message
    assert f"sha256 mismatch: expected {claimed}" in message
    [pod] = _pods(kubectl, "digest")
    assert pod["status"]["phase"] == "Pending"
    assert all(not c.get("ready") for c in pod["status"]["containerStatuses"])
    # and the Model says which part the operator could not check, and who does
    validated = condition(get(kubectl, "model/digest-1"), "Validated") or {}
    assert "fetch step" in validated.get("message", "")


def claim_on(directory: Path, name: str, namespace: str) -> list[dict[str, Any]]:
    """A PersistentVolume on `directory` of this machine, bound to a claim `name`."""
    volume = f"{namespace}-{name}"
    return [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": volume},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadOnlyMany"],
                "storageClassName": "",
                "hostPath": {"path": str(directory), "type": "Directory"},
                "claimRef": {"namespace": namespace, "name": name},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "accessModes": ["ReadOnlyMany"],
                "storageClassName": "",
                "volumeName": volume,
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    ]


def test_a_model_on_a_claim_is_fetched_through_the_claim(
    shared_operator: RunningOperator,
    kubectl: Kubectl,
    namespace: str,
    tmp_path: Path,
) -> None:
    # Given a model file on a PersistentVolumeClaim, and a Model that names it pvc://
    sha = write_constant_model(tmp_path / "volume" / FAMILY / "1", 1.0)
    claim = claim_on(tmp_path / "volume", "models", namespace)
    model = artifact_model(f"{FAMILY}-1", FAMILY, "1", tmp_path, sha)
    model["spec"]["artifact"]["uri"] = f"pvc://models/{FAMILY}/1/model.joblib"
    model["spec"]["reference"]["uri"] = f"pvc://models/{FAMILY}/1/profile.json"
    try:
        kubectl("apply", "-f", "-", input=yaml.safe_dump_all(claim))
        kubectl("wait", "--for=jsonpath={.status.phase}=Bound", "pvc/models", "--timeout=60s")
        # When a Deployment serves it
        apply(kubectl, model, deployment("claimed", FAMILY))

        # Then the fetch steps read it through the claim the operator mounted, the
        # version serves, and the router answers with it
        wait_for(kubectl, "deployments.modelkeeper.io/claimed", serving_only("1"), "serves", 120)
        router = router_address(kubectl, "claimed")
        answer = SteadyTraffic(router).request(5.0)
        assert (answer.ok, answer.version) == (True, "1"), answer.detail
        [pod] = _pods(kubectl, "claimed")
        claims = [
            v["persistentVolumeClaim"]
            for v in pod["spec"]["volumes"]
            if "persistentVolumeClaim" in v
        ]
        assert claims == [{"claimName": "models", "readOnly": True}]
        validated = condition(get(kubectl, f"model/{FAMILY}-1"), "Validated") or {}
        assert validated.get("reason") == "ValidatedInPart"
    finally:
        kubectl("delete", "pv", claim[0]["metadata"]["name"], "--wait=false", namespaced=False)
