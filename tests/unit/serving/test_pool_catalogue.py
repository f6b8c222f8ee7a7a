"""A pool's catalogue: which family a model name is served by, and which versions a
change unloads."""

from __future__ import annotations

from typing import Any

import pytest

from modelkeeper.api.pool import PooledFamily
from modelkeeper.serving.catalogue import Catalogue, changed


def version(number: str, role: str = "Stable", **fields: Any) -> dict[str, Any]:
    return {
        "version": number,
        "model": f"m-{number}",
        "role": role,
        "weight": 100 if role == "Stable" else 0,
        "uri": f"file:///models/{number}/model.joblib",
        "format": "sklearn",
    } | fields


def family(deployment: str, model: str, *versions: dict[str, Any]) -> PooledFamily:
    return PooledFamily.model_validate(
        {"deployment": deployment, "model": model, "versions": list(versions or [version("1")])}
    )


def served(catalogue: Catalogue) -> dict[str, str]:
    return {model: f.deployment for model in "abc" if (f := catalogue.lookup(model)) is not None}


@pytest.mark.parametrize(
    ("families", "expected", "conflicts"),
    [
        pytest.param({}, {}, 0, id="empty"),
        pytest.param(
            {"x": family("dx", "a"), "y": family("dy", "b")},
            {"a": "dx", "b": "dy"},
            0,
            id="one-family-per-model",
        ),
        pytest.param(
            {"y": family("dy", "a"), "x": family("dx", "a")},
            {"a": "dx"},
            1,
            id="a-conflict-goes-to-the-first-source",
        ),
    ],
)
def test_lookup(
    families: dict[str, PooledFamily], expected: dict[str, str], conflicts: int
) -> None:
    catalogue = Catalogue()
    catalogue.replace(families)
    assert served(catalogue) == expected
    assert len(catalogue.conflicts) == conflicts


def test_removing_the_conflicting_source_serves_the_other() -> None:
    catalogue = Catalogue()
    catalogue.replace({"x": family("dx", "a"), "y": family("dy", "a")})
    catalogue.remove("x")
    assert served(catalogue) == {"a": "dy"}
    assert catalogue.conflicts == []


@pytest.mark.parametrize(
    ("before", "after", "unloaded"),
    [
        pytest.param([version("1")], [version("1")], set(), id="unchanged"),
        pytest.param(
            [version("1")],
            [version("1", weight=90), version("2", role="Canary", weight=10)],
            set(),
            id="a-version-added-and-a-weight-changed",
        ),
        pytest.param(
            [version("1"), version("2", role="Canary")],
            [version("2")],
            {("a", "1")},
            id="a-version-removed-and-another-promoted",
        ),
        pytest.param(
            [version("1")],
            [version("1", sha256="0" * 64)],
            {("a", "1")},
            id="an-artifact-changed",
        ),
        pytest.param(
            [version("1")],
            [version("1", reference={"uri": "file:///other/profile.json"})],
            {("a", "1")},
            id="a-profile-changed",
        ),
    ],
)
def test_changed(
    before: list[dict[str, Any]], after: list[dict[str, Any]], unloaded: set[tuple[str, str]]
) -> None:
    catalogue = Catalogue()
    catalogue.put("x", family("dx", "a", *before))
    entries = catalogue.entries()
    catalogue.put("x", family("dx", "a", *after))
    assert changed(entries, catalogue.entries()) == unloaded


def test_a_removed_family_unloads_all_its_versions() -> None:
    catalogue = Catalogue()
    catalogue.put("x", family("dx", "a", version("1"), version("2", role="Canary")))
    catalogue.put("y", family("dy", "b"))
    entries = catalogue.entries()
    catalogue.remove("x")
    assert changed(entries, catalogue.entries()) == {("a", "1"), ("a", "2")}


@pytest.mark.parametrize(
    ("after", "unloaded"),
    [
        pytest.param({}, set(), id="unchanged"),
        pytest.param({"deployment": "other"}, {("a", "1")}, id="served-for-another-deployment"),
        pytest.param({"payload_log_sampling": 0.5}, {("a", "1")}, id="payload-log-sampling"),
        pytest.param({"probability_sampling": 1.0}, {("a", "1")}, id="probability-sampling"),
        pytest.param({"mirror_percent": 20}, set(), id="mirroring-is-the-router's"),
    ],
)
def test_a_family_setting_that_a_version_serves_with_starts_it_afresh(
    after: dict[str, Any], unloaded: set[tuple[str, str]]
) -> None:
    catalogue = Catalogue()
    before = family("dx", "a")
    catalogue.put("x", before)
    entries = catalogue.entries()
    catalogue.put("x", before.model_copy(update=after))
    assert changed(entries, catalogue.entries()) == unloaded
