"""ServingPools and pooled Deployments: the operator against the real API server, as its own
ServiceAccount (no node here: pods stay Pending).

Given a ServingPool, the operator creates its servers, router, Services and account, owned
by the pool. Given a Deployment that names it, the Deployment owns no pods, only its
catalogue ConfigMap, which a canary's steps rewrite with the step's weights (the pool is
scaled to zero, which counts as ready as a version scaled to zero does, since no pod can
become ready without a node: tests/e2e/controller/test_pool_end_to_end.py runs real ones).
A Deployment whose pool does not exist says so in its Pooled condition and serves nothing;
one that moves into a pool loses its own servers and router; a second Deployment of the
pool with the same model name is refused its catalogue, with the reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.ground.ground import Kubectl
from tests.ground.polling import eventually
from tests.support.kube import apply, condition, get, owned, wait_for
from tests.support.models import write_constant_model
from tests.support.objects import artifact_model, deployment, manifest
from tests.support.operator_process import RunningOperator

STEPS = {"steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 60}, {"pause": {}}]}


def serving_pool(name: str, **spec: Any) -> dict[str, Any]:
    return manifest("ServingPool", name, spec)


def catalogue(kubectl: Kubectl, deployment: str) -> dict[str, Any] | None:
    """The family in a pooled Deployment's catalogue, or None while there is none."""
    found = kubectl("get", "configmap", f"{deployment}-catalogue", "-o", "json", check=False)
    if found.returncode != 0:
        return None
    family: dict[str, Any] = json.loads(json.loads(found.stdout)["data"]["family.json"])
    return family


def weights(kubectl: Kubectl, deployment: str) -> dict[str, int]:
    family = catalogue(kubectl, deployment)
    return {v["version"]: v["weight"] for v in family["versions"]} if family else {}


def pooled_reason(obj: dict[str, Any]) -> str | None:
    found = condition(obj, "Pooled")
    return found["reason"] if found else None


def test_a_pool_owns_its_objects_and_a_canary_moves_its_catalogue(
    operator: RunningOperator, kubectl: Kubectl, tmp_path: Path
) -> None:
    # Given a pool scaled to zero and a Canary Deployment of family `shop` in it
    sha1 = write_constant_model(tmp_path / "v1", 1.0)
    apply(
        kubectl,
        serving_pool("shared", replicas=0, memoryBudget="64Mi", router={"replicas": 0}),
        artifact_model("shop-1", "shop", "1", tmp_path / "v1", sha1),
        deployment("shop", "shop", pool="shared", strategy={"type": "Canary", "canary": STEPS}),
    )

    # Then the pool's objects exist, owned by the pool, and its status counts one family
    pool = wait_for(
        kubectl,
        "servingpools/shared",
        lambda p: p.get("status", {}).get("families") == 1,
        "the pool counts one Deployment",
    )
    made = json.loads(
        kubectl(
            "get",
            "deployments.apps,services,serviceaccounts,roles,rolebindings",
            "-l",
            "modelkeeper.io/pool=shared",
            "-o",
            "json",
        ).stdout
    )["items"]
    assert {(o["kind"], o["metadata"]["name"]) for o in made} == {
        ("Deployment", "shared-pool-servers"),
        ("Deployment", "shared-pool"),
        ("Service", "shared-pool-servers"),
        ("Service", "shared-pool"),
        ("ServiceAccount", "shared-pool"),
        ("Role", "shared-pool"),
        ("RoleBinding", "shared-pool"),
    }
    assert all(o["metadata"]["ownerReferences"][0]["uid"] == pool["metadata"]["uid"] for o in made)
    servers = get(kubectl, "deployments.apps/shared-pool-servers")
    args = servers["spec"]["template"]["spec"]["containers"][0]["args"]
    namespace = pool["metadata"]["namespace"]
    assert args[:7] == ["serve", "--pool", "shared", "--namespace", namespace,
                        "--memory-budget", str(64 << 20)]  # fmt: skip
    ready = condition(pool, "Ready")
    assert ready is not None
    assert ready["status"] == "True", ready

    # And the Deployment serves version 1 through the pool: a catalogue, no pods of its own
    wait_for(
        kubectl,
        "deployments.modelkeeper.io/shop",
        lambda d: d.get("status", {}).get("phase") == "Healthy",
        "version 1 serves through the pool",
    )
    assert weights(kubectl, "shop") == {"1": 100}
    family = catalogue(kubectl, "shop")
    assert family is not None
    assert family["model"] == "shop"
    assert family["versions"][0]["uri"] == f"file://{tmp_path}/v1/model.joblib"
    assert set(owned(kubectl, "shop")) == {"ConfigMap"}

    # When version 2 appears, each canary step's weight is in the catalogue
    sha2 = write_constant_model(tmp_path / "v2", 2.0)
    apply(kubectl, artifact_model("shop-2", "shop", "2", tmp_path / "v2", sha2))
    eventually(lambda: weights(kubectl, "shop") == {"1": 80, "2": 20}, 30, "step 0 at 20 %")
    kubectl("annotate", "deployments.modelkeeper.io/shop", "modelkeeper.io/promote-step=1")
    eventually(lambda: weights(kubectl, "shop") == {"1": 40, "2": 60}, 30, "step 2 at 60 %")
    kubectl("annotate", "deployments.modelkeeper.io/shop", "modelkeeper.io/promote=2")
    done = wait_for(
        kubectl,
        "deployments.modelkeeper.io/shop",
        lambda d: [h["outcome"] for h in d.get("status", {}).get("history", [])] == ["Promoted"],
        "version 2 promoted",
    )
    assert done["status"]["stable"]["version"] == "2"
    # The drain keeps version 1 loadable by its version for a moment, then it leaves
    eventually(lambda: weights(kubectl, "shop") == {"2": 100}, 30, "version 1 leaves")


def test_a_missing_pool_is_reported_and_moving_in_prunes_the_own_pods(
    operator: RunningOperator, kubectl: Kubectl, tmp_path: Path
) -> None:
    # Given a Deployment with pods of its own
    sha = write_constant_model(tmp_path / "v1", 1.0)
    apply(
        kubectl,
        artifact_model("cart-1", "cart", "1", tmp_path / "v1", sha),
        deployment("cart", "cart"),
    )
    eventually(
        lambda: "Deployment" in owned(kubectl, "cart"), 30, "its own servers and router exist"
    )

    # When it names a pool that does not exist
    apply(kubectl, deployment("cart", "cart", pool="nowhere"))

    # Then it says so, its own servers and router are gone, and its catalogue waits
    missing = wait_for(
        kubectl,
        "deployments.modelkeeper.io/cart",
        lambda d: pooled_reason(d) == "PoolNotFound",
        "the Pooled condition says the pool is missing",
    )
    pooled = condition(missing, "Pooled")
    assert pooled is not None
    assert "ServingPool nowhere does not exist" in pooled["message"]
    assert missing["status"]["phase"] == "Degraded"
    eventually(lambda: set(owned(kubectl, "cart")) == {"ConfigMap"}, 30, "only the catalogue")
    assert weights(kubectl, "cart") == {"1": 100}

    # When the pool appears, the Deployment serves through it
    apply(kubectl, serving_pool("nowhere", replicas=0))
    wait_for(
        kubectl,
        "deployments.modelkeeper.io/cart",
        lambda d: pooled_reason(d) == "PoolServes" and d["status"].get("phase") == "Healthy",
        "the Deployment serves through the pool",
    )

    # When a second Deployment of the pool serves the same model name, it is refused
    apply(kubectl, deployment("cart-copy", "cart", pool="nowhere"))
    taken = wait_for(
        kubectl,
        "deployments.modelkeeper.io/cart-copy",
        lambda d: pooled_reason(d) == "ModelNameTaken",
        "the second Deployment is told the name is taken",
    )
    pooled = condition(taken, "Pooled")
    assert pooled is not None
    assert "Deployment cart serves model cart" in pooled["message"]
    assert catalogue(kubectl, "cart-copy") is None
    assert weights(kubectl, "cart") == {"1": 100}

    # When it leaves the pool, its catalogue goes and its own objects come back
    apply(kubectl, deployment("cart", "cart"))
    eventually(lambda: {"Deployment", "Service"} <= set(owned(kubectl, "cart")), 30, "its own pods")
    eventually(lambda: catalogue(kubectl, "cart") is None, 30, "the catalogue is pruned")
    left = get(kubectl, "deployments.modelkeeper.io/cart")
    assert pooled_reason(left) is None
    wait_for(
        kubectl,
        "servingpools/nowhere",
        lambda p: p.get("status", {}).get("families") == 1,
        "the pool counts the one Deployment left",
        timeout=30,
    )
