"""What a person sees at the terminal: `kubectl get modelkeeper`, columns, short names, explain."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ground.controlplane import ControlPlane
from tests.ground.ground import Kubectl

REPO = Path(__file__).resolve().parents[3]
FRAUD = REPO / "manifests" / "samples" / "fraud"


def test_get_modelkeeper_lists_every_kind_with_its_columns(api: Kubectl) -> None:
    api("apply", "--server-side", "-f", str(FRAUD))
    listed = api("get", "modelkeeper").stdout
    for name in (
        "model.modelkeeper.io/fraud-1.0.0",
        "deployment.modelkeeper.io/fraud",
        "driftmonitor.modelkeeper.io/fraud",
        "retrainpolicy.modelkeeper.io/fraud",
    ):
        assert name in listed
    headers = [line.split() for line in listed.splitlines() if line.startswith("NAME")]
    assert sorted(headers) == sorted(
        [
            ["NAME", "FAMILY", "VERSION", "STAGE", "APPROVED", "AGE"],
            ["NAME", "MODEL", "STABLE", "CANDIDATE", "WEIGHT", "STEP", "PHASE", "AGE"],
            ["NAME", "DEPLOYMENT", "STATE", "SINCE", "AGE"],
            ["NAME", "FAMILY", "ACTIVE", "LAST", "AGE"],
        ]
    )


def test_columns_show_what_the_operator_writes_to_status(api: Kubectl) -> None:
    api("apply", "--server-side", "-f", str(FRAUD / "model-1.0.0.yaml"))
    api(
        "patch",
        "model",
        "fraud-1.0.0",
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status": {"stage": "Production", "approved": true}}',
    )
    row = api("get", "mkm", "fraud-1.0.0", "--no-headers").stdout.split()
    assert row[:5] == ["fraud-1.0.0", "fraud", "1.0.0", "Production", "true"]


def test_short_names_and_the_family_field_selector(api: Kubectl) -> None:
    api("apply", "--server-side", "-f", str(FRAUD))
    api("apply", "--server-side", "-f", str(REPO / "manifests" / "samples" / "model-minimal.yaml"))
    assert api("get", "mkm,mkd,mkdm,mkrp", "-o", "name").stdout.count("\n") == 6
    family = api("get", "models", "--field-selector", "spec.name=fraud", "-o", "name").stdout
    assert family.split() == [
        "model.modelkeeper.io/fraud-1.0.0",
        "model.modelkeeper.io/fraud-1.1.0",
    ]


@pytest.mark.parametrize(
    ("field", "teaches"),
    [
        pytest.param(
            "deployments.spec.strategy", "How a new version replaces the stable one", id="strategy"
        ),
        pytest.param(
            "deployments.spec.strategy.canary.analysis.onMissingData",
            "Pause the rollout until data comes",
            id="missing-data",
        ),
        pytest.param("models.spec.artifact.uri", "s3://, gs://, https://", id="artifact-uri"),
        pytest.param(
            "models.spec.governance.riskTier", "unknown risk counts as High", id="risk-tier"
        ),
        pytest.param(
            "driftmonitors.spec.byType.numeric.mode", "false-alarm rates", id="threshold-mode"
        ),
        pytest.param("retrainpolicies.spec.triggers.schedule.cron", "five cron fields", id="cron"),
        pytest.param("retrainpolicies", "Request a manual run with the", id="kind"),
    ],
)
def test_explain_teaches_the_field(
    field: str, teaches: str, crds: Path, control_plane: ControlPlane
) -> None:
    explained = control_plane.kubectl(
        "explain", field, "--api-version=modelkeeper.io/v1alpha1"
    ).stdout
    assert teaches in " ".join(explained.split())


def test_the_crds_fit_client_side_apply(crds: Path, control_plane: ControlPlane) -> None:
    applied = control_plane.kubectl("apply", "--dry-run=server", "-f", str(crds)).stdout
    assert applied.count("(server dry run)") == 5
