"""A routing config parses from YAML or JSON, and a bad one is refused naming the field."""

from __future__ import annotations

import re

import pytest

from modelkeeper.api.types import ServingRole
from modelkeeper.router.config import ConfigError, Endpoint, parse_config

YAML = """
model: fraud
deployment: fraud-prod
mirror_percent: 12.5
backends:
  - {name: fraud-v1, role: stable, weight: 90, service: fraud-v1}
  - {name: fraud-v2, role: canary, weight: 10, service: fraud-v2, port: 8080}
  - name: fraud-v3
    role: shadow
    endpoints: [{host: 127.0.0.1, port: 9000}]
"""


def test_a_full_config_parses() -> None:
    config = parse_config(YAML)
    assert (config.model, config.deployment) == ("fraud", "fraud-prod")
    assert config.mirror_percent == 12.5
    assert [backend.name for backend in config.primaries] == ["fraud-v1", "fraud-v2"]
    assert config.stable.port == "http"
    assert config.primaries[1].port == 8080
    assert config.shadow is not None
    assert config.shadow.role is ServingRole.SHADOW
    assert config.shadow.endpoints == (Endpoint(host="127.0.0.1", port=9000),)
    assert config.compare_output == "predict"


def test_json_is_yaml_too() -> None:
    text = (
        '{"model": "m", "backends": [{"name": "a", "role": "stable", "weight": 1, "service": "a"}]}'
    )
    config = parse_config(text)
    assert config.shadow is None
    assert config.mirror_percent == 0
    assert config.deployment == ""


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        pytest.param(Endpoint(host="10.0.0.7", port=8080), "http://10.0.0.7:8080", id="ipv4"),
        pytest.param(Endpoint(host="fd00::7", port=8080), "http://[fd00::7]:8080", id="ipv6"),
    ],
)
def test_endpoint_url(endpoint: Endpoint, url: str) -> None:
    assert endpoint.url == url


STABLE = "{name: a, role: stable, weight: 1, service: a}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("model: [", "not YAML or JSON", id="not-yaml"),
        pytest.param("just text", "config: Input should be a valid dictionary", id="not-a-mapping"),
        pytest.param(f"backends: [{STABLE}]", "model: Field required", id="no-model"),
        pytest.param(
            "model: m\nbackends: []", "backends: Tuple should have at least 1 item", id="none"
        ),
        pytest.param(
            f"model: m\ncolour: red\nbackends: [{STABLE}]",
            "colour: Extra inputs are not permitted",
            id="unknown-field",
        ),
        pytest.param(
            "model: m\nbackends: [{name: a, role: stable, weight: -1, service: a}]",
            "backends.0.weight: Input should be greater than or equal to 0",
            id="negative-weight",
        ),
        pytest.param(
            "model: m\nbackends: [{name: a, role: blue, weight: 1, service: a}]",
            "backends.0.role: Input should be 'stable', 'canary' or 'shadow'",
            id="unknown-role",
        ),
        pytest.param(
            "model: m\nbackends: [{name: a, role: stable, weight: 1}]",
            "give exactly one of `service` and `endpoints`",
            id="no-way-to-find-endpoints",
        ),
        pytest.param(
            "model: m\nbackends: [{name: a, role: stable, weight: 1, service: a,"
            " endpoints: [{host: h, port: 1}]}]",
            "give exactly one of `service` and `endpoints`",
            id="two-ways-to-find-endpoints",
        ),
        pytest.param(
            "model: m\nbackends: [{name: a, role: stable, weight: 1, "
            "endpoints: [{host: h, port: 70000}]}]",
            "backends.0.endpoints.0.port: Input should be less than or equal to 65535",
            id="port-out-of-range",
        ),
        pytest.param(
            f"model: m\nbackends: [{STABLE}, {{name: s, role: shadow, weight: 5, service: s}}]",
            "a shadow takes no weight",
            id="weighted-shadow",
        ),
        pytest.param(
            "model: m\nbackends: [{name: a, role: canary, weight: 1, service: a}]",
            "exactly one backend must have role `stable`",
            id="no-stable",
        ),
        pytest.param(
            f"model: m\nbackends: [{STABLE}, {{name: b, role: stable, weight: 1, service: b}}]",
            "exactly one backend must have role `stable`",
            id="two-stables",
        ),
        pytest.param(
            f"model: m\nbackends: [{STABLE}, {{name: b, role: canary, service: b}},"
            " {name: c, role: canary, service: c}]",
            "at most one backend may have role `canary`",
            id="two-canaries",
        ),
        pytest.param(
            f"model: m\nbackends: [{STABLE}, {{name: a, role: canary, service: b}}]",
            "backend names must be unique",
            id="duplicate-names",
        ),
        pytest.param(
            "model: m\nbackends: [{name: a, role: stable, service: a}]",
            "the stable and canary weights must not all be 0",
            id="no-weight",
        ),
        pytest.param(
            f"model: m\nmirror_percent: 5\nbackends: [{STABLE}]",
            "`mirror_percent` needs a backend with role `shadow`",
            id="mirror-without-shadow",
        ),
        pytest.param(
            f"model: m\nmirror_percent: 101\nbackends: [{STABLE}]",
            "mirror_percent: Input should be less than or equal to 100",
            id="mirror-over-100",
        ),
    ],
)
def test_a_bad_config_is_refused_naming_the_fault(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_config(text)
