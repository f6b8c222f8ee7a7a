"""The ConfigMap follower's judgement of a pool's catalogue, each listing and event, as a
pool's servers (their `Catalogue`) then serve it: the operator's ConfigMaps only, a bad
edit keeping the last good family, nothing judged twice, and a model name handed over
when its holder's ConfigMap goes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from modelkeeper.api.pool import CATALOGUE_KEY, POOL_LABEL, PooledFamily, catalogue_name, refusal
from modelkeeper.kube.configmaps import ConfigMapEvents
from modelkeeper.serving.catalogue import Catalogue


class Reader:
    """A server's catalogue behind the follower, and what it was told."""

    def __init__(self) -> None:
        self.catalogue = Catalogue()
        self.told: list[str] = []

    def replace(self, families: Mapping[str, PooledFamily]) -> None:
        self.catalogue.replace(families)
        self.told.append(f"replace {','.join(sorted(families))}")

    def put(self, source: str, family: PooledFamily) -> None:
        self.catalogue.put(source, family)
        self.told.append(f"put {source}")

    def remove(self, source: str) -> None:
        self.catalogue.remove(source)
        self.told.append(f"remove {source}")

    def refused(self, source: str, why: str) -> None:
        self.told.append(f"refused {source}")


def following(reader: Reader) -> ConfigMapEvents[PooledFamily]:
    """The events as a pool's servers and router follow them."""
    return ConfigMapEvents("ns", reader, refusal, PooledFamily.from_config_map)


def config_map(
    deployment: str,
    model: str = "fraud",
    created: str = "2026-12-06T12:00:00Z",
    text: str | None = None,
    **metadata: Any,
) -> dict[str, Any]:
    """The catalogue ConfigMap the operator writes for `deployment`, but for what is given."""
    family = {
        "deployment": deployment,
        "model": model,
        "versions": [
            {
                "version": "v1",
                "model": f"{model}-v1",
                "role": "Stable",
                "weight": 100,
                "uri": f"s3://models/{deployment}/v1/model.joblib",
                "format": "sklearn",
            }
        ],
    }
    owner = {
        "apiVersion": "modelkeeper.io/v1alpha1",
        "kind": "Deployment",
        "name": deployment,
        "uid": f"uid-{deployment}",
        "controller": True,
    }
    labels = {POOL_LABEL: "pool-a", "app.kubernetes.io/managed-by": "modelkeeper"}
    return {
        "metadata": {
            "name": catalogue_name(deployment),
            "labels": labels,
            "ownerReferences": [owner],
            "creationTimestamp": created,
        }
        | metadata,
        "data": {
            CATALOGUE_KEY: text
            if text is not None
            else PooledFamily.model_validate(family).to_data()[CATALOGUE_KEY]
        },
    }


A = config_map("a", created="2026-12-06T12:00:00Z")
B = config_map("b", created="2026-12-06T12:05:00Z")
FORGED = config_map("0-evil", labels={POOL_LABEL: "pool-a"})
Event = tuple[str, dict[str, Any]]


@pytest.mark.parametrize(
    ("listing", "events", "served", "told"),
    [
        pytest.param(
            [A],
            [("ADDED", B), ("DELETED", A)],
            {"fraud": "b"},
            ["replace a-catalogue", "put b-catalogue", "remove a-catalogue"],
            id="handover-b-waits-then-holds-when-a-is-deleted",
        ),
        pytest.param(
            [B, A],
            [],
            {"fraud": "a"},
            ["replace a-catalogue,b-catalogue"],
            id="listed-the-elder-holds",
        ),
        pytest.param(
            [A],
            [("ADDED", FORGED)],
            {"fraud": "a"},
            ["replace a-catalogue", "refused 0-evil-catalogue"],
            id="a-forged-config-map-sorting-first-is-refused",
        ),
        pytest.param(
            [],
            [("ADDED", config_map("a", ownerReferences=[]))],
            {},
            ["replace ", "refused a-catalogue"],
            id="no-controlling-deployment-refused",
        ),
        pytest.param(
            [A],
            [("MODIFIED", config_map("a", labels={POOL_LABEL: "pool-a"}))],
            {},
            ["replace a-catalogue", "refused a-catalogue", "remove a-catalogue"],
            id="a-catalogue-no-longer-the-operators-goes",
        ),
        pytest.param(
            [A],
            [("MODIFIED", config_map("a", text='{"deployment": "a"'))],
            {"fraud": "a"},
            ["replace a-catalogue", "refused a-catalogue"],
            id="a-bad-edit-keeps-the-last-good",
        ),
        pytest.param(
            [A],
            [("MODIFIED", config_map("a", resourceVersion="9")), ("ADDED", A)],
            {"fraud": "a"},
            ["replace a-catalogue"],
            id="judged-once",
        ),
        pytest.param(
            [A],
            [("MODIFIED", config_map("a", model="churn"))],
            {"churn": "a"},
            ["replace a-catalogue", "put a-catalogue"],
            id="a-change-put",
        ),
    ],
)
def test_the_servers_catalogue_follows_the_operators_config_maps(
    listing: list[dict[str, Any]],
    events: list[Event],
    served: dict[str, str],
    told: list[str],
) -> None:
    reader = Reader()
    events_of = following(reader)
    events_of.listed(listing)
    for event, item in events:
        events_of.changed(event, item)

    found = {
        model: family.deployment
        for model in ("fraud", "churn")
        if (family := reader.catalogue.lookup(model)) is not None
    }
    assert found == served
    assert reader.told == told


def test_a_relisting_drops_what_it_lacks_and_hands_the_name_over() -> None:
    reader = Reader()
    events = following(reader)
    events.listed([A, B])
    events.listed([B])

    assert reader.told == ["replace a-catalogue,b-catalogue", "replace b-catalogue"]
    lookup = reader.catalogue.lookup("fraud")
    assert lookup is not None
    assert lookup.deployment == "b"
