"""Reference profiles read as the drift monitor reads them: a real file, a real HTTP server."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from modelkeeper.api.model import Reference
from modelkeeper.drift.reference import ProfileStore, ProfileUnavailableError
from modelkeeper.drift.state import Unreadable
from modelkeeper.profile import CategoricalProfile, Profile
from tests.ground.processes import free_port

PROFILE = Profile(
    rows=3,
    features=[CategoricalProfile(name="country", categories=["de"], counts=[2, 1], missing=0)],
)
BODY = PROFILE.model_dump_json().encode()
DIGEST = hashlib.sha256(BODY).hexdigest()


@pytest.fixture
async def store() -> AsyncIterator[ProfileStore]:
    profiles = ProfileStore(timeout_seconds=5)
    yield profiles
    await profiles.close()


@pytest.fixture
async def server() -> AsyncIterator[str]:
    """Serves the profile at /profile.json; anything else is 404."""

    async def profile(request: web.Request) -> web.Response:
        return web.Response(body=BODY, content_type="application/json")

    app = web.Application()
    app.router.add_get("/profile.json", profile)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_a_file_profile_is_read_once_and_kept(store: ProfileStore, tmp_path: Path) -> None:
    path = tmp_path / "profile.json"
    path.write_bytes(BODY)
    reference = Reference(uri=f"file://{path}", sha256=DIGEST)
    assert await store.load(reference) == PROFILE
    path.unlink()
    assert await store.load(reference) == PROFILE


async def test_an_http_profile_is_fetched(store: ProfileStore, server: str) -> None:
    assert await store.load(Reference(uri=f"{server}/profile.json")) == PROFILE


@pytest.mark.parametrize(
    ("uri", "sha256", "reason", "words"),
    [
        pytest.param(
            None,
            None,
            Unreadable.REFERENCE_IN_IMAGE,
            "set spec.reference.uri",
            id="inside-the-image",
        ),
        pytest.param(
            "file://{tmp}/absent.json",
            None,
            Unreadable.PROFILE_UNREADABLE,
            "cannot read",
            id="no-file",
        ),
        pytest.param(
            "file://{tmp}/wrong.json",
            None,
            Unreadable.PROFILE_UNREADABLE,
            "is not a reference profile",
            id="not-a-profile",
        ),
        pytest.param(
            "{server}/profile.json",
            "0" * 64,
            Unreadable.PROFILE_UNREADABLE,
            "does not match spec.reference.sha256",
            id="wrong-digest",
        ),
        pytest.param(
            "{server}/missing.json",
            None,
            Unreadable.PROFILE_UNREADABLE,
            "answered HTTP 404",
            id="http-404",
        ),
        pytest.param(
            "s3://bucket/profile.json", None, Unreadable.PROFILE_UNREADABLE, "not s3://", id="s3"
        ),
    ],
)
async def test_what_cannot_be_read_says_why(
    store: ProfileStore,
    server: str,
    tmp_path: Path,
    uri: str | None,
    sha256: str | None,
    reason: Unreadable,
    words: str,
) -> None:
    (tmp_path / "wrong.json").write_text('{"format": "something else"}')
    reference = (
        Reference(uri=uri.format(tmp=tmp_path, server=server), sha256=sha256)
        if uri is not None
        else Reference(path="/model/profile.json")
    )
    with pytest.raises(ProfileUnavailableError) as raised:
        await store.load(reference)
    assert raised.value.reason == reason
    assert words in raised.value.message
