"""An ONNX model (the `onnx` extra): served through onnxruntime with the same V2 interface."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
from skl2onnx import to_onnx  # type: ignore[import-untyped]

from tests.integration.serving.serving_harness import ServerLauncher
from tests.support.models import IRIS_FEATURES, iris_frame
from tests.support.traffic import v2_body


def test_onnx_forest_predicts_like_scikit_learn(
    launch: ServerLauncher, iris_dir: Path, tmp_path: Path
) -> None:
    forest = joblib.load(iris_dir / "model.joblib")
    model_dir = tmp_path / "onnx"
    model_dir.mkdir()
    for name in ("schema.json", "profile.json"):
        (model_dir / name).write_text(
            (iris_dir / name)
            .read_text()
            .replace('"type": "classification"', '"type": "classification", "classes": [0, 1, 2]')
        )
    sample = np.zeros((1, len(IRIS_FEATURES)), dtype=np.float32)
    graph = to_onnx(forest, sample, options={"zipmap": False})
    (model_dir / "model.onnx").write_bytes(graph.SerializeToString())

    server = launch.start(model_dir, "iris", "--model-format", "onnx")
    rows = iris_frame()[IRIS_FEATURES].to_numpy()[::10]
    answer = server.infer(
        v2_body(rows.tolist(), outputs=[{"name": "predict"}, {"name": "predict_proba"}])
    )
    assert answer.status_code == 200, answer.text
    predict, proba = answer.json()["outputs"]
    assert (predict["datatype"], predict["data"]) == ("INT64", forest.predict(rows).tolist())
    np.testing.assert_allclose(
        np.array(proba["data"]).reshape(len(rows), 3), forest.predict_proba(rows), atol=1e-6
    )
