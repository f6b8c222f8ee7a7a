"""`modelkeeper train-example` as a training container runs it: env in, files and result out.

The first test runs the console script as a process; the others call the same command
in-process (`modelkeeper.cli.main`), which spares a second of imports per case.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import joblib
import pandas as pd
import pytest
from fairlearn.metrics import demographic_parity_difference, equal_opportunity_difference
from sklearn.metrics import r2_score

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


def recent_data(path: Path, shift: dict[str, float]) -> str:
    """The diabetes data as it is measured now (`shift` added), labelled: the demo's recent data."""
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).frame
    for feature, delta in shift.items():
        frame[feature] = frame[feature] + delta
    frame.to_csv(path, index=False)
    return f"file://{path}"


def test_the_champion_is_measured_on_the_same_holdout_as_the_new_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given version 1 trained on the diabetes data, and recent data whose inputs moved
    first = trained(tmp_path / "v1", monkeypatch)
    recent = recent_data(tmp_path / "recent.csv", {"bmi": 0.1, "bp": 0.1, "s5": 0.1})

    # When version 2 trains on the recent data with version 1 as its champion
    second = trained(
        tmp_path / "v2",
        monkeypatch,
        "--data",
        recent,
        MODELKEEPER_CHAMPION_ARTIFACT_URI=first.artifact.uri,
        MODELKEEPER_CHAMPION_ARTIFACT_SHA256=first.artifact.sha256,
        MODELKEEPER_FAIRNESS_ATTRIBUTE="sex",
    )

    # Then it is another model, and both were measured on the holdout it names
    assert second.artifact.sha256 != first.artifact.sha256
    assert second.holdout is not None
    holdout = pd.read_csv(tmp_path / "v2" / "fraud" / "2" / "holdout.csv")
    assert (
        second.holdout.sha256
        == hashlib.sha256(
            (tmp_path / "v2" / "fraud" / "2" / "holdout.csv").read_bytes()
        ).hexdigest()
    )
    features = [name for name in holdout.columns if name != "target"]
    champion = load_model_dir(tmp_path / "v1" / "fraud" / "2", ArtifactFormat.SKLEARN)
    assert champion.schema.inputs[0].name == "age"
    new = joblib.load(tmp_path / "v2" / "fraud" / "2" / "model.joblib")
    old = joblib.load(tmp_path / "v1" / "fraud" / "2" / "model.joblib")
    assert second.metrics["r2"] == round(
        r2_score(holdout["target"], new.predict(holdout[features])), 6
    )
    assert second.champion_metrics["r2"] == round(
        r2_score(holdout["target"], old.predict(holdout[features])), 6
    )
    # the old model predicts the moved inputs badly; the new one learnt them
    assert second.champion_metrics["r2"] < second.metrics["r2"] - 1
    # neither trained on a row of the holdout
    v1_rows = pd.read_csv(tmp_path / "v1" / "fraud" / "2" / "training.csv")
    unshifted = holdout.assign(bmi=holdout.bmi - 0.1, bp=holdout.bp - 0.1, s5=holdout.s5 - 0.1)
    rows = {tuple(row) for row in unshifted.round(9).itertuples(index=False)}
    assert not rows & {tuple(row) for row in v1_rows.round(9).itertuples(index=False)}
    v1_holdout = pd.read_csv(tmp_path / "v1" / "fraud" / "2" / "holdout.csv")
    assert rows == {tuple(row) for row in v1_holdout.round(9).itertuples(index=False)}

    # And its fairness over sex is fairlearn's on the same decisions
    threshold = float(second.parameters["decisionThreshold"])
    decisions = new.predict(holdout[features]) >= threshold
    assert second.fairness is not None
    assert second.fairness.positive == f"prediction >= {threshold:g}"
    assert second.fairness.demographic_parity_difference == pytest.approx(
        demographic_parity_difference(
            holdout["target"] >= threshold, decisions, sensitive_features=holdout["sex"]
        ),
        abs=1e-6,
    )
    assert second.fairness.equal_opportunity_difference == pytest.approx(
        equal_opportunity_difference(
            holdout["target"] >= threshold, decisions, sensitive_features=holdout["sex"]
        ),
        abs=1e-6,
    )


def test_a_shift_from_the_environment_moves_the_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = trained(tmp_path / "plain", monkeypatch)
    shifted = trained(tmp_path / "shifted", monkeypatch, MODELKEEPER_TRAIN_SHIFT="bmi=0.5")

    assert plain.profile is not None
    assert shifted.profile is not None
    assert plain.profile.sha256 != shifted.profile.sha256


@pytest.mark.parametrize(
    ("flags", "env", "code", "error"),
    [
        pytest.param(("--fail",), {}, 1, "failing as asked", id="told-to-fail"),
        pytest.param(
            ("--shift", "height=1"),
            {},
            2,
            "cannot shift unknown feature(s) height",
            id="unknown-feature",
        ),
        pytest.param(
            ("--output-uri", "s3://bucket/fraud/2/"),
            {},
            2,
            "must be a file:// URI",
            id="not-a-file-uri",
        ),
        pytest.param(
            ("--data", "file:///nonexistent/recent.csv"),
            {},
            2,
            "cannot read --data file:///nonexistent/recent.csv",
            id="data-missing",
        ),
        pytest.param(
            (),
            {"MODELKEEPER_FAIRNESS_ATTRIBUTE": "race"},
            2,
            "MODELKEEPER_FAIRNESS_ATTRIBUTE 'race' is not a column of the data",
            id="unknown-sensitive-attribute",
        ),
        pytest.param(
            (),
            {
                "MODELKEEPER_CHAMPION_ARTIFACT_URI": f"file://{__file__}",
                "MODELKEEPER_CHAMPION_ARTIFACT_SHA256": "0" * 64,
            },
            2,
            "does not match its sha256",
            id="champion-digest-differs",
        ),
    ],
)
def test_failures_exit_non_zero_without_a_result(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    flags: tuple[str, ...],
    env: dict[str, str],
    code: int,
    error: str,
) -> None:
    for name, value in environment(tmp_path).items():
        monkeypatch.setenv(name, value)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    assert main(["train-example", *flags]) == code

    assert error in capsys.readouterr().err
    assert not (tmp_path / "termination-log").exists()
