"""A model's own Python code: the small class a data scientist writes, found, checked and loaded.

A model directory of format `python` holds `model.py` with a class `Model` (and whatever
files it reads: an estimator, a vocabulary, helper modules beside it). The server
creates the class once with no arguments and calls `load(model_dir)` before it
listens; then, for every batch, `preprocess` → `predict` → `postprocess` (and
`predict_proba` for a classifier's probabilities) on a pandas DataFrame whose columns
are the schema's inputs. The request has been checked against `schema.json` and its
inputs counted for drift before the code sees them, and what the code returns is
checked here (one prediction per row, a known class, a finite number), so a wrong
answer is a clear error rather than a wrong response. docs/publishing-models.md is
the guide; `ModelCode` is the interface, which the class may subclass or just follow.

This runs the image owner's code in the scoring server by design: it comes only from
the model directory in their own image, never from an artifact URI.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelkeeper.serving.frames import AnyArray, FloatMatrix

CODE_FILE = "model.py"
CLASS_NAME = "Model"
MODULE_NAME = CODE_FILE.removesuffix(".py")
# Methods the server calls with one argument each; `predict` is the one required.
BATCH_METHODS = ("preprocess", "predict", "predict_proba", "postprocess")


class ModelCode:
    """The interface of a model's own code; subclass it, or write a class with the same methods.

    The server makes one instance per server (before the worker processes fork, so each
    worker holds its own copy) and never calls it from two threads at once.
    """

    def load(self, model_dir: Path) -> None:
        """Called once, before the server listens: read the model's files from `model_dir`."""

    def preprocess(self, features: pd.DataFrame) -> Any:
        """The batch's features → what `predict` takes; by default the frame itself.

        The frame has the schema's inputs as columns, in schema order: numeric ones
        float64, categorical ones strings; a missing value (a nullable input's null) is
        what pandas makes of it (`pd.isna` is true). Its index is 0 to rows - 1.
        """
        return features

    def predict(self, inputs: Any) -> Any:
        """One prediction per row: a class label (one of schema.json's `output.classes`)
        or a number. A list, numpy array or pandas Series."""
        raise NotImplementedError

    def postprocess(self, predictions: Any) -> Any:
        """`predict`'s answer → the answer the client gets, one per row. By default as is."""
        return predictions

    # Optional, for classifiers: `predict_proba(inputs)` → (rows, classes) probabilities in
    # the order of schema.json's `output.classes`. Without it, asking for `predict_proba`
    # is an error.


class ModelCodeError(Exception):
    """The model's code cannot be loaded; the message says which file, what and where."""


class ModelOutputError(ValueError):
    """The model's code answered a batch with something the server cannot send back."""


def code_location(error: BaseException, directory: Path) -> str:
    """` (model.py, line 12)`: the innermost frame of the error in the model directory's files."""
    frames = traceback.extract_tb(error.__traceback__)
    root = directory.resolve()
    for frame in reversed(frames):
        path = Path(frame.filename)
        if path.is_absolute() and path.resolve().is_relative_to(root):
            return f" ({path.resolve().relative_to(root)}, line {frame.lineno})"
    if isinstance(error, SyntaxError) and error.filename is not None:
        return f" ({Path(error.filename).name}, line {error.lineno})"
    return ""


def describe(error: BaseException, directory: Path) -> str:
    """`ValueError: message (model.py, line 12)`: an error in the code, on one line."""
    message = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {message[0]}" if message else type(error).__name__
    return text + code_location(error, directory)


def own_method(code: Any, name: str) -> Any:
    """`code`'s method `name`, or None when it has none or only ModelCode's default."""
    method = getattr(type(code), name, None)
    if method is None or method is getattr(ModelCode, name, None):
        return None
    return getattr(code, name)


def _takes_one_argument(method: Any) -> bool:
    try:
        inspect.signature(method).bind(None)
    except TypeError:
        return False
    except ValueError:  # no signature to read (a builtin): trust it
        return True
    return True


def check_interface(candidate: object) -> None:
    """Raise ModelCodeError unless `candidate` is a class the server can call as a model."""
    if not inspect.isclass(candidate):
        raise ModelCodeError(f"{CLASS_NAME} is a {type(candidate).__name__}, not a class")
    predict = getattr(candidate, "predict", None)
    if predict is None or predict is ModelCode.predict:
        raise ModelCodeError(f"{CLASS_NAME} has no method predict(inputs)")
    for name in ("load", *BATCH_METHODS):
        method = getattr(candidate, name, None)
        if method is None:
            continue
        if not callable(method):
            raise ModelCodeError(f"{CLASS_NAME}.{name} is not a method")
        static = isinstance(inspect.getattr_static(candidate, name), staticmethod)
        bound = inspect.isfunction(method) and not static
        instance_method = method.__get__(object()) if bound else method
        if not _takes_one_argument(instance_method):
            argument = "model_dir" if name == "load" else "the batch"
            raise ModelCodeError(
                f"{CLASS_NAME}.{name} must take one argument ({argument}); "
                f"it is {name}{inspect.signature(method)}"
            )


def _import(directory: Path) -> Any:
    """The module `model` from `directory/model.py`, with the directory first on sys.path.

    Its own imports (a helper module beside it) find the directory's files first, as when
    the file runs as a script; the server's working directory plays no part.
    """
    path = directory / CODE_FILE
    if not path.is_file():
        raise ModelCodeError(f"{path}: missing (model format python: the model's code)")
    folder = str(directory.resolve())
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(MODULE_NAME, path)
    if spec is None or spec.loader is None:
        raise ModelCodeError(f"{path}: not a Python module")
    module = importlib.util.module_from_spec(spec)
    # Registered under its own name, so that pickles of classes it defines load.
    sys.modules[MODULE_NAME] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as error:
        del sys.modules[MODULE_NAME]
        raise ModelCodeError(f"{path}: importing it failed: {describe(error, directory)}") from None
    return module


def load_code(directory: Path) -> Any:
    """Import `model.py`, check its class `Model`, create it and call its `load(directory)`."""
    module = _import(directory)
    path = directory / CODE_FILE
    candidate = getattr(module, CLASS_NAME, None)
    if candidate is None:
        classes = sorted(
            name
            for name, value in vars(module).items()
            if inspect.isclass(value) and value.__module__ == MODULE_NAME
        )
        found = f"it defines {', '.join(classes)}" if classes else "it defines no class"
        raise ModelCodeError(f"{path}: no class {CLASS_NAME} ({found})")
    try:
        check_interface(candidate)
    except ModelCodeError as error:
        raise ModelCodeError(f"{path}: {error}") from None
    try:
        code = candidate()
    except (Exception, SystemExit) as error:
        raise ModelCodeError(
            f"{path}: {CLASS_NAME}() failed (the server creates it with no arguments): "
            f"{describe(error, directory)}"
        ) from None
    load = getattr(code, "load", None)
    if load is not None:
        try:
            load(directory)
        except (Exception, SystemExit) as error:
            raise ModelCodeError(
                f"{path}: {CLASS_NAME}.load failed: {describe(error, directory)}"
            ) from None
    return code


def _column(values: Any, rows: int, method: str) -> AnyArray:
    """`values` as a 1-D array of `rows` entries; a (rows, 1) answer is flattened."""
    try:
        array = np.asarray(values)
    except Exception as error:  # an object numpy cannot read
        raise ModelOutputError(
            f"{CLASS_NAME}.{method} returned {type(values).__name__}, not a sequence: {error}"
        ) from None
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ModelOutputError(
            f"{CLASS_NAME}.{method} returned shape {list(array.shape)}; "
            f"expected one prediction per row: [{rows}]"
        )
    if len(array) != rows:
        raise ModelOutputError(
            f"{CLASS_NAME}.{method} returned {len(array)} predictions for a batch of {rows} rows"
        )
    return array


def check_labels(
    values: Any, rows: int, classes: AnyArray | None, method: str = "postprocess"
) -> AnyArray:
    """The code's answer as the server's labels: the schema's classes, or finite float64."""
    array = _column(values, rows, method)
    if classes is None:
        try:
            numbers = array.astype(np.float64)
        except (TypeError, ValueError):
            raise ModelOutputError(
                f"{CLASS_NAME}.{method} returned {array[:3].tolist()!r}...: a regression "
                "model answers numbers"
            ) from None
        bad = np.flatnonzero(~np.isfinite(numbers))
        if bad.size:
            raise ModelOutputError(
                f"{CLASS_NAME}.{method} returned {numbers[bad[0]]} for row {int(bad[0])}: "
                "predictions must be finite numbers"
            )
        return numbers
    known = classes.tolist()
    position: dict[Any, int] = {}
    for index, label in enumerate(known):
        position.setdefault(label, index)
        position.setdefault(str(label), index)
    indices: list[int] = []
    for row, label in enumerate(array.tolist()):
        found = _class_index(position, label)
        if found is None:
            raise ModelOutputError(
                f"{CLASS_NAME}.{method} returned {label!r} for row {row}, which is not one of "
                f"schema.json's output.classes {known}"
            )
        indices.append(found)
    taken: AnyArray = classes.take(indices)
    return taken


def _class_index(position: dict[Any, int], label: Any) -> int | None:
    try:
        found = position.get(label)
    except TypeError:  # unhashable
        return None
    return found if found is not None else position.get(str(label))


def check_probabilities(values: Any, rows: int, classes: Sequence[Any]) -> FloatMatrix:
    """predict_proba's answer as a finite (rows, classes) float64 matrix."""
    method = "predict_proba"
    try:
        matrix = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ModelOutputError(
            f"{CLASS_NAME}.{method} returned something that is no matrix of numbers: {error}"
        ) from None
    expected = [rows, len(classes)]
    if list(matrix.shape) != expected:
        raise ModelOutputError(
            f"{CLASS_NAME}.{method} returned shape {list(matrix.shape)}; expected {expected} "
            f"(rows, schema.json's output.classes)"
        )
    if not np.isfinite(matrix).all():
        raise ModelOutputError(f"{CLASS_NAME}.{method} returned a NaN or an infinity")
    return matrix
