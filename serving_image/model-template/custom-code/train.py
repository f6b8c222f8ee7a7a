"""Writes the example's model directory: model.py, estimator.joblib, schema.json, profile.json.

    python train.py model        # then build the image with model/ beside the Dockerfile

Your own training goes where `fit` is; what the directory needs stays the same: your
code as model.py (and any module it imports), the files its `load` reads, the schema
of the inputs the server checks, and the profile of the training data for drift.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelkeeper.profile import build_profile

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from model import SPECIES, with_areas  # noqa: E402 (model.py beside this file)

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def write_model_dir(directory: Path) -> None:
    frame = load_iris(as_frame=True).frame
    frame.columns = [*FEATURES, "target"]
    estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    estimator.fit(with_areas(frame[FEATURES]), frame["target"])

    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy2(HERE / "model.py", directory / "model.py")
    joblib.dump(estimator, directory / "estimator.joblib")
    schema = {
        "inputs": [{"name": name, "type": "numeric"} for name in FEATURES],
        "output": {"type": "classification", "classes": SPECIES.tolist()},
    }
    (directory / "schema.json").write_text(json.dumps(schema, indent=2))
    # The profile describes the inputs the server receives (before preprocess), since
    # that is what it counts for drift; the target as the clients see it.
    training = frame[FEATURES].assign(target=SPECIES[frame["target"]])
    profile = build_profile(training, categorical=["target"], target="target")
    (directory / "profile.json").write_text(profile.model_dump_json(indent=2))


if __name__ == "__main__":
    write_model_dir(Path(sys.argv[1] if len(sys.argv) > 1 else "model"))
