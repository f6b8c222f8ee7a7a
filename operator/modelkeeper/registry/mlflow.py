"""A small client of an MLflow tracking server's model registry and artifact proxy (REST).

It resolves a `models:/` URI to a model version (`model-versions/get`, or
`registered-models/alias` for an alias), asks where the version's files are
(`model-versions/get-download-uri`) and copies that directory through the server's
artifact proxy (`mlflow-artifacts/artifacts`, a server started with `--serve-artifacts`).
Standard library only. Where the server is and who we are come from MLflow's own
variables, so a setup that works for the `mlflow` client works here:
`MLFLOW_TRACKING_URI`, and `MLFLOW_TRACKING_TOKEN` (a bearer token) or
`MLFLOW_TRACKING_USERNAME` and `MLFLOW_TRACKING_PASSWORD` (basic auth). No message
names a credential. The operator uses the same client to follow an alias: where it
points (`registered-models/alias`) and the metrics of the run that logged the version
(`runs/get`).
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from modelkeeper.registry.uris import RegistryUri

TIMEOUT_SECONDS = 60.0
CHUNK_BYTES = 1 << 20
PROXY_SCHEME = "mlflow-artifacts"
API = "/api/2.0/mlflow"
ARTIFACTS_API = "/api/2.0/mlflow-artifacts/artifacts"


class RegistryError(RuntimeError):
    """The registry could not be reached or refused; the message names the server and why."""


class RegistryUnreachableError(RegistryError):
    """No answer from the server: refused, timed out, no route."""


class RegistryNotFoundError(RegistryError):
    """The server answered 404: no such model, version or alias."""


@dataclass(frozen=True)
class Connection:
    """Where the tracking server is and how to authenticate; repr never shows a credential."""

    tracking_uri: str
    token: str | None = field(default=None, repr=False)
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Connection:
        uri = environ.get("MLFLOW_TRACKING_URI", "").strip()
        if not uri.startswith(("http://", "https://")):
            raise RegistryError(
                "a models:/ URI needs MLFLOW_TRACKING_URI, the tracking server's http(s):// "
                f"address (it is {uri!r})"
            )
        return cls(
            uri.rstrip("/"),
            token=environ.get("MLFLOW_TRACKING_TOKEN") or None,
            username=environ.get("MLFLOW_TRACKING_USERNAME") or None,
            password=environ.get("MLFLOW_TRACKING_PASSWORD") or None,
        )

    def headers(self) -> dict[str, str]:
        """The Authorization header: the token if set, else basic auth if a username is."""
        if self.token is not None:
            return {"Authorization": f"Bearer {self.token}"}
        if self.username is not None:
            pair = f"{self.username}:{self.password or ''}".encode()
            return {"Authorization": f"Basic {base64.b64encode(pair).decode()}"}
        return {}


@dataclass(frozen=True)
class ModelVersion:
    """A registered model's version, as the registry describes it."""

    name: str
    version: str
    source: str
    run_id: str
    aliases: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> ModelVersion:
        return cls(
            name=str(body["name"]),
            version=str(body["version"]),
            source=str(body.get("source", "")),
            run_id=str(body.get("run_id", "")),
            aliases=tuple(str(alias) for alias in body.get("aliases", ())),
        )


def _refusal(error: urllib.error.HTTPError, tracking_uri: str) -> RegistryError:
    """MLflow's error code and message (or the HTTP status when the body is not MLflow's),
    as RegistryNotFoundError when it says something does not exist: a 404, or MLflow's
    answer to a missing alias, 400 INVALID_PARAMETER_VALUE "... alias X not found."."""
    try:
        body = json.loads(error.read() or b"{}")
    except ValueError:
        body = {}
    if isinstance(body, dict) and "message" in body:
        message = str(body["message"])
        missing = error.code == 404 or message.rstrip(".").endswith("not found")
        refused = RegistryNotFoundError if missing else RegistryError
        return refused(f"MLflow at {tracking_uri}: {body.get('error_code', error.code)}: {message}")
    return (RegistryNotFoundError if error.code == 404 else RegistryError)(
        f"MLflow at {tracking_uri}: {_status(error)}"
    )


def _status(error: urllib.error.HTTPError) -> str:
    """The HTTP status of an answer that is not MLflow's, with a hint for a refused login."""
    if error.code in (401, 403):
        return (
            f"HTTP {error.code} {error.reason}: the server refused our credentials "
            "(MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD)"
        )
    return f"HTTP {error.code} {error.reason}"


class MlflowRegistry:
    """One tracking server's registry: versions by number or alias, and their files."""

    def __init__(self, connection: Connection, timeout: float = TIMEOUT_SECONDS) -> None:
        self._connection = connection
        self._timeout = timeout

    @property
    def tracking_uri(self) -> str:
        return self._connection.tracking_uri

    def _open(self, path: str, query: Mapping[str, str]) -> IO[bytes]:
        url = f"{self.tracking_uri}{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        request = urllib.request.Request(url, headers=self._connection.headers())
        try:
            response: IO[bytes] = urllib.request.urlopen(request, timeout=self._timeout)
        except urllib.error.HTTPError as error:
            raise _refusal(error, self.tracking_uri) from None
        except OSError as error:  # URLError, timeouts, refused connections
            reason = getattr(error, "reason", error)
            raise RegistryUnreachableError(
                f"MLflow at {self.tracking_uri} unreachable: {reason}"
            ) from None
        return response

    def _get(self, path: str, query: Mapping[str, str]) -> dict[str, Any]:
        with self._open(path, query) as response:
            try:
                body = json.loads(response.read())
            except ValueError:
                raise RegistryError(
                    f"MLflow at {self.tracking_uri}: {path} answered with no JSON"
                ) from None
        if not isinstance(body, dict):
            raise RegistryError(f"MLflow at {self.tracking_uri}: {path} answered {body!r}")
        return body

    def model_version(self, uri: RegistryUri) -> ModelVersion:
        """The version a URI names now: its own number, or where its alias points."""
        if uri.version is not None:
            body = self._get(
                f"{API}/model-versions/get", {"name": uri.name, "version": uri.version}
            )
        else:
            assert uri.alias is not None
            body = self._get(
                f"{API}/registered-models/alias", {"name": uri.name, "alias": uri.alias}
            )
        return ModelVersion.from_json(body["model_version"])

    def run_metrics(self, run_id: str) -> dict[str, float]:
        """The latest value of each metric the run logged (`runs/get`), by name."""
        body = self._get(f"{API}/runs/get", {"run_id": run_id})
        metrics = body.get("run", {}).get("data", {}).get("metrics", [])
        return {str(metric["key"]): float(metric["value"]) for metric in metrics}

    def download_uri(self, version: ModelVersion) -> str:
        """Where the version's files are, such as mlflow-artifacts:/1/models/m-…/artifacts."""
        body = self._get(
            f"{API}/model-versions/get-download-uri",
            {"name": version.name, "version": version.version},
        )
        return str(body["artifact_uri"])

    def _list(self, path: str) -> list[tuple[str, bool]]:
        body = self._get(ARTIFACTS_API, {"path": path})
        return [
            (str(entry["path"]).rsplit("/", 1)[-1], bool(entry.get("is_dir", False)))
            for entry in body.get("files", [])
        ]

    def download_tree(self, artifact_uri: str, target: Path) -> int:
        """Copy the directory at `artifact_uri` (on the server's proxy) into `target`.

        Returns the number of files. Only the proxy's scheme is read: a store the
        server does not proxy (s3://, a path on the server) needs credentials and
        libraries that the fetch step does not have.
        """
        parsed = urllib.parse.urlparse(artifact_uri)
        if parsed.scheme != PROXY_SCHEME:
            raise RegistryError(
                f"MLflow at {self.tracking_uri} keeps this version's files at {artifact_uri}, "
                "which Modelkeeper does not read: run the server with --serve-artifacts so that "
                f"they are served as {PROXY_SCHEME}:/ URIs"
            )
        root = urllib.parse.unquote(parsed.path).strip("/")
        count = self._copy(root, target)
        if count == 0:
            raise RegistryError(f"MLflow at {self.tracking_uri}: {artifact_uri} holds no files")
        return count

    def _copy(self, path: str, target: Path) -> int:
        target.mkdir(parents=True, exist_ok=True)
        count = 0
        for name, is_dir in self._list(path):
            if name in ("", ".", "..") or "/" in name:
                raise RegistryError(f"MLflow at {self.tracking_uri}: a file named {name!r}")
            if is_dir:
                count += self._copy(f"{path}/{name}", target / name)
                continue
            quoted = urllib.parse.quote(f"{path}/{name}")
            with (
                self._open(f"{ARTIFACTS_API}/{quoted}", {}) as source,
                (target / name).open("wb") as stream,
            ):
                try:
                    while chunk := source.read(CHUNK_BYTES):
                        stream.write(chunk)
                except OSError as error:
                    raise RegistryError(
                        f"MLflow at {self.tracking_uri}: reading {path}/{name} failed: {error}"
                    ) from None
            count += 1
        return count
