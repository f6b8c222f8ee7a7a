"""The Prometheus client's side of the protocol, against a small local HTTP server that
stands in for Prometheus: what it sends (token, form) and how it reports what goes wrong.

Prometheus itself cannot check a bearer token, so a stand-in records what arrives and
answers canned Prometheus JSON; the real Prometheus is in test_analysis_against_prometheus.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web

from modelkeeper.controller.settings import OperatorSettings
from modelkeeper.prometheus.client import PrometheusProvider, ProviderError, ProviderPool
from modelkeeper.prometheus.promql import Sample
from tests.ground.pki import CertificateAuthority
from tests.ground.processes import free_port

AT = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
ONE = (
    b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1"]}]}}'
)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class StandIn:
    """A local server answering /api/v1/query; it records every request's header and form."""

    url: str
    seen: list[tuple[str | None, dict[str, str]]] = field(default_factory=list)


async def serve(
    answer: Handler, tls: ssl.SSLContext | None = None
) -> tuple[web.AppRunner, StandIn]:
    port = free_port()
    scheme = "https" if tls else "http"
    stand_in = StandIn(f"{scheme}://127.0.0.1:{port}")

    async def record(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        stand_in.seen.append(
            (request.headers.get("Authorization"), {key: str(value) for key, value in form.items()})
        )
        return await answer(request)

    app = web.Application()
    app.router.add_post("/api/v1/query", record)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=tls).start()
    return runner, stand_in


async def answer_one(request: web.Request) -> web.StreamResponse:
    return web.Response(body=ONE, content_type="application/json")


@pytest.fixture
async def prometheus() -> AsyncIterator[StandIn]:
    runner, stand_in = await serve(answer_one)
    yield stand_in
    await runner.cleanup()


async def query(provider: PrometheusProvider, promql: str = "vector(1)") -> list[Sample]:
    try:
        return await provider.query(promql, AT)
    finally:
        await provider.close()


async def test_the_query_is_posted_with_its_time_and_timeout(prometheus: StandIn) -> None:
    provider = PrometheusProvider(prometheus.url, timeout_seconds=3)
    assert await query(provider, 'sum(up{job="a b"})') == [Sample({}, 1.0)]
    assert prometheus.seen == [
        (None, {"query": 'sum(up{job="a b"})', "time": f"{AT.timestamp():.3f}", "timeout": "3s"})
    ]


async def test_the_bearer_token_is_read_again_for_every_query(
    prometheus: StandIn, tmp_path: Path
) -> None:
    token = tmp_path / "token"
    token.write_text("first-token\n")
    provider = PrometheusProvider(prometheus.url, bearer_token_file=token)
    try:
        await provider.query("vector(1)", AT)
        token.write_text("rotated-token")
        await provider.query("vector(1)", AT)
    finally:
        await provider.close()
    assert [header for header, _ in prometheus.seen] == [
        "Bearer first-token",
        "Bearer rotated-token",
    ]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        pytest.param(None, "No such file or directory", id="missing"),
        pytest.param("  \n", "is empty", id="empty"),
    ],
)
async def test_an_unreadable_token_is_reported_before_asking(
    prometheus: StandIn, tmp_path: Path, content: str | None, problem: str
) -> None:
    token = tmp_path / "token"
    if content is not None:
        token.write_text(content)
    provider = PrometheusProvider(prometheus.url, bearer_token_file=token)
    with pytest.raises(ProviderError, match=f"not queried: bearer token file {token}.*{problem}"):
        await query(provider)
    assert prometheus.seen == []


async def refuse(request: web.Request) -> web.StreamResponse:
    """Answers 401 quoting the Authorization header back, as a careless proxy might."""
    return web.Response(status=401, text=f"bad credentials {request.headers['Authorization']}")


async def test_errors_never_show_the_token(tmp_path: Path) -> None:
    runner, stand_in = await serve(refuse)
    token = tmp_path / "token"
    token.write_text("s3cret-token")
    try:
        with pytest.raises(ProviderError) as refused:
            await query(PrometheusProvider(stand_in.url, bearer_token_file=token))
    finally:
        await runner.cleanup()
    assert stand_in.seen[0][0] == "Bearer s3cret-token"
    assert str(refused.value) == (
        f"Prometheus at {stand_in.url} answered HTTP 401 with something that is not JSON"
    )


async def test_errors_never_show_credentials_from_the_url(tmp_path: Path) -> None:
    runner, stand_in = await serve(refuse)
    provider = PrometheusProvider(stand_in.url.replace("http://", "http://alice:pa55word@"))
    try:
        with pytest.raises(ProviderError) as refused:
            await query(provider)
    finally:
        await runner.cleanup()
    assert stand_in.seen[0][0] == "Basic YWxpY2U6cGE1NXdvcmQ="  # alice:pa55word
    assert provider.url == stand_in.url
    assert str(refused.value) == (
        f"Prometheus at {stand_in.url} answered HTTP 401 with something that is not JSON"
    )


async def test_url_credentials_and_a_token_file_conflict(
    prometheus: StandIn, tmp_path: Path
) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret-token")
    both = prometheus.url.replace("http://", "http://alice:pa55word@")
    with pytest.raises(ProviderError) as refused:
        await query(PrometheusProvider(both, bearer_token_file=token))
    assert str(refused.value) == (
        f"Prometheus at {prometheus.url} not queried: its URL carries credentials and a "
        "bearer token file is set; use one of the two"
    )
    assert prometheus.seen == []


async def test_a_prometheus_error_is_passed_on() -> None:
    async def bad_data(request: web.Request) -> web.StreamResponse:
        body = {"status": "error", "errorType": "bad_data", "error": "parse error at char 5"}
        return web.json_response(body, status=400)

    runner, stand_in = await serve(bad_data)
    try:
        with pytest.raises(ProviderError) as refused:
            await query(PrometheusProvider(stand_in.url), "sum(")
    finally:
        await runner.cleanup()
    assert str(refused.value) == (
        f"Prometheus at {stand_in.url} answered HTTP 400, bad_data: parse error at char 5"
    )


async def test_a_slow_prometheus_times_out() -> None:
    released = asyncio.Event()

    async def slow(request: web.Request) -> web.StreamResponse:
        await released.wait()
        return await answer_one(request)

    runner, stand_in = await serve(slow)
    try:
        with pytest.raises(ProviderError) as late:
            await query(PrometheusProvider(stand_in.url, timeout_seconds=0.3))
    finally:
        released.set()
        await runner.cleanup()
    assert str(late.value) == f"Prometheus at {stand_in.url} did not answer within 0.3s"


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    return CertificateAuthority(tmp_path_factory.mktemp("pki"))


@pytest.fixture
async def tls_prometheus(authority: CertificateAuthority) -> AsyncIterator[StandIn]:
    pair = authority.issue("prometheus", "prometheus", server_ips=("127.0.0.1",))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pair.cert, pair.key)
    runner, stand_in = await serve(answer_one, context)
    yield stand_in
    await runner.cleanup()


async def test_tls_with_the_ca_file(
    tls_prometheus: StandIn, authority: CertificateAuthority
) -> None:
    provider = PrometheusProvider(tls_prometheus.url, ca_file=authority.cert_path)
    assert await query(provider) == [Sample({}, 1.0)]


async def test_tls_without_the_ca_is_rejected_unless_verification_is_off(
    tls_prometheus: StandIn,
) -> None:
    with pytest.raises(
        ProviderError, match=r"TLS certificate rejected: .*certificate verify failed"
    ):
        await query(PrometheusProvider(tls_prometheus.url))
    insecure = PrometheusProvider(tls_prometheus.url, insecure_skip_verify=True)
    assert await query(insecure) == [Sample({}, 1.0)]


async def test_a_missing_ca_file_is_reported(tls_prometheus: StandIn, tmp_path: Path) -> None:
    missing = tmp_path / "ca.crt"
    provider = PrometheusProvider(tls_prometheus.url, ca_file=missing)
    with pytest.raises(ProviderError, match=f"not queried: CA file {missing}: No such file"):
        await query(provider)


async def test_the_pool_gives_one_provider_per_url_with_the_operator_settings(
    prometheus: StandIn, tmp_path: Path
) -> None:
    token = tmp_path / "token"
    token.write_text("pool-token")
    settings = OperatorSettings.model_validate(
        {"prometheus_url": prometheus.url, "prometheus_bearer_token_file": str(token)}
    )
    pool = ProviderPool(settings)
    try:
        default = pool.provider()
        assert pool.provider(prometheus.url) is default
        assert pool.provider("http://127.0.0.1:9") is not default
        assert await default.query("vector(1)", AT) == [Sample({}, 1.0)]
    finally:
        await pool.close()
    assert prometheus.seen[0][0] == "Bearer pool-token"
