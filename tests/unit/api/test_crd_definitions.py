"""The generated CRDs: names, shared settings, descriptions, columns and size."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelkeeper.api.crd import KindDefinition, build_crd
from modelkeeper.api.kinds import KINDS
from modelkeeper.api.openapi import Schema

REPO = Path(__file__).resolve().parents[3]
CRDS = {definition.kind: build_crd(definition) for definition in KINDS}

# The short names of the built-in resources of Kubernetes 1.34 (`kubectl api-resources`).
BUILT_IN_SHORT_NAMES = {
    "cm", "cs", "csr", "cj", "crd", "crds", "deploy", "ds", "ep", "ev", "hpa", "ing",
    "limits", "netpol", "no", "ns", "pc", "pdb", "po", "pv", "pvc", "quota", "rc",
    "rs", "sa", "sc", "sts", "svc", "vac",
}  # fmt: skip

# Half of the 256 KiB that `kubectl apply` may put in its last-applied annotation.
SIZE_LIMIT = 128 * 1024


def _crd_param() -> list[Any]:
    return [pytest.param(crd, id=kind) for kind, crd in CRDS.items()]


def _version(crd: dict[str, Any]) -> dict[str, Any]:
    versions: list[dict[str, Any]] = crd["spec"]["versions"]
    assert len(versions) == 1
    return versions[0]


def _fields(schema: Schema, path: str) -> Iterator[tuple[str, Schema]]:
    for name, child in schema.get("properties", {}).items():
        yield f"{path}.{name}", child
        yield from _fields(child.get("items", child), f"{path}.{name}")


def _resolve(root: Schema, json_path: str) -> Schema:
    """The schema that a printer column's simple JSON path points at."""
    node = root
    for step in json_path.lstrip(".").split("."):
        name, index = re.fullmatch(r"([A-Za-z]+)(\[\d+\])?", step).groups()  # type: ignore[union-attr]
        node = node["properties"][name]
        if index:
            node = node["items"]
    return node


@pytest.mark.parametrize("crd", _crd_param())
def test_every_kind_shares_group_category_scope_and_status(crd: dict[str, Any]) -> None:
    assert crd["spec"]["group"] == "modelkeeper.io"
    assert crd["spec"]["scope"] == "Namespaced"
    assert crd["spec"]["names"]["categories"] == ["modelkeeper"]
    assert _version(crd)["subresources"] == {"status": {}}
    assert crd["metadata"]["name"] == f"{crd['spec']['names']['plural']}.modelkeeper.io"


def test_short_names_are_unique_and_clash_with_no_built_in() -> None:
    short_names = [name for crd in CRDS.values() for name in crd["spec"]["names"]["shortNames"]]
    assert short_names, "every kind has a short name"
    assert len(set(short_names)) == len(short_names)
    assert not set(short_names) & BUILT_IN_SHORT_NAMES


@pytest.mark.parametrize("crd", _crd_param())
def test_every_field_has_a_description(crd: dict[str, Any]) -> None:
    root = _version(crd)["schema"]["openAPIV3Schema"]
    silent = [path for path, field in _fields(root, "") if not field.get("description")]
    assert silent == [".metadata"], "metadata may carry nothing but its type"


@pytest.mark.parametrize("crd", _crd_param())
def test_printer_columns_and_field_selectors_point_at_fields(crd: dict[str, Any]) -> None:
    version = _version(crd)
    root = version["schema"]["openAPIV3Schema"]
    for column in version["additionalPrinterColumns"]:
        if column["jsonPath"] != ".metadata.creationTimestamp":
            pointed = _resolve(root, column["jsonPath"])
            expected = {"date": "string", "boolean": "boolean", "integer": "integer"}
            assert pointed["type"] == expected.get(column["type"], "string"), column["name"]
    for selectable in version["selectableFields"]:
        assert _resolve(root, selectable["jsonPath"])["type"] == "string"


@pytest.mark.parametrize("definition", [pytest.param(d, id=d.kind) for d in KINDS])
def test_every_crd_is_well_under_the_client_side_apply_limit(definition: KindDefinition) -> None:
    committed = REPO / "crds" / f"{definition.name}.yaml"
    assert committed.stat().st_size < SIZE_LIMIT
    assert len(json.dumps(CRDS[definition.kind], separators=(",", ":"))) < SIZE_LIMIT
