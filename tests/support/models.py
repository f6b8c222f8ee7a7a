"""Model directories trained here, on scikit-learn's bundled datasets: nothing is downloaded.

Each writer saves a model directory (`save_model_dir`: the model file, its schema and its
reference profile) as a Model's artifact would hold it.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_diabetes, load_iris
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

from modelkeeper.serving.runtime import save_model_dir
from modelkeeper.serving.schema import ModelSchema
from tests.ground.imagebuild import CUSTOM_CODE_TEMPLATE
from tests.support.objects import artifact_model

IRIS_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
REGIONS = ["north", "south", "east"]
POSITIVE_INPUTS = (0.5, 10.0)
"""Where `write_failing_model`'s model answers (and was fitted)."""
NEGATIVE_INPUTS = (-10.0, -0.5)
"""Where `write_failing_model`'s model raises."""


def sha256_of(directory: Path) -> str:
    """The sha256 of a model directory's model file, as a Model's artifact gives it."""
    return hashlib.sha256((directory / "model.joblib").read_bytes()).hexdigest()


def numeric_schema(features: list[str], output: str) -> ModelSchema:
    return ModelSchema.model_validate(
        {
            "inputs": [{"name": name, "type": "numeric"} for name in features],
            "output": {"type": output},
        }
    )


def write_constant_model(directory: Path, constant: float) -> str:
    """A model (input x) that predicts `constant` for every row; returns its sha256."""
    frame = pd.DataFrame({"x": np.linspace(0.0, 10.0, 200)})
    frame["target"] = constant
    estimator = DummyRegressor(strategy="constant", constant=constant).fit(
        frame[["x"]], frame.target
    )
    save_model_dir(
        directory, estimator, numeric_schema(["x"], "regression"), frame, target="target"
    )
    return sha256_of(directory)


def write_failing_model(directory: Path) -> str:
    """A model that answers for x > 0 and raises for x < 0 (log of a negative is NaN).

    Pipeline(log, LinearRegression) fitted on positive x: the regression refuses the NaN
    row ("Input X contains NaN"), which the scoring server answers with 500. Returns the
    model file's sha256.
    """
    x = np.linspace(*POSITIVE_INPUTS, 200)
    frame = pd.DataFrame({"x": x, "target": 2.0 * np.log(x) + 1.0})
    estimator = Pipeline([("log", FunctionTransformer(np.log)), ("fit", LinearRegression())])
    estimator.fit(frame[["x"]], frame.target)
    save_model_dir(
        directory, estimator, numeric_schema(["x"], "regression"), frame, target="target"
    )
    return sha256_of(directory)


def constant_versions(directory: Path, family: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Models <family>-1 and <family>-2 (artifact form, in `directory`), predicting 1.0 and 2.0."""

    def version(v: int) -> dict[str, Any]:
        folder = directory / f"v{v}"
        sha256 = write_constant_model(folder, float(v))
        return artifact_model(f"{family}-{v}", family, str(v), folder, sha256)

    return version(1), version(2)


def iris_frame() -> pd.DataFrame:
    frame: pd.DataFrame = load_iris(as_frame=True).frame
    frame.columns = [*IRIS_FEATURES, "target"]
    return frame


def write_iris(directory: Path, estimator: Any) -> Path:
    """Fit `estimator` on iris's four numeric features and write its model directory."""
    frame = iris_frame()
    estimator.fit(frame[IRIS_FEATURES].to_numpy(), frame["target"])
    schema = numeric_schema(IRIS_FEATURES, "classification")
    save_model_dir(directory, estimator, schema, frame, target="target")
    return directory


def write_iris_forest(directory: Path) -> Path:
    """A 20-tree random forest on iris: numeric inputs, three integer classes."""
    return write_iris(directory, RandomForestClassifier(n_estimators=20, random_state=0))


def write_iris_regions(directory: Path) -> Path:
    """A logistic regression over iris plus a categorical `region`, fitted on a DataFrame."""
    frame = iris_frame()
    frame.insert(4, "region", np.array(REGIONS)[np.arange(len(frame)) % 3])
    frame["target"] = np.array(["setosa", "versicolor", "virginica"])[frame["target"]]
    features = [*IRIS_FEATURES, "region"]
    model = make_pipeline(
        ColumnTransformer([("region", OneHotEncoder(), ["region"])], remainder="passthrough"),
        LogisticRegression(max_iter=1000),
    ).fit(frame[features], frame["target"])
    schema = ModelSchema.model_validate(
        {
            "inputs": [
                *({"name": name, "type": "numeric"} for name in IRIS_FEATURES),
                {"name": "region", "type": "categorical", "categories": REGIONS},
            ],
            "output": {"type": "classification", "classes": ["setosa", "versicolor", "virginica"]},
        }
    )
    save_model_dir(directory, model, schema, frame, target="target")
    return directory


def write_diabetes_forest(directory: Path) -> Path:
    """A 10-tree random forest regressor on diabetes; its profile has target bins."""
    frame = load_diabetes(as_frame=True).frame
    features = [column for column in frame.columns if column != "target"]
    forest = RandomForestRegressor(n_estimators=10, random_state=0)
    forest.fit(frame[features].to_numpy(), frame["target"])
    save_model_dir(
        directory, forest, numeric_schema(features, "regression"), frame, target="target"
    )
    return directory


def write_custom_code_model(directory: Path) -> Path:
    """The template's custom-code example (format `python`): model.py, the estimator it
    loads, schema.json and profile.json, written by the template's own train.py."""
    spec = importlib.util.spec_from_file_location(
        "custom_code_train", CUSTOM_CODE_TEMPLATE / "train.py"
    )
    assert spec is not None
    assert spec.loader is not None
    trainer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(trainer)
    trainer.write_model_dir(directory)
    return directory


def regions_frame(rows: list[int]) -> pd.DataFrame:
    """Iris rows with a categorical `region` column, as the regions model takes them."""
    frame = iris_frame().iloc[rows].reset_index(drop=True)
    frame.insert(4, "region", np.array(REGIONS)[np.arange(len(frame)) % 3])
    return frame[[*IRIS_FEATURES, "region"]]
