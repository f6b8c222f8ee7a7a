"""A pool's router: a catalogue's family to its routes, a catalogue ConfigMap event to the
change it brings, the table of families by model name, and the paths a pool's servers get."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from modelkeeper.api.pool import CATALOGUE_KEY, POOL_LABEL
from modelkeeper.router.catalogue import Families, family_parser
from modelkeeper.router.config import ConfigError, RoutingConfig, configmap_change, role_name
from modelkeeper.router.routes import ModelTarget, model_target, versioned_path

SERVICE = "pool-a-servers"
WHERE = "ConfigMap ns/fraud-catalogue"
parse = family_parser(SERVICE)


def version(name: str, role: str, weight: int) -> dict[str, Any]:
    return {
        "version": name,
        "model": f"fraud-{name}",
        "role": role,
        "weight": weight,
        "uri": f"s3://models/fraud/{name}/model.joblib",
        "format": "sklearn",
    }


def family(*versions: dict[str, Any], model: str = "fraud", **extra: Any) -> str:
    document = {"deployment": f"{model}-prod", "model": model, "versions": list(versions)}
    return orjson.dumps(document | extra).decode()


def routes(config: RoutingConfig) -> dict[str, Any]:
    """What a family's routing config says, in a form a table can hold."""
    return {
        "model": config.model,
        "deployment": config.deployment,
        "backends": [(b.name, role_name(b.role), b.weight) for b in config.backends],
        "mirror_percent": config.mirror_percent,
        "float_tolerance": config.float_tolerance,
    }


CANARY = family(version("v1", "Stable", 50), version("v2", "Canary", 50))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            CANARY,
            {
                "model": "fraud",
                "deployment": "fraud-prod",
                "backends": [("v1", "stable", 50), ("v2", "canary", 50)],
                "mirror_percent": 0,
                "float_tolerance": 1e-6,
            },
            id="canary-half",
        ),
        pytest.param(
            family(version("v1", "Stable", 100), version("v2", "Canary", 0)),
            {
                "model": "fraud",
                "deployment": "fraud-prod",
                "backends": [("v1", "stable", 100), ("v2", "canary", 0)],
                "mirror_percent": 0,
                "float_tolerance": 1e-6,
            },
            id="canary-at-nought",
        ),
        pytest.param(
            family(
                version("v1", "Stable", 100),
                version("v3", "Shadow", 0),
                mirror_percent=25,
                float_tolerance=0.01,
            ),
            {
                "model": "fraud",
                "deployment": "fraud-prod",
                "backends": [("v1", "stable", 100), ("v3", "shadow", 0)],
                "mirror_percent": 25,
                "float_tolerance": 0.01,
            },
            id="shadow-mirrored-with-its-tolerance",
        ),
        pytest.param(
            family(version("v1", "Stable", 100), version("v4", "Preview", 0), model="churn"),
            {
                "model": "churn",
                "deployment": "churn-prod",
                "backends": [("v1", "stable", 100)],
                "mirror_percent": 0,
                "float_tolerance": 1e-6,
            },
            id="a-preview-is-no-backend",
        ),
    ],
)
def test_a_family_routes_its_versions_on_the_pool_service(text: str, expected: Any) -> None:
    config = parse(text)

    assert routes(config) == expected
    assert config.versioned_paths
    assert {(b.service, b.port) for b in config.backends} == {(SERVICE, "http")}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            family(version("v1", "Stable", 100), mirror_percent=10),
            "`mirror_percent` needs a backend with role `shadow`",
            id="mirror-without-shadow",
        ),
        pytest.param(
            family(version("v1", "Stable", 90), version("v3", "Shadow", 10)),
            "backends.1: Value error, a shadow takes no weight",
            id="shadow-with-weight",
        ),
        pytest.param(
            family(version("v1", "Stable", 0), version("v2", "Canary", 0)),
            "the stable and canary weights must not all be 0",
            id="no-weight",
        ),
        pytest.param(
            family(version("v1", "Canary", 100)),
            "a family has one stable version, not 0",
            id="no-stable",
        ),
        pytest.param(
            family(version("v1", "Stable", 101)),
            "versions.0.weight: Input should be less than or equal to 100",
            id="weight-over-100",
        ),
        pytest.param('{"deployment": "x"', "Invalid JSON", id="not-json"),
    ],
)
def test_a_bad_family_is_refused_naming_the_field(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse(text)

    assert message in str(raised.value)


def configmap(text: str | None, name: str = "fraud-catalogue") -> dict[str, Any]:
    document: dict[str, Any] = {
        "metadata": {"name": name, "labels": {POOL_LABEL: "pool-a"}, "resourceVersion": "3"}
    }
    if text is not None:
        document["data"] = {CATALOGUE_KEY: text}
    return document


HALF = family(version("v1", "Stable", 50), version("v2", "Canary", 50))
TENTH = family(version("v1", "Stable", 90), version("v2", "Canary", 10))
BAD = family(version("v1", "Stable", 90), version("v3", "Shadow", 10))


@pytest.mark.parametrize(
    ("seen", "event", "document", "expected"),
    [
        pytest.param(None, "ADDED", configmap(HALF), {"v1": 50, "v2": 50}, id="first-seen"),
        pytest.param(HALF, "MODIFIED", configmap(TENTH), {"v1": 90, "v2": 10}, id="new-split"),
        pytest.param(HALF, "MODIFIED", configmap(HALF), None, id="same-text-nothing"),
        pytest.param(HALF, "ADDED", configmap(HALF), None, id="relisted-unchanged"),
        pytest.param(
            HALF, "MODIFIED", configmap(BAD), f"{WHERE}: backends.1: Value", id="bad-refused"
        ),
        pytest.param(BAD, "MODIFIED", configmap(BAD), None, id="same-bad-refused-once"),
        pytest.param(
            HALF,
            "MODIFIED",
            configmap(None),
            f"{WHERE}: no 'family.json' in its data",
            id="no-family-refused",
        ),
    ],
)
def test_a_catalogue_event_changes_its_family_only_when_its_text_does(
    seen: str | None, event: str, document: dict[str, Any], expected: Any
) -> None:
    change = configmap_change(seen, event, document, CATALOGUE_KEY, WHERE, parse)

    if change is None:
        found: Any = None
    elif change.config is None:
        found = change.error
    else:
        found = {backend.name: backend.weight for backend in change.config.backends}
    if isinstance(expected, str):
        assert isinstance(found, str)
        assert found.startswith(expected)
    else:
        assert found == expected


Step = tuple[str, str, str | None]  # ("put" | "remove", owner, model)


@pytest.mark.parametrize(
    ("steps", "expected", "refused"),
    [
        pytest.param(
            [("put", "a", "fraud"), ("put", "b", "churn")],
            {"fraud": "a", "churn": "b"},
            [],
            id="two-families",
        ),
        pytest.param(
            [("put", "a", "fraud"), ("put", "a", "fraud")],
            {"fraud": "a"},
            [],
            id="a-family-replaced-by-its-owner",
        ),
        pytest.param(
            [("put", "a", "fraud"), ("put", "b", "fraud")],
            {"fraud": "a"},
            ["model 'fraud' is routed already, for a"],
            id="a-second-owner-refused",
        ),
        pytest.param(
            [("put", "a", "fraud"), ("put", "a", "fraud2")],
            {"fraud2": "a"},
            [],
            id="a-renamed-family-gives-its-name-up",
        ),
        pytest.param(
            [("put", "a", "fraud"), ("put", "b", "churn"), ("remove", "a", None)],
            {"churn": "b"},
            [],
            id="removed",
        ),
        pytest.param(
            [("put", "a", "fraud"), ("remove", "a", None), ("put", "b", "fraud")],
            {"fraud": "b"},
            [],
            id="a-name-given-up-is-free",
        ),
        pytest.param([("remove", "a", None)], {}, [], id="removing-nothing"),
    ],
)
def test_the_table_routes_a_model_for_one_owner(
    steps: list[Step], expected: dict[str, str], refused: list[str]
) -> None:
    table: Families[str] = Families()  # the route is its owner's name here
    errors = []
    for action, owner, model in steps:
        if action == "remove":
            table.remove(owner)
            continue
        assert model is not None
        try:
            table.put(owner, model, owner)
        except ConfigError as error:
            errors.append(str(error))

    assert {model: table.get(model) for model in expected} == expected
    assert sorted(table.routes()) == sorted(expected.values())
    assert len(table) == len(expected)
    assert errors == refused


@pytest.mark.parametrize(
    ("target", "expected", "forwarded"),
    [
        pytest.param(
            b"/v2/models/fraud/infer",
            ModelTarget("fraud", b"/infer"),
            b"/v2/models/fraud/versions/v2/infer",
            id="infer",
        ),
        pytest.param(
            b"/v2/models/fraud/versions/v1/infer?trace=1",
            ModelTarget("fraud", b"/infer?trace=1"),
            b"/v2/models/fraud/versions/v2/infer?trace=1",
            id="a-named-version-is-the-splits-to-choose",
        ),
        pytest.param(
            b"/v2/models/fraud/feedback",
            ModelTarget("fraud", b"/feedback"),
            b"/v2/models/fraud/versions/v2/feedback",
            id="feedback",
        ),
        pytest.param(
            b"/v2/models/fraud",
            ModelTarget("fraud", b""),
            b"/v2/models/fraud/versions/v2",
            id="metadata",
        ),
        pytest.param(
            b"/v2/models/fraud/ready",
            ModelTarget("fraud", b"/ready"),
            b"/v2/models/fraud/versions/v2/ready",
            id="ready",
        ),
        pytest.param(b"/v1/models/fraud:predict", ModelTarget("fraud", None), None, id="v1"),
        pytest.param(b"/v1/models/fraud", ModelTarget("fraud", None), None, id="v1-status"),
        pytest.param(b"/v2/models/fraud/explain", None, None, id="other-verb"),
        pytest.param(b"/v2/models/a/b/infer", None, None, id="name-with-slash"),
        pytest.param(b"/v2", None, None, id="server-metadata"),
        pytest.param(b"/v2/repository/index", None, None, id="repository"),
    ],
)
def test_a_target_names_its_model_and_the_pool_gets_the_version(
    target: bytes, expected: ModelTarget | None, forwarded: bytes | None
) -> None:
    found = model_target(target)

    assert found == expected
    assert (None if found is None else versioned_path(found, "v2")) == forwarded
