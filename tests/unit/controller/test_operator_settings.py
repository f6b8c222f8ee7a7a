"""`modelkeeper run` settings: variables, flags over variables, and errors that name both."""

from __future__ import annotations

from typing import Any

import pytest

from modelkeeper.controller.settings import LogFormat, OperatorSettings
from modelkeeper.envflags import SettingsError, load_settings


@pytest.mark.parametrize(
    ("environ", "flags", "expected"),
    [
        pytest.param({}, {}, {"namespaces": [], "log_format": LogFormat.TEXT}, id="defaults"),
        pytest.param(
            {"MODELKEEPER_NAMESPACES": "a, b,,c"}, {}, {"namespaces": ["a", "b", "c"]}, id="list"
        ),
        pytest.param(
            {"MODELKEEPER_LOG_FORMAT": "text"},
            {"log_format": "json"},
            {"log_format": LogFormat.JSON},
            id="flag-wins",
        ),
        pytest.param(
            {"MODELKEEPER_LEADER_ELECTION_LEASE": "modelkeeper-system/modelkeeper"},
            {},
            {"leader_election_lease": "modelkeeper-system/modelkeeper"},
            id="lease",
        ),
        pytest.param(
            {},
            {"shard_selector": " modelkeeper.io/shard in (a, b) "},
            {"shard_selector": "modelkeeper.io/shard in (a, b)"},
            id="shard",
        ),
    ],
)
def test_settings(environ: dict[str, str], flags: dict[str, Any], expected: dict[str, Any]) -> None:
    settings = load_settings(OperatorSettings, environ, flags)
    for name, value in expected.items():
        assert getattr(settings, name) == value


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        pytest.param({"MODELKEEPER_LOG_FORMAT": "xml"}, "--log-format", id="enum"),
        pytest.param({"MODELKEEPER_WORKERS": "0"}, "MODELKEEPER_WORKERS", id="bound"),
        pytest.param(
            {"MODELKEEPER_LEADER_ELECTION_LEASE": "x"}, "--leader-election-lease", id="lease"
        ),
        pytest.param({"MODELKEEPER_SHARD_SELECTOR": "shard=a=b"}, "--shard-selector", id="shard"),
    ],
)
def test_bad_setting_names_variable_and_flag(environ: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings(OperatorSettings, environ, {})
