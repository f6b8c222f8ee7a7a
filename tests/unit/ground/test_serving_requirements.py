"""serving_image/requirements.txt pins all of `modelkeeper[serve]`.

The image installs exactly these pins (`pip install --no-deps`), then the project from
what is installed: a requirement left out fails the image build minutes in (httptools
did), so it is checked here, offline. Each direct requirement of the project and its
`serve` extra must be pinned to a version its specifier allows; from there the check
walks the closure with the metadata of the installed distributions, wherever the
installed version is the pinned one (that metadata is then exactly the pin's).
"""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[3]
REQUIREMENTS = REPO / "serving_image" / "requirements.txt"
EXTRA = "serve"


def parse_pins(text: str) -> dict[NormalizedName, Version]:
    """`name==version` lines (comments and blanks skipped); anything else is an error."""
    pins: dict[NormalizedName, Version] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        operators = [spec.operator for spec in requirement.specifier]
        if operators != ["=="]:
            raise ValueError(f"line {number}: {line!r} is not pinned with a single ==")
        name = canonicalize_name(requirement.name)
        if name in pins:
            raise ValueError(f"line {number}: {requirement.name} is pinned twice")
        pins[name] = Version(next(iter(requirement.specifier)).version)
    return pins


def direct_requirements() -> list[Requirement]:
    """pyproject.toml's dependencies plus its `serve` extra."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    texts = [*project["dependencies"], *project["optional-dependencies"][EXTRA]]
    return [Requirement(text) for text in texts]


def applies(requirement: Requirement, extras: frozenset[str]) -> bool:
    """Whether a requirement holds on this platform for a distribution asked with `extras`."""
    if requirement.marker is None:
        return True
    # evaluate() fills in this interpreter's environment (Linux, CPython 3.11, like the image).
    return any(requirement.marker.evaluate({"extra": extra}) for extra in {"", *extras})


def installed_requirements(name: str, version: Version) -> list[Requirement] | None:
    """The installed distribution's requirements if it is exactly `version`, else None."""
    try:
        distribution = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None
    if Version(distribution.version) != version:
        return None
    return [Requirement(text) for text in distribution.requires or []]


def unsatisfied(pins: dict[NormalizedName, Version]) -> list[str]:
    """Every requirement of modelkeeper[serve]'s closure that the pins miss or contradict."""
    problems: list[str] = []
    queue = [(requirement, "modelkeeper[serve]") for requirement in direct_requirements()]
    queue = [(r, by) for r, by in queue if applies(r, frozenset({EXTRA}))]
    seen: set[tuple[NormalizedName, frozenset[str]]] = set()
    while queue:
        requirement, wanted_by = queue.pop(0)
        name = canonicalize_name(requirement.name)
        pinned = pins.get(name)
        if pinned is None:
            problems.append(f"{requirement} (needed by {wanted_by}) is not pinned")
            continue
        if not requirement.specifier.contains(pinned, prereleases=True):
            problems.append(f"{requirement} (needed by {wanted_by}) is pinned to {pinned}")
            continue
        extras = frozenset(requirement.extras)
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        for child in installed_requirements(name, pinned) or []:
            if applies(child, extras):
                queue.append((child, f"{name}=={pinned}"))
    return problems


def test_requirements_pin_the_whole_serve_extra() -> None:
    problems = unsatisfied(parse_pins(REQUIREMENTS.read_text()))
    assert not problems, f"{REQUIREMENTS.relative_to(REPO)}:\n" + "\n".join(problems)


@pytest.mark.parametrize("dropped", ["httptools", "aiohttp", "numpy"])
def test_a_missing_pin_is_named(dropped: str) -> None:
    """The check itself: without one direct requirement's pin, that requirement is named."""
    text = "\n".join(
        line
        for line in REQUIREMENTS.read_text().splitlines()
        if not line.lower().startswith(f"{dropped}==")
    )
    problems = unsatisfied(parse_pins(text))
    assert any(problem.startswith(dropped) and "not pinned" in problem for problem in problems)


def test_a_pin_outside_the_specifier_is_named() -> None:
    pins = parse_pins(REQUIREMENTS.read_text())
    pins[canonicalize_name("pydantic")] = Version("1.10.0")
    assert any(
        problem.startswith("pydantic<3,>=2.7") or problem.startswith("pydantic>=2.7")
        for problem in unsatisfied(pins)
    )


def test_pins_must_be_exact() -> None:
    with pytest.raises(ValueError, match="not pinned"):
        parse_pins("numpy>=2\n")
