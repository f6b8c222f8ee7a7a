"""A pool's router: a catalogue's family to its routes, the table of families by model name,
and the paths a pool's servers get."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from modelkeeper.api.pool import Claim, PooledFamily
from modelkeeper.router.catalogue import Families, family_config
from modelkeeper.router.config import ConfigError, RoutingConfig, role_name
from modelkeeper.router.routes import ModelTarget, model_target, versioned_path

SERVICE = "pool-a-servers"


def parse(text: str) -> RoutingConfig:
    return family_config(PooledFamily.model_validate_json(text), SERVICE)


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
            "Input should be less than or equal to 100",
            id="weight-over-100",
        ),
        pytest.param('{"deployment": "x"', "Invalid JSON", id="not-json"),
    ],
)
def test_a_bad_family_is_refused_naming_the_field(text: str, message: str) -> None:
    with pytest.raises((ConfigError, ValidationError)) as raised:
        parse(text)

    assert message in str(raised.value)


@dataclass(eq=False)
class Route:
    """A route as the table holds it: one object per put, told apart by identity."""

    owner: str


NOON = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
LATER = datetime(2026, 12, 6, 12, 5, tzinfo=UTC)
Step = tuple[str, str, str | None, datetime | None]  # ("put" | "remove", owner, model, created)


@pytest.mark.parametrize(
    ("steps", "expected", "unrouted"),
    [
        pytest.param(
            [("put", "a", "fraud", NOON), ("put", "b", "churn", NOON)],
            {"fraud": "a", "churn": "b"},
            [],
            id="two-families",
        ),
        pytest.param(
            [("put", "a", "fraud", NOON), ("put", "a", "fraud", NOON)],
            {"fraud": "a"},
            ["a"],
            id="a-family-replaced-by-its-owner",
        ),
        pytest.param(
            [("put", "a", "fraud", NOON), ("put", "b", "fraud", LATER)],
            {"fraud": "a"},
            [],
            id="a-second-owner-waits",
        ),
        pytest.param(
            [("put", "b", "fraud", LATER), ("put", "a", "fraud", NOON)],
            {"fraud": "a"},
            ["b"],
            id="an-elder-claim-takes-the-name",
        ),
        pytest.param(
            [
                ("put", "a", "fraud", NOON),
                ("put", "b", "fraud", LATER),
                ("remove", "a", None, None),
            ],
            {"fraud": "b"},
            ["a"],
            id="handover-the-holder-deleted-the-waiting-one-routed",
        ),
        pytest.param(
            [("put", "a", "fraud", NOON), ("put", "a", "fraud2", NOON)],
            {"fraud2": "a"},
            ["a"],
            id="a-renamed-family-gives-its-name-up",
        ),
        pytest.param(
            [("put", "a", "fraud", NOON), ("put", "b", "churn", NOON), ("remove", "a", None, None)],
            {"churn": "b"},
            ["a"],
            id="removed",
        ),
        pytest.param([("remove", "a", None, None)], {}, [], id="removing-nothing"),
    ],
)
def test_the_table_routes_a_model_for_its_holder(
    steps: list[Step], expected: dict[str, str], unrouted: list[str]
) -> None:
    table: Families[Route] = Families()
    gone = []
    for action, owner, model, created in steps:
        if action == "remove":
            gone += table.remove(owner)
        else:
            assert model is not None
            gone += table.put(owner, Claim(model, created), Route(owner))

    assert {model: table.holder(model) for model in expected} == expected
    assert {model: getattr(table.get(model), "owner", None) for model in expected} == expected
    assert sorted(route.owner for route in table.routes()) == sorted(expected.values())
    assert len(table) == len(expected)
    assert [route.owner for route in gone] == unrouted


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
