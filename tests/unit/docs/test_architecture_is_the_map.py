"""docs/architecture.md is the map of the package: every module on it, the layers as enforced.

The layer diagram is read from the doc and compared with the `layers` contract that
`lint-imports` enforces (pyproject.toml), and every module of `modelkeeper` must be
named in the doc by its path, so a module added, moved or removed shows up here.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "operator" / "modelkeeper"
DOC = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")


def contract_layers() -> list[set[str]]:
    """The `layers` contract's layers, each as the set of its modules without the root."""
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    [contract] = [c for c in settings["tool"]["importlinter"]["contracts"] if c["type"] == "layers"]
    return [
        {name.strip().removeprefix("modelkeeper.") for name in re.split(r"[|:]", layer)}
        for layer in contract["layers"]
    ]


def doc_layers() -> list[set[str]]:
    """The layers of the doc's diagram: the lines of its first code block that name a layer
    (`<layer>:  a/  b.py  ...`), each as the set of packages and modules it lists."""
    block = DOC.split("```", 2)[1]
    layers = []
    for line in block.splitlines():
        if ":" not in line:
            continue
        names = re.findall(r"([a-z_]+)(?:/|\.py)", line.split(":", 1)[1])
        layers.append(set(names))
    return layers


def test_the_doc_draws_the_layers_the_contract_enforces() -> None:
    assert doc_layers() == contract_layers()


def test_every_module_of_the_package_is_on_the_map() -> None:
    modules = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name != "__init__.py" and "__pycache__" not in path.parts
    )
    missing = [module for module in modules if module not in DOC]
    assert not missing, f"docs/architecture.md does not name {missing}"


def test_every_module_the_doc_names_exists() -> None:
    named = set(re.findall(r"`((?:[a-z_]+/)*[a-z_]+\.py)`", DOC))
    outside = ("tests/", "benchmarks/", "tools/")
    gone = sorted(
        name for name in named if not name.startswith(outside) and not (PACKAGE / name).exists()
    )
    assert not gone, f"docs/architecture.md names modules that do not exist: {gone}"
