"""The pydantic-to-structural converter: what it turns into what, and what it refuses."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import pytest
from pydantic import ConfigDict, Field

from modelkeeper.api.base import ApiModel
from modelkeeper.api.cel import rule, validations
from modelkeeper.api.openapi import Schema, SchemaError, structural_schema
from modelkeeper.api.types import DURATION_PATTERN, Duration, Quantity


class Colour(StrEnum):
    """A colour."""

    RED = "Red"
    BLUE = "Blue"


class Inner(ApiModel):
    """The inner docstring."""

    model_config = ConfigDict(json_schema_extra=validations(rule("self.size > 0", "class rule")))

    size: int = Field(default=1, gt=0, le=10)
    """How big."""
    label: str | None = Field(default=None, max_length=8)
    """A label."""


class Outer(ApiModel):
    """The outer docstring."""

    inner: Inner = Inner()
    """The field's own description wins over the class's."""
    checked: Inner | None = Field(
        default=None, json_schema_extra=validations(rule("self == oldSelf", "field rule"))
    )
    """Class and field rules both apply."""
    colour: Colour = Colour.RED
    """An enum."""
    wait: Duration = Duration(seconds=90)
    """A duration."""
    cpu: Quantity = "1"
    """A quantity."""
    weights: dict[str, float] = Field(default_factory=dict, max_length=4)
    """A map."""
    raw: dict[str, Any] = Field(default_factory=dict)
    """Anything."""
    names: list[Annotated[str, Field(max_length=8)]] = Field(
        default_factory=list, max_length=3, json_schema_extra={"x-kubernetes-list-type": "set"}
    )
    """A set."""


OUTER = structural_schema(Outer)


def _at(path: str) -> Schema:
    node = OUTER
    for name in path.split("."):
        node = node["properties"][name]
    return node


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param(
            "inner",
            {"type": "object", "description": "The field's own description wins over the class's."},
            id="ref-inlined-with-field-description",
        ),
        pytest.param(
            "inner.size",
            {
                "type": "integer",
                "minimum": 0,
                "exclusiveMinimum": True,
                "maximum": 10,
                "default": 1,
            },
            id="exclusive-bound-as-boolean",
        ),
        pytest.param(
            "inner.label",
            {"type": "string", "maxLength": 8, "description": "A label."},
            id="optional-unwrapped-without-null-default",
        ),
        pytest.param(
            "colour",
            {"type": "string", "enum": ["Red", "Blue"], "default": "Red"},
            id="enum-with-default",
        ),
        pytest.param(
            "wait",
            {"type": "string", "pattern": DURATION_PATTERN, "default": "1m30s"},
            id="duration-as-wire-string",
        ),
        pytest.param(
            "cpu",
            {
                "x-kubernetes-int-or-string": True,
                "anyOf": [{"type": "integer"}, {"type": "string"}],
            },
            id="int-or-string",
        ),
        pytest.param(
            "weights",
            {"type": "object", "additionalProperties": {"type": "number"}, "maxProperties": 4},
            id="map",
        ),
        pytest.param(
            "raw",
            {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            id="any-object-preserved",
        ),
        pytest.param(
            "names",
            {"type": "array", "maxItems": 3, "x-kubernetes-list-type": "set"},
            id="list-extension-kept",
        ),
    ],
)
def test_converted_fields(path: str, expected: Schema) -> None:
    node = _at(path)
    assert {key: node[key] for key in expected} == expected
    assert "title" not in node
    assert not any(key in node for key in ("$ref", "$defs", "allOf", "const"))


def test_object_default_is_written_without_nulls() -> None:
    assert _at("inner")["default"] == {"size": 1}


def test_class_and_field_rules_both_apply() -> None:
    messages = [found["message"] for found in _at("checked")["x-kubernetes-validations"]]
    assert messages == ["class rule", "field rule"]


def test_a_nullable_union_of_two_types_is_refused() -> None:
    class Mixed(ApiModel):
        """Two types at once."""

        value: int | str | None = None
        """Either."""

    with pytest.raises(SchemaError, match=r"Mixed.value: a union other than `X \| None`"):
        structural_schema(Mixed)


def test_a_field_without_description_is_refused() -> None:
    class Silent(ApiModel):
        """Says nothing about its field."""

        count: int = 0

    with pytest.raises(SchemaError, match=r"Silent\.count: every field needs a description"):
        structural_schema(Silent)


@pytest.mark.parametrize(
    ("annotation", "complaint"),
    [
        pytest.param(str, "a string needs max_length", id="string"),
        pytest.param(list[int], "a list needs max_length", id="list"),
        pytest.param(dict[str, int], "a map needs max_length", id="map"),
    ],
)
def test_unbounded_values_are_refused(annotation: Any, complaint: str) -> None:
    class Unbounded(ApiModel):
        """Has no upper bound."""

        value: annotation
        """Unbounded."""

    with pytest.raises(SchemaError, match=f"Unbounded.value: {complaint}"):
        structural_schema(Unbounded)


def test_an_unknown_format_is_refused() -> None:
    class WithUrl(ApiModel):
        """Has a URL format the API server does not know."""

        url: str = Field(max_length=10, json_schema_extra={"format": "uri"})
        """A URL."""

    with pytest.raises(SchemaError, match="format 'uri'"):
        structural_schema(WithUrl)
