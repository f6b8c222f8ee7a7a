"""values.schema.json refuses bad values at render time, naming the value that is wrong."""

from __future__ import annotations

import pytest

from tests.support.chart import render


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param(
            "replicas=2", "at '/peering/enabled': value must be true", id="replicas-without-peering"
        ),
        pytest.param("replicas=-1", "at '/replicas': minimum", id="negative-replicas"),
        pytest.param(
            "rbac.scope=Everything",
            "at '/rbac/scope': value must be one of 'Cluster', 'Namespaced'",
            id="unknown-rbac-scope",
        ),
        pytest.param(
            "watchNamespaces={Team_A}", "at '/watchNamespaces/0'", id="namespace-not-a-dns-label"
        ),
        pytest.param("metrics.port=70000", "at '/metrics/port': maximum", id="port-out-of-range"),
        pytest.param(
            "operator.logFormat=xml",
            "at '/operator/logFormat': value must be one of 'json', 'text'",
            id="unknown-log-format",
        ),
        pytest.param(
            "operator.prometheusUrl=prometheus:9090",
            "at '/operator/prometheusUrl'",
            id="prometheus-url-without-scheme",
        ),
        pytest.param(
            "operator.extraEnv.PATH=/bin",
            "'PATH' does not match pattern '^MODELKEEPER_[A-Z0-9_]+$'",
            id="extra-env-outside-modelkeeper-settings",
        ),
        pytest.param(
            "resources.limits.memory=lots",
            "at '/resources/limits/memory': 'lots' does not match",
            id="quantity-not-a-quantity",
        ),
        pytest.param(
            "metrics.serviceMonitor.interval=often",
            "at '/metrics/serviceMonitor/interval'",
            id="interval-not-a-duration",
        ),
        pytest.param(
            "notifications.sinksSecret.name=sinks",
            "at '/notifications/sinksSecret': properties 'key' required",
            id="sinks-secret-without-its-key",
        ),
        pytest.param(
            "approvals.admissionPolicy=maybe",
            "at '/approvals/admissionPolicy'",
            id="admission-policy-not-a-boolean",
        ),
        pytest.param("replica=2", "additional properties 'replica' not allowed", id="misspelt-key"),
    ],
)
def test_bad_value_fails_naming_it(value: str, message: str) -> None:
    rendered = render("modelkeeper", "modelkeeper-system", value)
    assert rendered.returncode != 0
    assert "values don't meet the specifications of the schema" in rendered.stderr
    assert message in rendered.stderr


def test_the_good_neighbours_of_those_values_render() -> None:
    rendered = render(
        "modelkeeper",
        "modelkeeper-system",
        "replicas=2",
        "peering.enabled=true",
        "rbac.scope=Namespaced",
        "watchNamespaces={team-a}",
        "metrics.port=9090",
        "operator.logFormat=text",
        "operator.extraEnv.MODELKEEPER_WORKERS=4",
        "resources.limits.memory=1Gi",
        "metrics.serviceMonitor.interval=15s",
    )
    assert rendered.returncode == 0, rendered.stderr
