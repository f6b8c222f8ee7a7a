"""A real S3-compatible store: SeaweedFS's `weed mini` (built by `make deps`), on loopback.

Every port it opens is a free loopback port of ours (master, volume server, filer, S3
gateway and admin server, each with its gRPC port), its extras are off (WebDAV, admin UI,
Iceberg and Lance catalogs, IAM API) and so is its telemetry: nothing leaves the machine.
Its S3 gateway knows one identity, so a wrong key or secret is refused as by any S3 store.
Objects are put through the filer's own HTTP API, not the S3 client under test; the e2e
tier shows the S3 port to pods at the node's bridge address (`Node.expose`).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.ground.binaries import go_tool
from tests.ground.processes import Component, free_port

BUCKET = "models"
START_SECONDS = 90.0


@dataclass
class S3Store:
    """A running store with one bucket, and the one identity it accepts."""

    endpoint: str
    """The S3 gateway, http://127.0.0.1:PORT."""
    filer: str
    access_key: str
    secret_key: str
    component: Component
    bucket: str = BUCKET

    @property
    def port(self) -> int:
        return int(self.endpoint.rsplit(":", 1)[1])

    def put(self, key: str, data: bytes) -> str:
        """Store an object (through the filer, as the bucket's directory); its s3:// URI."""
        answer = requests.put(f"{self.filer}/buckets/{self.bucket}/{key}", data=data, timeout=30)
        assert answer.status_code in (200, 201), answer.text
        return f"s3://{self.bucket}/{key}"

    def environ(
        self, endpoint: str | None = None, access_key: str | None = None, secret: str | None = None
    ) -> dict[str, str]:
        """The AWS variables that reach this store (as the fetch step reads them)."""
        return {
            "AWS_ENDPOINT_URL_S3": endpoint or self.endpoint,
            "AWS_ACCESS_KEY_ID": access_key or self.access_key,
            "AWS_SECRET_ACCESS_KEY": secret or self.secret_key,
            "AWS_REGION": "us-east-1",
        }

    def stop(self) -> None:
        self.component.stop()


def _identities(access_key: str, secret_key: str) -> dict[str, object]:
    """The S3 gateway's configuration: one identity that may read and write."""
    return {
        "identities": [
            {
                "name": "modelkeeper-tests",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Read", "Write", "List", "Tagging", "Admin"],
            }
        ]
    }


def start_s3_store(workdir: Path) -> S3Store:
    """`weed mini` on loopback with the bucket and one identity, ready to answer."""
    workdir.mkdir(parents=True, exist_ok=True)
    access_key, secret_key = f"MK{secrets.token_hex(8).upper()}", secrets.token_hex(20)
    config = workdir / "s3.json"
    config.write_text(json.dumps(_identities(access_key, secret_key)))
    ports = {
        name: free_port()
        for name in (
            "master.port",
            "master.port.grpc",
            "volume.port",
            "volume.port.grpc",
            "filer.port",
            "filer.port.grpc",
            "s3.port",
            "s3.port.grpc",
            "admin.port",
            "admin.port.grpc",
        )
    }
    component = Component(
        "seaweedfs",
        [
            str(go_tool("weed", version_of="seaweedfs")),
            "mini",
            f"-dir={workdir / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            *(f"-{name}={port}" for name, port in ports.items()),
            f"-s3.config={config}",
            f"-bucket={BUCKET}",
            f"-filer.localSocket={workdir / 'filer.sock'}",
            f"-s3.localSocket={workdir / 's3.sock'}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-s3.iam=false",
            "-webdav=false",
            "-admin.ui=false",
            "-admin.port.legacy=0",
            "-master.telemetry=false",
        ],
        workdir / "seaweedfs.log",
        cwd=workdir,
    )
    component.start()
    store = S3Store(
        f"http://127.0.0.1:{ports['s3.port']}",
        f"http://127.0.0.1:{ports['filer.port']}",
        access_key,
        secret_key,
        component,
    )

    def ready() -> bool:
        bucket = requests.get(
            f"{store.filer}/buckets/{BUCKET}/", headers={"Accept": "application/json"}, timeout=2
        )
        return bucket.ok and requests.get(store.endpoint, timeout=2).status_code < 500

    try:
        component.wait_until(ready, timeout=START_SECONDS)
    except BaseException:
        component.stop()
        raise
    return store
