"""Building reference profiles: bins with Prometheus `le` semantics, categories, missing values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from modelkeeper.profile import (
    CategoricalProfile,
    NumericProfile,
    Profile,
    ProfileError,
    bin_indices,
    build_profile,
    padded_edges,
)


@pytest.mark.parametrize(
    ("edges", "value", "index"),
    [
        pytest.param([1.0, 2.0, 3.0], 0.5, 0, id="below-min-underflow"),
        pytest.param([1.0, 2.0, 3.0], 1.0, 0, id="at-min-is-le-first-edge"),
        pytest.param([1.0, 2.0, 3.0], 1.5, 1, id="inner"),
        pytest.param([1.0, 2.0, 3.0], 2.0, 1, id="at-inner-edge-le"),
        pytest.param([1.0, 2.0, 3.0], 3.0, 2, id="at-max"),
        pytest.param([1.0, 2.0, 3.0], 3.5, 3, id="above-max-overflow"),
        pytest.param([7.0], 7.0, 0, id="single-edge"),
        pytest.param([7.0], 8.0, 1, id="single-edge-overflow"),
    ],
)
def test_bin_index_follows_le(edges: list[float], value: float, index: int) -> None:
    assert bin_indices(np.array([edges]), np.array([[value]]))[0, 0] == index


def test_bin_indices_of_many_features_agree_with_searchsorted() -> None:
    generator = np.random.default_rng(0)
    edge_lists = [np.sort(generator.normal(size=size)) for size in (3, 11, 6)]
    values = generator.normal(size=(500, 3)) * 1.5
    indices = bin_indices(padded_edges([edges.tolist() for edges in edge_lists]), values)
    for column, edges in enumerate(edge_lists):
        expected = np.searchsorted(edges, values[:, column], side="left")
        np.testing.assert_array_equal(indices[:, column], expected)


def test_numeric_profile_of_known_data() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 5.0, np.nan, 5.0, 1.0]})
    feature = build_profile(frame, bins=2).features[0]
    assert isinstance(feature, NumericProfile)
    assert feature.edges == [1.0, 3.0, 5.0]
    # <=1: two ones; (1,3]: 2, 3; (3,5]: 4, 5, 5; >5: none.
    assert feature.counts == [2, 2, 3, 0]
    assert feature.missing == 1
    assert feature.mean == pytest.approx(3.0)
    assert feature.std == pytest.approx(np.std([1, 2, 3, 4, 5, 5, 1]))


def test_tied_quantiles_collapse_into_one_edge() -> None:
    frame = pd.DataFrame({"x": [0.0] * 90 + list(range(1, 11))})
    feature = build_profile(frame, bins=10).features[0]
    assert isinstance(feature, NumericProfile)
    assert len(feature.edges) == len(set(feature.edges))
    assert sum(feature.counts) == 100


def test_infinite_values_count_as_missing() -> None:
    frame = pd.DataFrame({"x": [1.0, math.inf, 2.0, -math.inf]})
    feature = build_profile(frame).features[0]
    assert isinstance(feature, NumericProfile)
    assert (feature.count, feature.missing) == (2, 2)


def test_categorical_profile_keeps_top_k_and_counts_the_rest_as_other() -> None:
    frame = pd.DataFrame({"c": ["a"] * 5 + ["b"] * 3 + ["c"] * 2 + ["d"] + [None]})
    feature = build_profile(frame, top_k=2).features[0]
    assert isinstance(feature, CategoricalProfile)
    assert (feature.categories, feature.counts, feature.missing) == (["a", "b"], [5, 3, 3], 1)


@pytest.mark.parametrize(
    ("column", "declared", "kind"),
    [
        pytest.param([1, 2, 3], [], "numeric", id="integers"),
        pytest.param([1, 2, 3], ["x"], "categorical", id="declared-integers"),
        pytest.param(["a", "b", "c"], [], "categorical", id="strings"),
        pytest.param([True, False, True], [], "categorical", id="booleans"),
    ],
)
def test_feature_kind(column: list[object], declared: list[str], kind: str) -> None:
    profile = build_profile(pd.DataFrame({"x": column}), categorical=declared)
    assert profile.features[0].kind == kind


def test_target_is_profiled_apart() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 1]})
    profile = build_profile(frame, target="y", categorical=["y"])
    assert [feature.name for feature in profile.features] == ["x"]
    assert isinstance(profile.target, CategoricalProfile)
    assert profile.target.categories == ["1", "0"]


@pytest.mark.parametrize(
    ("frame", "options", "message"),
    [
        pytest.param(pd.DataFrame({"x": []}), {}, "the data has no rows", id="no-rows"),
        pytest.param(
            pd.DataFrame({"x": [1.0]}),
            {"categorical": ["z"]},
            "column 'z' not found",
            id="missing-column",
        ),
        pytest.param(
            pd.DataFrame({"x": [np.nan, np.nan]}),
            {},
            "column 'x' has no finite values",
            id="no-finite",
        ),
        pytest.param(
            pd.DataFrame({"x": [1.0]}),
            {"bins": 51},
            "bins must be between 1 and 50",
            id="too-many-bins",
        ),
        pytest.param(
            pd.DataFrame({"y": [1.0]}), {"target": "y"}, "no feature columns", id="only-target"
        ),
    ],
)
def test_build_errors(frame: pd.DataFrame, options: dict[str, object], message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        build_profile(frame, **options)  # type: ignore[arg-type]


def test_json_round_trip() -> None:
    frame = pd.DataFrame({"x": np.linspace(0, 1, 50), "c": ["u", "v"] * 25})
    profile = build_profile(frame)
    assert Profile.model_validate_json(profile.model_dump_json()) == profile


@pytest.mark.parametrize(
    ("feature", "message"),
    [
        pytest.param(
            {"edges": [1.0, 1.0], "counts": [0, 0, 0]}, "increase strictly", id="flat-edges"
        ),
        pytest.param({"edges": [1.0, 2.0], "counts": [0, 0]}, "need 3 counts", id="counts-length"),
        pytest.param(
            {"edges": [1.0, "Infinity"], "counts": [0, 0, 0]}, "finite", id="infinite-edge"
        ),
    ],
)
def test_invalid_numeric_profiles_are_rejected(feature: dict[str, object], message: str) -> None:
    document = {"name": "x", "kind": "numeric", "missing": 0, "mean": 0.0, "std": 0.0, **feature}
    with pytest.raises(ValidationError, match=message):
        NumericProfile.model_validate(document)
