"""s3:// artifacts against a real S3-compatible store (SeaweedFS, `tests/support/s3store.py`).

The model file is put into the store's bucket; the scoring server fetches it with the AWS
variables a Secret would give the fetch step, checks its digest and serves the
estimator's predictions. The failures are the store's own answers: a digest that differs
(refused, nothing left behind), an object or bucket that is not there, a key the store
does not know and a secret that does not match (refused, and no message names either).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest

from modelkeeper.cli import main
from tests.integration.serving.serving_harness import ServerLauncher
from tests.support.models import IRIS_FEATURES, iris_frame
from tests.support.s3store import S3Store
from tests.support.traffic import v2_body

ROWS = iris_frame()[IRIS_FEATURES].iloc[[0, 60, 120, 149]].to_numpy()
WRONG = "0" * 64


@pytest.fixture(scope="module")
def uploaded(s3_store: S3Store, iris_dir: Path) -> tuple[str, str]:
    """The iris model's s3:// URI and digest."""
    data = (iris_dir / "model.joblib").read_bytes()
    return s3_store.put("iris/1/model.joblib", data), hashlib.sha256(data).hexdigest()


def fetch(uri: str, out: Path, environ: dict[str, str], digest: str | None = None) -> int:
    """`modelkeeper fetch-artifact` as the pod's init step runs it, with these variables."""
    argv = ["fetch-artifact", uri, "--out", str(out), *(["--sha256", digest] if digest else [])]
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environ.items():
            patch.setenv(name, value)
        return main(argv)


def test_a_fetched_model_serves_the_estimator_predictions(
    launch: ServerLauncher,
    s3_store: S3Store,
    uploaded: tuple[str, str],
    iris_dir: Path,
    tmp_path: Path,
) -> None:
    uri, digest = uploaded
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    for name in ("schema.json", "profile.json"):
        shutil.copy(iris_dir / name, model_dir / name)
    server = launch.start(
        model_dir,
        "iris",
        "--artifact-uri",
        uri,
        "--artifact-sha256",
        digest,
        env=dict(os.environ) | s3_store.environ(),
    )
    estimator: Any = joblib.load(iris_dir / "model.joblib")
    answer = server.infer(
        v2_body(ROWS.tolist(), outputs=[{"name": "predict"}, {"name": "predict_proba"}])
    )
    assert answer.status_code == 200, answer.text
    predict, proba = answer.json()["outputs"]
    assert predict["data"] == estimator.predict(ROWS).tolist()
    np.testing.assert_allclose(
        np.reshape(proba["data"], proba["shape"]), estimator.predict_proba(ROWS), rtol=1e-12
    )
    assert hashlib.sha256((model_dir / "model.joblib").read_bytes()).hexdigest() == digest


@pytest.mark.parametrize(
    ("uri", "digest", "credentials", "says"),
    [
        pytest.param(
            "s3://models/iris/1/model.joblib",
            WRONG,
            {},
            f"sha256 mismatch: expected {WRONG}, got ",
            id="digest-differs",
        ),
        pytest.param(
            "s3://models/iris/2/model.joblib",
            None,
            {},
            "s3://models/iris/2/model.joblib: not found: no such object at {endpoint} "
            "(NoSuchKey, HTTP 404)",
            id="missing-object",
        ),
        pytest.param(
            "s3://no-such-bucket/model.joblib",
            None,
            {},
            "s3://no-such-bucket/model.joblib: not found: {endpoint} has no such bucket "
            "(NoSuchBucket, HTTP 404)",
            id="missing-bucket",
        ),
        pytest.param(
            "s3://models/iris/1/model.joblib",
            None,
            {"secret": "not-the-secret-key-at-all"},
            "s3://models/iris/1/model.joblib: access denied by {endpoint} "
            "(SignatureDoesNotMatch, HTTP 403; check the credentials",
            id="wrong-secret",
        ),
        pytest.param(
            "s3://models/iris/1/model.joblib",
            None,
            {"access_key": "MKUNKNOWNKEY0000"},
            "s3://models/iris/1/model.joblib: access denied by {endpoint} "
            "(InvalidAccessKeyId, HTTP 403; check the credentials",
            id="unknown-key",
        ),
    ],
)
def test_a_refused_fetch_says_why_in_one_line_and_leaves_nothing(
    s3_store: S3Store,
    uploaded: tuple[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    uri: str,
    digest: str | None,
    credentials: dict[str, str],
    says: str,
) -> None:
    environ = s3_store.environ(**credentials)
    out = tmp_path / "model" / "model.joblib"
    assert fetch(uri, out, environ, digest) == 1
    error = capsys.readouterr().err.strip()
    assert says.format(endpoint=s3_store.endpoint) in error
    assert len(error.splitlines()) == 1
    for secret in (s3_store.access_key, s3_store.secret_key, *credentials.values()):
        assert secret not in error
    assert list(out.parent.iterdir()) == []
