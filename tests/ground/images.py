"""The node agent's image table: which local command each known image stands for.

There is no container engine on the test machines, so an image is a name for a
program already installed here. An image maps to an entrypoint and a default
command (like ENTRYPOINT and CMD), plus environment the agent fills in for each
pod (`{pod_ip}` becomes the pod's own loopback address, which the program must bind).
Any image not listed fails its pod with ErrImagePull, as an unpullable image would.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

_PYTHON = sys.executable
_VENV_BIN = Path(_PYTHON).parent
_MODELKEEPER = str(_VENV_BIN / "modelkeeper")

# Where the images' programs live: the repository (its venv, the test model image) and the
# Python installation. A pod's volume mounted over one of them (an emptyDir at /tmp, when
# the repository is under /tmp) must not hide it from the pod.
IMAGE_ROOTS = (Path(__file__).resolve().parents[2], Path(sys.prefix), Path(sys.base_prefix))

# The model directory "inside" the test model image: a test writes a model there first.
TEST_MODEL_IMAGE_DIR = Path(__file__).resolve().parents[2] / ".ground" / "test-model-image"


@dataclass(frozen=True)
class Image:
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)


IMAGES: dict[str, Image] = {
    "ghcr.io/modelkeeper/testbox": Image(
        entrypoint=(_PYTHON, "-m", "tests.ground.testbox"),
        cmd=("http",),
        env={"TESTBOX_HOST": "{pod_ip}"},
    ),
    # The one Modelkeeper image (operator, scoring server, router); pods set
    # MODELKEEPER_HOST from status.podIP themselves, as on a real cluster.
    "ghcr.io/modelkeeper/modelkeeper": Image(entrypoint=(_MODELKEEPER,), cmd=("serve",)),
    # A model image built FROM it, with its model directory baked in.
    "ghcr.io/modelkeeper/test-model": Image(
        entrypoint=(_MODELKEEPER,),
        cmd=("serve",),
        env={"MODELKEEPER_MODEL_DIR": str(TEST_MODEL_IMAGE_DIR)},
    ),
}


def repository(image: str) -> str:
    """The image name without its tag or digest: `a/b:1` and `a/b@sha256:..` are `a/b`."""
    name = image.split("@", 1)[0]
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > last_slash else name


def resolve(image: str) -> Image | None:
    return IMAGES.get(repository(image))


def command_line(image: Image, command: list[str] | None, args: list[str] | None) -> list[str]:
    """Kubernetes' rule: `command` replaces the entrypoint, `args` replace the default command."""
    if command:
        return [*command, *(args or [])]
    return [*image.entrypoint, *(args if args is not None else image.cmd)]
