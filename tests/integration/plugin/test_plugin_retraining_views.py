"""`kubectl modelkeeper retrain|history|versions` against the real API server.

Given a RetrainPolicy and Models applied from manifests, with the statuses the operator would
write put through the status subresource: `retrain` writes a new request id each time and the
id survives a re-apply of the manifest; `history` lists the runs, active first; `versions` lists
the family's Models through the API server's field selector on spec.name, newest first.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from tests.ground.ground import Kubectl
from tests.ground.processes import free_port
from tests.integration.plugin.plugin_harness import Plugin, derived_kubeconfig, read, write_status
from tests.support import objects

POLICY = """
apiVersion: modelkeeper.io/v1alpha1
kind: RetrainPolicy
metadata:
  name: fraud-weekly
spec:
  model:
    name: fraud
  workload:
    job:
      spec:
        template:
          spec:
            restartPolicy: Never
            containers:
              - name: train
                image: registry.example.com/fraud-train:1
"""
REQUEST_ID = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"
RETRAIN = "modelkeeper.io/retrain"


def model_manifest(name: str, family: str, version: str, metrics: dict[str, float]) -> str:
    return yaml.safe_dump(
        objects.model(
            name, family, version, image=f"registry.example.com/{family}:{version}", metrics=metrics
        )
    )


def cells(line: str) -> list[str]:
    """A table line's cells (no cell here holds three spaces in a row)."""
    return re.split(r" {3,}", line.rstrip())


def rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_retrain_writes_a_new_request_each_time_and_it_survives_a_reapply(
    plugin: Plugin, kubectl: Kubectl
) -> None:
    # Given a RetrainPolicy applied from its manifest
    kubectl("apply", "-f", "-", input=POLICY)
    spec = read(kubectl, "retrainpolicies/fraud-weekly")["spec"]

    # When retraining is requested twice
    first = plugin("retrain", "fraud-weekly")
    assert (first.code, first.err) == (0, "")
    said = re.fullmatch(
        rf"retrainpolicy fraud-weekly: retraining requested \(({REQUEST_ID})\)\n", first.out
    )
    assert said is not None, first.out
    annotations = read(kubectl, "retrainpolicies/fraud-weekly")["metadata"]["annotations"]
    assert annotations[RETRAIN] == said.group(1)
    second = plugin("retrain", "fraud-weekly", "-o", "json")
    assert second.code == 0
    printed = json.loads(second.out)

    # Then each is a new request id, and the plugin wrote that annotation and nothing else
    assert re.fullmatch(REQUEST_ID, printed[RETRAIN])
    assert printed[RETRAIN] != said.group(1)
    live = read(kubectl, "retrainpolicies/fraud-weekly")
    assert live["metadata"]["annotations"] == printed
    assert live["spec"] == spec
    written = [entry for entry in live["metadata"]["managedFields"]]
    assert [
        entry["fieldsV1"] for entry in written if entry["manager"] == "kubectl-modelkeeper"
    ] == [{"f:metadata": {"f:annotations": {f"f:{RETRAIN}": {}}}}]

    # When the manifest is applied again, client-side and server-side, the request survives
    kubectl("apply", "-f", "-", input=POLICY)
    kubectl("apply", "--server-side", "--field-manager=gitops", "-f", "-", input=POLICY)
    resynced = read(kubectl, "retrainpolicies/fraud-weekly")
    assert resynced["metadata"]["annotations"][RETRAIN] == printed[RETRAIN]
    assert resynced["spec"] == spec


def test_history_lists_active_runs_then_finished_ones_newest_first(
    plugin: Plugin, kubectl: Kubectl
) -> None:
    # Given a policy with one run going on and two finished (stored out of order)
    kubectl("apply", "-f", "-", input=POLICY)
    now = datetime.now(UTC).replace(microsecond=0)
    running_since = now - timedelta(minutes=5)
    write_status(
        kubectl,
        "retrainpolicies/fraud-weekly",
        {
            "active": [
                {
                    "name": "fraud-weekly-3",
                    "trigger": "Manual",
                    "reason": "requested by kubectl modelkeeper retrain",
                    "startTime": rfc3339(running_since),
                }
            ],
            "history": [
                {
                    "name": "fraud-weekly-1",
                    "trigger": "Schedule",
                    "startTime": "2026-11-20T03:00:00Z",
                    "completionTime": "2026-11-20T03:01:05Z",
                    "outcome": "Failed",
                    "message": "Job failed: BackoffLimitExceeded",
                },
                {
                    "name": "fraud-weekly-2",
                    "trigger": "Drift",
                    "startTime": "2026-11-21T20:00:00Z",
                    "completionTime": "2026-11-21T20:12:30Z",
                    "outcome": "Succeeded",
                    "model": "fraud-4",
                    "message": "fraud 4 beat 3 on auc by 0.02",
                },
            ],
        },
    )

    # When the history is shown (stdout is not a terminal: no colour, no cut)
    result = plugin("history", "fraud-weekly")

    # Then the active run comes first, then the finished ones, newest first
    assert (result.code, result.err) == (0, "")
    assert "\x1b[" not in result.out
    header, running, succeeded, failed = (cells(line) for line in result.out.splitlines())
    assert header == ["RUN", "TRIGGER", "STARTED", "DURATION", "OUTCOME", "MODEL", "MESSAGE"]
    assert running[:3] == ["fraud-weekly-3", "Manual", rfc3339(running_since)]
    assert re.fullmatch(r"5m(\d+s)?", running[3]), running
    assert running[4:] == ["Running", "-", "requested by kubectl modelkeeper retrain"]
    assert succeeded == [
        "fraud-weekly-2",
        "Drift",
        "2026-11-21T20:00:00Z",
        "12m",
        "Succeeded",
        "fraud-4",
        "fraud 4 beat 3 on auc by 0.02",
    ]
    assert failed == [
        "fraud-weekly-1",
        "Schedule",
        "2026-11-20T03:00:00Z",
        "65s",
        "Failed",
        "-",
        "Job failed: BackoffLimitExceeded",
    ]

    # When shown as JSON and YAML, the runs are the same data in the same order
    as_json = json.loads(plugin("history", "fraud-weekly", "-o", "json").out)
    as_yaml = yaml.safe_load(plugin("history", "fraud-weekly", "-o", "yaml").out)
    assert as_json == as_yaml
    assert [run["name"] for run in as_json] == [
        "fraud-weekly-3",
        "fraud-weekly-2",
        "fraud-weekly-1",
    ]
    assert (as_json[1]["model"], as_json[1]["outcome"]) == ("fraud-4", "Succeeded")


def test_history_of_a_policy_without_runs(plugin: Plugin, kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=POLICY)

    result = plugin("history", "fraud-weekly")

    assert (result.code, result.out, result.err) == (
        0,
        "retrainpolicy fraud-weekly: no runs yet\n",
        "",
    )


def test_versions_lists_the_familys_models_newest_first(plugin: Plugin, kubectl: Kubectl) -> None:
    # Given three versions of fraud (applied one after another) and a version of another family
    for name, family, version, metrics in (
        ("fraud-1", "fraud", "1", {"auc": 0.88}),
        ("fraud-2", "fraud", "2", {"auc": 0.91, "f1": 0.803}),
        ("fraud-3", "fraud", "3", {}),
        ("churn-7", "churn", "7", {"auc": 0.7}),
    ):
        kubectl("apply", "-f", "-", input=model_manifest(name, family, version, metrics))
    write_status(kubectl, "models/fraud-1", {"stage": "Retired", "approved": True})
    write_status(
        kubectl,
        "models/fraud-2",
        {
            "stage": "Production",
            "approved": True,
            "approval": {
                "by": "alice@example.com",
                "at": "2026-11-24T11:00:00Z",
                "source": "Annotation",
            },
            "servedBy": [{"deployment": "fraud", "role": "Stable"}],
        },
    )
    write_status(kubectl, "models/fraud-3", {"stage": "Rejected", "approved": False})

    # When the versions of fraud are shown
    result = plugin("versions", "fraud")

    # Then only fraud's Models are listed, newest first, with who approved and where served
    assert (result.code, result.err) == (0, "")
    rows = [cells(line) for line in result.out.splitlines()]
    assert [row[:-1] for row in rows] == [
        ["VERSION", "MODEL", "STAGE", "APPROVED", "RISK", "METRICS", "SERVED BY"],
        ["3", "fraud-3", "Rejected", "no", "High", "-", "-"],
        [
            "2",
            "fraud-2",
            "Production",
            "alice@example.com",
            "High",
            "auc=0.91,f1=0.803",
            "fraud (Stable)",
        ],
        ["1", "fraud-1", "Retired", "yes", "High", "auc=0.88", "-"],
    ]
    assert rows[0][-1] == "AGE"
    assert all(re.fullmatch(r"\d+s", row[-1]) for row in rows[1:]), rows

    # When shown as data, the same rows
    data = json.loads(plugin("versions", "fraud", "-o", "json").out)
    assert yaml.safe_load(plugin("versions", "fraud", "-o", "yaml").out) == data
    assert [row["model"] for row in data] == ["fraud-3", "fraud-2", "fraud-1"]
    assert data[1]["approvedBy"] == "alice@example.com"
    assert data[1]["metrics"] == {"auc": 0.91, "f1": 0.803}

    # When a family has no Models, one line says so
    none = plugin("versions", "ghost")
    assert (none.code, none.out, none.err) == (
        0,
        f"no Models of family ghost in namespace {plugin.namespace}\n",
        "",
    )


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        pytest.param(
            ("retrain", "ghost"),
            "kubectl modelkeeper retrain: RetrainPolicy ghost not found in namespace {namespace}",
            id="retrain-not-found",
        ),
        pytest.param(
            ("history", "ghost"),
            "kubectl modelkeeper history: RetrainPolicy ghost not found in namespace {namespace}",
            id="history-not-found",
        ),
        pytest.param(
            ("versions", "fraud", "--kubeconfig=/nowhere/kubeconfig"),
            "kubectl modelkeeper versions: kubeconfig /nowhere/kubeconfig: no such file",
            id="no-kubeconfig-file",
        ),
    ],
)
def test_refusals_are_one_line(plugin: Plugin, argv: tuple[str, ...], error: str) -> None:
    result = plugin(*argv)

    assert (result.code, result.out) == (1, "")
    assert result.err.splitlines() == [error.format(namespace=plugin.namespace)]


@pytest.mark.parametrize(
    ("argv", "verb", "resource"),
    [
        pytest.param(("versions", "fraud"), "list", "models", id="versions-needs-list"),
        pytest.param(("history", "fraud-weekly"), "get", "retrainpolicies", id="history-needs-get"),
        pytest.param(("retrain", "fraud-weekly"), "get", "retrainpolicies", id="retrain-needs-get"),
    ],
)
def test_forbidden_names_the_verb_and_resource(
    plugin: Plugin,
    kubectl: Kubectl,
    tmp_path: Path,
    argv: tuple[str, ...],
    verb: str,
    resource: str,
) -> None:
    # Given a user with no rights in the namespace
    kubectl("apply", "-f", "-", input=POLICY)
    kubectl("create", "serviceaccount", "nobody")
    token = kubectl("create", "token", "nobody", "--duration=10m").stdout.strip()
    kubeconfig = derived_kubeconfig(plugin.kubeconfig, tmp_path / "nobody", token=token)

    result = plugin(*argv, kubeconfig=kubeconfig)

    user = f"system:serviceaccount:{plugin.namespace}:nobody"
    assert (result.code, result.out) == (1, "")
    [line] = result.err.splitlines()
    assert line.startswith(f"kubectl modelkeeper {argv[0]}: not allowed: ")
    assert (
        f'User "{user}" cannot {verb} resource "{resource}" in API group "modelkeeper.io"' in line
    )
    assert RETRAIN not in read(kubectl, "retrainpolicies/fraud-weekly")["metadata"].get(
        "annotations", {}
    )


def test_an_unreachable_server_is_named(plugin: Plugin, tmp_path: Path) -> None:
    server = f"https://127.0.0.1:{free_port()}"
    kubeconfig = derived_kubeconfig(plugin.kubeconfig, tmp_path / "gone", server=server)

    result = plugin("versions", "fraud", kubeconfig=kubeconfig)

    assert (result.code, result.out) == (1, "")
    [line] = result.err.splitlines()
    assert line.startswith(
        f"kubectl modelkeeper versions: cannot reach the API server at {server}: "
    )
