"""The two console scripts answer --version and, with no command, print help and exit 2."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from modelkeeper import __version__, cli
from modelkeeper.plugin import main as plugin

Main = Callable[[Sequence[str] | None], int]


@pytest.mark.parametrize(
    ("main", "prog"),
    [
        pytest.param(cli.main, "modelkeeper", id="modelkeeper"),
        pytest.param(plugin.main, "kubectl-modelkeeper", id="kubectl-plugin"),
    ],
)
def test_version_and_help(main: Main, prog: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"{prog} {__version__}"

    assert main([]) == 2
    assert "usage:" in capsys.readouterr().out
