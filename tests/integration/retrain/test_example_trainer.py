"""`modelkeeper train-example` as a training container runs it: env in, files and result out.

The first test runs the console script as a process; the others call the same command
in-process (`modelkeeper.cli.main`), which spares a second of imports per case.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from modelkeeper.api.model import ArtifactFormat
from modelkeeper.cli import main
from modelkeeper.retrain.result import TrainingResult, parse_result
from modelkeeper.serving.runtime import load_model_dir

MODELKEEPER = str(Path(sys.executable).parent / "modelkeeper")


def environment(tmp_path: Path) -> dict[str, str]:
    return {
        "MODELKEEPER_OUTPUT_URI": f"file://{tmp_path}/fraud/2/",
        "MODELKEEPER_TERMINATION_LOG": str(tmp_path / "termination-log"),
    }


def trained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *flags: str, **env: str
) -> TrainingResult:
    """Run the command in-process with the operator's environment; returns its result."""
    for name, value in {**environment(tmp_path), **env}.items():
        monkeypatch.setenv(name, value)
    assert main(["train-example", *flags]) == 0
    return parse_result((tmp_path / "termination-log").read_text())


def test_the_result_names_a_loadable_artifact_with_its_digest_and_lineage(tmp_path: Path) -> None:
    completed = subprocess.run(
        [MODELKEEPER, "train-example"],
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    result = parse_result((tmp_path / "termination-log").read_text())
    assert completed.stdout.strip() == (tmp_path / "termination-log").read_text()
    directory = tmp_path / "fraud" / "2"
    assert result.artifact.uri == f"file://{directory}/model.joblib"
    loaded = load_model_dir(directory, ArtifactFormat.SKLEARN)
    assert loaded.schema.inputs[0].name == "age"
    assert result.profile is not None
    assert result.profile.uri == f"file://{directory}/profile.json"
    assert [data.uri for data in result.training_data] == [f"file://{directory}/training.csv"]
    assert set(result.metrics) == {"r2", "rmse", "mae"}
    assert result.metrics["r2"] > 0.3


def test_a_degraded_model_scores_worse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = trained(tmp_path / "good", monkeypatch)
    worse = trained(tmp_path / "worse", monkeypatch, "--degrade")

    assert worse.metrics["r2"] < good.metrics["r2"] - 0.2
    assert worse.metrics["rmse"] > good.metrics["rmse"]


def test_a_shift_from_the_environment_moves_the_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = trained(tmp_path / "plain", monkeypatch)
    shifted = trained(tmp_path / "shifted", monkeypatch, MODELKEEPER_TRAIN_SHIFT="bmi=0.5")

    assert plain.profile is not None
    assert shifted.profile is not None
    assert plain.profile.sha256 != shifted.profile.sha256


@pytest.mark.parametrize(
    ("flags", "code", "error"),
    [
        pytest.param(("--fail",), 1, "failing as asked", id="told-to-fail"),
        pytest.param(
            ("--shift", "height=1"),
            2,
            "cannot shift unknown feature(s) height",
            id="unknown-feature",
        ),
        pytest.param(
            ("--output-uri", "s3://bucket/fraud/2/"),
            2,
            "must be a file:// URI",
            id="not-a-file-uri",
        ),
    ],
)
def test_failures_exit_non_zero_without_a_result(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    flags: tuple[str, ...],
    code: int,
    error: str,
) -> None:
    for name, value in environment(tmp_path).items():
        monkeypatch.setenv(name, value)

    assert main(["train-example", *flags]) == code

    assert error in capsys.readouterr().err
    assert not (tmp_path / "termination-log").exists()
