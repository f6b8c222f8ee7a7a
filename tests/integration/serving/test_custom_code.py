"""A model's own Python code (format `python`): served like any model, failing clearly.

The model directory is the one serving_image/model-template/custom-code/train.py writes
(its model.py: preprocess, an estimator loaded in `load`, postprocess). Real servers
answer what the class answers when called in-process, batch its requests and count
their inputs for drift; a directory whose code cannot load ends the start with one
line naming the file and the reason; code that fails or answers wrongly is a 500 with
a JSON message, logged with its traceback.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests

from modelkeeper.serving.custom import load_code
from modelkeeper.serving.frames import FeatureBatch
from modelkeeper.serving.runtime import ModelLoadError, load_model_dir
from modelkeeper.serving.settings import ModelFormat
from tests.integration.serving.serving_harness import ServerLauncher
from tests.support.models import IRIS_FEATURES, iris_frame, write_custom_code_model
from tests.support.traffic import v2_body

ROWS = iris_frame()[IRIS_FEATURES].to_numpy()[::5]


@pytest.fixture(scope="module")
def code_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_custom_code_model(tmp_path_factory.mktemp("custom-code") / "model")


def with_code(code_dir: Path, directory: Path, code: str, output: str | None = None) -> Path:
    """A copy of the template's model directory with `code` as model.py."""
    shutil.copytree(code_dir, directory)
    (directory / "model.py").write_text(textwrap.dedent(code))
    if output is not None:
        schema = (directory / "schema.json").read_text()
        start = schema.index('"output"')
        (directory / "schema.json").write_text(schema[:start] + f'"output": {output}\n}}')
    return directory


def test_predictions_equal_the_class_called_in_process(
    launch: ServerLauncher, code_dir: Path
) -> None:
    code = load_code(code_dir)
    features = pd.DataFrame(ROWS, columns=IRIS_FEATURES)
    inputs = code.preprocess(features)
    expected = code.postprocess(code.predict(inputs))
    probabilities = code.predict_proba(inputs)
    assert set(expected) == {"setosa", "versicolor", "virginica"}

    server = launch.start(code_dir, "iris", "--model-format", "python", "--workers", "2")
    for _ in range(4):  # each worker, most likely
        answer = server.infer(
            v2_body(ROWS.tolist(), outputs=[{"name": "predict"}, {"name": "predict_proba"}])
        )
        assert answer.status_code == 200, answer.text
        predict, proba = answer.json()["outputs"]
        assert (predict["datatype"], predict["data"]) == ("BYTES", expected.tolist())
        np.testing.assert_allclose(
            np.array(proba["data"]).reshape(len(ROWS), 3), probabilities, rtol=1e-12
        )
    v1 = server.post("/v1/models/iris:predict", {"instances": ROWS[:3].tolist()})
    assert v1.json() == {"predictions": expected[:3].tolist()}
    metadata = requests.get(f"{server.url}/v2/models/iris", timeout=10)
    assert metadata.json()["platform"] == "python"


def test_requests_are_batched_and_counted_for_drift(launch: ServerLauncher, code_dir: Path) -> None:
    server = launch.start(
        code_dir, "iris", "--model-format", "python", "--max-batch-wait-ms", "200"
    )
    with ThreadPoolExecutor(max_workers=len(ROWS)) as pool:
        answers = list(pool.map(lambda row: server.infer(v2_body([row.tolist()])), ROWS))
    assert [answer.status_code for answer in answers] == [200] * len(ROWS)

    assert server.metric("modelkeeper_batch_size_sum") == len(ROWS)
    assert server.metric("modelkeeper_batch_size_count") < len(ROWS)  # batched
    for column, name in enumerate(IRIS_FEATURES):
        assert server.metric("modelkeeper_feature_value_count", feature=name) == len(ROWS)
        assert server.metric("modelkeeper_feature_value_sum", feature=name) == pytest.approx(
            ROWS[:, column].sum()
        )
    labels = [answer.json()["outputs"][0]["data"][0] for answer in answers]
    for species in ("setosa", "versicolor", "virginica"):
        assert server.metric("modelkeeper_predictions_total", **{"class": species}) == labels.count(
            species
        )


LOAD_FAILS = """
    from pathlib import Path

    class Model:
        def load(self, model_dir: Path) -> None:
            self.weights = (model_dir / "weights.bin").read_bytes()

        def predict(self, inputs):
            return inputs
"""


@pytest.mark.parametrize(
    ("code", "output", "message"),
    [
        pytest.param(None, None, "model.py: missing (model format python", id="no-model-py"),
        pytest.param(
            "import nonexistent_library_xyz\n",
            None,
            "model.py: importing it failed: ModuleNotFoundError: No module named "
            "'nonexistent_library_xyz' (model.py, line 1)",
            id="import-fails",
        ),
        pytest.param(
            "class Model:\n    def predict(self, inputs)\n",
            None,
            "model.py: importing it failed: SyntaxError: expected ':' (model.py, line 2)",
            id="syntax-error",
        ),
        pytest.param(
            "class Classifier:\n    pass\n",
            None,
            "model.py: no class Model (it defines Classifier)",
            id="no-class-model",
        ),
        pytest.param(
            "class Model:\n    def load(self, model_dir):\n        pass\n",
            None,
            "model.py: Model has no method predict(inputs)",
            id="no-predict",
        ),
        pytest.param(
            """
            class Model:
                def __init__(self, threshold):
                    self.threshold = threshold

                def predict(self, inputs):
                    return inputs
            """,
            None,
            "model.py: Model() failed (the server creates it with no arguments): TypeError: ",
            id="init-takes-arguments",
        ),
        pytest.param(
            LOAD_FAILS,
            None,
            "model.py: Model.load failed: FileNotFoundError: [Errno 2] No such file or directory",
            id="load-raises",
        ),
        pytest.param(
            "class Model:\n    def predict(self, inputs):\n        return inputs\n",
            '{"type": "classification"}',
            "schema.json: a classifier of format python needs output.classes",
            id="classes-missing",
        ),
    ],
)
def test_load_errors_name_the_file_and_the_reason(
    code_dir: Path, tmp_path: Path, code: str | None, output: str | None, message: str
) -> None:
    directory = with_code(code_dir, tmp_path / "model", code or "", output)
    if code is None:
        (directory / "model.py").unlink()
    with pytest.raises(ModelLoadError) as raised:
        load_model_dir(directory, ModelFormat.PYTHON)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_load_error_reports_where_in_the_code(code_dir: Path, tmp_path: Path) -> None:
    directory = with_code(code_dir, tmp_path / "model", LOAD_FAILS)
    with pytest.raises(ModelLoadError, match=r"weights.bin'? \(model.py, line 6\)$"):
        load_model_dir(directory, ModelFormat.PYTHON)


def test_code_may_import_modules_beside_it(code_dir: Path, tmp_path: Path) -> None:
    directory = with_code(
        code_dir,
        tmp_path / "model",
        """
        from features import doubled

        class Model:
            def predict(self, inputs):
                return doubled(inputs["petal_length"])
        """,
        '{"type": "regression"}',
    )
    (directory / "features.py").write_text("def doubled(column):\n    return column * 2\n")
    loaded = load_model_dir(directory, ModelFormat.PYTHON)
    prediction = loaded.runtime.predict(
        FeatureBatch(numeric=ROWS[:2], categorical=np.empty((2, 0), dtype=object)),
        probabilities=False,
    )
    assert prediction.labels.tolist() == (ROWS[:2, 2] * 2).tolist()


def test_a_sklearn_directory_with_code_says_which_format(code_dir: Path) -> None:
    with pytest.raises(
        ModelLoadError, match=r"the directory has model\.py: serve it with --model-format python"
    ):
        load_model_dir(code_dir, ModelFormat.SKLEARN)


def test_the_server_does_not_start_and_says_why_in_one_line(code_dir: Path, tmp_path: Path) -> None:
    """The last log line is the pod's termination message; the working directory's own
    model.py (a working one here) plays no part."""
    directory = with_code(code_dir, tmp_path / "model", LOAD_FAILS)
    elsewhere = tmp_path / "cwd"
    shutil.copytree(code_dir, elsewhere)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "modelkeeper.cli",
            "serve",
            "--model-dir",
            str(directory),
            "--model-format",
            "python",
            "--http-port",
            "0",
            "--host",
            "127.0.0.1",
        ],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    output = (result.stdout + result.stderr).strip()
    assert "Traceback" not in output
    last = output.splitlines()[-1]
    assert f"not starting: {directory}/model.py: Model.load failed: FileNotFoundError" in last
    assert last.endswith("(model.py, line 6)")


FAILING = """
    class Model:
        def predict(self, inputs):
            if (inputs["sepal_length"] > 7).any():
                raise ValueError("sepal_length above 7 is outside this model's domain")
            if (inputs["sepal_width"] > 4).any():
                return [1.0] * (len(inputs) + 1)
            if (inputs["petal_length"] > 6).any():
                return [float("nan")] * len(inputs)
            return (inputs["petal_length"] * 2).tolist()
"""


def test_code_that_fails_or_answers_wrongly_is_a_500_and_logged(
    launch: ServerLauncher, code_dir: Path, tmp_path: Path
) -> None:
    directory = with_code(code_dir, tmp_path / "model", FAILING, '{"type": "regression"}')
    server = launch.start(directory, "failing", "--model-format", "python")
    cases = [
        (
            [7.5, 3.0, 5.0, 2.0],
            "the model failed: ValueError: sepal_length above 7 is outside this model's domain",
        ),
        (
            [5.0, 4.5, 1.5, 0.3],
            "the model failed: ModelOutputError: Model.predict returned 2 predictions for a "
            "batch of 1 rows",
        ),
        (
            [6.0, 3.0, 6.5, 2.0],
            "the model failed: ModelOutputError: Model.predict returned nan for row 0: "
            "predictions must be finite numbers",
        ),
    ]
    for row, message in cases:
        answer = server.infer(v2_body([row]))
        assert answer.status_code == 500
        assert answer.json() == {"error": message}
    good = server.infer(v2_body([[5.0, 3.0, 1.5, 0.2]]))
    assert good.status_code == 200
    assert good.json()["outputs"][0]["data"] == [3.0]
    assert server.metric("modelkeeper_requests_total", endpoint="infer", code="500") == 3
    log = server.component.log.read_text()
    assert "the model failed" in log
    assert 'model.py", line 5, in predict' in log  # the traceback, in the server's log only
