"""Reference profiles as the drift monitor reads them: from file:// or http(s)://, cached.

A Model's reference is immutable, so a profile parsed once is kept by (uri, sha256) for
the life of the operator and one evaluation costs no read. The operator reads only
what it can reach without credentials: a local file, or an http(s) URL with a timeout.
A profile inside a model image (reference.path), or on s3, gs or a volume claim, is read
by the scoring server, not here; the monitor says so and how to fix it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import unquote, urlparse

import aiohttp
from pydantic import ValidationError

from modelkeeper.api.model import Reference
from modelkeeper.drift.state import Unreadable
from modelkeeper.profile import Profile

MAX_PROFILE_BYTES = 32 * 1024 * 1024
"""A profile of 512 features of 50 bins is well under 1 MiB; anything far larger is not one."""


class ProfileUnavailableError(Exception):
    """The reference profile cannot be read; `reason` is the Ready condition's reason."""

    def __init__(self, reason: Unreadable, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class ProfileStore:
    """Reads and parses reference profiles, each once."""

    def __init__(self, timeout_seconds: float = 10.0) -> None:
        self._timeout = timeout_seconds
        self._profiles: dict[tuple[str, str | None], Profile] = {}
        self._session: aiohttp.ClientSession | None = None

    async def load(self, reference: Reference) -> Profile:
        """The profile `reference` names. Raises ProfileUnavailableError saying what to fix."""
        if reference.uri is None:
            raise ProfileUnavailableError(
                Unreadable.REFERENCE_IN_IMAGE,
                f"the reference profile is inside the model image ({reference.path}), which the "
                "operator cannot read: publish it beside the model and set spec.reference.uri",
            )
        key = (reference.uri, reference.sha256)
        if key not in self._profiles:
            data = await self._read(reference.uri)
            if reference.sha256 and hashlib.sha256(data).hexdigest() != reference.sha256:
                raise ProfileUnavailableError(
                    Unreadable.PROFILE_UNREADABLE,
                    f"{reference.uri} does not match spec.reference.sha256",
                )
            try:
                self._profiles[key] = Profile.model_validate_json(data)
            except ValidationError as error:
                raise ProfileUnavailableError(
                    Unreadable.PROFILE_UNREADABLE,
                    f"{reference.uri} is not a reference profile: {error.error_count()} "
                    f"problems, first: {error.errors()[0]['msg']}",
                ) from None
        return self._profiles[key]

    async def _read(self, uri: str) -> bytes:
        parsed = urlparse(uri)
        if parsed.scheme == "file":
            try:
                return Path(unquote(parsed.path)).read_bytes()
            except OSError as error:
                raise ProfileUnavailableError(
                    Unreadable.PROFILE_UNREADABLE, f"cannot read {uri}: {error.strerror}"
                ) from None
        if parsed.scheme in ("http", "https"):
            return await self._fetch(uri)
        raise ProfileUnavailableError(
            Unreadable.PROFILE_UNREADABLE,
            f"the operator reads reference profiles from file:// and http(s):// only, not "
            f"{parsed.scheme}://: serve the profile over https and set spec.reference.uri",
        )

    async def _fetch(self, uri: str) -> bytes:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout)
            )
        try:
            async with self._session.get(uri) as answer:
                if answer.status != 200:
                    raise ProfileUnavailableError(
                        Unreadable.PROFILE_UNREADABLE, f"{uri} answered HTTP {answer.status}"
                    )
                data = await answer.content.read(MAX_PROFILE_BYTES + 1)
                if len(data) > MAX_PROFILE_BYTES:
                    raise ProfileUnavailableError(
                        Unreadable.PROFILE_UNREADABLE,
                        f"{uri} is larger than {MAX_PROFILE_BYTES >> 20} MiB: not a profile",
                    )
                return data
        except TimeoutError:
            problem = f"no answer within {self._timeout:g}s"
        except aiohttp.ClientError as error:
            problem = f"{type(error).__name__} {error}".strip()
        raise ProfileUnavailableError(
            Unreadable.PROFILE_UNREADABLE, f"cannot fetch {uri}: {problem}"
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
