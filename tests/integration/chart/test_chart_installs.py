"""The rendered chart installs into the real API server, in both RBAC modes.

The API server accepting the Deployment and the ReplicaSet controller creating its pod
prove the pod spec valid; the operator's account gets exactly the rules of
charts/modelkeeper/files/clusterrole-rules.yaml, which the controller tests run the
operator with (tests/support/operator_process.py), so those tests show the
rules suffice and this one shows the chart grants them, no more.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ground.ground import Kubectl
from tests.ground.polling import eventually
from tests.support.chart import rendered_objects
from tests.support.operator_process import RULES

CRD_GROUP = "apiextensions.k8s.io"


def _can(kubectl: Kubectl, account: str, verb: str, resource: str, namespace: str) -> bool:
    """`kubectl auth can-i` as the account; `resource/sub` asks about a subresource."""
    kind, _, subresource = resource.partition("/")
    question = ("auth", "can-i", verb, kind, f"--subresource={subresource}")
    asked = kubectl(*question, f"--as={account}", "-n", namespace, check=False, namespaced=False)
    return asked.stdout.strip() == "yes"


def _rules(kubectl: Kubectl, kind: str, name: str, *scope: str) -> list[dict[str, Any]]:
    found = json.loads(kubectl("get", kind, name, "-o", "json", *scope, namespaced=False).stdout)
    rules: list[dict[str, Any]] = found["rules"]
    return rules


@pytest.mark.parametrize("scope", [pytest.param("Cluster"), pytest.param("Namespaced")])
def test_chart_installs_with_a_valid_pod_and_exactly_the_shipped_rules(
    scope: str, crds: Path, kubectl: Kubectl, namespace: str
) -> None:
    # Given the chart rendered as a release of its own in the test's namespace
    release = f"chart-{uuid.uuid4().hex[:6]}"
    # (its approval policy bound to the test's namespace: the session's other tests approve
    # in any name they like)
    only_here = (
        rf"approvals.namespaceSelector.matchLabels.kubernetes\.io/metadata\.name={namespace}"
    )
    objects = rendered_objects(release, namespace, f"rbac.scope={scope}", only_here)
    fullname = f"{release}-modelkeeper"
    account = f"system:serviceaccount:{namespace}:{fullname}"
    shipped = yaml.safe_load(RULES.read_text())
    try:
        # When it is applied server-side
        kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(objects))

        # Then the ReplicaSet controller makes the operator's pod from the template
        def pod() -> dict[str, Any] | None:
            listed = kubectl(
                "get", "pods", "-l", f"app.kubernetes.io/instance={release}", "-o", "json"
            )
            items: list[dict[str, Any]] = json.loads(listed.stdout)["items"]
            return items[0] if items else None

        created = eventually(pod, 30, "the operator's pod")
        container = created["spec"]["containers"][0]
        assert created["spec"]["serviceAccountName"] == fullname
        assert created["spec"]["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["args"] == ["run"]

        # And the account holds exactly the shipped rules
        if scope == "Cluster":
            assert _rules(kubectl, "clusterrole", fullname) == shipped
            assert _can(kubectl, account, "list", "models.modelkeeper.io", "default")
        else:
            in_namespace = _rules(kubectl, "role", fullname, "-n", namespace)
            cluster_wide = _rules(kubectl, "clusterrole", f"{fullname}-crds")
            assert cluster_wide == [rule for rule in shipped if CRD_GROUP in rule["apiGroups"]]
            assert in_namespace == [
                rule
                for rule in shipped
                if CRD_GROUP not in rule["apiGroups"] and "kopf.dev" not in rule["apiGroups"]
            ]
            assert not _can(kubectl, account, "list", "models.modelkeeper.io", "default")
        assert _can(kubectl, account, "patch", "deployments.modelkeeper.io/status", namespace)
        assert _can(kubectl, account, "list", "customresourcedefinitions", namespace)
        assert not _can(kubectl, account, "get", "secrets", namespace)
        assert not _can(kubectl, account, "update", "models.modelkeeper.io", namespace)

        # And the API server type-checked the approval policy's CEL without a warning
        policy = f"validatingadmissionpolicy/{fullname}-approvals"

        def checked() -> dict[str, Any] | None:
            found = json.loads(kubectl("get", policy, "-o", "json", namespaced=False).stdout)
            status: dict[str, Any] | None = found.get("status")
            return status if status and status.get("observedGeneration") else None

        assert eventually(checked, 30, "the policy is type-checked").get("typeChecking") in (
            None,
            {},
        )
    finally:
        release_label = f"app.kubernetes.io/instance={release}"
        cluster_kinds = "clusterrole,clusterrolebinding,validatingadmissionpolicy,"
        cluster_kinds += "validatingadmissionpolicybinding"
        kubectl("delete", cluster_kinds, "-l", release_label, namespaced=False)
