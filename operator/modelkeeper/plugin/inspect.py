"""`kubectl modelkeeper history|versions`: what a family's retraining and versions look like.

Both commands only read: `history` gets one RetrainPolicy, `versions` lists the Models of a
family by the field selector spec.name (the Model CRD declares it selectable, so the API
server filters). `modelkeeper.plugin.views` decides what is printed; this module fetches,
and says whether stdout is a terminal (cut to its width, coloured unless NO_COLOR is set).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from datetime import UTC, datetime

from modelkeeper.api.model import ModelResource
from modelkeeper.api.retrainpolicy import RetrainPolicyResource
from modelkeeper.kube.client import MODEL, RETRAIN_POLICY, KubeClient
from modelkeeper.plugin.cluster import (
    add_subcommand_cluster_arguments,
    not_found,
    parse,
    run_command,
)
from modelkeeper.plugin.views import OutputFormat, Terminal, show_history, show_versions


def history_command(args: argparse.Namespace) -> int:
    async def history(client: KubeClient, namespace: str) -> str:
        obj = await client.get(RETRAIN_POLICY, namespace, args.name)
        if obj is None:
            raise not_found(RETRAIN_POLICY, args.name, namespace)
        policy = parse(RetrainPolicyResource, obj)
        return show_history(policy, output_format(args), datetime.now(UTC), terminal())

    return run_command(args, history)


def versions_command(args: argparse.Namespace) -> int:
    async def versions(client: KubeClient, namespace: str) -> str:
        found = await client.list(MODEL, namespace, field_selector=f"spec.name={args.family}")
        models = [parse(ModelResource, obj) for obj in found]
        return show_versions(
            args.family, namespace, models, output_format(args), datetime.now(UTC), terminal()
        )

    return run_command(args, versions)


def output_format(args: argparse.Namespace) -> OutputFormat | None:
    return None if args.output is None else OutputFormat(args.output)


def terminal() -> Terminal | None:
    """stdout's terminal, if it is one; colour unless NO_COLOR asks otherwise (no-color.org)."""
    if not sys.stdout.isatty():
        return None
    return Terminal(shutil.get_terminal_size().columns, colour=not os.environ.get("NO_COLOR"))


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for command, summary, description, (dest, metavar, target), handler in (
        (
            "history",
            "the retraining runs of a RetrainPolicy",
            "The runs going on, then the finished ones, newest first.",
            ("name", "POLICY", "the RetrainPolicy"),
            history_command,
        ),
        (
            "versions",
            "the versions of a model family",
            "The Models whose spec.name is FAMILY, newest first.",
            ("family", "FAMILY", "the model family (spec.name)"),
            versions_command,
        ),
    ):
        parser = subparsers.add_parser(command, help=summary, description=description)
        parser.add_argument(dest, metavar=metavar, help=target)
        add_subcommand_cluster_arguments(parser)
        parser.add_argument(
            "-o",
            "--output",
            choices=[output.value for output in OutputFormat],
            help="print the rows as data instead of a table",
        )
        parser.set_defaults(handler=handler)
