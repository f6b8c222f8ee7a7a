"""Fetching a model file or directory from the Model's artifact URI, and verifying its SHA-256.

Run as the serving pod's init step (`modelkeeper fetch-artifact`) or by
`modelkeeper serve --artifact-uri` before it loads the model. The file is
streamed to a temporary name beside the target while it is hashed, and renamed
into place only when the digest matches, so a mismatch leaves nothing behind
that a later start could load. file://, pvc:// (its claim mounted by the operator),
http://, https:// and s3:// (`modelkeeper.serving.s3`, the AWS variables of `environ`)
need nothing extra; gs:// needs google-cloud-storage (install it into the image).

A directory (an MLflow model: a file:// or pvc:// directory, or a `models:/NAME/VERSION`
or `models:/NAME@ALIAS` URI resolved through the MLflow registry, `modelkeeper.registry`)
is copied the same way, into a temporary directory beside the target, and its digest is
`tree_digest`'s: one SHA-256 over the sorted list of its files' digests and paths.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlparse

from modelkeeper.api.types import claim_path
from modelkeeper.registry.mlflow import Connection, MlflowRegistry, RegistryError
from modelkeeper.registry.uris import RegistryUriError, is_registry_uri, parse_registry_uri
from modelkeeper.serving.s3 import S3Error, open_object

CHUNK_BYTES = 1 << 20
HTTP_TIMEOUT_SECONDS = 60


class ArtifactError(RuntimeError):
    """The artifact could not be fetched or does not match its digest."""


def _open_file(uri: str, environ: Mapping[str, str]) -> IO[bytes]:
    path = Path(unquote(urlparse(uri).path))
    try:
        return path.open("rb")
    except OSError as error:
        raise ArtifactError(f"{uri}: {error.strerror}") from None


def _open_claim(uri: str, environ: Mapping[str, str]) -> IO[bytes]:
    """A pvc:// file, from where the operator mounts its claim into the fetch step."""
    where = claim_path(uri)
    assert where is not None
    try:
        return Path(where.local_path).open("rb")
    except OSError as error:
        raise ArtifactError(
            f"{uri}: {error.strerror} at {where.local_path} (claim {where.claim} is mounted "
            f"at {where.mount_path})"
        ) from None


def _open_http(uri: str, environ: Mapping[str, str]) -> IO[bytes]:
    try:
        response: IO[bytes] = urllib.request.urlopen(uri, timeout=HTTP_TIMEOUT_SECONDS)
    except OSError as error:  # URLError and HTTPError are OSErrors
        raise ArtifactError(f"{uri}: {error}") from None
    return response


def _optional(module: str, extra: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ArtifactError(f"this URI scheme needs {extra} installed") from None


def _open_s3(uri: str, environ: Mapping[str, str]) -> IO[bytes]:
    try:
        return open_object(uri, environ)
    except S3Error as error:
        raise ArtifactError(str(error)) from None


def _open_gs(uri: str, environ: Mapping[str, str]) -> IO[bytes]:
    parsed = urlparse(uri)
    storage = _optional("google.cloud.storage", "google-cloud-storage")
    blob = storage.Client().bucket(parsed.netloc).blob(parsed.path.lstrip("/"))
    stream: IO[bytes] = blob.open("rb")
    return stream


OPENERS: dict[str, Callable[[str, Mapping[str, str]], IO[bytes]]] = {
    "file": _open_file,
    "pvc": _open_claim,
    "http": _open_http,
    "https": _open_http,
    "s3": _open_s3,
    "gs": _open_gs,
}


@contextmanager
def _temporary_beside(target: Path) -> Iterator[tuple[IO[bytes], Path]]:
    """A temporary file in the target's directory, removed unless it was renamed away."""
    descriptor, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    path = Path(name)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            yield stream, path
    finally:
        path.unlink(missing_ok=True)


def tree_digest(directory: Path) -> str:
    """A directory's SHA-256: of the lines `<file's sha256>  <relative path>`, sorted by path.

    The same as `cd DIR && find . -type f -printf '%P\\0' | LC_ALL=C sort -z |
    xargs -0 sha256sum | sha256sum`, so a person can compute it for spec.artifact.sha256.
    """
    lines = []
    files = sorted(
        (path for path in directory.rglob("*") if path.is_file()),
        key=lambda path: path.relative_to(directory).as_posix().encode(),
    )
    for path in files:
        digest = hashlib.sha256()
        with path.open("rb") as stream:
            while chunk := stream.read(CHUNK_BYTES):
                digest.update(chunk)
        lines.append(f"{digest.hexdigest()}  {path.relative_to(directory).as_posix()}\n")
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def _local_directory(uri: str) -> Path | None:
    """The directory a file:// or pvc:// URI names, or None when it names no directory."""
    scheme = urlparse(uri).scheme
    if scheme == "file":
        path = Path(unquote(urlparse(uri).path))
    elif scheme == "pvc":
        where = claim_path(uri)
        assert where is not None
        path = Path(where.local_path)
    else:
        return None
    return path if path.is_dir() else None


def _from_registry(uri: str, into: Path, environ: Mapping[str, str]) -> None:
    try:
        name = parse_registry_uri(uri)
        registry = MlflowRegistry(Connection.from_environ(environ))
        version = registry.model_version(name)
        registry.download_tree(registry.download_uri(version), into)
    except (RegistryUriError, RegistryError) as error:
        raise ArtifactError(f"{uri}: {error}") from None


def _fetch_directory(
    uri: str, target: Path, sha256: str | None, copy: Callable[[Path], None]
) -> str:
    """`copy` fills a temporary directory beside `target`, renamed to it if the digest fits."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        copy(temporary)
        actual = tree_digest(temporary)
        if sha256 is not None and actual != sha256.lower():
            raise ArtifactError(
                f"{uri}: sha256 mismatch: expected {sha256.lower()}, got {actual} "
                "(the digest of the directory, docs/publishing-models.md)"
            )
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
        temporary.rename(target)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return actual


def fetch_artifact(
    uri: str, target: Path, sha256: str | None, environ: Mapping[str, str] | None = None
) -> str:
    """Copy the artifact at `uri` to `target` and return its SHA-256, which must be `sha256`.

    A `models:/` URI or a local directory is copied as a directory; `environ` says where
    the MLflow registry or the S3 store is, and who we are there (the process's
    environment by default).
    """
    environ = os.environ if environ is None else environ
    if is_registry_uri(uri):
        return _fetch_directory(
            uri, target, sha256, lambda into: _from_registry(uri, into, environ)
        )
    if (directory := _local_directory(uri)) is not None:
        local = directory

        def copy(into: Path) -> None:
            shutil.copytree(local, into, dirs_exist_ok=True)

        return _fetch_directory(uri, target, sha256, copy)
    scheme = urlparse(uri).scheme
    opener = OPENERS.get(scheme)
    if opener is None:
        raise ArtifactError(
            f"{uri}: unsupported scheme {scheme!r} (use {', '.join(OPENERS)} or models)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with _temporary_beside(target) as (stream, temporary), opener(uri, environ) as source:
        try:
            while chunk := source.read(CHUNK_BYTES):
                digest.update(chunk)
                stream.write(chunk)
        except OSError as error:
            raise ArtifactError(f"{uri}: reading failed: {error}") from None
        stream.flush()
        actual = digest.hexdigest()
        if sha256 is not None and actual != sha256.lower():
            raise ArtifactError(f"{uri}: sha256 mismatch: expected {sha256.lower()}, got {actual}")
        shutil.move(temporary, target)
    return actual
