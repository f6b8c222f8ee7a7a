"""Prometheus as a metrics provider: instant queries over its HTTP API, for analysis and drift.

The analysis needs one thing from a metrics backend, an instant query at a given time,
so the provider is a one-method Protocol, and everything that can go wrong on the way
(unreachable, slow, an HTTP or PromQL error, an answer that is not Prometheus JSON)
is one `ProviderError` whose message names the Prometheus and the problem: the run
turns it into an Inconclusive verdict a person can act on. Messages never carry the
bearer token, nor credentials written into the URL.
"""

from __future__ import annotations

import asyncio
import math
import ssl
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from typing_extensions import TypedDict
from yarl import URL

from modelkeeper.prometheus.promql import Sample, duration
from modelkeeper.prometheus.settings import PrometheusSettings


class ProviderError(Exception):
    """A query got no usable answer; the message says from where and why, for people."""


class MetricsProvider(Protocol):
    """Where the analysis reads metrics from."""

    @property
    def url(self) -> str:
        """Where it is, as messages show it (no credentials)."""
        ...

    async def query(self, promql: str, at: datetime) -> list[Sample]:
        """The instant vector `promql` evaluates to at `at`; series without a finite value
        are left out (no data). Raises ProviderError."""
        ...


class _Data(BaseModel):
    model_config = ConfigDict(extra="ignore")

    result_type: str = Field(alias="resultType")
    result: Any


class _Answer(BaseModel):
    """The envelope of every Prometheus API answer."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["success", "error"]
    data: _Data | None = None
    error_type: str = Field("", alias="errorType")
    error: str = ""


class _Series(TypedDict):
    """One series of a vector; a TypedDict, not a model: three times faster to validate, which
    counts for a drift query's thousand series."""

    metric: dict[str, str]
    value: tuple[float, str]


_VECTOR = TypeAdapter(list[_Series])
_SCALAR = TypeAdapter(tuple[float, str])


def finite_samples(values: list[tuple[dict[str, str], str]]) -> list[Sample]:
    """Samples whose value is a finite number: NaN and ±Inf (0/0, x/0) are no data."""
    samples = [Sample(labels, float(value)) for labels, value in values]
    return [sample for sample in samples if math.isfinite(sample.value)]


def parse_answer(status: int, body: bytes) -> list[Sample]:
    """The samples of an instant query's answer, or ValueError saying what is wrong with it."""
    try:
        answer = _Answer.model_validate_json(body)
    except ValidationError as error:
        invalid_json = any(problem["type"] == "json_invalid" for problem in error.errors())
        what = "something that is not JSON" if invalid_json else "JSON that is not a query result"
        raise ValueError(f"answered HTTP {status} with {what}") from None
    if answer.status == "error" or not 200 <= status < 300:
        detail = f"{answer.error_type}: {answer.error}" if answer.error else "no reason given"
        raise ValueError(f"answered HTTP {status}, {detail}")
    if answer.data is None:
        raise ValueError("answered success without data")
    try:
        match answer.data.result_type:
            case "vector":
                series = _VECTOR.validate_python(answer.data.result)
                return finite_samples([(item["metric"], item["value"][1]) for item in series])
            case "scalar":
                return finite_samples([({}, _SCALAR.validate_python(answer.data.result)[1])])
    except (ValidationError, ValueError):
        raise ValueError(f"answered a {answer.data.result_type} it could not parse") from None
    raise ValueError(f"answered a {answer.data.result_type}; the query must give a number")


def connection_problem(error: aiohttp.ClientConnectorError) -> str:
    if isinstance(error, aiohttp.ClientConnectorCertificateError):
        return f"TLS certificate rejected: {error.certificate_error}"
    if isinstance(error.os_error, ConnectionRefusedError):
        return "unreachable: connection refused"
    return f"unreachable: {error.os_error.strerror or error.os_error}"


class PrometheusProvider:
    """Instant queries against one Prometheus, over one HTTP session, POSTed (long queries
    fit), optionally with a bearer token re-read for every query and a private CA."""

    def __init__(
        self,
        url: str,
        *,
        timeout_seconds: float = 10.0,
        bearer_token_file: Path | None = None,
        ca_file: Path | None = None,
        insecure_skip_verify: bool = False,
    ) -> None:
        base = URL(url)
        self._endpoint = base.joinpath("api/v1/query")
        self._shown = str(base.with_user(None).with_query(None))
        self._timeout = timeout_seconds
        self._token_file = bearer_token_file
        self._ca_file = ca_file
        self._insecure = insecure_skip_verify
        self._tls: ssl.SSLContext | bool | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return self._shown

    def _error(self, problem: str) -> ProviderError:
        return ProviderError(f"Prometheus at {self._shown} {problem}")

    def _headers(self) -> dict[str, str]:
        """Accept JSON; authorise with the token as it is now in its file."""
        headers = {"Accept": "application/json"}
        if self._token_file is not None:
            if self._endpoint.user is not None:
                raise self._error(
                    "not queried: its URL carries credentials and a bearer token file is "
                    "set; use one of the two"
                )
            try:
                token = self._token_file.read_text().strip()
            except OSError as error:
                problem = error.strerror or type(error).__name__
                raise self._error(
                    f"not queried: bearer token file {self._token_file}: {problem}"
                ) from None
            if not token:
                raise self._error(f"not queried: bearer token file {self._token_file} is empty")
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _tls_setting(self) -> ssl.SSLContext | bool:
        """True: verify with the system's CAs; a context with the CA file; False: no checks."""
        if self._tls is None:
            if self._insecure:
                self._tls = False
            elif self._ca_file is None:
                self._tls = True
            else:
                try:
                    self._tls = ssl.create_default_context(cafile=str(self._ca_file))
                except (OSError, ssl.SSLError) as error:
                    problem = getattr(error, "strerror", None) or str(error)
                    raise self._error(f"not queried: CA file {self._ca_file}: {problem}") from None
        return self._tls

    async def query(self, promql: str, at: datetime) -> list[Sample]:
        headers, tls = self._headers(), self._tls_setting()
        # Prometheus refuses a timeout such as "10.0s": whole seconds, rounded up.
        timeout = duration(timedelta(seconds=self._timeout))
        form = {"query": promql, "time": f"{at.timestamp():.3f}", "timeout": timeout}
        try:
            try:
                status, body = await self._post(form, headers, tls)
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as error:
                if isinstance(error, aiohttp.ClientConnectorError):
                    raise
                # A kept connection that Prometheus closed (it restarted, say); a query
                # changes nothing, so it is sent once more, on a new connection.
                status, body = await self._post(form, headers, tls)
        except TimeoutError:
            raise self._error(f"did not answer within {self._timeout:g}s") from None
        except aiohttp.ClientConnectorError as error:
            raise self._error(connection_problem(error)) from None
        except aiohttp.ClientError as error:
            raise self._error(f"failed: {type(error).__name__} {error}".strip()) from None
        try:
            return parse_answer(status, body)
        except ValueError as error:
            raise self._error(str(error)) from None

    async def _post(
        self, form: dict[str, str], headers: dict[str, str], tls: ssl.SSLContext | bool
    ) -> tuple[int, bytes]:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout)
            )
        async with self._session.post(
            self._endpoint, data=form, headers=headers, ssl=tls
        ) as answer:
            return answer.status, await answer.read()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class ProviderPool:
    """One provider per Prometheus URL: the operator's, or a Deployment's
    spec.strategy.prometheusURL, all with the operator's settings; closed at shutdown."""

    def __init__(self, settings: PrometheusSettings) -> None:
        self._settings = settings
        self._providers: dict[str, PrometheusProvider] = {}

    def provider(self, url: str | None = None) -> PrometheusProvider:
        """The provider for `url`, or for the operator's Prometheus when None."""
        settings = self._settings
        url = url or settings.prometheus_url
        if url not in self._providers:
            self._providers[url] = PrometheusProvider(
                url,
                timeout_seconds=settings.prometheus_timeout_seconds,
                bearer_token_file=_path(settings.prometheus_bearer_token_file),
                ca_file=_path(settings.prometheus_ca_file),
                insecure_skip_verify=settings.prometheus_insecure_skip_verify,
            )
        return self._providers[url]

    async def close(self) -> None:
        providers, self._providers = list(self._providers.values()), {}
        await asyncio.gather(*(provider.close() for provider in providers))


def _path(value: str | None) -> Path | None:
    return None if value is None else Path(value)
