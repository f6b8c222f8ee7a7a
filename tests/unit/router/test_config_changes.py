"""What a new routing config text, or a watch event of the router's ConfigMap, changes:
nothing (the text seen last, a deletion), a config to route by, or a refusal naming why."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from modelkeeper.router.config import ConfigChange, configmap_change, text_change

KEY = "routing.yaml"
WHERE = "ConfigMap ns/fraud-router"


def config_text(stable: int, canary: int) -> str:
    backends = [
        {"name": "v1", "role": "stable", "weight": stable, "service": "fraud-v1"},
        {"name": "v2", "role": "canary", "weight": canary, "service": "fraud-v2"},
    ]
    return orjson.dumps({"model": "fraud", "backends": backends}).decode()


OLD, NEW = config_text(90, 10), config_text(70, 30)
BAD = "model: fraud\nbackends: [{name: v1, role: stable}]\n"


def configmap(data: dict[str, Any] | None) -> dict[str, Any]:
    document: dict[str, Any] = {"metadata": {"name": "fraud-router", "resourceVersion": "7"}}
    if data is not None:
        document["data"] = data
    return document


def summary(change: ConfigChange | None) -> tuple[str, Any] | None:
    """None, ("weights", {name: weight}) or ("refused", error)."""
    if change is None:
        return None
    if change.config is None:
        return ("refused", change.error)
    return ("weights", {backend.name: backend.weight for backend in change.config.backends})


@pytest.mark.parametrize(
    ("seen", "text", "expected"),
    [
        pytest.param(OLD, OLD, None, id="same-text-changes-nothing"),
        pytest.param(OLD, NEW, ("weights", {"v1": 70, "v2": 30}), id="new-weights"),
        pytest.param(None, OLD, ("weights", {"v1": 90, "v2": 10}), id="nothing-seen-yet"),
        pytest.param(
            OLD,
            BAD,
            ("refused", f"{WHERE}: backends.0: Value error, give exactly one of `service`"),
            id="bad-config-refused-naming-where-and-field",
        ),
        pytest.param(BAD, BAD, None, id="same-bad-text-refused-once"),
        pytest.param(BAD, OLD, ("weights", {"v1": 90, "v2": 10}), id="good-after-bad"),
        pytest.param(OLD, "{model: [", ("refused", f"{WHERE}: not YAML or JSON"), id="not-yaml"),
    ],
)
def test_a_text_changes_the_config_only_when_it_differs_from_the_one_seen(
    seen: str | None, text: str, expected: tuple[str, Any] | None
) -> None:
    found = summary(text_change(seen, text, WHERE))

    if expected is not None and expected[0] == "refused":
        assert found is not None
        assert found[0] == "refused"
        assert str(found[1]).startswith(expected[1])
    else:
        assert found == expected


@pytest.mark.parametrize(
    ("seen", "event", "document", "expected"),
    [
        pytest.param(
            OLD,
            "MODIFIED",
            configmap({KEY: NEW}),
            ("weights", {"v1": 70, "v2": 30}),
            id="modified-new-weights",
        ),
        pytest.param(
            OLD,
            "ADDED",
            configmap({KEY: NEW}),
            ("weights", {"v1": 70, "v2": 30}),
            id="added-new-weights",
        ),
        pytest.param(OLD, "MODIFIED", configmap({KEY: OLD}), None, id="same-text-no-reload"),
        pytest.param(
            OLD, "MODIFIED", configmap({KEY: OLD, "other": "x"}), None, id="other-key-changed"
        ),
        pytest.param(OLD, "DELETED", configmap({KEY: NEW}), None, id="deleted-keeps-config"),
        pytest.param(OLD, "BOOKMARK", configmap(None), None, id="bookmark"),
        pytest.param(
            OLD,
            "MODIFIED",
            configmap({KEY: BAD}),
            ("refused", f"{WHERE}: backends.0: Value error, give exactly one of `service`"),
            id="bad-config-refused",
        ),
        pytest.param(
            OLD,
            "MODIFIED",
            configmap({"other.yaml": NEW}),
            ("refused", f"{WHERE}: no 'routing.yaml' in its data"),
            id="key-missing-refused",
        ),
        pytest.param(
            OLD,
            "MODIFIED",
            configmap(None),
            ("refused", f"{WHERE}: no 'routing.yaml' in its data"),
            id="no-data-refused",
        ),
        pytest.param("", "MODIFIED", configmap(None), None, id="key-still-missing-refused-once"),
    ],
)
def test_a_configmap_event_changes_the_config_by_its_key(
    seen: str | None, event: str, document: dict[str, Any], expected: tuple[str, Any] | None
) -> None:
    found = summary(configmap_change(seen, event, document, KEY, WHERE))

    if expected is not None and expected[0] == "refused":
        assert found is not None
        assert found[0] == "refused"
        assert str(found[1]).startswith(expected[1])
    else:
        assert found == expected


def test_a_change_remembers_its_text_taken_or_not() -> None:
    taken = text_change(OLD, NEW, WHERE)
    refused = configmap_change(OLD, "MODIFIED", configmap({KEY: BAD}), KEY, WHERE)

    assert taken is not None
    assert taken.text == NEW
    assert refused is not None
    assert refused.text == BAD
