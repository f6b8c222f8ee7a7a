"""The `modelkeeper` command: one entry point for the operator and data-scientist tools.

Each subcommand lives in its own module, which exposes `register(subparsers)`:
it adds its parser and sets `handler` (a function of the parsed arguments that
returns an exit code). This module only assembles them, so adding a command is
one line in `COMMANDS`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from modelkeeper import __version__
from modelkeeper import profile_cli as profile_command
from modelkeeper.api import crdgen as crdgen_command
from modelkeeper.controller import command as run_command
from modelkeeper.examples import trainer as train_example_command
from modelkeeper.router import command as route_command
from modelkeeper.serving import cli as serve_command

Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]

# Modules that contribute subcommands, in the order `--help` lists them.
COMMANDS: tuple[Register, ...] = (
    run_command.register,
    route_command.register,
    serve_command.register,
    profile_command.register,
    crdgen_command.register,
    train_example_command.register,
)


def build_parser(
    prog: str, description: str, commands: Sequence[Register]
) -> argparse.ArgumentParser:
    """A parser with `--version` and one subparser per registered command."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--version", action="version", version=f"{prog} {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in commands:
        register(subparsers)
    return parser


def dispatch(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    """Parse `argv` and run the chosen command; with none, print help and return 2."""
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    return handler(args)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(
        "modelkeeper", "Run a machine-learning model's production life on Kubernetes.", COMMANDS
    )
    return dispatch(parser, argv)


if __name__ == "__main__":
    sys.exit(main())
