"""A model's own code: its interface checked, its answers checked, its calls in order.

The class is checked before it is created (a clear message for each way it can be
wrong), and every answer before it reaches the batcher, the metrics and the client:
one prediction per row, a class of the schema or a finite number, probabilities of
shape (rows, classes).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelkeeper.api.model import ArtifactFormat
from modelkeeper.envflags import SettingsError, load_settings
from modelkeeper.serving.custom import (
    ModelCode,
    ModelCodeError,
    ModelOutputError,
    check_interface,
    check_labels,
    check_probabilities,
)
from modelkeeper.serving.frames import FeatureBatch
from modelkeeper.serving.runtime import CodeRuntime, model_file_name
from modelkeeper.serving.schema import ModelSchema
from modelkeeper.serving.settings import ModelFormat, ServerSettings

pytestmark = pytest.mark.unit


class Complete(ModelCode):
    def predict(self, inputs: Any) -> Any:
        return inputs


class DuckTyped:
    """No base class: the methods are what counts."""

    def predict(self, inputs: Any) -> Any:
        return inputs


class Static:
    @staticmethod
    def predict(inputs: Any) -> Any:
        return inputs


class NoPredict(ModelCode):
    def load(self, model_dir: Any) -> None:
        pass


class TwoArguments:
    def predict(self, inputs: Any, extra: Any) -> Any:
        return inputs


class LoadWithoutDirectory:
    def load(self) -> None:
        pass

    def predict(self, inputs: Any) -> Any:
        return inputs


class PredictNotCallable:
    predict = 3


@pytest.mark.parametrize(
    "candidate",
    [
        pytest.param(Complete, id="subclass"),
        pytest.param(DuckTyped, id="duck-typed"),
        pytest.param(Static, id="staticmethod"),
    ],
)
def test_classes_the_server_can_call(candidate: object) -> None:
    check_interface(candidate)


@pytest.mark.parametrize(
    ("candidate", "message"),
    [
        pytest.param(Complete(), "Model is a Complete, not a class", id="an-instance"),
        pytest.param(NoPredict, r"Model has no method predict\(inputs\)", id="no-predict"),
        pytest.param(
            TwoArguments,
            r"Model.predict must take one argument \(the batch\); "
            r"it is predict\(self, inputs: 'Any', extra: 'Any'\)",
            id="predict-takes-two",
        ),
        pytest.param(
            LoadWithoutDirectory,
            r"Model.load must take one argument \(model_dir\)",
            id="load-takes-none",
        ),
        pytest.param(PredictNotCallable, "Model.predict is not a method", id="not-callable"),
    ],
)
def test_classes_the_server_refuses(candidate: object, message: str) -> None:
    with pytest.raises(ModelCodeError, match=message):
        check_interface(candidate)


CLASSES = np.array([0, 1, 2])
NAMES = np.array(["setosa", "versicolor", "virginica"])


@pytest.mark.parametrize(
    ("answer", "classes", "expected"),
    [
        pytest.param([1.5, 2], None, [1.5, 2.0], id="numbers"),
        pytest.param(np.array([[1.5], [2.0]]), None, [1.5, 2.0], id="a-column"),
        pytest.param(pd.Series([3, 4], index=[7, 9]), None, [3.0, 4.0], id="series-any-index"),
        pytest.param(np.array([2, 0]), CLASSES, [2, 0], id="classes"),
        pytest.param(["2", "0"], CLASSES, [2, 0], id="labels-as-text"),
        pytest.param([2.0, 0.0], CLASSES, [2, 0], id="labels-as-floats"),
        pytest.param(np.array(["virginica", "setosa"]), NAMES, ["virginica", "setosa"], id="names"),
    ],
)
def test_answers_become_the_servers_labels(answer: Any, classes: Any, expected: list[Any]) -> None:
    labels = check_labels(answer, 2, classes)
    assert labels.tolist() == expected
    if classes is not None:
        assert labels.dtype == classes.dtype  # what the metrics' class index is keyed by


@pytest.mark.parametrize(
    ("answer", "classes", "message"),
    [
        pytest.param(
            [1.0],
            None,
            "Model.postprocess returned 1 predictions for a batch of 2 rows",
            id="short",
        ),
        pytest.param(
            [[1.0, 2.0], [3.0, 4.0]],
            None,
            r"Model.postprocess returned shape \[2, 2\]; expected one prediction per row: \[2\]",
            id="a-matrix",
        ),
        pytest.param(5.0, None, r"returned shape \[\]", id="a-scalar"),
        pytest.param(["a", "b"], None, "a regression model answers numbers", id="text"),
        pytest.param(
            [1.0, float("nan")],
            None,
            "returned nan for row 1: predictions must be finite",
            id="nan",
        ),
        pytest.param(
            ["setosa", "rose"],
            NAMES,
            r"returned 'rose' for row 1, which is not one of schema.json's output.classes",
            id="unknown-class",
        ),
    ],
)
def test_wrong_answers_name_the_problem(answer: Any, classes: Any, message: str) -> None:
    with pytest.raises(ModelOutputError, match=message):
        check_labels(answer, 2, classes)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        pytest.param(np.ones((2, 2)), r"shape \[2, 2\]; expected \[2, 3\]", id="columns"),
        pytest.param(np.ones(3), r"shape \[3\]; expected \[2, 3\]", id="a-row"),
        pytest.param(np.full((2, 3), np.inf), "a NaN or an infinity", id="infinite"),
        pytest.param([["a"] * 3] * 2, "no matrix of numbers", id="text"),
    ],
)
def test_wrong_probabilities_name_the_problem(answer: Any, message: str) -> None:
    with pytest.raises(ModelOutputError, match=message):
        check_probabilities(answer, 2, [0, 1, 2])


SCHEMA = ModelSchema.model_validate(
    {
        "inputs": [
            {"name": "amount", "type": "numeric"},
            {"name": "country", "type": "categorical"},
            {"name": "age", "type": "numeric", "nullable": True},
        ],
        "output": {"type": "classification", "classes": ["no", "yes"]},
    }
)
BATCH = FeatureBatch(
    numeric=np.array([[10.0, 30.0], [500.0, np.nan]]),
    categorical=np.array([["de"], [None]], dtype=object),
)


class Recording:
    """Records what each step sees; a fraud rule on the amount."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def preprocess(self, features: pd.DataFrame) -> pd.DataFrame:
        self.calls.append(("preprocess", features.copy()))
        return features.assign(large=features["amount"] > 100)

    def predict(self, inputs: pd.DataFrame) -> Any:
        self.calls.append(("predict", list(inputs.columns)))
        return inputs["large"].to_numpy()

    def postprocess(self, predictions: Any) -> Any:
        self.calls.append(("postprocess", predictions.tolist()))
        return np.where(predictions, "yes", "no")


def test_a_batch_goes_through_preprocess_predict_postprocess() -> None:
    code = Recording()
    runtime = CodeRuntime(code, SCHEMA, np.asarray(["no", "yes"]))
    prediction = runtime.predict(BATCH, probabilities=False)
    assert prediction.labels.tolist() == ["no", "yes"]
    [(_, features), predict, postprocess] = code.calls
    assert list(features.columns) == ["amount", "country", "age"]  # schema order
    assert features["amount"].dtype == np.float64
    assert features["country"][0] == "de"
    assert pd.isna(features["country"][1])
    assert pd.isna(features["age"][1])
    assert predict == ("predict", ["amount", "country", "age", "large"])
    assert postprocess == ("postprocess", [False, True])


class OnlyPredict(ModelCode):
    def predict(self, inputs: pd.DataFrame) -> Any:
        return ["yes"] * (len(inputs) + 1)


def test_a_wrong_answer_names_the_method_the_class_wrote() -> None:
    """ModelCode's default postprocess is not called, so the message names predict."""
    runtime = CodeRuntime(OnlyPredict(), SCHEMA, np.asarray(["no", "yes"]))
    with pytest.raises(ModelOutputError, match=r"Model\.predict returned 3 predictions"):
        runtime.predict(BATCH, probabilities=False)


def test_probabilities_need_predict_proba() -> None:
    runtime = CodeRuntime(Recording(), SCHEMA, np.asarray(["no", "yes"]))
    with pytest.raises(ModelOutputError, match="no predict_proba: ask for output predict only"):
        runtime.predict(BATCH, probabilities=True)


def test_every_artifact_format_is_a_format_the_server_loads() -> None:
    """The operator passes a Model's artifact format as MODELKEEPER_MODEL_FORMAT."""
    assert {str(value) for value in ArtifactFormat} < {str(value) for value in ModelFormat}


@pytest.mark.parametrize(
    ("model_format", "file"),
    [
        pytest.param(ModelFormat.SKLEARN, "model.joblib", id="sklearn"),
        pytest.param(ArtifactFormat.XGBOOST, "model.joblib", id="artifact-format"),
        pytest.param(ModelFormat.ONNX, "model.onnx", id="onnx"),
        pytest.param(ModelFormat.PYTHON, "model.py", id="python"),
    ],
)
def test_model_file_names(model_format: ModelFormat | ArtifactFormat, file: str) -> None:
    assert model_file_name(model_format) == file


def test_python_is_a_format_setting() -> None:
    settings = load_settings(ServerSettings, {"MODELKEEPER_MODEL_FORMAT": "python"}, {})
    assert settings.model_format is ModelFormat.PYTHON


def test_code_never_comes_from_an_artifact_uri() -> None:
    environ = {
        "MODELKEEPER_MODEL_FORMAT": "python",
        "MODELKEEPER_ARTIFACT_URI": "https://example.com/model.py",
    }
    with pytest.raises(SettingsError, match=r"model format python runs model\.py from the model"):
        load_settings(ServerSettings, environ, {})
