"""`modelkeeper train-example`: a trainer that follows the retraining contract end to end.

It shows a data scientist what a RetrainPolicy's training container does
(docs/writing-trainers.md): read the MODELKEEPER_* environment, train, write the
artifact directory under MODELKEEPER_OUTPUT_URI, and report the result as JSON in the
termination message. It trains a ridge regression on scikit-learn's diabetes data set,
and can be told to shift a feature (to simulate drift), to produce a worse model, or to
fail, so that tests and demos can drive every path of a run.

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
from modelkeeper.retrain.result import TrainingResult
from modelkeeper.retrain.workload import Env
from modelkeeper.serving.schema import ModelSchema

if TYPE_CHECKING:  # pandas and scikit-learn are imported by `train`, not by `modelkeeper run`
    import pandas as pd

DEFAULT_TERMINATION_LOG = "/dev/termination-log"
TERMINATION_LOG_ENV = "MODELKEEPER_TERMINATION_LOG"
SHIFT_ENV = "MODELKEEPER_TRAIN_SHIFT"
TERMINATION_MESSAGE_LIMIT = 4096  # what the kubelet keeps of a termination message
TARGET = "target"
DATA_FILE = "training.csv"


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


def output_directory(uri: str) -> Path:
    """The local directory of a file:// output URI; the example writes nowhere else."""
    parsed = urlparse(uri)
    if parsed.scheme != "file" or not parsed.path:
        raise TrainerError(
            f"{Env.OUTPUT_URI.value} must be a file:// URI for this example, not {uri!r}"
        )
    return Path(unquote(parsed.path))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load(shifts: dict[str, float]) -> pd.DataFrame:
    from sklearn.datasets import load_diabetes

    frame: pd.DataFrame = load_diabetes(as_frame=True).frame
    unknown = sorted(set(shifts) - set(frame.columns) - {TARGET})
    if unknown:
        features = ", ".join(column for column in frame.columns if column != TARGET)
        raise TrainerError(
            f"cannot shift unknown feature(s) {', '.join(unknown)}; the features are {features}"
        )
    for feature, delta in shifts.items():
        frame[feature] = frame[feature] + delta
    return frame


def train(output_uri: str, shifts: dict[str, float], degrade: bool, seed: int) -> TrainingResult:
    """Train, write the artifact directory, and return the result to report."""
    # Here, not at the top: every `modelkeeper` command imports this module to list it.
    from sklearn.dummy import DummyRegressor
    from sklearn.linear_model import Ridge
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
    from sklearn.model_selection import train_test_split

    from modelkeeper.serving.runtime import PROFILE_FILE, model_file_name, save_model_dir

    directory = output_directory(output_uri)
    frame = _load(shifts)
    features = [column for column in frame.columns if column != TARGET]
    training, held_out = train_test_split(frame, test_size=0.25, random_state=seed)
    estimator = DummyRegressor(strategy="mean") if degrade else Ridge(alpha=0.1)
    estimator.fit(training[features], training[TARGET])
    predicted = estimator.predict(held_out[features])
    schema: dict[str, Any] = {
        "inputs": [{"name": name, "type": "Numeric"} for name in features],
        "output": {"type": "Regression"},
    }
    save_model_dir(
        directory, estimator, ModelSchema.model_validate(schema), training, target=TARGET
    )
    training.to_csv(directory / DATA_FILE, index=False)
    base = output_uri.rstrip("/")
    model_file = directory / model_file_name(ArtifactFormat.SKLEARN)
    return TrainingResult.model_validate(
        {
            "artifact": {
                "uri": f"{base}/{model_file.name}",
                "sha256": _sha256(model_file),
                "format": ArtifactFormat.SKLEARN.value,
            },
            "metrics": {
                "r2": round(float(r2_score(held_out[TARGET], predicted)), 6),
                "rmse": round(float(mean_squared_error(held_out[TARGET], predicted) ** 0.5), 6),
                "mae": round(float(mean_absolute_error(held_out[TARGET], predicted)), 6),
            },
            "profile": {
                "uri": f"{base}/{PROFILE_FILE}",
                "sha256": _sha256(directory / PROFILE_FILE),
            },
            "schema": schema,
            "trainingData": [
                {"uri": f"{base}/{DATA_FILE}", "sha256": _sha256(directory / DATA_FILE)}
            ],
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
        result = train(output_uri, shifts, args.degrade, args.seed)
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
        help="an example retraining trainer (scikit-learn diabetes regression)",
        description="Train a ridge regression on scikit-learn's diabetes data, write the "
        "artifact directory under MODELKEEPER_OUTPUT_URI, and report the result JSON in "
        "the termination message. See docs/writing-trainers.md.",
    )
    parser.add_argument(
        "--output-uri", help=f"where to write the artifact directory (default: ${Env.OUTPUT_URI})"
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
