"""Kubernetes label selectors as text (kubectl's `-l`), checked before any is sent.

The API server would refuse a bad selector on every watch; checking it first turns a
typo in `--shard-selector` into one line at startup instead of an operator that waits.
"""

from __future__ import annotations

import re

_NAME = r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_PREFIX = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*"
_KEY = rf"(?:{_PREFIX}/)?{_NAME}"
_VALUE = rf"(?:{_NAME})?"
_SET = rf"\(\s*{_VALUE}(?:\s*,\s*{_VALUE})*\s*\)"
_REQUIREMENT = re.compile(
    rf"!\s*{_KEY}|{_KEY}(?:\s*(?:==|=|!=)\s*{_VALUE}|\s+(?:in|notin)\s*{_SET})?"
)


def requirements(selector: str) -> list[str]:
    """The selector's requirements: split at the commas outside parentheses, stripped."""
    parts, depth, current = [], 0, ""
    for char in selector:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    return [*parts, current.strip()]


def check_selector(selector: str) -> str:
    """The selector, stripped; ValueError naming the first requirement that does not parse."""
    for requirement in requirements(selector):
        if not _REQUIREMENT.fullmatch(requirement):
            raise ValueError(
                f"{requirement!r} is not a label selector requirement (key, !key, key=value, "
                "key!=value, key in (a,b), key notin (a,b))"
            )
    return selector.strip()
