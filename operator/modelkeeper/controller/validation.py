"""What the API server cannot check about a Model: that its files are there and readable.

A `file://` artifact or reference profile is checked where the operator runs (cheap and
exact); a profile must also parse. Other schemes (https, s3, gs, pvc) and paths inside a
model image are checked by the scoring server when it starts, whose pod then fails with
a message; checking them here would need credentials the operator should not hold.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from pydantic import ValidationError

from modelkeeper.api.model import ModelResource
from modelkeeper.profile import Profile


def _local_path(uri: str) -> Path | None:
    parsed = urlparse(uri)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else None


def model_problems(model: ModelResource) -> list[str]:
    """What is wrong with the Model's files, each said so a person can fix it; [] if nothing."""
    problems: list[str] = []
    artifact = model.spec.artifact
    if artifact is not None:
        path = _local_path(artifact.uri)
        if path is not None and not path.is_file():
            problems.append(f"spec.artifact.uri: {path} does not exist or is not a file")
        if model.spec.signature is None:
            problems.append("spec.schema: an artifact Model needs a schema for the scoring server")
        if model.spec.reference is None:
            problems.append(
                "spec.reference: an artifact Model needs a reference profile (reference.uri)"
            )
    reference = model.spec.reference
    if reference is not None and reference.uri is not None:
        path = _local_path(reference.uri)
        if path is not None:
            try:
                Profile.model_validate_json(path.read_bytes())
            except OSError as error:
                problems.append(f"spec.reference.uri: cannot read {path}: {error.strerror}")
            except ValidationError as error:
                problems.append(
                    f"spec.reference.uri: {path} is not a reference profile: "
                    f"{error.error_count()} problems, first: {error.errors()[0]['msg']}"
                )
    return problems
