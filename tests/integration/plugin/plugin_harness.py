"""The kubectl plugin run in this process against the test API server, for the plugin's tests.

`main` runs as kubectl would run the console script, with the test's namespace and kubeconfig;
stdout and stderr come back captured, so a test asserts the exact lines a person would see.
Statuses are written as the operator would, through the status subresource.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelkeeper.plugin.main import main
from tests.ground.ground import Kubectl


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


@dataclass(frozen=True)
class Plugin:
    """The plugin's `main`, in this process, with a kubeconfig and the test's namespace."""

    kubeconfig: Path
    namespace: str
    capsys: pytest.CaptureFixture[str]

    def __call__(self, command: str, *argv: str, kubeconfig: Path | None = None) -> Result:
        """Run `command`; flags in `argv` override the defaults, as the last one given wins."""
        self.capsys.readouterr()
        defaults = ["-n", self.namespace, f"--kubeconfig={kubeconfig or self.kubeconfig}"]
        code = main([command, *defaults, *argv])
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)


def read(kubectl: Kubectl, resource: str) -> dict[str, Any]:
    """The live object, with its managed fields."""
    found: dict[str, Any] = json.loads(
        kubectl("get", resource, "-o", "json", "--show-managed-fields").stdout
    )
    return found


def write_status(kubectl: Kubectl, resource: str, status: dict[str, Any]) -> None:
    """What the operator would write, through the status subresource."""
    kubectl(
        "patch",
        resource,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
    )


def derived_kubeconfig(
    admin: Path,
    path: Path,
    *,
    server: str | None = None,
    token: str | None = None,
    namespace: str | None = None,
) -> Path:
    """The admin kubeconfig with another server, a token user, or a default namespace."""
    config = yaml.safe_load(admin.read_text())
    if server is not None:
        config["clusters"][0]["cluster"]["server"] = server
    if token is not None:
        config["users"][0]["user"] = {"token": token}
    if namespace is not None:
        config["contexts"][0]["context"]["namespace"] = namespace
    path.write_text(yaml.safe_dump(config))
    return path
