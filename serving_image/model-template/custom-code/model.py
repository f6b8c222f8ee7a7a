"""An iris classifier with its own code around the estimator: the `python` model format.

The server imports this file from the model directory, creates `Model()` once and calls
`load(model_dir)` before it listens. For every batch (a DataFrame of schema.json's inputs,
already checked and counted for drift) it calls preprocess → predict → postprocess, and
predict_proba when a client asks for probabilities. docs/publishing-models.md has the
whole interface; the image sets MODELKEEPER_MODEL_FORMAT=python.
"""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from modelkeeper.serving.custom import ModelCode

# The estimator predicts 0, 1, 2; clients get the names, as schema.json's output.classes
# lists them (in the order of predict_proba's columns).
SPECIES = np.array(["setosa", "versicolor", "virginica"])


def with_areas(features: pd.DataFrame) -> pd.DataFrame:
    """The four measurements and two areas: what the estimator was fitted on."""
    return features.assign(
        sepal_area=features["sepal_length"] * features["sepal_width"],
        petal_area=features["petal_length"] * features["petal_width"],
    )


class Model(ModelCode):
    def load(self, model_dir: Path) -> None:
        self.estimator = joblib.load(model_dir / "estimator.joblib")

    def preprocess(self, features: pd.DataFrame) -> pd.DataFrame:
        return with_areas(features)

    def predict(self, inputs: pd.DataFrame) -> np.ndarray:
        return self.estimator.predict(inputs)

    def predict_proba(self, inputs: pd.DataFrame) -> np.ndarray:
        return self.estimator.predict_proba(inputs)

    def postprocess(self, predictions: np.ndarray) -> np.ndarray:
        return SPECIES[predictions]
