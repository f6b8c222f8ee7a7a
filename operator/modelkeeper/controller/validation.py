"""What the API server cannot check about a Model: that its files are there, match their
digests and are readable; and, for what the operator cannot read, who checks it instead.

Who reads each URI (docs/publishing-models.md, "Who reads the artifact"):

- `file://`: the operator reads it here, on its own pod's file system, and checks that it
  exists, matches `sha256` and (for a profile) parses. The scoring pod's fetch step reads
  the same path on *its* file system, so the path must be mounted at the same place in both.
- `https://`, `http://`, `s3://`, `gs://`, `pvc://`: the scoring pod's fetch step reads the
  artifact at start and refuses a digest that differs; the operator holds no credentials for
  them and does not read them. A DriftMonitor reads an http(s) profile when it evaluates.
- `reference.path` and `image`: inside the model image, read by the scoring server at start.

A Model is Validated when nothing checked is wrong; the status says which parts were checked
and which could not be, and why, so that "Validated" never claims more than was done.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from urllib.parse import unquote, urlparse

from pydantic import ValidationError

from modelkeeper.api.model import ArtifactFormat, ModelResource
from modelkeeper.controller.status import Validation
from modelkeeper.profile import Profile
from modelkeeper.registry.uris import is_registry_uri

CHUNK = 1 << 20


def _local_path(uri: str) -> Path | None:
    parsed = urlparse(uri)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else None


def _scheme(uri: str) -> str:
    return urlparse(uri).scheme


def _digest(path: Path) -> str:
    """The file's SHA-256, hashed once per version of the file: a Model is reconciled often
    (every event of its family's Deployments), its files are large and do not change."""
    status = path.stat()
    return _digest_of(path, status.st_size, status.st_mtime_ns, status.st_ino)


@functools.lru_cache(maxsize=1024)
def _digest_of(path: Path, size: int, mtime_ns: int, inode: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _check_file(found: Validation, where: str, path: Path, sha256: str | None) -> str | None:
    """Check one local file against its digest: what was checked, or None (a problem noted)."""
    try:
        if not path.is_file():
            found.problems.append(
                f"{where}: {path} does not exist or is not a file on the operator's pod "
                "(a file:// URI must be mounted at the same path in the operator's pod and "
                "the scoring pods)"
            )
            return None
        actual = _digest(path)
    except OSError as error:
        found.problems.append(f"{where}: cannot read {path}: {error.strerror}")
        return None
    if sha256 is None:
        found.unchecked.append(f"{path}: no sha256 is set, so no one checks its digest")
        return f"{path} found"
    if actual != sha256:
        found.problems.append(f"{where}: {path} has SHA-256 {actual}, not {sha256} (sha256)")
        return None
    return f"{path} matches its digest"


def _remote(found: Validation, uri: str, what: str, reader: str) -> None:
    found.unchecked.append(
        f"{what} {uri}: {reader}; the operator does not read {_scheme(uri)}:// URIs"
    )


def _mlflow_artifact(found: Validation, uri: str, path: Path | None, sha256: str | None) -> None:
    """An MLflow model directory: a local one has its MLmodel; the rest is the fetch step's."""
    if is_registry_uri(uri):
        pinned = "a pinned version" if "@" not in uri else "an alias, resolved at each start"
        _remote(
            found,
            uri,
            "artifact",
            f"{pinned}, resolved in the MLflow registry by the scoring pod's fetch step"
            + (", which checks the directory's digest" if sha256 else ""),
        )
        return
    if path is None:
        _remote(found, uri, "artifact", "an MLflow model directory read by the fetch step")
        return
    if not (path / "MLmodel").is_file():
        found.problems.append(
            f"spec.artifact.uri: {path} is no MLflow model directory on the operator's pod "
            "(no MLmodel file in it)"
        )
        return
    found.unchecked.append(
        f"artifact {path}: an MLflow model directory; its digest is checked by the fetch step"
    )


def validate_model(model: ModelResource) -> Validation:
    """Check what the operator can read of the Model's artifact and reference profile."""
    found = Validation()
    spec = model.spec
    artifact = spec.artifact
    if spec.image is not None:
        found.unchecked.append(
            f"image {spec.image}: pulled by the kubelet and loaded by the scoring server at start"
        )
    if artifact is not None:
        path = _local_path(artifact.uri)
        if artifact.format is ArtifactFormat.MLFLOW:
            _mlflow_artifact(found, artifact.uri, path, artifact.sha256)
        elif path is not None:
            if (
                checked := _check_file(found, "spec.artifact.uri", path, artifact.sha256)
            ) is not None:
                found.checked.append(f"artifact {checked}")
        else:
            checks = "checks its digest" if artifact.sha256 else "has no sha256 to check"
            _remote(
                found,
                artifact.uri,
                "artifact",
                f"read by the scoring pod's fetch step, which {checks}",
            )
        if spec.signature is None and artifact.format is ArtifactFormat.MLFLOW:
            found.unchecked.append(
                "spec.schema: none, so the scoring server derives it from MLmodel's signature"
            )
        elif spec.signature is None:
            found.problems.append(
                "spec.schema: an artifact Model needs a schema for the scoring server"
            )
        if spec.reference is None:
            found.problems.append(
                "spec.reference: an artifact Model needs a reference profile (reference.uri)"
            )
    reference = spec.reference
    if reference is not None and reference.path is not None:
        found.unchecked.append(
            f"reference profile {reference.path}: inside the model image, read by the scoring "
            "server at start"
        )
    if reference is not None and reference.uri is not None:
        path = _local_path(reference.uri)
        if path is None:
            _remote(
                found,
                reference.uri,
                "reference profile",
                "read by the scoring pod's fetch step and, for http(s), by DriftMonitors",
            )
        elif (
            checked := _check_file(found, "spec.reference.uri", path, reference.sha256)
        ) is not None:
            try:
                Profile.model_validate_json(path.read_bytes())
            except OSError as error:
                found.problems.append(f"spec.reference.uri: cannot read {path}: {error.strerror}")
            except ValidationError as error:
                found.problems.append(
                    f"spec.reference.uri: {path} is not a reference profile: "
                    f"{error.error_count()} problems, first: {error.errors()[0]['msg']}"
                )
            else:
                found.checked.append(f"reference profile {checked}")
    return found
