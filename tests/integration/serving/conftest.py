"""Fixtures for the serving tests: model directories trained once, servers per test or module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.serving.serving_harness import ServerLauncher
from tests.support.models import write_diabetes_forest, write_iris_forest, write_iris_regions


@pytest.fixture(scope="session")
def iris_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_iris_forest(tmp_path_factory.mktemp("iris"))


@pytest.fixture(scope="session")
def regions_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_iris_regions(tmp_path_factory.mktemp("regions"))


@pytest.fixture(scope="session")
def diabetes_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_diabetes_forest(tmp_path_factory.mktemp("diabetes"))


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[ServerLauncher]:
    """Servers for one test."""
    launcher = ServerLauncher(tmp_path)
    yield launcher
    launcher.stop_all()


@pytest.fixture(scope="module")
def launch_shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerLauncher]:
    """Servers shared by the tests of one module (a server takes seconds to start)."""
    launcher = ServerLauncher(tmp_path_factory.mktemp("servers"))
    yield launcher
    launcher.stop_all()
