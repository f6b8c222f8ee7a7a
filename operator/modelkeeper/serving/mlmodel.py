"""An MLflow model directory's `MLmodel` file, read (pure): its flavours and its signature.

Format `mlflow` serves the sklearn flavour natively: the estimator is loaded as the
sklearn flavour writes it (`pickled_model`, `serialization_format` skops, MLflow 3's
default, with its `skops_trusted_types`, or cloudpickle or pickle) and served as format
sklearn is. Any other flavour, python_function models
of your own code among them, is refused with its name: loading a pyfunc model needs the
`mlflow` package and the model's own requirements at run time, which a fixed serving
image cannot carry; format `python` (model.py in a model image) is the way for code.

The server's `schema.json` wins when the directory has one (the operator writes it from
the Model's spec.schema); otherwise the inputs are the signature's columns (numbers
numeric, strings categorical; `required: false` nullable) and the output is what the
estimator is (a classifier with its classes, or a regressor).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml

from modelkeeper.serving.schema import InputSpec, ModelSchema, OutputKind, OutputSpec

MLMODEL_FILE = "MLmodel"
SKLEARN_FLAVOR = "sklearn"
PYFUNC_FLAVOR = "python_function"
SERIALIZATIONS = ("skops", "cloudpickle", "pickle")
NUMERIC_TYPES = frozenset({"double", "float", "long", "integer"})
CATEGORICAL_TYPES = frozenset({"string"})


class MLmodelError(ValueError):
    """The MLmodel file cannot be served; the message names the field and the reason."""


@dataclass(frozen=True)
class SklearnFlavor:
    """Where the sklearn flavour's estimator is and how it was written."""

    pickled_model: str
    serialization_format: str
    sklearn_version: str | None
    skops_trusted_types: tuple[str, ...] | None = None


@dataclass(frozen=True)
class MLmodel:
    flavors: tuple[str, ...]
    sklearn: SklearnFlavor
    signature_inputs: list[dict[str, Any]] | None


def _flavor_list(flavors: dict[str, Any]) -> str:
    return ", ".join(sorted(flavors)) or "none"


def parse_mlmodel(text: str) -> MLmodel:
    """Read an MLmodel file's text; only the sklearn flavour is served."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise MLmodelError(f"{MLMODEL_FILE} is not YAML: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("flavors"), dict):
        raise MLmodelError(f"{MLMODEL_FILE} has no flavors")
    flavors: dict[str, Any] = document["flavors"]
    if SKLEARN_FLAVOR not in flavors:
        loader = (flavors.get(PYFUNC_FLAVOR) or {}).get("loader_module")
        via = f" (python_function loads it with {loader})" if loader else ""
        raise MLmodelError(
            f"{MLMODEL_FILE}: flavours {_flavor_list(flavors)}{via}: format mlflow serves the "
            "sklearn flavour only; a python_function model needs the mlflow package and its "
            "own requirements, which the serving image does not carry: log the model with "
            "mlflow.sklearn, or serve your code as format python (docs/publishing-models.md)"
        )
    sklearn = flavors[SKLEARN_FLAVOR] or {}
    serialization = str(sklearn.get("serialization_format", "cloudpickle"))
    if serialization not in SERIALIZATIONS:
        raise MLmodelError(
            f"{MLMODEL_FILE}: flavors.sklearn.serialization_format is {serialization!r}; "
            f"format mlflow reads {', '.join(SERIALIZATIONS)}"
        )
    pickled = sklearn.get("pickled_model")
    if not isinstance(pickled, str) or not pickled or pickled.startswith("/") or ".." in pickled:
        raise MLmodelError(
            f"{MLMODEL_FILE}: flavors.sklearn.pickled_model must name a file in the directory, "
            f"not {pickled!r}"
        )
    signature = document.get("signature") or {}
    inputs = signature.get("inputs") if isinstance(signature, dict) else None
    parsed_inputs: list[dict[str, Any]] | None = None
    if inputs is not None:
        try:
            parsed_inputs = json.loads(inputs) if isinstance(inputs, str) else inputs
        except ValueError as error:
            raise MLmodelError(f"{MLMODEL_FILE}: signature.inputs is not JSON: {error}") from None
        if not isinstance(parsed_inputs, list):
            raise MLmodelError(f"{MLMODEL_FILE}: signature.inputs is not a list")
    version = sklearn.get("sklearn_version")
    trusted = sklearn.get("skops_trusted_types")
    return MLmodel(
        flavors=tuple(sorted(flavors)),
        sklearn=SklearnFlavor(
            pickled,
            serialization,
            None if version is None else str(version),
            None if trusted is None else tuple(str(name) for name in trusted),
        ),
        signature_inputs=parsed_inputs,
    )


def signature_schema(mlmodel: MLmodel, classes: list[Any] | None) -> ModelSchema:
    """The schema from the signature's input columns; `classes` None for a regressor."""
    if mlmodel.signature_inputs is None:
        raise MLmodelError(
            f"{MLMODEL_FILE} has no signature and the directory no schema.json: log the model "
            "with a signature (mlflow.models.infer_signature) or give the Model a spec.schema"
        )
    inputs = []
    for position, column in enumerate(mlmodel.signature_inputs):
        if not isinstance(column, dict):
            raise MLmodelError(f"{MLMODEL_FILE}: signature.inputs[{position}] is not an object")
        kind = column.get("type")
        name = column.get("name")
        if kind == "tensor" or name is None:
            what = "a tensor" if kind == "tensor" else "unnamed"
            raise MLmodelError(
                f"{MLMODEL_FILE}: signature.inputs[{position}] is {what}: a schema needs named "
                "columns; give the Model a spec.schema"
            )
        if kind in NUMERIC_TYPES:
            feature = "numeric"
        elif kind in CATEGORICAL_TYPES:
            feature = "categorical"
        else:
            raise MLmodelError(
                f"{MLMODEL_FILE}: signature input {name!r} has type {kind!r}; format mlflow takes "
                "double, float, long, integer (numeric) and string (categorical): give the "
                "Model a spec.schema"
            )
        nullable = column.get("required", True) is False
        inputs.append(
            InputSpec.model_validate({"name": name, "type": feature, "nullable": nullable})
        )
    output = (
        OutputSpec(type=OutputKind.REGRESSION)
        if classes is None
        else OutputSpec(type=OutputKind.CLASSIFICATION, classes=classes)
    )
    try:
        return ModelSchema(inputs=inputs, output=output)
    except ValueError as error:
        raise MLmodelError(f"{MLMODEL_FILE}: signature: {error}") from None
