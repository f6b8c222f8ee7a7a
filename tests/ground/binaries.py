"""Where the ground's programs come from: Kubernetes, Prometheus and helm built from
their Go modules and cached by version, etcd from Debian's packages, the Gateway API CRDs
from their Go module; all installed by `make deps` (tests/ground/tools/install-deps.sh).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.ground.processes import GroundError

TOOLS = Path(__file__).resolve().parent / "tools"


def cache_dir() -> Path:
    """The machine-wide build cache, shared by every clone: MODELKEEPER_CACHE or ~/.cache."""
    return Path(os.environ.get("MODELKEEPER_CACHE", Path.home() / ".cache" / "modelkeeper"))


def kube_binaries() -> Path:
    """The folder with kube-apiserver, kube-controller-manager, kube-scheduler and kubectl.

    Compiles them on the first call on a machine (tens of minutes), then reuses the cache.
    """
    result = subprocess.run(
        [str(TOOLS / "build-kube.sh"), str(cache_dir())],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise GroundError(f"building Kubernetes failed:\n{result.stderr.strip()}")
    return Path(result.stdout.strip().splitlines()[-1])


def require(program: str) -> str:
    """The path of an installed program, or an error that says how to install it."""
    path = shutil.which(program)
    if path is None:
        raise GroundError(
            f"{program} is not installed: run `make deps` "
            f"(tests/ground/tools/install-deps.sh installs the ground's packages)"
        )
    return path


def _pinned(name: str, variable: str) -> Path:
    """Where `make deps` caches `name` at the version versions.env pins as `variable`."""
    versions = dict(
        line.split("=", 1)
        for line in (TOOLS / "versions.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    return cache_dir() / name / versions[variable]


def go_tool(name: str, version_of: str | None = None) -> Path:
    """A tool that `make deps` built from its Go module, at the version versions.env pins
    for it (or for the module it comes from: promtool is Prometheus')."""
    path = _pinned(name, f"{(version_of or name).upper()}_VERSION") / name
    if not path.exists():
        raise GroundError(f"{path} is missing: run `make deps` to build {name}")
    return path


def gateway_api_crds() -> Path:
    """The folder of the Gateway API CRDs (standard channel) that `make deps` fetched."""
    path = _pinned("gateway-api", "GATEWAY_API_VERSION")
    if not path.is_dir():
        raise GroundError(f"{path} is missing: run `make deps` to fetch the Gateway API CRDs")
    return path
