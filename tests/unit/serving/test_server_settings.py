"""The server's settings from MODELKEEPER_* variables and flags: flags win, errors name both."""

from __future__ import annotations

import argparse

import pytest

from modelkeeper.envflags import SettingsError, add_setting_flags, load_settings
from modelkeeper.serving.settings import ServerSettings


def flags(*argv: str) -> dict[str, object]:
    parser = argparse.ArgumentParser()
    add_setting_flags(parser, ServerSettings)
    return vars(parser.parse_args(argv))


@pytest.mark.parametrize(
    ("environ", "argv", "field", "expected"),
    [
        pytest.param({}, [], "workers", 1, id="default"),
        pytest.param({"MODELKEEPER_WORKERS": "3"}, [], "workers", 3, id="from-env"),
        pytest.param(
            {"MODELKEEPER_WORKERS": "3"}, ["--workers", "2"], "workers", 2, id="flag-wins"
        ),
        pytest.param(
            {"MODELKEEPER_DRIFT_COUNTING": "false"}, [], "drift_counting", False, id="bool"
        ),
        pytest.param(
            {"MODELKEEPER_METRICS_PORT": "9090"}, [], "metrics_port", 9090, id="optional-int"
        ),
        pytest.param(
            {}, ["--max-batch-wait-ms", "2.5"], "max_batch_wait_seconds", 0.0025, id="derived"
        ),
    ],
)
def test_sources(environ: dict[str, str], argv: list[str], field: str, expected: object) -> None:
    assert getattr(load_settings(ServerSettings, environ, flags(*argv)), field) == expected


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        pytest.param(
            {"MODELKEEPER_WORKERS": "0"},
            "MODELKEEPER_WORKERS / --workers: Input should be greater than or equal to 1",
            id="range",
        ),
        pytest.param(
            {"MODELKEEPER_HTTP_PORT": "http"},
            "MODELKEEPER_HTTP_PORT / --http-port: Input should be a valid integer",
            id="type",
        ),
        pytest.param(
            {"MODELKEEPER_ARTIFACT_SHA256": "abc"}, "MODELKEEPER_ARTIFACT_SHA256", id="digest"
        ),
        pytest.param(
            {"MODELKEEPER_MODEL_FORMAT": "pickle"},
            "MODELKEEPER_MODEL_FORMAT / --model-format",
            id="format",
        ),
    ],
)
def test_errors_name_the_variable_and_the_flag(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(ServerSettings, environ, flags())


@pytest.mark.parametrize(
    ("environ", "argv", "message"),
    [
        pytest.param({"MODELKEEPER_POOL": "shared"}, [], "it needs --namespace", id="no-namespace"),
        pytest.param({}, ["--namespace", "ns"], "give --pool too", id="namespace-alone"),
        pytest.param(
            {"MODELKEEPER_POOL": "shared", "MODELKEEPER_NAMESPACE": "ns"},
            ["--catalogue-dir", "/catalogue"],
            "not both",
            id="two-catalogues",
        ),
        pytest.param(
            {"MODELKEEPER_CATALOGUE_DIR": "/catalogue"},
            ["--workers", "2"],
            "one worker process",
            id="pool-with-workers",
        ),
        pytest.param({}, ["--memory-budget", "-1"], "--memory-budget", id="negative-budget"),
    ],
)
def test_pool_settings_that_do_not_fit(
    environ: dict[str, str], argv: list[str], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(ServerSettings, dict(environ), flags(*argv))


@pytest.mark.parametrize(
    ("environ", "argv", "pooled"),
    [
        pytest.param({}, [], False, id="single-model"),
        pytest.param(
            {"MODELKEEPER_POOL": "shared", "MODELKEEPER_NAMESPACE": "ns"}, [], True, id="pool"
        ),
        pytest.param({}, ["--catalogue-dir", "/catalogue"], True, id="catalogue-dir"),
    ],
)
def test_pooled(environ: dict[str, str], argv: list[str], pooled: bool) -> None:
    assert load_settings(ServerSettings, environ, flags(*argv)).pooled is pooled
