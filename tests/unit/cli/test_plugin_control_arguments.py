"""The plugin's control commands parse into the control each one asks for."""

from __future__ import annotations

import pytest

from modelkeeper import plugin, plugin_controls
from modelkeeper.cli import build_parser
from modelkeeper.controls import DeploymentControl

PARSER = build_parser("kubectl-modelkeeper", "test", plugin.COMMANDS)


@pytest.mark.parametrize(
    ("argv", "control"),
    [
        pytest.param(["promote", "fraud"], DeploymentControl.PROMOTE_STEP, id="promote-a-step"),
        pytest.param(["promote", "fraud", "--full"], DeploymentControl.PROMOTE, id="promote-full"),
        pytest.param(["abort", "fraud"], DeploymentControl.ABORT, id="abort"),
        pytest.param(["pause", "fraud"], DeploymentControl.PAUSE, id="pause"),
        pytest.param(["resume", "fraud"], DeploymentControl.RESUME, id="resume"),
        pytest.param(["retry", "fraud"], DeploymentControl.RETRY, id="retry"),
    ],
)
def test_deployment_commands(argv: list[str], control: DeploymentControl) -> None:
    args = PARSER.parse_args([*argv, "-n", "risk"])
    assert args.handler is plugin_controls.deployment_command
    assert args.control is control
    assert (args.name, args.namespace, args.output) == ("fraud", "risk", None)


@pytest.mark.parametrize(
    ("argv", "by"),
    [
        pytest.param(["approve", "fraud-2"], None, id="as-the-caller"),
        pytest.param(["approve", "fraud-2", "--by", "alice"], "alice", id="by-someone"),
    ],
)
def test_approve(argv: list[str], by: str | None) -> None:
    args = PARSER.parse_args([*argv, "-o", "json", "--context", "prod"])
    assert args.handler is plugin_controls.approve_command
    assert (args.name, args.by, args.output, args.context) == ("fraud-2", by, "json", "prod")
