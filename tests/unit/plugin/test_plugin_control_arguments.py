"""The plugin's commands parse into the control or view each one asks for."""

from __future__ import annotations

import pytest

from modelkeeper.plugin.controls import approve_command, deployment_command, retrain_command
from modelkeeper.plugin.inspect import history_command, versions_command
from modelkeeper.plugin.main import build_plugin_parser, main
from modelkeeper.plugin.plans import DeploymentControl
from modelkeeper.plugin.terminal import OutputFormat

PARSER = build_plugin_parser()


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
    assert args.handler is deployment_command
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
    assert args.handler is approve_command
    assert (args.name, args.by, args.output, args.context) == ("fraud-2", by, "json", "prod")


def test_retrain() -> None:
    args = PARSER.parse_args(["retrain", "fraud-weekly", "-n", "risk", "-o", "json"])
    assert args.handler is retrain_command
    assert (args.name, args.namespace, args.output) == ("fraud-weekly", "risk", "json")


@pytest.mark.parametrize(
    ("argv", "handler", "output"),
    [
        pytest.param(["history", "fraud"], history_command, None, id="history"),
        pytest.param(
            ["history", "fraud", "-o", "yaml"],
            history_command,
            OutputFormat.YAML,
            id="history-yaml",
        ),
        pytest.param(
            ["versions", "fraud", "--output=json"],
            versions_command,
            OutputFormat.JSON,
            id="versions-json",
        ),
    ],
)
def test_views(argv: list[str], handler: object, output: OutputFormat | None) -> None:
    args = PARSER.parse_args([*argv, "--kubeconfig", "/tmp/k"])
    assert args.handler is handler
    assert args.output == output
    assert args.kubeconfig == "/tmp/k"


def test_views_refuse_an_unknown_format(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        PARSER.parse_args(["versions", "fraud", "-o", "wide"])
    [*_, error] = capsys.readouterr().err.splitlines()
    assert "-o/--output: invalid choice: 'wide'" in error
    assert ("json" in error, "yaml" in error) == (True, True)


@pytest.mark.parametrize(
    ("argv", "namespace", "context"),
    [
        pytest.param(["-n", "h5", "status", "wine"], "h5", None, id="kubectl-habit-before"),
        pytest.param(["status", "wine", "-n", "h5"], "h5", None, id="after"),
        pytest.param(
            ["--namespace=h5", "--context", "prod", "abort", "wine"], "h5", "prod", id="long-before"
        ),
        pytest.param(["-n", "a", "retry", "wine", "-n", "b"], "b", None, id="after-wins"),
        pytest.param(["history", "wine"], None, None, id="neither"),
    ],
)
def test_cluster_flags_before_or_after_the_subcommand(
    argv: list[str], namespace: str | None, context: str | None
) -> None:
    """Finding 8: `kubectl modelkeeper -n NS status NAME`, kubectl's own order, works."""
    args = PARSER.parse_args(argv)
    assert (args.name, args.namespace, args.context) == ("wine", namespace, context)


def test_an_unknown_command_lists_the_commands_by_name_without_python_reprs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Finding 8: the message names the commands as typed, never an enum's repr."""
    with pytest.raises(SystemExit):
        main(["h5", "status", "wine"])
    error = capsys.readouterr().err
    assert "invalid choice: 'h5'" in error
    assert "abort" in error
    assert "<" not in error
    assert "DeploymentControl" not in error
