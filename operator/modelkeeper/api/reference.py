"""Render docs/api.md, the field-by-field reference, from the generated CRDs.

The reference is read from the CRDs themselves, not from the models, so it says
exactly what the API server enforces: every field's type, default, bounds, pattern
and CEL rules, beside its description. It also lists the manual-control annotations.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from modelkeeper.api.annotations import CONTROLS
from modelkeeper.api.base import API_VERSION
from modelkeeper.api.crd import KindDefinition
from modelkeeper.api.openapi import Schema
from modelkeeper.api.types import (
    DNS_LABEL_PATTERN,
    DURATION_PATTERN,
    LABEL_VALUE_PATTERN,
    SHA256_PATTERN,
)

# Patterns that read better by name than as a regular expression.
_PATTERN_NAMES = {
    DNS_LABEL_PATTERN: "A DNS-1123 label: lowercase letters, digits and '-', at most 63.",
    LABEL_VALUE_PATTERN: "A label value: letters, digits, '-', '_' and '.', at most 63.",
    SHA256_PATTERN: "64 lowercase hexadecimal digits.",
    DURATION_PATTERN: "Such as `250ms`, `30s`, `5m`, `1h30m`.",
}

INTRO = f"""\
# API reference: {API_VERSION}

Generated from `crds/` by `python -m modelkeeper.crdgen`: do not edit. For the
ideas behind these fields (the life of a model, who writes which field, the manual
controls) read [concepts.md](concepts.md). `kubectl explain` shows the same
descriptions, for example
`kubectl explain deployments.spec.strategy --api-version={API_VERSION}`.

All five kinds are namespaced, have a status subresource and belong to the category
`modelkeeper`, so `kubectl get modelkeeper` lists them all. The Deployment here is
`deployments.modelkeeper.io`; plain `kubectl get deployments` means apps/v1, so use
the full name or the short name `mkd`.
"""


def render_reference(crds: Mapping[KindDefinition, Mapping[str, Any]]) -> str:
    """The whole of docs/api.md."""
    sections = [INTRO, _contents(crds)]
    sections += [_kind(definition, crd) for definition, crd in crds.items()]
    sections.append(_controls())
    return "\n".join(sections)


def _contents(crds: Mapping[KindDefinition, Mapping[str, Any]]) -> str:
    links = " · ".join(f"[{d.kind}](#{d.kind.lower()})" for d in crds)
    return f"Kinds: {links} · [Annotations](#annotations)\n"


def _kind(definition: KindDefinition, crd: Mapping[str, Any]) -> str:
    version = crd["spec"]["versions"][0]
    root = version["schema"]["openAPIV3Schema"]
    columns = ", ".join(column["name"] for column in version["additionalPrinterColumns"])
    selectors = ", ".join(f"`{field['jsonPath'][1:]}`" for field in version["selectableFields"])
    lines = [
        f"## {definition.kind}",
        "",
        root["description"],
        "",
        "| | |",
        "|---|---|",
        f"| CRD | `{definition.name}` |",
        f"| Short names | {', '.join(f'`{name}`' for name in definition.short_names)} |",
        f"| `kubectl get` columns | {columns} |",
        f"| Field selectors | {selectors or 'none'} |",
        "",
    ]
    for part in ("spec", "status"):
        schema = root["properties"][part]
        lines += [
            f"### {definition.kind} {part}",
            "",
            schema["description"],
            "",
            *_rules(schema, part),
            "| Field | Type | Default | Description |",
            "|---|---|---|---|",
            *_rows(schema, part),
            "",
        ]
    return "\n".join(lines)


def _rows(schema: Schema, path: str) -> Iterator[str]:
    """One table row per field below `schema`, depth first, in name order."""
    required = set(schema.get("required", ()))
    for name, child in sorted(schema.get("properties", {}).items()):
        field = f"{path}.{name}"
        notes = [_cell(child["description"])]
        if name in required:
            notes.append("**Required.**")
        notes += _constraints(child)
        notes += [f"Rule: {_cell(found['message'])}." for found in _own_rules(child)]
        default = f"`{_inline(child['default'])}`" if "default" in child else ""
        yield f"| `{field}` | {_type(child)} | {default} | {' '.join(notes)} |"
        nested = child.get("items", child)
        if "items" in child:
            nested_path = f"{field}[]"
            yield from _item_rules(nested, nested_path)
        else:
            nested_path = field
        yield from _rows(nested, nested_path)


def _item_rules(items: Schema, path: str) -> Iterator[str]:
    """Rules on each item of a list get a row of their own, as they have no field row."""
    for found in items.get("x-kubernetes-validations", []):
        yield f"| `{path}` | | | Rule on each item: {_cell(found['message'])}. |"


def _rules(schema: Schema, path: str) -> list[str]:
    rules = [f"- Rule on `{path}`: {found['message']}." for found in _own_rules(schema)]
    return [*rules, ""] if rules else []


def _own_rules(schema: Schema) -> list[dict[str, str]]:
    rules: list[dict[str, str]] = schema.get("x-kubernetes-validations", [])
    return rules


def _type(schema: Schema) -> str:
    if schema.get("x-kubernetes-int-or-string"):
        return "int or string"
    if schema.get("x-kubernetes-embedded-resource"):
        return "object (a Kubernetes object)"
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return "object (any fields)"
    kind: str = schema["type"]
    if kind == "array":
        return f"[]{_type(schema['items'])}"
    if kind == "object" and "additionalProperties" in schema:
        return f"map[string]{_type(schema['additionalProperties'])}"
    if schema.get("pattern") == DURATION_PATTERN:
        return "duration"
    if "format" in schema:
        return f"string ({schema['format']})"
    return kind


def _constraints(schema: Schema) -> Iterator[str]:
    if "enum" in schema:
        yield "One of " + ", ".join(f"`{value}`" for value in schema["enum"]) + "."
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None and high is not None:
        yield f"From {low} to {high}{_excluded(schema, low, high)}."
    elif low is not None:
        yield f"{'Above' if schema.get('exclusiveMinimum') else 'At least'} {low}."
    elif high is not None:
        yield f"{'Below' if schema.get('exclusiveMaximum') else 'At most'} {high}."
    for low, high, unit in (
        ("minLength", "maxLength", "characters"),
        ("minItems", "maxItems", "items"),
    ):
        if high in schema and schema.get("pattern") not in _PATTERN_NAMES:
            least = f"{schema[low]} to " if low in schema else "at most "
            yield f"{least}{schema[high]} {unit}.".capitalize()
    if "maxProperties" in schema:
        yield f"At most {schema['maxProperties']} entries."
    if "pattern" in schema:
        pattern = schema["pattern"]
        yield _PATTERN_NAMES.get(pattern, f"Pattern `{_cell(pattern)}`.")
    list_type = schema.get("x-kubernetes-list-type")
    if list_type == "map":
        keys = ", ".join(schema["x-kubernetes-list-map-keys"])
        yield f"Unique by {keys}."
    elif list_type == "set":
        yield "Unique items."


def _excluded(schema: Schema, low: object, high: object) -> str:
    ends = [
        str(end)
        for end, keyword in ((low, "exclusiveMinimum"), (high, "exclusiveMaximum"))
        if schema.get(keyword)
    ]
    return f", {' and '.join(ends)} excluded" if ends else ""


def _controls() -> str:
    lines = [
        "## Annotations",
        "",
        "Manual controls are annotations, never spec fields, so that a GitOps re-sync of the",
        "manifest neither undoes nor repeats them. The kubectl plugin writes them.",
        "",
        "| Annotation | On | Value | Effect |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| `{control.annotation}` | {control.kind} | {control.value} | {control.effect} |"
        for control in CONTROLS
    ]
    return "\n".join(lines) + "\n"


def _inline(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {_inline(item)}" for key, item in value.items()) + "}"
    if isinstance(value, str) and value == "":
        return '""'
    return str(value)


def _cell(text: str) -> str:
    """Text that keeps a Markdown table cell whole."""
    escaped = text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
    return " ".join(escaped.split())
