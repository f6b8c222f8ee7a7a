"""The node agent's pure rules: image resolution, command lines, $(VAR) expansion,
probe thresholds and pod addresses."""

from __future__ import annotations

import pytest

from tests.ground import images
from tests.ground.nodeagent import Addresses, ProbeState, expand


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        pytest.param("ghcr.io/a/b", "ghcr.io/a/b", id="bare"),
        pytest.param("ghcr.io/a/b:1.2", "ghcr.io/a/b", id="tag"),
        pytest.param("ghcr.io/a/b@sha256:" + "0" * 64, "ghcr.io/a/b", id="digest"),
        pytest.param("localhost:5000/b:1", "localhost:5000/b", id="registry-port"),
        pytest.param("localhost:5000/b", "localhost:5000/b", id="registry-port-no-tag"),
    ],
)
def test_repository_drops_tag_and_digest(image: str, expected: str) -> None:
    assert images.repository(image) == expected


IMAGE = images.Image(entrypoint=("server",), cmd=("--default",))


@pytest.mark.parametrize(
    ("command", "args", "expected"),
    [
        pytest.param(None, None, ["server", "--default"], id="image-defaults"),
        pytest.param(None, ["--x"], ["server", "--x"], id="args-replace-cmd"),
        pytest.param(None, [], ["server"], id="empty-args"),
        pytest.param(["other"], None, ["other"], id="command-replaces-both"),
        pytest.param(["other"], ["--y"], ["other", "--y"], id="command-and-args"),
    ],
)
def test_command_line_follows_kubernetes(
    command: list[str] | None, args: list[str] | None, expected: list[str]
) -> None:
    assert images.command_line(IMAGE, command, args) == expected


def test_unknown_image_resolves_to_none() -> None:
    assert images.resolve("docker.io/library/nginx:1") is None
    assert images.resolve("ghcr.io/modelkeeper/testbox:any") is not None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("$(A)-x", "1-x", id="known"),
        pytest.param("$(B)", "$(B)", id="unknown-kept"),
        pytest.param("$$(A)", "$(A)", id="escaped"),
        pytest.param("$(A", "$(A", id="unclosed"),
        pytest.param("plain", "plain", id="plain"),
    ],
)
def test_expand_variables(value: str, expected: str) -> None:
    assert expand(value, {"A": "1"}) == expected


def test_addresses_are_unique_loopback_and_skip_network_and_broadcast() -> None:
    addresses = Addresses()
    seen = [addresses.allocate() for _ in range(1000)]
    assert len(set(seen)) == len(seen)
    for address in seen:
        octets = [int(part) for part in address.split(".")]
        assert octets[0] == 127
        assert octets[3] not in (0, 255)


def test_probe_state_needs_consecutive_results() -> None:
    state = ProbeState({"periodSeconds": 1, "failureThreshold": 2, "successThreshold": 2}, 0.0)
    state.record(ok=True, at=0)
    assert not state.result
    state.record(ok=True, at=1)
    assert state.result
    state.record(ok=False, at=2)
    assert state.result
    state.record(ok=False, at=3)
    assert not state.result
    assert not state.due(3.5)
    assert state.due(4.0)


def test_probe_waits_for_initial_delay() -> None:
    state = ProbeState({"initialDelaySeconds": 5}, started=10.0)
    assert not state.due(14.9)
    assert state.due(15.0)
