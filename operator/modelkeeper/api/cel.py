"""CEL validation rules, written once beside the fields they guard.

The API server evaluates `x-kubernetes-validations` rules on every write, so a
rule written here refuses bad input before the operator sees it. Each rule
carries a message for people and, where one field is to blame, the path of that
field, so the rejection names it. Rules are plain JSON fragments that the types
attach through pydantic's `json_schema_extra`.
"""

from __future__ import annotations

from pydantic import JsonValue

JsonDict = dict[str, JsonValue]


def rule(
    expression: str,
    message: str,
    *,
    field: str | None = None,
    message_expression: str | None = None,
) -> JsonDict:
    """One rule; `field` (such as `.image`) names the field to blame, relative to the rule;
    `message_expression` (CEL) writes a message with the refused value in it."""
    found: JsonDict = {"rule": expression, "message": message}
    if field is not None:
        found["fieldPath"] = field
    if message_expression is not None:
        found["messageExpression"] = message_expression
    return found


def compare_durations(first: str, operator: str, second: str, pattern: str) -> str:
    """A CEL comparison of two duration fields that runs only on well-formed durations.

    The API server evaluates a rule even when a field in it failed its own pattern, and
    `duration()` of such a string is a CEL error that leaks into the message ("type
    conversion error from 'string' to 'google.protobuf.Duration'"). The field's own
    pattern check names it; this rule then holds.
    """
    return (
        f"!self.{first}.matches(r'{pattern}') || !self.{second}.matches(r'{pattern}') || "
        f"duration(self.{first}) {operator} duration(self.{second})"
    )


def validations(*rules: JsonDict) -> JsonDict:
    """The `json_schema_extra` that attaches rules to a type or field."""
    listed: list[JsonValue] = list(rules)
    return {"x-kubernetes-validations": listed}


def exactly_one(*fields: str) -> JsonDict:
    """Exactly one of these optional fields must be set."""
    present = ", ".join(f"has(self.{name})" for name in fields)
    return rule(
        f"[{present}].filter(x, x).size() == 1",
        f"set exactly one of {_either(fields)}",
    )


def required_when(field: str, condition: str, explanation: str) -> JsonDict:
    """`field` must be set exactly when `condition` (a CEL expression on self) holds."""
    return rule(
        f"({condition}) == has(self.{field})",
        f"{field} must be set {explanation}, and only then",
        field=f".{field}",
    )


def immutable(name: str, advice: str) -> JsonDict:
    """A transition rule: the value may never change once set."""
    return rule("self == oldSelf", f"{name} is immutable: {advice}")


def present_forever(field: str, advice: str) -> JsonDict:
    """A transition rule on the parent: an optional field is neither added nor removed."""
    return rule(
        f"has(self.{field}) == has(oldSelf.{field})",
        f"{field} cannot be added or removed: {advice}",
        field=f".{field}",
    )


def _either(fields: tuple[str, ...]) -> str:
    return ", ".join(fields[:-1]) + f" or {fields[-1]}" if len(fields) > 1 else fields[0]
