"""Format mlflow: an MLmodel file read, its signature turned into a schema, a directory's digest."""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from modelkeeper.serving.fetch import tree_digest
from modelkeeper.serving.mlmodel import MLmodelError, parse_mlmodel, signature_schema
from modelkeeper.serving.schema import OutputKind


def mlmodel(flavors: str, inputs: list[dict[str, Any]] | None = None) -> str:
    signature = ""
    if inputs is not None:
        signature = f"signature:\n  inputs: '{json.dumps(inputs)}'\n  params: null\n"
    return f"artifact_path: model\nflavors:\n{textwrap.indent(flavors, '  ')}{signature}"


SKLEARN = """\
python_function:
  loader_module: mlflow.sklearn
  model_path: model.skops
sklearn:
  pickled_model: model.skops
  serialization_format: skops
  sklearn_version: 1.9.1
  skops_trusted_types: null
"""
COLUMNS = [
    {"type": "double", "name": "amount", "required": True},
    {"type": "long", "name": "items", "required": False},
    {"type": "string", "name": "country", "required": True},
]


def test_the_sklearn_flavour_is_read() -> None:
    parsed = parse_mlmodel(mlmodel(SKLEARN, COLUMNS))
    assert parsed.flavors == ("python_function", "sklearn")
    assert parsed.sklearn.pickled_model == "model.skops"
    assert parsed.sklearn.serialization_format == "skops"
    assert parsed.sklearn.sklearn_version == "1.9.1"
    assert parsed.signature_inputs == COLUMNS


@pytest.mark.parametrize(
    ("flavors", "message"),
    [
        pytest.param(
            "python_function:\n  loader_module: mlflow.pyfunc.model\n",
            "flavours python_function (python_function loads it with mlflow.pyfunc.model): "
            "format mlflow serves the sklearn flavour only",
            id="pyfunc",
        ),
        pytest.param(
            "xgboost:\n  data: model.xgb\npython_function:\n  loader_module: mlflow.xgboost\n",
            "flavours python_function, xgboost",
            id="another-library",
        ),
        pytest.param(
            "sklearn:\n  pickled_model: model.pkl\n  serialization_format: joblib\n",
            "serialization_format is 'joblib'; format mlflow reads skops, cloudpickle, pickle",
            id="serialization",
        ),
        pytest.param(
            "sklearn:\n  pickled_model: ../elsewhere.pkl\n",
            "pickled_model must name a file in the directory",
            id="outside-the-directory",
        ),
        pytest.param("{}\n", "flavours none: format mlflow serves", id="no-flavours"),
    ],
)
def test_what_is_not_served_is_named(flavors: str, message: str) -> None:
    with pytest.raises(MLmodelError) as caught:
        parse_mlmodel(mlmodel(flavors))
    assert message in str(caught.value)


def test_a_file_that_is_not_yaml_is_refused() -> None:
    with pytest.raises(MLmodelError, match="MLmodel is not YAML"):
        parse_mlmodel("flavors: [unclosed")
    with pytest.raises(MLmodelError, match="MLmodel has no flavors"):
        parse_mlmodel("artifact_path: model\n")


@pytest.mark.parametrize(
    ("classes", "output"),
    [
        pytest.param([0, 1], OutputKind.CLASSIFICATION, id="classifier"),
        pytest.param(None, OutputKind.REGRESSION, id="regressor"),
    ],
)
def test_the_signature_gives_the_inputs_and_the_estimator_the_output(
    classes: list[Any] | None, output: OutputKind
) -> None:
    schema = signature_schema(parse_mlmodel(mlmodel(SKLEARN, COLUMNS)), classes)
    assert [(spec.name, spec.type.value, spec.nullable) for spec in schema.inputs] == [
        ("amount", "numeric", False),
        ("items", "numeric", True),
        ("country", "categorical", False),
    ]
    assert schema.output.type is output
    assert schema.output.classes == classes


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        pytest.param(None, "has no signature and the directory no schema.json", id="none"),
        pytest.param(
            [{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 4]}}],
            "signature.inputs[0] is a tensor",
            id="tensor",
        ),
        pytest.param([{"type": "double"}], "signature.inputs[0] is unnamed", id="unnamed"),
        pytest.param(
            [{"type": "datetime", "name": "at"}],
            "signature input 'at' has type 'datetime'",
            id="datetime",
        ),
        pytest.param(
            [{"type": "double", "name": "x"}, {"type": "double", "name": "x"}],
            "input names must be unique",
            id="twice",
        ),
    ],
)
def test_a_signature_without_a_schema_is_refused_clearly(
    inputs: list[dict[str, Any]] | None, message: str
) -> None:
    with pytest.raises(MLmodelError) as caught:
        signature_schema(parse_mlmodel(mlmodel(SKLEARN, inputs)), None)
    assert message in str(caught.value)


def test_a_directorys_digest_is_sha256sum_of_its_sorted_files(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    files = {"MLmodel": b"flavors: {}\n", "model.skops": b"\x00\x01", "sub/x.txt": b"x"}
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    listing = "".join(
        f"{hashlib.sha256(content).hexdigest()}  {name}\n"
        for name, content in sorted(files.items())
    )
    assert tree_digest(tmp_path) == hashlib.sha256(listing.encode()).hexdigest()
    (tmp_path / "sub" / "x.txt").write_bytes(b"y")
    assert tree_digest(tmp_path) != hashlib.sha256(listing.encode()).hexdigest()
