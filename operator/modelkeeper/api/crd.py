"""Build a CustomResourceDefinition from a kind's typed models and its few CRD-only facts.

Each kind module declares a `KindDefinition`: its resource type (whose spec and
status models give the schema, whose docstring describes the kind), plural, short
names, printer columns and selectable fields. Everything else every kind shares —
the group, the version, the `modelkeeper` category, the status subresource — is
written here once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from modelkeeper.api.base import GROUP, VERSION, Resource
from modelkeeper.api.cel import JsonDict
from modelkeeper.api.openapi import Schema, prose, structural_schema

CATEGORY = "modelkeeper"


class ColumnType(StrEnum):
    """How `kubectl get` formats a column."""

    STRING = "string"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    DATE = "date"


@dataclass(frozen=True)
class PrinterColumn:
    """A column of `kubectl get`."""

    name: str
    json_path: str
    description: str
    type: ColumnType = ColumnType.STRING


AGE = PrinterColumn("Age", ".metadata.creationTimestamp", "Time since creation.", ColumnType.DATE)


@dataclass(frozen=True)
class KindDefinition:
    """What the CRD of one kind says beyond the schema of its models."""

    resource: type[Resource[Any, Any]]
    plural: str
    short_names: tuple[str, ...]
    columns: tuple[PrinterColumn, ...]
    selectable_fields: tuple[str, ...] = ()
    validations: JsonDict | None = field(default=None, compare=False)
    """CEL rules on the whole object (cel.validations): a rule on metadata.name lives here."""

    @property
    def kind(self) -> str:
        """The kind, such as Model, as the resource type declares it."""
        return self.resource.KIND

    @property
    def name(self) -> str:
        """The CRD's name, such as models.modelkeeper.io."""
        return f"{self.plural}.{GROUP}"


def build_crd(definition: KindDefinition) -> dict[str, Any]:
    """The CustomResourceDefinition object of one kind."""
    kind = definition.kind
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": definition.name},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": definition.plural,
                "singular": kind.lower(),
                "shortNames": list(definition.short_names),
                "categories": [CATEGORY],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": _root_schema(definition)},
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {
                            "name": column.name,
                            "type": column.type.value,
                            "jsonPath": column.json_path,
                            "description": column.description,
                        }
                        for column in (*definition.columns, AGE)
                    ],
                    "selectableFields": [
                        {"jsonPath": path} for path in definition.selectable_fields
                    ],
                }
            ],
        },
    }


def _root_schema(definition: KindDefinition) -> Schema:
    return {
        "type": "object",
        "description": prose(definition.resource.__doc__ or ""),
        "required": ["spec"],
        "properties": {
            "apiVersion": {
                "type": "string",
                "description": "The versioned schema of this object: modelkeeper.io/v1alpha1.",
            },
            "kind": {
                "type": "string",
                "description": f"The kind of this object: {definition.kind}.",
            },
            "metadata": {"type": "object"},
            "spec": structural_schema(_part(definition, "spec")),
            "status": structural_schema(_part(definition, "status")),
        },
    } | (definition.validations or {})


def _part(definition: KindDefinition, field: str) -> type[BaseModel]:
    """The spec or status model that the resource type was parametrised with."""
    annotation = definition.resource.model_fields[field].annotation
    if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        raise TypeError(f"{definition.kind}.{field} must be a pydantic model, not {annotation!r}")
    return annotation
