"""The S3 client's pure parts: the signature (AWS's published example), the object's
address, the settings from the AWS variables, and how a refusal is worded."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from modelkeeper.serving.s3 import (
    EMPTY_SHA256,
    Credentials,
    S3Error,
    Store,
    authorization,
    describe_failure,
    error_code,
    object_url,
    request_headers,
    split_uri,
)

KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SIGNED = Store(endpoint="http://127.0.0.1:8333", credentials=Credentials(KEY_ID, SECRET, "tok"))
ANONYMOUS = Store(endpoint="http://127.0.0.1:8333")
URI = "s3://models/iris/model.joblib"


def test_the_signature_of_aws_example_get_object() -> None:
    """AWS's example in "Signature Calculations for the Authorization Header: Transferring
    Payload in a Single Chunk" (GET /test.txt with a Range header)."""
    headers = {
        "Host": "examplebucket.s3.amazonaws.com",
        "Range": "bytes=0-9",
        "x-amz-content-sha256": EMPTY_SHA256,
        "x-amz-date": "20130524T000000Z",
    }
    url = "https://examplebucket.s3.amazonaws.com/test.txt"
    assert authorization("GET", url, headers, Credentials(KEY_ID, SECRET), "us-east-1") == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )


def test_a_session_token_is_signed_and_no_credentials_sign_nothing() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    url = "http://127.0.0.1:8333/models/iris/model.joblib"
    signed = request_headers(SIGNED, url, now)
    assert signed["X-Amz-Security-Token"] == "tok"
    assert "x-amz-security-token" in signed["Authorization"]
    assert signed["X-Amz-Date"] == "20260102T030405Z"
    assert "Authorization" not in request_headers(ANONYMOUS, url, now)


@pytest.mark.parametrize(
    ("store", "bucket", "key", "url"),
    [
        pytest.param(
            Store(endpoint="http://10.0.0.1:8333"),
            "models",
            "iris/1/model.joblib",
            "http://10.0.0.1:8333/models/iris/1/model.joblib",
            id="custom-endpoint-path-style",
        ),
        pytest.param(
            Store(region="eu-west-1"),
            "models",
            "iris/1/model.joblib",
            "https://models.s3.eu-west-1.amazonaws.com/iris/1/model.joblib",
            id="aws-virtual-hosted",
        ),
        pytest.param(
            Store(region="eu-west-1"),
            "models.example.com",
            "a b+c~d.joblib",
            "https://s3.eu-west-1.amazonaws.com/models.example.com/a%20b%2Bc~d.joblib",
            id="dotted-bucket-path-style-key-encoded-once",
        ),
    ],
)
def test_object_url(store: Store, bucket: str, key: str, url: str) -> None:
    assert object_url(store, bucket, key) == url


@pytest.mark.parametrize(
    ("environ", "store"),
    [
        pytest.param({}, Store(), id="nothing-set-anonymous-aws"),
        pytest.param(
            {
                "AWS_ENDPOINT_URL": "http://other:1",
                "AWS_ENDPOINT_URL_S3": "http://store:8333/",
                "AWS_DEFAULT_REGION": "eu-west-1",
                "AWS_REGION": "eu-central-1",
                "AWS_ACCESS_KEY_ID": KEY_ID,
                "AWS_SECRET_ACCESS_KEY": SECRET,
            },
            Store("eu-central-1", "http://store:8333", Credentials(KEY_ID, SECRET)),
            id="the-s3-specific-variables-win",
        ),
        pytest.param(
            {"AWS_ENDPOINT_URL": "https://store", "AWS_DEFAULT_REGION": "eu-west-1"},
            Store("eu-west-1", "https://store"),
            id="the-general-variables",
        ),
    ],
)
def test_store_from_environ(environ: dict[str, str], store: Store) -> None:
    assert Store.from_environ(environ) == store


@pytest.mark.parametrize(
    ("environ", "says"),
    [
        pytest.param(
            {"AWS_ACCESS_KEY_ID": KEY_ID}, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY"
        ),
        pytest.param(
            {"AWS_SECRET_ACCESS_KEY": SECRET}, "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID"
        ),
        pytest.param({"AWS_ENDPOINT_URL_S3": "store:8333"}, "must be http(s)://host[:port]"),
    ],
)
def test_incomplete_settings_are_refused_without_their_values(
    environ: dict[str, str], says: str
) -> None:
    with pytest.raises(S3Error) as refused:
        Store.from_environ(environ)
    assert says in str(refused.value)
    assert KEY_ID not in str(refused.value)
    assert SECRET not in str(refused.value)


@pytest.mark.parametrize("uri", ["s3://bucket", "s3://bucket/", "s3:///key", "gs://bucket/key"])
def test_an_uri_without_bucket_or_key_is_refused(uri: str) -> None:
    with pytest.raises(S3Error, match="not an object URI"):
        split_uri(uri)


@pytest.mark.parametrize(
    ("store", "status", "code", "message", "says"),
    [
        pytest.param(
            SIGNED,
            403,
            "InvalidAccessKeyId",
            f"The key {KEY_ID} does not exist",
            "access denied by http://127.0.0.1:8333 (InvalidAccessKeyId, HTTP 403; check the "
            "credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)",
            id="unknown-key",
        ),
        pytest.param(
            SIGNED,
            403,
            "SignatureDoesNotMatch",
            "",
            "access denied by http://127.0.0.1:8333 (SignatureDoesNotMatch, HTTP 403; check",
            id="wrong-secret",
        ),
        pytest.param(SIGNED, 403, "AccessDenied", "", "access denied by", id="not-allowed-to-read"),
        pytest.param(
            ANONYMOUS,
            403,
            "AccessDenied",
            "",
            "(AccessDenied, HTTP 403; no credentials are set: AWS_ACCESS_KEY_ID and",
            id="anonymous",
        ),
        pytest.param(SIGNED, 401, "", "", "access denied by", id="bare-401"),
        pytest.param(
            SIGNED,
            404,
            "NoSuchKey",
            "",
            "not found: no such object at http://127.0.0.1:8333 (NoSuchKey, HTTP 404)",
            id="missing-object",
        ),
        pytest.param(
            SIGNED,
            404,
            "NoSuchBucket",
            "",
            "not found: http://127.0.0.1:8333 has no such bucket (NoSuchBucket, HTTP 404)",
            id="missing-bucket",
        ),
        pytest.param(SIGNED, 404, "", "", "not found: no such object", id="bare-404"),
        pytest.param(
            Store(region="us-east-1"),
            301,
            "PermanentRedirect",
            "",
            "the bucket is not in region us-east-1 at AWS S3 (us-east-1) (PermanentRedirect, "
            "HTTP 301; set AWS_REGION",
            id="wrong-region",
        ),
        pytest.param(
            SIGNED,
            503,
            "SlowDown",
            f"Please reduce your request rate, {KEY_ID}",
            "refused the GET (SlowDown, HTTP 503): Please reduce your request rate, ***",
            id="other-with-the-store-message-redacted",
        ),
        pytest.param(
            SIGNED,
            500,
            "<Bad>\nCode",
            "",
            "refused the GET (BadCode, HTTP 500)",
            id="a-code-is-one-word",
        ),
    ],
)
def test_a_refusal_is_one_line_naming_the_uri_never_a_credential(
    store: Store, status: int, code: str, message: str, says: str
) -> None:
    line = describe_failure(URI, store, status, code, message)
    assert line.startswith(f"{URI}: ")
    assert says in line
    assert "\n" not in line
    assert KEY_ID not in line
    assert SECRET not in line
    assert "tok" not in line


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param(
            b"<?xml version='1.0'?><Error><Code>NoSuchKey</Code><Message>The specified key "
            b"does not exist.</Message><Key>iris/model.joblib</Key></Error>",
            ("NoSuchKey", "The specified key does not exist."),
            id="s3-error",
        ),
        pytest.param(b"", ("", ""), id="empty"),
        pytest.param(b"<html>bad gateway", ("", ""), id="not-xml"),
    ],
)
def test_error_code(body: bytes, code: tuple[str, str]) -> None:
    assert error_code(body) == code
