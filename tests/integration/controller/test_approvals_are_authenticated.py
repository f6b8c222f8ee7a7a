"""Approvals the API server vouches for: the chart's ValidatingAdmissionPolicy on the real
API server, people as impersonated users, and the operator deciding what each risk tier needs.

The policy is the chart's own (rendered by helm), bound here to the test's namespace only,
so the other tests of the session, which approve as whoever they like, are not covered.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ground.controlplane import ControlPlane
from tests.ground.ground import Kubectl
from tests.ground.polling import eventually
from tests.support.chart import rendered_objects
from tests.support.kube import apply, condition, event_log, get, wait_for
from tests.support.models import write_constant_model
from tests.support.objects import artifact_model, deployment, model
from tests.support.operator_process import RunningOperator

APPROVED_BY = "modelkeeper.io/approved-by"
CREATED_BY = "modelkeeper.io/created-by"
OPERATOR = "system:serviceaccount:modelkeeper-system:modelkeeper"
PEOPLE = ("alice", "bob", "carol", OPERATOR)


@pytest.fixture
def approval_policy(control_plane: ControlPlane, namespace: str, crds: Path) -> Iterator[str]:
    """The chart's policy and binding, bound to `namespace`; people who may write Models there."""
    suffix = namespace[-6:]
    policy, binding = (
        obj
        for obj in rendered_objects("modelkeeper", "modelkeeper-system")
        if str(obj["kind"]).startswith("ValidatingAdmissionPolicy")
    )
    name = f"modelkeeper-approvals-{suffix}"
    policy["metadata"]["name"] = name  # type: ignore[index]
    binding["metadata"]["name"] = name  # type: ignore[index]
    binding_spec: Any = binding["spec"]
    binding_spec["policyName"] = name
    binding_spec["matchResources"]["namespaceSelector"] = {
        "matchLabels": {"kubernetes.io/metadata.name": namespace}
    }
    writers = [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "model-writer", "namespace": namespace},
            "rules": [
                {
                    "apiGroups": ["modelkeeper.io"],
                    "resources": ["models"],
                    "verbs": ["get", "list", "create", "update", "patch"],
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "model-writer", "namespace": namespace},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "model-writer",
            },
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": person}
                for person in PEOPLE
            ],
        },
    ]
    control_plane.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([policy, binding, *writers]))
    probe = model("probe-1", "probe", "1", image="registry.example.com/probe:1")
    probe["metadata"]["annotations"] = {CREATED_BY: "someone-else"}

    def enforced() -> bool:
        tried = control_plane.kubectl(
            "create",
            "--dry-run=server",
            "-n",
            namespace,
            "-f",
            "-",
            input=yaml.safe_dump(probe),
            check=False,
        )
        return tried.returncode != 0 and name in tried.stderr

    eventually(enforced, 60, "the API server enforces the approval policy")
    yield name
    control_plane.kubectl(
        "delete", "validatingadmissionpolicybinding,validatingadmissionpolicy", name, check=False
    )


def as_user(kubectl: Kubectl, user: str, *args: str, input: str | None = None) -> Any:
    """kubectl as `user` (the admin impersonates), not raising: the caller reads the outcome."""
    return kubectl(f"--as={user}", *args, input=input, check=False)


def annotate(kubectl: Kubectl, user: str, resource: str, value: str) -> Any:
    return as_user(kubectl, user, "annotate", "--overwrite", resource, f"{APPROVED_BY}={value}")


def created_by(manifest: dict[str, Any], user: str) -> dict[str, Any]:
    manifest["metadata"]["annotations"] = {CREATED_BY: user}
    return manifest


def test_the_api_server_refuses_an_approval_in_someone_elses_name(
    approval_policy: str, kubectl: Kubectl
) -> None:
    version = model("fraud-1", "fraud", "1", image="registry.example.com/fraud:1")

    # A creator may record only themselves as the creator
    refused = as_user(
        kubectl, "carol", "create", "-f", "-", input=yaml.safe_dump(created_by(version, "alice"))
    )
    assert refused.returncode != 0
    assert f"{CREATED_BY} must name who creates the Model: user carol" in refused.stderr
    done = as_user(
        kubectl, "carol", "create", "-f", "-", input=yaml.safe_dump(created_by(version, "carol"))
    )
    assert done.returncode == 0, done.stderr
    # (as the operator's account records itself on the versions its retraining runs make)
    retrained = model("fraud-9", "fraud", "9", image="registry.example.com/fraud:9")
    done = as_user(
        kubectl,
        OPERATOR,
        "create",
        "-f",
        "-",
        input=yaml.safe_dump(created_by(retrained, OPERATOR)),
    )
    assert done.returncode == 0, done.stderr

    # An approval in someone else's name is refused, naming the annotation and the user
    refused = annotate(kubectl, "bob", "models/fraud-1", "alice")
    assert refused.returncode != 0
    assert approval_policy in refused.stderr
    assert f"{APPROVED_BY} may only gain or lose the name of who writes it: user bob" in (
        refused.stderr
    )
    assert APPROVED_BY not in get(kubectl, "models/fraud-1")["metadata"]["annotations"]

    # Each approver appends their own name; others' names are left as they are
    assert annotate(kubectl, "alice", "models/fraud-1", "alice").returncode == 0
    for user, value, why in (
        ("bob", "bob", "drops alice"),
        ("bob", "alice,bob,carol", "adds carol too"),
        ("bob", "bob,alice", "puts bob before alice"),
    ):
        assert annotate(kubectl, user, "models/fraud-1", value).returncode != 0, why
    assert annotate(kubectl, "bob", "models/fraud-1", "alice, bob").returncode == 0
    assert get(kubectl, "models/fraud-1")["metadata"]["annotations"][APPROVED_BY] == "alice, bob"

    # One may withdraw one's own approval, never another's
    assert annotate(kubectl, "bob", "models/fraud-1", "bob").returncode != 0
    assert annotate(kubectl, "alice", "models/fraud-1", "bob").returncode == 0

    # The creator never changes, not even by the creator
    changed = as_user(
        kubectl, "carol", "annotate", "--overwrite", "models/fraud-1", f"{CREATED_BY}=bob"
    )
    assert changed.returncode != 0
    assert f"{CREATED_BY} is set when the Model is created and never changes" in changed.stderr


def test_a_high_risk_version_with_one_approver_is_not_served(
    approval_policy: str, operator: RunningOperator, kubectl: Kubectl, tmp_path: Path
) -> None:
    # Given a High-risk version (the default tier) created by carol, and a Deployment
    sha = write_constant_model(tmp_path / "v1", 1.0)
    version = artifact_model("loans-1", "loans", "1", tmp_path / "v1", sha)
    del version["spec"]["governance"]
    done = as_user(
        kubectl, "carol", "create", "-f", "-", input=yaml.safe_dump(created_by(version, "carol"))
    )
    assert done.returncode == 0, done.stderr
    apply(kubectl, deployment("loans", "loans"))

    # When carol (the creator) and alice approve
    assert annotate(kubectl, "carol", "models/loans-1", "carol").returncode == 0
    assert annotate(kubectl, "alice", "models/loans-1", "carol,alice").returncode == 0

    # Then the version waits for a second approver other than its creator, and says so
    needed = "risk tier High needs 2 distinct approvers other than its creator carol; " + (
        "approvers so far: alice"
    )
    waiting = wait_for(
        kubectl,
        "models/loans-1",
        lambda m: needed in (condition(m, "Approved") or {}).get("message", ""),
        "the Model says what it still needs",
    )
    assert waiting["status"]["approved"] is False
    assert (condition(waiting, "Approved") or {})["reason"] == "ApprovalNeeded"
    assert [by["by"] for by in waiting["status"]["approvals"]] == ["carol", "alice"]
    eventually(
        lambda: ("Normal", "ApprovalNeeded", needed) in event_log(kubectl, "Model", "loans-1"),
        30,
        "an ApprovalNeeded Event says what is missing",
    )
    loans = wait_for(
        kubectl,
        "deployments.modelkeeper.io/loans",
        lambda d: (condition(d, "Degraded") or {}).get("reason") == "NotApproved",
        "the Deployment serves nothing and says why",
    )
    assert "stable" not in loans["status"]
    assert needed in (condition(loans, "Degraded") or {})["message"]

    # When bob approves too, it is served
    assert annotate(kubectl, "bob", "models/loans-1", "carol,alice,bob").returncode == 0
    wait_for(
        kubectl,
        "deployments.modelkeeper.io/loans",
        lambda d: d["status"].get("stable", {}).get("version") == "1",
        "the Deployment serves the version two people other than its creator approved",
    )
    # (the Model's status is its own reconcile's, which may follow the Deployment's)
    approved = wait_for(
        kubectl,
        "models/loans-1",
        lambda m: m["status"].get("approval", {}).get("by") == "bob",
        "the Model records the approval that made it servable",
    )
    assert (condition(approved, "Approved") or {})["message"] == "approved by carol, alice, bob"
