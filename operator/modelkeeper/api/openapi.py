"""Turn a pydantic model's JSON schema into the structural OpenAPI v3 schema a CRD needs.

pydantic writes JSON Schema (2020-12) with `$ref`s, `anyOf` for optional fields,
titles and numeric exclusive bounds; the Kubernetes API server wants a structural
OpenAPI v3 schema: everything inlined, one type per node, boolean exclusive bounds,
`x-kubernetes-*` extensions instead of `additionalProperties: true`. This module
converts one into the other and refuses what it does not understand, so nothing
the models say is lost on the way to the API server.

It also holds the generator to the project's rules for the schema: every field has
a description (so `kubectl explain` teaches), and every string, list and map has an
upper bound (so the API server can bound the cost of the CEL rules).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

Schema = dict[str, Any]

# Keywords that mean the same in both dialects and pass through unchanged.
_PASSED = frozenset(
    {
        "description",
        "enum",
        "maxItems",
        "maxLength",
        "maxProperties",
        "maximum",
        "minItems",
        "minLength",
        "minProperties",
        "minimum",
        "pattern",
        "required",
        "type",
        "x-kubernetes-embedded-resource",
        "x-kubernetes-int-or-string",
        "x-kubernetes-list-map-keys",
        "x-kubernetes-list-type",
        "x-kubernetes-map-type",
        "x-kubernetes-preserve-unknown-fields",
        "x-kubernetes-validations",
    }
)
_FORMATS = frozenset({"date-time"})
_NULL = {"type": "null"}


class SchemaError(ValueError):
    """The models say something a structural schema cannot, or break a project rule."""


def prose(text: str) -> str:
    """A docstring as flowing text: one line per paragraph, paragraphs apart by a blank line."""
    return "\n\n".join(" ".join(block.split()) for block in text.strip().split("\n\n"))


def structural_schema(model: type[BaseModel]) -> Schema:
    """The structural schema of `model`, as it goes under a CRD's `openAPIV3Schema`."""
    generated = model.model_json_schema(by_alias=True, mode="validation")
    definitions: dict[str, Schema] = generated.pop("$defs", {})
    return _Converter(definitions).convert(generated, model.__name__)


class _Converter:
    def __init__(self, definitions: dict[str, Schema]) -> None:
        self._definitions = definitions

    def convert(self, node: Schema, where: str, in_list: bool = False) -> Schema:
        """Convert one node; `in_list` is true inside the items of a list, at any depth."""
        node = self._resolve(node, where)
        converted: Schema = {}
        for key, value in node.items():
            if key == "description":
                converted[key] = prose(value)
            elif key in _PASSED:
                converted[key] = value
            elif key == "title":
                continue
            elif key == "const":
                converted["enum"] = [value]
            elif key == "format":
                if value not in _FORMATS:
                    raise SchemaError(f"{where}: format {value!r} is not one the API server knows")
                converted[key] = value
            elif key in ("exclusiveMinimum", "exclusiveMaximum"):
                bound = "minimum" if key == "exclusiveMinimum" else "maximum"
                converted[bound] = value
                converted[key] = True
            elif key == "anyOf":
                converted[key] = value  # int-or-string, checked below
            elif key == "default":
                if value is not None:
                    converted[key] = _without_nulls(value)
            elif key == "items":
                converted[key] = self.convert(value, f"{where}[]", in_list=True)
            elif key == "properties":
                converted[key] = {
                    name: self._property(child, f"{where}.{name}", in_list)
                    for name, child in value.items()
                }
            elif key == "additionalProperties":
                if value is True:
                    converted["x-kubernetes-preserve-unknown-fields"] = True
                elif value is not False:
                    converted[key] = self.convert(value, f"{where}.*", in_list)
            else:
                raise SchemaError(f"{where}: no structural equivalent for {key!r}")
        _check_bounded(converted, where)
        return _default_in_words(converted) if in_list else converted

    def _property(self, node: Schema, where: str, in_list: bool) -> Schema:
        converted = self.convert(node, where, in_list)
        if not converted.get("description"):
            raise SchemaError(f"{where}: every field needs a description (a docstring)")
        return converted

    def _resolve(self, node: Schema, where: str) -> Schema:
        """Inline `$ref`s and unwrap `X | None`, keeping the field's own keywords on top."""
        if "$ref" in node:
            rest = {key: value for key, value in node.items() if key != "$ref"}
            target = self._definitions[node["$ref"].rsplit("/", 1)[-1]]
            return self._resolve(_overlay(target, rest), where)
        if "anyOf" in node and not node.get("x-kubernetes-int-or-string"):
            rest = {key: value for key, value in node.items() if key != "anyOf"}
            variants = [variant for variant in node["anyOf"] if variant != _NULL]
            if len(variants) != 1:
                raise SchemaError(f"{where}: a union other than `X | None` is not structural")
            return self._resolve(_overlay(variants[0], rest), where)
        if "type" not in node and not (
            node.get("x-kubernetes-int-or-string")
            or node.get("x-kubernetes-preserve-unknown-fields")
            or node.get("additionalProperties") is True
        ):
            raise SchemaError(f"{where}: a structural schema needs a type")
        return node


def _overlay(base: Schema, top: Schema) -> Schema:
    """`top`'s keywords win, except that validation rules from both apply."""
    merged = {**base, **top}
    rules = base.get("x-kubernetes-validations", []) + top.get("x-kubernetes-validations", [])
    if rules:
        merged["x-kubernetes-validations"] = rules
    return merged


def _default_in_words(node: Schema) -> Schema:
    """Inside list items a default moves from the schema into the description.

    A CRD merges a list as a whole under client-side `kubectl apply`, so a default the
    API server fills into a list item makes every apply of an unchanged manifest send
    the list again ("configured"). The operator's models apply the same default when
    they parse the object, so nothing is lost.
    """
    if "default" not in node:
        return node
    moved = {key: value for key, value in node.items() if key != "default"}
    moved["description"] = f"{node['description']} Defaults to {json.dumps(node['default'])}."
    return moved


def _check_bounded(node: Schema, where: str) -> None:
    """Strings, lists and maps carry an upper bound, so CEL rules over them have a bound cost."""
    kind = node.get("type")
    if kind == "string" and not ({"enum", "format", "maxLength"} & node.keys()):
        raise SchemaError(f"{where}: a string needs max_length, an enum or a format")
    if kind == "array" and "maxItems" not in node:
        raise SchemaError(f"{where}: a list needs max_length")
    if "additionalProperties" in node and "maxProperties" not in node:
        raise SchemaError(f"{where}: a map needs max_length")


def _without_nulls(value: Any) -> Any:
    """pydantic writes the unset fields of a default object as null; the API server omits them."""
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    return value
