"""A pool server's model directories on local disk: fetched once per version, kept for reloads.

A version's directory is what a single-model server's pod assembles in its init steps:
the artifact (`fetch.fetch_artifact`: file, pvc, http(s), s3, gs or an MLflow registry
URI, its SHA-256 checked), the reference profile from `reference.uri`, and `schema.json`
written from the catalogue's schema. It is built in a temporary directory and renamed
into place when complete, so a directory that exists is whole; an unloaded model is
loaded again from it without fetching. It is named by a digest of what it is made of,
so a changed artifact is a new directory, and two servers sharing a TMPDIR share it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from modelkeeper.api.model import Signature
from modelkeeper.api.pool import PooledVersion
from modelkeeper.serving.fetch import fetch_artifact
from modelkeeper.serving.runtime import PROFILE_FILE, SCHEMA_FILE, model_file_name


def schema_document(signature: Signature) -> dict[str, Any]:
    """The signature as the model directory's schema.json."""
    return signature.model_dump(mode="json", by_alias=True, exclude_none=True)


def default_cache() -> Path:
    """Under TMPDIR: the pod's writable scratch space (an emptyDir)."""
    return Path(tempfile.gettempdir()) / "modelkeeper-pool"


class ModelCache:
    """Model directories under `root`, one per version's artifact."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def path(self, version: PooledVersion) -> Path:
        made_of = version.model_dump(
            mode="json", include={"uri", "sha256", "format", "signature", "reference"}
        )
        digest = hashlib.sha256(json.dumps(made_of, sort_keys=True).encode()).hexdigest()
        return self._root / digest[:32]

    def directory(self, version: PooledVersion) -> Path:
        """The version's model directory, fetched now unless it is there; blocks.

        Raises fetch.ArtifactError when the artifact or profile cannot be fetched or
        does not match its digest.
        """
        target = self.path(version)
        if target.is_dir():
            return target
        self._root.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(dir=self._root, prefix=f".{target.name}."))
        try:
            fetch_artifact(version.uri, building / model_file_name(version.format), version.sha256)
            reference = version.reference
            if reference is not None and reference.uri is not None:
                fetch_artifact(reference.uri, building / PROFILE_FILE, reference.sha256)
            if version.signature is not None:
                (building / SCHEMA_FILE).write_text(json.dumps(schema_document(version.signature)))
            try:
                building.rename(target)
            except OSError:
                if not target.is_dir():  # not another server that built it first
                    raise
        finally:
            shutil.rmtree(building, ignore_errors=True)
        return target

    @staticmethod
    def forget(path: Path) -> None:
        """Remove a model directory (no version in the catalogue is made of it); blocks."""
        shutil.rmtree(path, ignore_errors=True)
