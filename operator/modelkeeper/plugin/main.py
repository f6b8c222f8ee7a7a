"""The command line of `kubectl modelkeeper`: one parser, to which each command module adds its own.

kubectl finds any `kubectl-modelkeeper` executable on PATH; the package installs `main`
as that console script. Commands register like those of `modelkeeper`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from modelkeeper.commandline import Register, build_parser, dispatch
from modelkeeper.plugin.cluster import add_cluster_arguments
from modelkeeper.plugin.controls import register as register_controls
from modelkeeper.plugin.inspect import register as register_inspect
from modelkeeper.plugin.status import register as register_status

# Modules that contribute plugin commands, in the order `--help` lists them.
COMMANDS: tuple[Register, ...] = (register_status, register_controls, register_inspect)


def build_plugin_parser() -> argparse.ArgumentParser:
    """The plugin's parser; the cluster flags may come before the subcommand, as in kubectl."""
    parser = build_parser(
        "kubectl-modelkeeper",
        "Inspect and steer Modelkeeper models, deployments and retraining.",
        COMMANDS,
    )
    add_cluster_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return dispatch(build_plugin_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
