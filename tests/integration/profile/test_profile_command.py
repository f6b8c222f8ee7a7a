"""`modelkeeper profile build` on real CSV and Parquet files: the profile written, the errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelkeeper.cli import main
from modelkeeper.profile import Profile, build_profile


def training_frame() -> pd.DataFrame:
    generator = np.random.default_rng(5)
    return pd.DataFrame(
        {
            "amount": generator.lognormal(3, 1, 400),
            "country": generator.choice(["de", "fr", "it", "es"], 400, p=[0.4, 0.3, 0.2, 0.1]),
            "store": generator.integers(1, 6, 400),
            "fraud": generator.integers(0, 2, 400),
        }
    )


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_builds_the_same_profile_as_the_library(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str
) -> None:
    frame = training_frame()
    data = tmp_path / f"train{suffix}"
    if suffix == ".csv":
        frame.to_csv(data, index=False)
    else:
        frame.to_parquet(data)
    out = tmp_path / "profile.json"
    argv = ["profile", "build", str(data), "--out", str(out), "--bins", "8"]
    assert main([*argv, "--categorical", "store", "--target", "fraud"]) == 0
    assert "3 features from 400 rows" in capsys.readouterr().out
    written = Profile.model_validate_json(out.read_text())
    expected = build_profile(
        pd.read_csv(data) if suffix == ".csv" else frame,
        bins=8,
        categorical=["store"],
        target="fraud",
    )
    assert written == expected
    assert [feature.name for feature in written.features] == ["amount", "country", "store"]
    assert written.target is not None
    assert written.target.name == "fraud"


@pytest.mark.parametrize(
    ("content", "flags", "message"),
    [
        pytest.param("", [], "the file is empty", id="empty-file"),
        pytest.param("a,b\n", [], "the data has no rows", id="header-only"),
        pytest.param(
            "a,b\n1,2\n",
            ["--categorical", "c"],
            "column 'c' not found (columns: a, b)",
            id="missing-column",
        ),
        pytest.param("a,b\n1,\n2,\n", [], "column 'b' has no finite values", id="no-finite-values"),
        pytest.param("a,b\n1,2\n", ["--target", "z"], "column 'z' not found", id="missing-target"),
        pytest.param("a,b\n1,2\n", ["--bins", "0"], "bins must be between 1 and 50", id="bins"),
    ],
)
def test_errors_name_the_problem_and_write_nothing(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str,
    flags: list[str],
    message: str,
) -> None:
    data = tmp_path / "train.csv"
    data.write_text(content)
    out = tmp_path / "profile.json"
    assert main(["profile", "build", str(data), "--out", str(out), *flags]) == 1
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["profile", "build", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "p.json")])
        == 1
    )
    assert "no such file" in capsys.readouterr().err
