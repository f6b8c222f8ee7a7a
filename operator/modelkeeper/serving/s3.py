"""One object from an S3-compatible store: a GET signed with AWS Signature Version 4.

Standard library only, so the serving image reads `s3://` out of the box without an AWS
SDK (boto3 and botocore, for one GET) and every error is ours to word. Where the store is
and who we are come from the AWS CLI's own variables, so a Secret that works for
`aws s3 cp` works here: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
`AWS_REGION` (or `AWS_DEFAULT_REGION`), and `AWS_ENDPOINT_URL_S3` (or `AWS_ENDPOINT_URL`)
for a store other than AWS (MinIO, SeaweedFS, Ceph), addressed path-style. Without keys
the request goes unsigned (a public bucket). No message names a credential: failures say
what the store answered (its error code), and what to check.

Pure parts (the signature, the addresses, the wording of failures) are functions of
their inputs; `open_object` does the one request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import urllib.error
import urllib.request
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO
from urllib.parse import quote, urlsplit

TIMEOUT_SECONDS = 60.0
DEFAULT_REGION = "us-east-1"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
ALGORITHM = "AWS4-HMAC-SHA256"
CREDENTIAL_VARIABLES = "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN"

DENIED = frozenset(
    {
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "ExpiredToken",
        "TokenRefreshRequired",
        "AllAccessDisabled",
    }
)
"""Error codes that mean the store did not accept who we are."""
ELSEWHERE = frozenset({"PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocation"})
"""Error codes that mean the bucket lives in another region than the one signed for."""


class S3Error(RuntimeError):
    """The object could not be read; the message names the URI, the store and why."""


@dataclass(frozen=True)
class Credentials:
    """An access key pair (and session token); repr never shows them."""

    access_key_id: str = field(repr=False)
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Store:
    """Where the store is, which region to sign for, and who we are there."""

    region: str = DEFAULT_REGION
    endpoint: str | None = None
    """A store other than AWS (scheme, host, port), addressed path-style; None: AWS."""
    credentials: Credentials | None = None
    """None: unsigned requests, which only a public bucket answers."""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Store:
        def get(*names: str) -> str | None:
            return next((value for n in names if (value := environ.get(n, "").strip())), None)

        endpoint = get("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
        if endpoint is not None and not re.match(r"^https?://[^/\s]+/?$", endpoint):
            raise S3Error(
                f"AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL) must be http(s)://host[:port], "
                f"not {endpoint!r}"
            )
        key_id, secret = get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")
        if (key_id is None) != (secret is None):
            have, lack = (
                ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
                if secret is None
                else ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID")
            )
            raise S3Error(f"{have} is set but {lack} is not: set both, or neither")
        credentials = None
        if key_id is not None and secret is not None:
            credentials = Credentials(key_id, secret, get("AWS_SESSION_TOKEN"))
        return cls(
            region=get("AWS_REGION", "AWS_DEFAULT_REGION") or DEFAULT_REGION,
            endpoint=endpoint.rstrip("/") if endpoint is not None else None,
            credentials=credentials,
        )

    @property
    def name(self) -> str:
        """The store as messages name it."""
        return self.endpoint or f"AWS S3 ({self.region})"


def split_uri(uri: str) -> tuple[str, str]:
    """s3://BUCKET/KEY: the bucket and the key."""
    parts = urlsplit(uri)
    key = parts.path.lstrip("/")
    if parts.scheme != "s3" or not parts.netloc or not key:
        raise S3Error(f"{uri}: not an object URI, s3://BUCKET/KEY")
    return parts.netloc, key


def object_url(store: Store, bucket: str, key: str) -> str:
    """The object's URL: path-style at a custom endpoint, or for a bucket name with dots
    (which a virtual-hosted TLS name cannot carry); virtual-hosted at AWS otherwise."""
    path = quote(key, safe="/~")
    if store.endpoint is not None:
        return f"{store.endpoint}/{bucket}/{path}"
    if "." in bucket:
        return f"https://s3.{store.region}.amazonaws.com/{bucket}/{path}"
    return f"https://{bucket}.s3.{store.region}.amazonaws.com/{path}"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def authorization(
    method: str,
    url: str,
    headers: Mapping[str, str],
    credentials: Credentials,
    region: str,
    service: str = "s3",
) -> str:
    """The Authorization header of a request: AWS Signature Version 4 over all `headers`
    (which must hold Host, X-Amz-Date and X-Amz-Content-Sha256, the payload's digest).

    The URL (one without a query) has its path signed as sent: S3 encodes it once."""
    parts = urlsplit(url)
    canonical = {name.lower(): " ".join(value.split()) for name, value in headers.items()}
    signed = ";".join(sorted(canonical))
    when = canonical["x-amz-date"]
    request = "\n".join(
        [
            method,
            parts.path or "/",
            "",
            *(f"{name}:{canonical[name]}" for name in sorted(canonical)),
            "",
            signed,
            canonical["x-amz-content-sha256"],
        ]
    )
    scope = f"{when[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join([ALGORITHM, when, scope, hashlib.sha256(request.encode()).hexdigest()])
    key = f"AWS4{credentials.secret_access_key}".encode()
    for part in (when[:8], region, service, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return (
        f"{ALGORITHM} Credential={credentials.access_key_id}/{scope},"
        f"SignedHeaders={signed},Signature={signature}"
    )


def request_headers(store: Store, url: str, now: datetime) -> dict[str, str]:
    """The headers of a GET of `url`, signed when the store has credentials."""
    headers = {
        "Host": urlsplit(url).netloc,
        "X-Amz-Date": now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ"),
        "X-Amz-Content-Sha256": EMPTY_SHA256,
    }
    credentials = store.credentials
    if credentials is None:
        return headers
    if credentials.session_token is not None:
        headers["X-Amz-Security-Token"] = credentials.session_token
    return headers | {
        "Authorization": authorization("GET", url, headers, credentials, store.region)
    }


def error_code(body: bytes) -> tuple[str, str]:
    """The store's error code and message from its XML error body ("" when there is none)."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return "", ""
    return root.findtext("Code", "").strip(), " ".join(root.findtext("Message", "").split())


def describe_failure(uri: str, store: Store, status: int, code: str, message: str) -> str:
    """One line for a refused GET: what it means and what to check, never a credential."""
    code = re.sub(r"[^A-Za-z0-9.]", "", code)[:64]
    answered = f"{code}, HTTP {status}" if code else f"HTTP {status}"
    if code in DENIED or (not code and status in (401, 403)):
        check = (
            f"check the credentials: {CREDENTIAL_VARIABLES}"
            if store.credentials is not None
            else "no credentials are set: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
        return f"{uri}: access denied by {store.name} ({answered}; {check})"
    if code == "NoSuchBucket":
        return f"{uri}: not found: {store.name} has no such bucket ({answered})"
    if code == "NoSuchKey" or status == 404:
        return f"{uri}: not found: no such object at {store.name} ({answered})"
    if code in ELSEWHERE or status == 301:
        return (
            f"{uri}: the bucket is not in region {store.region} at {store.name} ({answered}; "
            "set AWS_REGION to the bucket's region)"
        )
    said = redact(message, store.credentials)[:200]
    return f"{uri}: {store.name} refused the GET ({answered}){': ' + said if said else ''}"


def redact(text: str, credentials: Credentials | None) -> str:
    """`text` without any of the credentials in it (a store may echo the key id)."""
    if credentials is None:
        return text
    for secret in (
        credentials.access_key_id,
        credentials.secret_access_key,
        credentials.session_token,
    ):
        if secret:
            text = text.replace(secret, "***")
    return text


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer (the bucket's region is elsewhere), never followed: the
    signature covers the host it was made for."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def open_object(
    uri: str, environ: Mapping[str, str], timeout: float = TIMEOUT_SECONDS
) -> IO[bytes]:
    """The object's body as a stream; S3Error says why it cannot be had."""
    store = Store.from_environ(environ)
    bucket, key = split_uri(uri)
    url = object_url(store, bucket, key)
    request = urllib.request.Request(url, headers=request_headers(store, url, datetime.now(UTC)))
    try:
        response: IO[bytes] = _OPENER.open(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        with error:
            code, message = error_code(error.read(64 << 10))
        raise S3Error(describe_failure(uri, store, error.code, code, message)) from None
    except OSError as error:  # URLError, timeouts, refused connections
        reason = redact(str(getattr(error, "reason", error)), store.credentials)
        raise S3Error(f"{uri}: {store.name} unreachable: {reason}") from None
    return response
