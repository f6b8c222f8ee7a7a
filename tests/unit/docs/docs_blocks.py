"""The manifests the docs show: every fenced block of docs/ and README.md with an apiVersion.

Shared by the unit tier (each modelkeeper.io manifest parses into the typed API) and the
integration tier (each manifest is applied with server-side dry-run against the real API
server). A block that mentions `apiVersion:` at the start of a line is a manifest and must
be YAML; a kind whose API group the test ground does not serve is listed in FOREIGN with
the reason, so a new one fails until someone says how it is checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
SOURCES = (*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
MODELKEEPER = "modelkeeper.io"
FOREIGN = {
    "kustomize.toolkit.fluxcd.io": "Flux's CRDs are not installed on the test ground; the "
    "health expressions it holds are those of docs/gitops.md's table",
}
"""API groups the test ground does not serve, and why their manifests are not applied."""


@dataclass(frozen=True)
class Block:
    """One manifest block: where it is, and its documents."""

    path: Path
    line: int
    documents: tuple[dict[str, Any], ...]

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    def groups(self) -> set[str]:
        return {group_of(document) for document in self.documents}


def group_of(document: dict[str, Any]) -> str:
    """The API group of a manifest ("" for the core group)."""
    api_version = str(document.get("apiVersion", ""))
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def manifest_blocks() -> list[Block]:
    """Every manifest block of the docs, parsed; a block that is not YAML raises."""
    found = []
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            body = match.group(1)
            if not re.search(r"^apiVersion:", body, re.MULTILINE):
                continue
            line = text[: match.start()].count("\n") + 1
            try:
                documents = tuple(doc for doc in yaml.safe_load_all(body) if doc is not None)
            except yaml.YAMLError as error:
                raise AssertionError(
                    f"{path.relative_to(ROOT)}:{line}: not YAML: {error}"
                ) from None
            found.append(Block(path, line, documents))
    return found


BLOCKS = manifest_blocks()
