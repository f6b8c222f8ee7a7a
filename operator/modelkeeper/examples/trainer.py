"""`modelkeeper train-example`: a trainer that follows the retraining contract end to end.

It shows a data scientist what a RetrainPolicy's training container does
(docs/writing-trainers.md): read the MODELKEEPER_* environment, train, write the
artifact directory under MODELKEEPER_OUTPUT_URI, and report the result as JSON in the
termination message. It trains a ridge regression on recent labelled data (a CSV given
by --data, else scikit-learn's diabetes data set), holds a quarter of it out, and
measures on that one holdout both the new model and the champion it must beat (the
file MODELKEEPER_CHAMPION_ARTIFACT_URI names), and the new model's fairness over
MODELKEEPER_FAIRNESS_ATTRIBUTE when the policy bounds it. It can be told to shift a
feature (to simulate drift), to produce a worse model, or to fail, so that tests and
demos can drive every path of a run.

Exit codes: 0 trained and reported; 1 training failed (or --fail); 2 bad input.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from modelkeeper.api.model import ArtifactFormat
from modelkeeper.retrain.fairness import measure
from modelkeeper.retrain.result import TrainingResult
from modelkeeper.retrain.workload import Env
from modelkeeper.serving.schema import ModelSchema

if TYPE_CHECKING:  # pandas and scikit-learn are imported by `train`, not by `modelkeeper run`
    import pandas as pd

DEFAULT_TERMINATION_LOG = "/dev/termination-log"
TERMINATION_LOG_ENV = "MODELKEEPER_TERMINATION_LOG"
SHIFT_ENV = "MODELKEEPER_TRAIN_SHIFT"
DATA_ENV = "MODELKEEPER_TRAIN_DATA"
TERMINATION_MESSAGE_LIMIT = 4096  # what the kubelet keeps of a termination message
TARGET = "target"
DATA_FILE = "training.csv"
HOLDOUT_FILE = "holdout.csv"
TEST_SIZE = 0.25
ALPHA = 0.1


class TrainerError(Exception):
    """Bad input: the message says what to fix; exit code 2."""


def parse_shifts(items: list[str]) -> dict[str, float]:
    """FEATURE=DELTA items (also comma-separated) into {feature: delta}."""
    shifts: dict[str, float] = {}
    for item in (part.strip() for text in items for part in text.split(",")):
        if not item:
            continue
        feature, _, delta = item.partition("=")
        try:
            shifts[feature.strip()] = float(delta)
        except ValueError:
            raise TrainerError(
                f"--shift {item!r} must be FEATURE=DELTA, such as bmi=0.05"
            ) from None
    return shifts


def local_path(uri: str, what: str) -> Path:
    """The local path of a file:// URI; the example reads and writes nowhere else."""
    parsed = urlparse(uri)
    if parsed.scheme != "file" or not parsed.path:
        raise TrainerError(f"{what} must be a file:// URI for this example, not {uri!r}")
    return Path(unquote(parsed.path))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load(data_uri: str | None, shifts: dict[str, float]) -> pd.DataFrame:
    """The labelled data: a CSV of the features and a `target` column, else scikit-learn's
    diabetes data; with `shifts` added to their features."""
    import pandas as pd
    from sklearn.datasets import load_diabetes

    if data_uri:
        path = local_path(data_uri, "--data")
        try:
            frame: pd.DataFrame = pd.read_csv(path)
        except (OSError, ValueError) as error:
            raise TrainerError(f"cannot read --data {data_uri}: {error}") from None
        if TARGET not in frame.columns:
            raise TrainerError(f"--data {data_uri} has no {TARGET!r} column")
    else:
        frame = load_diabetes(as_frame=True).frame
    unknown = sorted(set(shifts) - set(frame.columns) - {TARGET})
    if unknown:
        features = ", ".join(column for column in frame.columns if column != TARGET)
        raise TrainerError(
            f"cannot shift unknown feature(s) {', '.join(unknown)}; the features are {features}"
        )
    for feature, delta in shifts.items():
        frame[feature] = frame[feature] + delta
    return frame


def _scores(truth: Any, predicted: Any) -> dict[str, float]:
    """r2, rmse and mae, to six places."""
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    return {
        "r2": round(float(r2_score(truth, predicted)), 6),
        "rmse": round(float(mean_squared_error(truth, predicted) ** 0.5), 6),
        "mae": round(float(mean_absolute_error(truth, predicted)), 6),
    }


def _champion_predictions(held_out: pd.DataFrame, features: list[str]) -> Any:
    """The champion's predictions on the holdout, or None when the family has no champion.

    The champion's file is checked against its digest, so that the figures are of the
    version the gate compares with."""
    import joblib

    uri = os.environ.get(Env.CHAMPION_ARTIFACT_URI.value, "")
    if not uri:
        return None
    path = local_path(uri, Env.CHAMPION_ARTIFACT_URI.value)
    expected = os.environ.get(Env.CHAMPION_ARTIFACT_SHA256.value, "")
    try:
        if expected and _sha256(path) != expected:
            raise TrainerError(f"the champion's artifact {uri} does not match its sha256")
        champion = joblib.load(path)
    except OSError as error:
        raise TrainerError(f"cannot read the champion's artifact {uri}: {error}") from None
    return champion.predict(held_out[features])


def train(
    output_uri: str,
    shifts: dict[str, float],
    degrade: bool,
    seed: int,
    data_uri: str | None = None,
) -> TrainingResult:
    """Train, measure both versions on the holdout, write the files, and return the result."""
    # Here, not at the top: every `modelkeeper` command imports this module to list it.
    from sklearn.dummy import DummyRegressor
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import train_test_split

    from modelkeeper.serving.runtime import PROFILE_FILE, model_file_name, save_model_dir

    directory = local_path(output_uri, Env.OUTPUT_URI.value)
    frame = _load(data_uri, shifts)
    features = [column for column in frame.columns if column != TARGET]
    attribute = os.environ.get(Env.FAIRNESS_ATTRIBUTE.value, "")
    if attribute and attribute not in features:
        raise TrainerError(
            f"{Env.FAIRNESS_ATTRIBUTE.value} {attribute!r} is not a column of the data; "
            f"the features are {', '.join(features)}"
        )
    training, held_out = train_test_split(frame, test_size=TEST_SIZE, random_state=seed)
    estimator = DummyRegressor(strategy="mean") if degrade else Ridge(alpha=ALPHA)
    estimator.fit(training[features], training[TARGET])
    predicted = estimator.predict(held_out[features])
    champion = _champion_predictions(held_out, features)
    # A regressor decides by a threshold: the training target's median, "above the usual".
    threshold = float(training[TARGET].median())
    schema: dict[str, Any] = {
        "inputs": [{"name": name, "type": "Numeric"} for name in features],
        "output": {"type": "Regression"},
    }
    save_model_dir(
        directory, estimator, ModelSchema.model_validate(schema), training, target=TARGET
    )
    training.to_csv(directory / DATA_FILE, index=False)
    held_out.to_csv(directory / HOLDOUT_FILE, index=False)
    base = output_uri.rstrip("/")
    model_file = directory / model_file_name(ArtifactFormat.SKLEARN)
    fairness = None
    if attribute:
        fairness = measure(
            attribute,
            f"prediction >= {threshold:g}",
            [bool(value >= threshold) for value in predicted],
            [bool(value >= threshold) for value in held_out[TARGET]],
            list(held_out[attribute]),
        )
    return TrainingResult.model_validate(
        {
            "artifact": {
                "uri": f"{base}/{model_file.name}",
                "sha256": _sha256(model_file),
                "format": ArtifactFormat.SKLEARN.value,
            },
            "metrics": _scores(held_out[TARGET], predicted),
            "championMetrics": {} if champion is None else _scores(held_out[TARGET], champion),
            "holdout": {
                "uri": f"{base}/{HOLDOUT_FILE}",
                "sha256": _sha256(directory / HOLDOUT_FILE),
            },
            "fairness": fairness,
            "profile": {
                "uri": f"{base}/{PROFILE_FILE}",
                "sha256": _sha256(directory / PROFILE_FILE),
            },
            "schema": schema,
            "trainingData": [
                {"uri": f"{base}/{DATA_FILE}", "sha256": _sha256(directory / DATA_FILE)}
            ],
            "parameters": {
                "estimator": type(estimator).__name__,
                **({} if degrade else {"alpha": str(ALPHA)}),
                "testSize": str(TEST_SIZE),
                "seed": str(seed),
                "decisionThreshold": f"{threshold:g}",
                **({"data": data_uri} if data_uri else {}),
                **({"shift": ",".join(f"{k}={v:g}" for k, v in shifts.items())} if shifts else {}),
            },
        }
    )


def report(result: TrainingResult, path: Path) -> str:
    """Write the result as JSON to the termination message file; returns the JSON."""
    message = result.model_dump_json(by_alias=True, exclude_none=True)
    if len(message.encode()) > TERMINATION_MESSAGE_LIMIT:
        raise TrainerError(
            f"the result is {len(message)} bytes; a termination message keeps "
            f"{TERMINATION_MESSAGE_LIMIT}"
        )
    path.write_text(message)
    return message


def run(args: argparse.Namespace) -> int:
    if args.fail:
        print("train-example: failing as asked (--fail)", file=sys.stderr)
        return 1
    try:
        output_uri = args.output_uri or os.environ.get(Env.OUTPUT_URI.value)
        if not output_uri:
            raise TrainerError(f"set {Env.OUTPUT_URI.value} or --output-uri")
        shifts = parse_shifts([os.environ.get(SHIFT_ENV, ""), *args.shift])
        data = args.data or os.environ.get(DATA_ENV) or None
        result = train(output_uri, shifts, args.degrade, args.seed, data)
        message = report(result, args.termination_log)
    except TrainerError as error:
        print(f"train-example: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"train-example: training failed: {error}", file=sys.stderr)
        return 1
    print(message)
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "train-example",
        help="an example retraining trainer (a ridge regression on diabetes data)",
        description="Train a ridge regression on recent labelled data (--data, else "
        "scikit-learn's diabetes data), measure it and the champion on one holdout, write the "
        "artifact directory under MODELKEEPER_OUTPUT_URI, and report the result JSON in "
        "the termination message. See docs/writing-trainers.md.",
    )
    parser.add_argument(
        "--output-uri", help=f"where to write the artifact directory (default: ${Env.OUTPUT_URI})"
    )
    parser.add_argument(
        "--data",
        metavar="URI",
        help="a file:// CSV of recent labelled data: the features and a 'target' column "
        f"(default: ${DATA_ENV}, else scikit-learn's diabetes data)",
    )
    parser.add_argument(
        "--shift",
        action="append",
        default=[],
        metavar="FEATURE=DELTA",
        help=f"add DELTA to a feature to simulate drift; repeatable (also ${SHIFT_ENV})",
    )
    parser.add_argument("--degrade", action="store_true", help="produce a worse model (the mean)")
    parser.add_argument("--fail", action="store_true", help="fail without a result (exit 1)")
    parser.add_argument("--seed", type=int, default=0, help="the held-out split's random seed")
    parser.add_argument(
        "--termination-log",
        type=Path,
        default=Path(os.environ.get(TERMINATION_LOG_ENV, DEFAULT_TERMINATION_LOG)),
        help=f"the termination message file (default: ${TERMINATION_LOG_ENV} or "
        f"{DEFAULT_TERMINATION_LOG})",
    )
    parser.set_defaults(handler=run)
