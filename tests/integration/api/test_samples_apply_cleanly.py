"""Every sample applies cleanly, server-side and client-side, and applying it again changes nothing.

The objects the API server stores, defaults filled in, also parse into the same typed
spec as the file does with pydantic's defaults: the CRD and the models agree. The
samples' names do not collide, so each way of applying uses one namespace for all.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelkeeper.api.kinds import parse_object
from tests.ground.controlplane import ControlPlane

SAMPLES = Path(__file__).resolve().parents[3] / "manifests" / "samples"
SAMPLE_FILES = [
    pytest.param(path, id=str(path.relative_to(SAMPLES)))
    for path in sorted(SAMPLES.rglob("*.yaml"))
]

Run = Callable[..., str]


def _namespaced(control_plane: ControlPlane, purpose: str) -> Iterator[Run]:
    namespace = f"samples-{purpose}-{uuid.uuid4().hex[:6]}"
    control_plane.kubectl("create", "namespace", namespace)

    def run(*args: str) -> str:
        return control_plane.kubectl("-n", namespace, *args).stdout

    yield run
    control_plane.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


@pytest.fixture(scope="module")
def server_side(crds: Path, control_plane: ControlPlane) -> Iterator[Run]:
    yield from _namespaced(control_plane, "server-side")


@pytest.fixture(scope="module")
def client_side(crds: Path, control_plane: ControlPlane) -> Iterator[Run]:
    yield from _namespaced(control_plane, "client-side")


def _live(run: Run, sample: Path) -> list[dict[str, Any]]:
    found = json.loads(run("get", "-f", str(sample), "-o", "json"))
    items: list[dict[str, Any]] = found["items"] if found["kind"] == "List" else [found]
    return items


def _versions(run: Run, sample: Path) -> list[str]:
    return [item["metadata"]["resourceVersion"] for item in _live(run, sample)]


@pytest.mark.parametrize("sample", SAMPLE_FILES)
def test_server_side_apply_twice_changes_nothing_and_parses_as_the_file(
    sample: Path, server_side: Run
) -> None:
    server_side("apply", "--server-side", "-f", str(sample))
    stored = _live(server_side, sample)
    server_side("apply", "--server-side", "-f", str(sample))
    assert _versions(server_side, sample) == [
        item["metadata"]["resourceVersion"] for item in stored
    ]
    from_file = {
        document["metadata"]["name"]: parse_object(document).spec
        for document in yaml.safe_load_all(sample.read_text(encoding="utf-8"))
    }
    assert {item["metadata"]["name"]: parse_object(item).spec for item in stored} == from_file


@pytest.mark.parametrize("sample", SAMPLE_FILES)
def test_client_side_apply_twice_is_unchanged(sample: Path, client_side: Run) -> None:
    client_side("apply", "-f", str(sample))
    first = _versions(client_side, sample)
    again = client_side("apply", "-f", str(sample)).splitlines()
    assert again
    assert all(line.endswith(" unchanged") for line in again), again
    assert _versions(client_side, sample) == first
