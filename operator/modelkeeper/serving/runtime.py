"""Loading a model directory and calling the model: one small class per model format.

A model directory holds the model file (`model.joblib`, `model.onnx`, `model.py`, the
model's own code, with what it reads, or `mlflow/`, an MLflow model directory),
`schema.json` (which an MLflow model's signature can stand in for) and `profile.json`;
docs/serving.md describes it. Everything is checked at load, so a server with a model
that does not match its schema or profile never starts.
"""

from __future__ import annotations

import importlib
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import joblib
import numpy as np
import pandas as pd
from pydantic import ValidationError
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)

from modelkeeper.api.model import ArtifactFormat
from modelkeeper.profile import DEFAULT_BINS, FeatureKind, Profile, build_profile
from modelkeeper.serving.custom import (
    CODE_FILE,
    ModelCodeError,
    ModelOutputError,
    check_labels,
    check_probabilities,
    load_code,
    own_method,
)
from modelkeeper.serving.frames import AnyArray, FeatureBatch, Prediction
from modelkeeper.serving.linear import LinearScorer, linear_scorer
from modelkeeper.serving.mlmodel import (
    MLMODEL_FILE,
    MLmodelError,
    SklearnFlavor,
    parse_mlmodel,
    signature_schema,
)
from modelkeeper.serving.schema import ModelSchema, OutputKind
from modelkeeper.serving.settings import ModelFormat

JsonModel = TypeVar("JsonModel", ModelSchema, Profile)
SCHEMA_FILE = "schema.json"
MLFLOW_DIR = "mlflow"
PROFILE_FILE = "profile.json"


def model_file_name(model_format: ModelFormat | ArtifactFormat) -> str:
    """The model file's name in a model directory; joblib for all but ONNX, python and mlflow."""
    match ModelFormat(model_format):
        case ModelFormat.ONNX:
            return "model.onnx"
        case ModelFormat.PYTHON:
            return CODE_FILE
        case ModelFormat.MLFLOW:
            return MLFLOW_DIR
        case _:
            return "model.joblib"


def feature_frame(batch: FeatureBatch, schema: ModelSchema) -> pd.DataFrame:
    """The batch as a DataFrame: the schema's inputs as columns, in schema order."""
    columns: dict[str, Any] = {}
    numeric = iter(batch.numeric.T)
    categorical = iter(batch.categorical.T)
    for spec in schema.inputs:
        columns[spec.name] = next(categorical if spec.type is FeatureKind.CATEGORICAL else numeric)
    return pd.DataFrame(columns, index=pd.RangeIndex(batch.rows))


class ModelLoadError(RuntimeError):
    """The model directory cannot be served; the message names the file and the reason."""


class Runtime(Protocol):
    """A loaded model. `classes` are a classifier's labels in probability-column order."""

    @property
    def classes(self) -> AnyArray | None: ...

    @property
    def gives_probabilities(self) -> bool:
        """Whether `predict` can answer class probabilities."""
        ...

    def predict(self, batch: FeatureBatch, probabilities: bool) -> Prediction: ...


class JoblibRuntime:
    """A scikit-learn-compatible estimator (scikit-learn, XGBoost's and LightGBM's wrappers)."""

    def __init__(self, estimator: Any, schema: ModelSchema) -> None:
        self._estimator = estimator
        self._schema = schema
        # Estimators fitted on a DataFrame want one back (and warn on an array); others
        # take the numeric matrix as is, which is cheaper.
        self._wants_frame = bool(schema.categorical) or hasattr(estimator, "feature_names_in_")
        self._classes: AnyArray | None = None
        if schema.output.type is OutputKind.CLASSIFICATION:
            if not hasattr(estimator, "predict_proba") or not hasattr(estimator, "classes_"):
                raise ModelLoadError(
                    "the schema says classification, but the model is no classifier"
                )
            self._classes = np.asarray(estimator.classes_)
        names = [spec.name for spec in schema.inputs]
        expected = getattr(estimator, "n_features_in_", len(names))
        if expected != len(names):
            raise ModelLoadError(
                f"the model takes {expected} features, but {SCHEMA_FILE} lists {len(names)} inputs"
            )
        fitted_names = list(getattr(estimator, "feature_names_in_", names))
        if fitted_names != names:
            raise ModelLoadError(
                f"the model was fitted on columns {fitted_names}, but {SCHEMA_FILE} lists "
                f"inputs {names}: list them in the same order"
            )

    @property
    def classes(self) -> AnyArray | None:
        return self._classes

    @property
    def gives_probabilities(self) -> bool:
        return self._classes is not None

    def _features(self, batch: FeatureBatch) -> Any:
        return feature_frame(batch, self._schema) if self._wants_frame else batch.numeric

    def predict(self, batch: FeatureBatch, probabilities: bool) -> Prediction:
        features = self._features(batch)
        labels = np.asarray(self._estimator.predict(features))
        if not probabilities or self._classes is None:
            return Prediction(labels=labels)
        return Prediction(
            labels=labels,
            probabilities=np.asarray(self._estimator.predict_proba(features), dtype=np.float64),
        )


class ForestRuntime(JoblibRuntime):
    """A scikit-learn random forest or extra-trees model, scored tree by tree in a plain loop.

    scikit-learn dispatches every tree of a forest through joblib, even with
    n_jobs=1, at a fixed cost per tree and call that dwarfs the tree itself
    (a 100-tree forest: about 7x slower for a small batch). Summing the trees'
    outputs in the same order, as scikit-learn does, gives identical results
    (tests/unit/serving prove it). Batches with missing values go through the
    estimator's own path, which knows how its trees treat them.
    """

    KINDS = (
        RandomForestClassifier,
        ExtraTreesClassifier,
        RandomForestRegressor,
        ExtraTreesRegressor,
    )

    @classmethod
    def fits(cls, estimator: Any, schema: ModelSchema) -> bool:
        single_output = getattr(estimator, "n_outputs_", 0) == 1
        return isinstance(estimator, cls.KINDS) and single_output and not schema.categorical

    def predict(self, batch: FeatureBatch, probabilities: bool) -> Prediction:
        if np.isnan(batch.numeric).any():
            return super().predict(batch, probabilities)
        features = np.ascontiguousarray(batch.numeric, dtype=np.float32)
        trees = self._estimator.estimators_
        if self._classes is None:
            values = np.zeros(batch.rows, dtype=np.float64)
            for tree in trees:
                values += tree.predict(features, check_input=False)
            return Prediction(labels=values / len(trees))
        proba = np.zeros((batch.rows, len(self._classes)), dtype=np.float64)
        for tree in trees:
            proba += tree.predict_proba(features, check_input=False)
        proba /= len(trees)
        labels = self._classes.take(np.argmax(proba, axis=1), axis=0)
        return Prediction(labels=labels, probabilities=proba if probabilities else None)


class LinearRuntime(JoblibRuntime):
    """A scikit-learn linear model (optionally after StandardScalers), scored with numpy.

    scikit-learn's checks cost about 40 times the arithmetic of a small batch, on
    every call (serving/linear.py). The scorer is taken only if it gives the
    estimator's answers bit for bit on probe batches at load: a guard against a
    scikit-learn version whose prediction differs from the one the scorer does.
    Batches with a missing or infinite value go through the estimator's own path,
    which refuses them with its own message, as it always did.
    """

    PROBE_ROWS = (1, 16)

    def __init__(self, estimator: Any, schema: ModelSchema, scorer: LinearScorer) -> None:
        super().__init__(estimator, schema)
        self._scorer = scorer

    @classmethod
    def of(cls, estimator: Any, schema: ModelSchema) -> LinearRuntime | None:
        """The linear runtime, or None if the estimator is not one it scores exactly."""
        scorer = None if schema.categorical else linear_scorer(estimator)
        if scorer is None:
            return None
        runtime = cls(estimator, schema, scorer)
        return runtime if runtime._agrees() else None

    def _agrees(self) -> bool:
        generator = np.random.default_rng(0)
        for rows in self.PROBE_ROWS:
            numeric = generator.normal(size=(rows, len(self._schema.inputs)))
            batch = FeatureBatch(numeric=numeric, categorical=np.empty((rows, 0), dtype=object))
            fast, own = self.predict(batch, True), super().predict(batch, True)
            if fast.probabilities is not None and own.probabilities is not None:
                same = np.array_equal(fast.probabilities, own.probabilities)
            else:
                same = fast.probabilities is own.probabilities  # both None: a regressor
            if not (same and np.array_equal(fast.labels, own.labels)):
                return False
        return True

    def predict(self, batch: FeatureBatch, probabilities: bool) -> Prediction:
        scores = self._scorer.scores(batch.numeric)
        if scores is None:
            return super().predict(batch, probabilities)
        labels = self._scorer.labels(scores)
        if not probabilities or self._classes is None:
            return Prediction(labels=labels)
        return Prediction(labels=labels, probabilities=self._scorer.probabilities(scores))


class OnnxRuntime:
    """An ONNX graph with one float tensor input [rows, inputs]; outputs label then probabilities.

    That is what skl2onnx writes for a classifier converted with `zipmap=False`.
    ONNX graphs do not carry class labels reliably, so a classifier's schema lists them.
    """

    def __init__(self, path: Path, schema: ModelSchema) -> None:
        try:
            onnxruntime = importlib.import_module("onnxruntime")
        except ImportError:
            raise ModelLoadError(
                "ONNX models need the onnx extra: pip install 'modelkeeper[onnx]'"
            ) from None
        if schema.categorical:
            raise ModelLoadError("ONNX models take numeric inputs only")
        self._classes: AnyArray | None = None
        if schema.output.type is OutputKind.CLASSIFICATION:
            if schema.output.classes is None:
                raise ModelLoadError(f"{SCHEMA_FILE}: an ONNX classifier needs output.classes")
            self._classes = np.asarray(schema.output.classes)
        self._session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    @property
    def classes(self) -> AnyArray | None:
        return self._classes

    @property
    def gives_probabilities(self) -> bool:
        return self._classes is not None

    def predict(self, batch: FeatureBatch, probabilities: bool) -> Prediction:
        results = self._session.run(None, {self._input: batch.numeric.astype(np.float32)})
        labels = np.asarray(results[0]).reshape(-1)
        if self._classes is None:
            return Prediction(labels=labels.astype(np.float64))
        labels = self._classes[labels] if labels.dtype.kind in "iu" else labels
        if not probabilities:
            return Prediction(labels=labels)
        return Prediction(labels=labels, probabilities=np.asarray(results[1], dtype=np.float64))


class CodeRuntime:
    """The model's own code (`model.py`'s class `Model`, docs/publishing-models.md).

    Each batch goes through preprocess → predict → postprocess as a DataFrame of the
    schema's inputs; the answers are checked (one per row, a class of the schema, a
    finite number) before they reach the batcher, the metrics and the client.
    """

    def __init__(self, code: Any, schema: ModelSchema, classes: AnyArray | None) -> None:
        self._code = code
        self._schema = schema
        self._classes = classes
        self._preprocess = own_method(code, "preprocess")
        self._postprocess = own_method(code, "postprocess")
        self._predict_proba = own_method(code, "predict_proba")

    @classmethod
    def load(cls, directory: Path, schema: ModelSchema) -> CodeRuntime:
        """Check the schema, then import the code and call its `load` (which may take a while)."""
        classes = None
        if schema.output.type is OutputKind.CLASSIFICATION:
            if schema.output.classes is None:
                raise ModelLoadError(
                    f"{SCHEMA_FILE}: a classifier of format python needs output.classes"
                )
            classes = np.asarray(schema.output.classes)
        try:
            code = load_code(directory)
        except ModelCodeError as error:
            raise ModelLoadError(str(error)) from None
        return cls(code, schema, classes)

    @property
    def classes(self) -> AnyArray | None:
        return self._classes

    @property
    def gives_probabilities(self) -> bool:
        return self._classes is not None and self._predict_proba is not None

    def predict(self, batch: FeatureBatch, probabilities: bool) -> Prediction:
        inputs: Any = feature_frame(batch, self._schema)
        if self._preprocess is not None:
            inputs = self._preprocess(inputs)
        answer = self._code.predict(inputs)
        method = "predict"
        if self._postprocess is not None:
            answer = self._postprocess(answer)
            method = "postprocess"
        labels = check_labels(answer, batch.rows, self._classes, method)
        if not probabilities or self._classes is None:
            return Prediction(labels=labels)
        if self._predict_proba is None:
            raise ModelOutputError(
                "the model's code has no predict_proba: ask for output predict only"
            )
        return Prediction(
            labels=labels,
            probabilities=check_probabilities(
                self._predict_proba(inputs), batch.rows, self._classes.tolist()
            ),
        )


@dataclass(frozen=True)
class LoadedModel:
    schema: ModelSchema
    profile: Profile
    runtime: Runtime


def _read_json_model(path: Path, model: type[JsonModel]) -> JsonModel:
    try:
        return model.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise ModelLoadError(f"{path}: missing") from None
    except ValidationError as error:
        raise ModelLoadError(f"{path}: {error}") from None


def _check_profile(schema: ModelSchema, profile: Profile) -> None:
    for spec in schema.inputs:
        feature = profile.feature(spec.name)
        if feature is None:
            raise ModelLoadError(
                f"{PROFILE_FILE}: no feature {spec.name!r}, an input of the schema"
            )
        if feature.kind != spec.type:
            raise ModelLoadError(
                f"{PROFILE_FILE}: feature {spec.name!r} is {feature.kind}, "
                f"the schema says {spec.type}"
            )


def _check_classes(schema: ModelSchema, runtime: Runtime) -> None:
    declared = schema.output.classes
    classes = runtime.classes
    if declared is None or classes is None:
        return
    if [str(label) for label in declared] != [str(label) for label in classes.tolist()]:
        raise ModelLoadError(
            f"{SCHEMA_FILE}: output.classes {declared} differ from the model's classes "
            f"{classes.tolist()}"
        )


def estimator_runtime(estimator: Any, schema: ModelSchema) -> Runtime:
    """The cheapest runtime that answers as the estimator itself does."""
    if ForestRuntime.fits(estimator, schema):
        return ForestRuntime(estimator, schema)
    return LinearRuntime.of(estimator, schema) or JoblibRuntime(estimator, schema)


def _mlflow_root(directory: Path) -> Path:
    """The MLflow model directory: `mlflow/` in the model directory, or the directory itself."""
    for root in (directory / MLFLOW_DIR, directory):
        if (root / MLMODEL_FILE).is_file():
            return root
    raise ModelLoadError(
        f"{directory / MLFLOW_DIR / MLMODEL_FILE}: missing (model format mlflow reads an MLflow "
        f"model directory, fetched to {MLFLOW_DIR}/ from a file://, pvc:// or models:/ URI)"
    )


def _load_estimator(path: Path, flavor: SklearnFlavor) -> Any:
    """The sklearn flavour's estimator, read as MLflow's sklearn flavour writes it.

    skops through `skops.io.load` with the flavour's trusted types; cloudpickle's files are
    pickles (cloudpickle, in the serve extra, resolves what it pickled by value). Like
    format sklearn's joblib file, the model is trusted: it is the version that was approved.
    """
    try:
        if flavor.serialization_format == "skops":
            skops_io = importlib.import_module("skops.io")
            trusted = (
                None if flavor.skops_trusted_types is None else list(flavor.skops_trusted_types)
            )
            return skops_io.load(path, trusted=trusted)
        with path.open("rb") as stream:
            return pickle.load(stream)
    except FileNotFoundError:
        raise ModelLoadError(f"{path}: missing (flavors.sklearn.pickled_model)") from None
    except ImportError as error:
        raise ModelLoadError(
            f"{path}: {flavor.serialization_format} needs {error.name}: pip install "
            "'modelkeeper[serve]'"
        ) from None
    except Exception as error:  # a pickle can fail in any way; say which file
        raise ModelLoadError(
            f"{path}: cannot load it ({flavor.serialization_format}): {error!r}"
        ) from None


def _load_mlflow(directory: Path) -> LoadedModel:
    """An MLflow model's sklearn flavour, with its schema from schema.json or its signature."""
    root = _mlflow_root(directory)
    try:
        mlmodel = parse_mlmodel((root / MLMODEL_FILE).read_text())
    except MLmodelError as error:
        raise ModelLoadError(f"{root}/{error}") from None
    estimator = _load_estimator(root / mlmodel.sklearn.pickled_model, mlmodel.sklearn)
    if (directory / SCHEMA_FILE).is_file():
        schema = _read_json_model(directory / SCHEMA_FILE, ModelSchema)
    else:
        classifier = hasattr(estimator, "predict_proba") and hasattr(estimator, "classes_")
        classes = np.asarray(estimator.classes_).tolist() if classifier else None
        try:
            schema = signature_schema(mlmodel, classes)
        except MLmodelError as error:
            raise ModelLoadError(f"{root}/{error}") from None
    profile = _read_json_model(directory / PROFILE_FILE, Profile)
    _check_profile(schema, profile)
    runtime = estimator_runtime(estimator, schema)
    _check_classes(schema, runtime)
    return LoadedModel(schema=schema, profile=profile, runtime=runtime)


def load_model_dir(directory: Path, model_format: ModelFormat | ArtifactFormat) -> LoadedModel:
    """Read schema, profile and model from `directory`, checking that they agree."""
    model_format = ModelFormat(model_format)
    if model_format is ModelFormat.MLFLOW:
        return _load_mlflow(directory)
    schema = _read_json_model(directory / SCHEMA_FILE, ModelSchema)
    profile = _read_json_model(directory / PROFILE_FILE, Profile)
    _check_profile(schema, profile)
    path = directory / model_file_name(model_format)
    if not path.is_file():
        hint = ""
        if model_format is not ModelFormat.PYTHON and (directory / CODE_FILE).is_file():
            hint = f"; the directory has {CODE_FILE}: serve it with --model-format python"
        raise ModelLoadError(f"{path}: missing (model format {model_format}){hint}")
    runtime: Runtime
    if model_format is ModelFormat.PYTHON:
        runtime = CodeRuntime.load(directory, schema)
    elif model_format is ModelFormat.ONNX:
        runtime = OnnxRuntime(path, schema)
    else:
        try:
            estimator = joblib.load(path)
        except Exception as error:  # a pickle can fail in any way; say which file
            raise ModelLoadError(f"{path}: cannot load it: {error!r}") from None
        runtime = estimator_runtime(estimator, schema)
    _check_classes(schema, runtime)
    return LoadedModel(schema=schema, profile=profile, runtime=runtime)


def save_model_dir(
    directory: Path,
    estimator: Any,
    schema: ModelSchema,
    training: pd.DataFrame,
    *,
    target: str | None = None,
    bins: int = DEFAULT_BINS,
) -> None:
    """Write a joblib model directory: the estimator, its schema, and a profile of `training`.

    `training` holds the schema's inputs (and the target column, if named, which is
    profiled as the target rather than as a feature).
    """
    directory.mkdir(parents=True, exist_ok=True)
    joblib.dump(estimator, directory / model_file_name(ArtifactFormat.SKLEARN))
    (directory / SCHEMA_FILE).write_text(schema.model_dump_json(indent=2, exclude_none=True))
    columns = [spec.name for spec in schema.inputs] + ([target] if target is not None else [])
    profile = build_profile(
        training[columns],
        bins=bins,
        categorical=[spec.name for spec in schema.categorical]
        + (
            [target]
            if target is not None and schema.output.type is OutputKind.CLASSIFICATION
            else []
        ),
        target=target,
    )
    (directory / PROFILE_FILE).write_text(profile.model_dump_json(indent=2))
