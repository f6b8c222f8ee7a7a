"""Assembling a command line from subcommand modules: shared by `modelkeeper` and the plugin.

Each subcommand module exposes `register(subparsers)`: it adds its parser and sets
`handler` (a function of the parsed arguments that returns an exit code). This module
is light on purpose: the kubectl plugin starts through it without importing the
operator, the scoring server or scikit-learn.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from modelkeeper import __version__

Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


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
