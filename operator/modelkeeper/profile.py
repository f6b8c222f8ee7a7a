"""Reference profiles: the training data's distribution, which live traffic is compared with.

A profile is built once from the training data, shipped with the model and read by
the scoring server (for its bin edges) and the drift monitor (for its reference
counts). Both sides must bin a value identically, so the one binning rule lives
here, in `bin_indices`. The format is documented in docs/profile-format.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Final, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:  # pandas only builds profiles: reading one (the operator, a server) needs none
    import pandas as pd

PROFILE_FORMAT: Final = "modelkeeper.io/profile"
PROFILE_FORMAT_VERSION: Final = 1
OTHER_CATEGORY = "__other__"
DEFAULT_BINS = 10
MAX_BINS = 50
DEFAULT_TOP_K = 50

FloatMatrix = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


class FeatureKind(StrEnum):
    NUMERIC = "numeric"
    CATEGORICAL = "categorical"


class ProfileError(ValueError):
    """The data cannot be profiled; the message names the column and the reason."""


class NumericProfile(BaseModel):
    """Quantile bins of a numeric column.

    `edges` run from the reference minimum to the maximum. Bin 0 holds values
    `<= edges[0]` (the underflow bin), bin i holds `(edges[i-1], edges[i]]`, and the
    last bin holds values `> edges[-1]` (the overflow bin): len(counts) == len(edges) + 1.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: Literal[FeatureKind.NUMERIC] = FeatureKind.NUMERIC
    edges: list[float] = Field(min_length=1)
    counts: list[Annotated[int, Field(ge=0)]]
    missing: int = Field(ge=0, description="Missing and non-finite values, counted apart.")
    mean: float
    std: float = Field(ge=0)

    @model_validator(mode="after")
    def _check_bins(self) -> NumericProfile:
        edges = np.asarray(self.edges, dtype=np.float64)
        if not np.all(np.isfinite(edges)):
            raise ValueError(f"feature {self.name!r}: edges must be finite")
        if np.any(np.diff(edges) <= 0):
            raise ValueError(f"feature {self.name!r}: edges must increase strictly")
        if len(self.counts) != len(self.edges) + 1:
            raise ValueError(
                f"feature {self.name!r}: {len(self.edges)} edges need {len(self.edges) + 1} "
                f"counts (underflow, inner bins, overflow), got {len(self.counts)}"
            )
        return self

    @property
    def count(self) -> int:
        return sum(self.counts)


class CategoricalProfile(BaseModel):
    """The most frequent categories of a column; `counts` has one more entry, for `__other__`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: Literal[FeatureKind.CATEGORICAL] = FeatureKind.CATEGORICAL
    categories: list[str]
    counts: list[Annotated[int, Field(ge=0)]]
    missing: int = Field(ge=0)

    @model_validator(mode="after")
    def _check_bins(self) -> CategoricalProfile:
        if len(set(self.categories)) != len(self.categories):
            raise ValueError(f"feature {self.name!r}: categories must be unique")
        if OTHER_CATEGORY in self.categories:
            raise ValueError(f"feature {self.name!r}: {OTHER_CATEGORY!r} is reserved")
        if len(self.counts) != len(self.categories) + 1:
            raise ValueError(
                f"feature {self.name!r}: {len(self.categories)} categories need "
                f"{len(self.categories) + 1} counts (the last for {OTHER_CATEGORY}), "
                f"got {len(self.counts)}"
            )
        return self

    @property
    def count(self) -> int:
        return sum(self.counts)


FeatureProfile = Annotated[NumericProfile | CategoricalProfile, Field(discriminator="kind")]


class Profile(BaseModel):
    """A versioned reference profile: one entry per input feature, and the target if known."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["modelkeeper.io/profile"] = PROFILE_FORMAT
    format_version: Literal[1] = PROFILE_FORMAT_VERSION
    rows: int = Field(ge=1)
    features: list[FeatureProfile]
    target: FeatureProfile | None = None

    @model_validator(mode="after")
    def _check_unique_names(self) -> Profile:
        names = [feature.name for feature in self.features]
        if len(set(names)) != len(names):
            raise ValueError("feature names must be unique")
        return self

    def feature(self, name: str) -> FeatureProfile | None:
        return next((feature for feature in self.features if feature.name == name), None)


def bin_indices(edges: FloatMatrix, values: FloatMatrix) -> IntArray:
    """Bin index of every value, column by column: the number of edges strictly below it.

    `edges` is (features, K) with each row increasing and padded with +inf;
    `values` is (rows, features). Index 0 is the underflow bin (`<= edges[0]`),
    index len(edges) the overflow bin: Prometheus's `le` semantics. Non-finite
    values get index 0 here; callers count them apart. One comparison pass over
    the whole batch, which beats one `searchsorted` call per feature at the small
    batch sizes a server sees.
    """
    below = values[:, :, np.newaxis] > edges[np.newaxis, :, :]
    indices: IntArray = np.count_nonzero(below, axis=2)
    return indices


def padded_edges(edge_lists: Sequence[Sequence[float]]) -> FloatMatrix:
    """Stack edge lists of different lengths into the (features, K) matrix `bin_indices` takes."""
    width = max((len(edges) for edges in edge_lists), default=0)
    matrix = np.full((len(edge_lists), width), np.inf)
    for row, edges in enumerate(edge_lists):
        matrix[row, : len(edges)] = edges
    return matrix


def _numeric_profile(name: str, column: pd.Series, bins: int) -> NumericProfile:
    import pandas as pd

    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise ProfileError(f"column {name!r} has no finite values")
    edges = np.unique(np.quantile(finite, np.linspace(0.0, 1.0, bins + 1)))
    indices = bin_indices(edges[np.newaxis, :], finite[:, np.newaxis])[:, 0]
    counts = np.bincount(indices, minlength=edges.size + 1)
    return NumericProfile(
        name=name,
        edges=edges.tolist(),
        counts=counts.tolist(),
        missing=int(values.size - finite.size),
        mean=float(finite.mean()),
        std=float(finite.std()),
    )


def _categorical_profile(name: str, column: pd.Series, top_k: int) -> CategoricalProfile:
    present = column.dropna()
    frequencies = present.astype(str).value_counts(sort=True)
    top = frequencies.iloc[:top_k]
    return CategoricalProfile(
        name=name,
        categories=[str(category) for category in top.index],
        counts=[int(count) for count in top.to_numpy()] + [int(frequencies.iloc[top_k:].sum())],
        missing=int(column.size - present.size),
    )


def _is_categorical(column: pd.Series) -> bool:
    import pandas as pd

    return not (pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column))


def build_profile(
    frame: pd.DataFrame,
    *,
    bins: int = DEFAULT_BINS,
    categorical: Iterable[str] = (),
    target: str | None = None,
    top_k: int = DEFAULT_TOP_K,
) -> Profile:
    """Profile every column of `frame`; the target (if named) is profiled apart from the features.

    Columns named in `categorical`, and those of a non-numeric or boolean dtype,
    are categorical; all others numeric.
    """
    if not 1 <= bins <= MAX_BINS:
        raise ProfileError(f"bins must be between 1 and {MAX_BINS}, got {bins}")
    if top_k < 1:
        raise ProfileError(f"top-k must be at least 1, got {top_k}")
    if frame.shape[0] == 0:
        raise ProfileError("the data has no rows")
    columns = [str(column) for column in frame.columns]
    declared = set(categorical)
    for name in sorted(declared | ({target} if target is not None else set())):
        if name not in columns:
            raise ProfileError(f"column {name!r} not found (columns: {', '.join(columns)})")

    def profile(name: str) -> FeatureProfile:
        column = frame[name]
        if name in declared or _is_categorical(column):
            return _categorical_profile(name, column, top_k)
        return _numeric_profile(name, column, bins)

    features = [profile(name) for name in columns if name != target]
    if not features:
        raise ProfileError("the data has no feature columns")
    return Profile(
        rows=frame.shape[0],
        features=features,
        target=profile(target) if target is not None else None,
    )
