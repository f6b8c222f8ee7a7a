"""The rows that travel through the server: decoded features in, predictions out.

Numeric features sit in one float matrix (NaN for a missing value) and categorical
ones in one object matrix (None for a missing value), both in schema order, so
that drift counting and model input are whole-matrix operations. Concatenation
and splitting live here because batching must be exactly undone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate, pairwise

import numpy as np
import numpy.typing as npt

FloatMatrix = npt.NDArray[np.float64]
ObjectMatrix = npt.NDArray[np.object_]
AnyArray = npt.NDArray[np.generic]


@dataclass(frozen=True)
class FeatureBatch:
    """`numeric` is (rows, numeric inputs); `categorical` is (rows, categorical inputs)."""

    numeric: FloatMatrix
    categorical: ObjectMatrix

    @property
    def rows(self) -> int:
        return int(self.numeric.shape[0])


@dataclass(frozen=True)
class Prediction:
    """`labels` has one entry per row (a class or a number); `probabilities` is (rows, classes)."""

    labels: AnyArray
    probabilities: FloatMatrix | None = None

    @property
    def rows(self) -> int:
        return int(self.labels.shape[0])


def concat_batches(batches: Sequence[FeatureBatch]) -> FeatureBatch:
    """Stack requests row-wise into one batch for a single model call."""
    if len(batches) == 1:
        return batches[0]
    return FeatureBatch(
        numeric=np.concatenate([batch.numeric for batch in batches]),
        categorical=np.concatenate([batch.categorical for batch in batches]),
    )


def split_prediction(prediction: Prediction, sizes: Sequence[int]) -> list[Prediction]:
    """Cut a batched prediction back into one prediction per request, `sizes` rows each."""
    if len(sizes) == 1:
        return [prediction]
    bounds = list(accumulate(sizes, initial=0))
    return [
        Prediction(
            labels=prediction.labels[start:stop],
            probabilities=None
            if prediction.probabilities is None
            else prediction.probabilities[start:stop],
        )
        for start, stop in pairwise(bounds)
    ]
