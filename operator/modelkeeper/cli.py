"""The `modelkeeper` command: one entry point for the operator and data-scientist tools.

Each subcommand lives in its own module, which exposes `register(subparsers)`:
it adds its parser and sets `handler` (a function of the parsed arguments that
returns an exit code). This module only assembles them, so adding a command is
one line in `COMMANDS`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from modelkeeper import crdgen as crdgen_command
from modelkeeper import profile_cli as profile_command
from modelkeeper.commandline import Register, build_parser, dispatch
from modelkeeper.controller import command as run_command
from modelkeeper.examples import trainer as train_example_command
from modelkeeper.router import command as route_command
from modelkeeper.serving import cli as serve_command

# Modules that contribute subcommands, in the order `--help` lists them.
COMMANDS: tuple[Register, ...] = (
    run_command.register,
    route_command.register,
    serve_command.register,
    profile_command.register,
    crdgen_command.register,
    train_example_command.register,
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(
        "modelkeeper", "Run a machine-learning model's production life on Kubernetes.", COMMANDS
    )
    return dispatch(parser, argv)


if __name__ == "__main__":
    sys.exit(main())
