"""The `launch` fixture: start real processes for a router test, stop them at its end, and
show the tail of each one's log when the test fails."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.ground.processes import log_tail
from tests.integration.router.harness import Launcher

LAUNCHER = pytest.StashKey[Launcher]()


@pytest.fixture
def launch(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Launcher]:
    launcher = Launcher(tmp_path)
    request.node.stash[LAUNCHER] = launcher
    yield launcher
    launcher.stop_all()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    launcher = item.stash.get(LAUNCHER, None)
    if report.failed and launcher is not None:
        for component in launcher.components:
            report.sections.append((f"{component.name} log tail", log_tail(component.log, 40)))
    return report
