"""Fetching the model file from its artifact URI: the digest is checked, a mismatch stops the start.

A local HTTP server stands in for remote storage (loopback only).
"""

from __future__ import annotations

import hashlib
import shutil
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from modelkeeper.cli import main
from tests.ground.processes import Component, free_port
from tests.integration.serving.serving_harness import ServerLauncher
from tests.support.traffic import v2_body

WRONG = "0" * 64


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """No access log on the test's stderr."""


@pytest.fixture
def storage(iris_dir: Path) -> Iterator[str]:
    """An HTTP server on loopback serving the iris model directory."""
    handler = partial(QuietHandler, directory=str(iris_dir))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def without_model(iris_dir: Path, target: Path) -> Path:
    """A model directory with the schema and profile but no model file, as an init step finds it."""
    target.mkdir()
    for name in ("schema.json", "profile.json"):
        shutil.copy(iris_dir / name, target / name)
    return target


def test_serve_fetches_over_http_and_checks_the_digest(
    launch: ServerLauncher, iris_dir: Path, storage: str, tmp_path: Path
) -> None:
    model_dir = without_model(iris_dir, tmp_path / "model")
    server = launch.start(
        model_dir,
        "iris",
        "--artifact-uri",
        f"{storage}/model.joblib",
        "--artifact-sha256",
        sha256(iris_dir / "model.joblib"),
    )
    assert server.infer(v2_body([[5.1, 3.5, 1.4, 0.2]])).status_code == 200
    assert sha256(model_dir / "model.joblib") == sha256(iris_dir / "model.joblib")


def test_serve_refuses_to_start_on_a_digest_mismatch(
    launch: ServerLauncher, iris_dir: Path, tmp_path: Path
) -> None:
    model_dir = without_model(iris_dir, tmp_path / "model")
    port = free_port()
    argv = launch.command(model_dir, "iris", port)
    argv += ["--artifact-uri", (iris_dir / "model.joblib").as_uri(), "--artifact-sha256", WRONG]
    component = Component("serve-mismatch", argv, tmp_path / "mismatch.log")
    component.start()
    assert component.process is not None
    assert component.process.wait(timeout=60) == 1
    log = component.log.read_text()
    assert f"sha256 mismatch: expected {WRONG}, got {sha256(iris_dir / 'model.joblib')}" in log
    assert "Traceback" not in log
    assert sorted(path.name for path in model_dir.iterdir()) == ["profile.json", "schema.json"]


@pytest.mark.parametrize(
    ("uri", "digest", "message"),
    [
        pytest.param("{storage}/model.joblib", WRONG, "sha256 mismatch", id="mismatch"),
        pytest.param("{storage}/absent.joblib", None, "404", id="not-found"),
        pytest.param("ftp://host/model.joblib", None, "unsupported scheme 'ftp'", id="scheme"),
        pytest.param("file:///nonexistent/model.joblib", None, "No such file", id="no-file"),
    ],
)
def test_fetch_artifact_failures_leave_nothing(
    storage: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    uri: str,
    digest: str | None,
    message: str,
) -> None:
    out = tmp_path / "model.joblib"
    argv = ["fetch-artifact", uri.format(storage=storage), "--out", str(out)]
    assert main([*argv, *(["--sha256", digest] if digest else [])]) == 1
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_fetch_artifact_from_a_file(iris_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "fetched" / "model.joblib"
    digest = sha256(iris_dir / "model.joblib")
    argv = ["fetch-artifact", (iris_dir / "model.joblib").as_uri(), "--out", str(out)]
    assert main([*argv, "--sha256", digest]) == 0
    assert sha256(out) == digest
