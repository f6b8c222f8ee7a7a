"""crds/ and docs/api.md are what the generator writes from the models, byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelkeeper import cli, crdgen

REPO = Path(__file__).resolve().parents[3]


def test_committed_files_match_the_generator() -> None:
    diffs = crdgen.stale(REPO)
    assert not diffs, "run `python -m modelkeeper.crdgen`:\n" + "\n".join(diffs)


def test_check_passes_on_the_repository_through_the_cli() -> None:
    assert cli.main(["crdgen", "--check", "--root", str(REPO)]) == 0


def test_check_fails_with_a_diff_where_files_are_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert crdgen.main(["--check", "--root", str(tmp_path)]) == 1
    printed = capsys.readouterr().out
    assert "+++ crds/models.modelkeeper.io.yaml (generated)" in printed
    assert "6 generated file(s) are stale" in printed
