"""When the ground cannot start, it says what failed and where to look, at once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.ground.binaries import TOOLS, require
from tests.ground.processes import Component, GroundError, free_port


def test_a_component_that_dies_is_named_with_its_log(tmp_path: Path) -> None:
    log = tmp_path / "flaky.log"
    component = Component(
        "flaky",
        [sys.executable, "-c", "print('listen failed: address in use'); raise SystemExit(3)"],
        log,
    )
    component.start()
    started = time.monotonic()
    with pytest.raises(GroundError) as failure:
        component.wait_until(lambda: False, timeout=60)
    assert time.monotonic() - started < 10, "a dead component must fail fast, not time out"
    message = str(failure.value)
    assert "flaky exited with code 3" in message
    assert str(log) in message
    assert "address in use" in message


def test_a_port_in_use_fails_the_component_clearly(tmp_path: Path) -> None:
    with socket.socket() as taken:
        port = free_port()
        taken.bind(("127.0.0.1", port))
        taken.listen()
        server = Component(
            "web",
            [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
            tmp_path / "web.log",
        )
        server.start()
        with pytest.raises(
            GroundError, match=r"(?s)web exited with code 1.*Address already in use"
        ):
            server.wait_until(lambda: False, timeout=60)


def test_a_component_that_never_gets_ready_times_out_with_its_log(tmp_path: Path) -> None:
    component = Component(
        "sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "s.log"
    )
    component.start()
    try:
        with pytest.raises(GroundError, match="sleeper was not ready within 1s; log: "):
            component.wait_until(lambda: False, timeout=1)
    finally:
        component.stop()
    assert not component.alive()


def test_a_missing_program_says_how_to_install_it() -> None:
    with pytest.raises(GroundError, match=r"no-such-program is not installed: run `make deps`"):
        require("no-such-program")


def test_building_kubernetes_without_go_says_so(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [str(TOOLS / "build-kube.sh"), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "Go is not installed" in result.stderr
