"""A pool's catalogue as its readers take it: which ConfigMaps are the operator's, and which
family holds a model name two families claim."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelkeeper.api.pool import (
    CATALOGUE_KEY,
    POOL_LABEL,
    Claim,
    PooledFamily,
    name_holders,
    refusal,
)

NOON = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
LATER = datetime(2026, 12, 6, 12, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        pytest.param({}, {}, id="empty"),
        pytest.param(
            {"a-catalogue": Claim("fraud", NOON), "b-catalogue": Claim("churn", LATER)},
            {"fraud": "a-catalogue", "churn": "b-catalogue"},
            id="one-family-per-name",
        ),
        pytest.param(
            {"0-catalogue": Claim("fraud", LATER), "z-catalogue": Claim("fraud", NOON)},
            {"fraud": "z-catalogue"},
            id="the-elder-holds-though-its-name-sorts-last",
        ),
        pytest.param(
            {"b-catalogue": Claim("fraud", NOON), "a-catalogue": Claim("fraud", NOON)},
            {"fraud": "a-catalogue"},
            id="created-together-the-name-decides",
        ),
        pytest.param(
            {"a.json": Claim("fraud"), "b.json": Claim("fraud", LATER)},
            {"fraud": "b.json"},
            id="a-known-creation-time-comes-before-none",
        ),
        pytest.param(
            {"b.json": Claim("fraud"), "a.json": Claim("fraud")},
            {"fraud": "a.json"},
            id="files-by-name",
        ),
    ],
)
def test_name_holders(claims: dict[str, Claim], expected: dict[str, str]) -> None:
    assert name_holders(claims) == expected


Step = tuple[str, str, Claim | None]  # ("put" | "remove", source, claim)


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        pytest.param(
            [("put", "a", Claim("fraud", NOON)), ("put", "b", Claim("fraud", LATER))],
            {"fraud": "a"},
            id="a-newcomer-waits",
        ),
        pytest.param(
            [
                ("put", "a", Claim("fraud", NOON)),
                ("put", "b", Claim("fraud", LATER)),
                ("remove", "a", None),
            ],
            {"fraud": "b"},
            id="handover-the-holder-deleted-the-waiting-one-holds",
        ),
        pytest.param(
            [
                ("put", "a", Claim("fraud", NOON)),
                ("put", "b", Claim("fraud", LATER)),
                ("put", "a", Claim("fraud-v2", NOON)),
            ],
            {"fraud": "b", "fraud-v2": "a"},
            id="the-holder-renamed-the-waiting-one-holds",
        ),
    ],
)
def test_every_change_resolves_again(steps: list[Step], expected: dict[str, str]) -> None:
    claims: dict[str, Claim] = {}
    for action, source, claim in steps:
        if action == "remove":
            del claims[source]
        else:
            assert claim is not None
            claims[source] = claim

    assert name_holders(claims) == expected


FAMILY = {
    "deployment": "fraud-prod",
    "model": "fraud",
    "versions": [
        {
            "version": "v1",
            "model": "fraud-v1",
            "role": "Stable",
            "weight": 100,
            "uri": "s3://models/fraud/v1/model.joblib",
            "format": "sklearn",
        }
    ],
}
OWNER = {
    "apiVersion": "modelkeeper.io/v1alpha1",
    "kind": "Deployment",
    "name": "fraud-prod",
    "uid": "9f1c",
    "controller": True,
    "blockOwnerDeletion": True,
}


def config_map(
    name: str = "fraud-prod-catalogue",
    labels: dict[str, str] | None = None,
    owners: list[dict[str, Any]] | None = None,
    family: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A catalogue ConfigMap as the operator writes it, but for what is given."""
    return {
        "metadata": {
            "name": name,
            "labels": (
                {POOL_LABEL: "pool-a", "app.kubernetes.io/managed-by": "modelkeeper"}
                if labels is None
                else labels
            ),
            "ownerReferences": [OWNER] if owners is None else owners,
            "creationTimestamp": "2026-12-06T12:00:00Z",
        },
        "data": {
            CATALOGUE_KEY: PooledFamily.model_validate(family or FAMILY).to_data()[CATALOGUE_KEY]
        },
    }


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        pytest.param(config_map(), None, id="the-operators"),
        pytest.param(
            config_map(labels={POOL_LABEL: "pool-a"}),
            "it is not labelled app.kubernetes.io/managed-by=modelkeeper",
            id="no-managed-by-label",
        ),
        pytest.param(
            config_map(labels={POOL_LABEL: "pool-a", "app.kubernetes.io/managed-by": "helm"}),
            "it is not labelled app.kubernetes.io/managed-by=modelkeeper",
            id="managed-by-another",
        ),
        pytest.param(
            config_map(owners=[]),
            "no modelkeeper.io Deployment controls it",
            id="no-owner",
        ),
        pytest.param(
            config_map(owners=[OWNER | {"controller": False}]),
            "no modelkeeper.io Deployment controls it",
            id="owner-not-controller",
        ),
        pytest.param(
            config_map(owners=[OWNER | {"apiVersion": "apps/v1"}]),
            "no modelkeeper.io Deployment controls it",
            id="an-apps-deployment",
        ),
        pytest.param(
            config_map(owners=[OWNER | {"kind": "ServingPool"}]),
            "no modelkeeper.io Deployment controls it",
            id="owned-by-a-pool",
        ),
        pytest.param(
            config_map(name="0-evil"),
            "it is not named as the catalogue of its Deployment fraud-prod",
            id="wrong-name",
        ),
        pytest.param(
            config_map(owners=[OWNER | {"name": "other"}]),
            "it is not named as the catalogue of its Deployment other",
            id="owned-by-another-deployment",
        ),
    ],
)
def test_only_the_operators_catalogues_are_taken(
    document: dict[str, Any], expected: str | None
) -> None:
    found = refusal(document)

    if expected is None:
        assert found is None
    else:
        assert found is not None
        assert found.startswith(expected)


def test_a_family_claims_its_name_since_its_config_map_was_created() -> None:
    family = PooledFamily.from_config_map(config_map())

    assert family.claim == Claim("fraud", NOON)
    assert CATALOGUE_KEY in family.to_data()
    assert "created" not in family.to_data()[CATALOGUE_KEY]


def test_a_family_of_another_deployment_is_refused_naming_the_field() -> None:
    document = config_map(family=FAMILY | {"deployment": "churn-prod"})

    with pytest.raises(ValueError, match="deployment: 'churn-prod' is not the Deployment"):
        PooledFamily.from_config_map(document)


GOLDEN = Path(__file__).parents[1] / "controller" / "golden"


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("pooled-*.yaml")), ids=lambda path: path.stem)
def test_the_operators_own_catalogues_are_taken(path: Path) -> None:
    written = yaml.safe_load(path.read_text())

    assert refusal(written) is None
    assert PooledFamily.from_config_map(written).deployment == written["metadata"][
        "name"
    ].removesuffix("-catalogue")
