"""`kubectl modelkeeper history|versions`: what a family's retraining and versions look like.

Both commands only read: `history` gets one RetrainPolicy, `versions` lists the Models of a
family by the field selector spec.name (the Model CRD declares it selectable, so the API
server filters). `modelkeeper.plugin.views` decides what is printed; this module fetches.
"""

from __future__ import annotations

import argparse
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
from modelkeeper.plugin.terminal import add_output_argument, output_format, stdout_terminal
from modelkeeper.plugin.views import show_history, show_versions


def history_command(args: argparse.Namespace) -> int:
    async def history(client: KubeClient, namespace: str) -> str:
        obj = await client.get(RETRAIN_POLICY, namespace, args.name)
        if obj is None:
            raise not_found(RETRAIN_POLICY, args.name, namespace)
        policy = parse(RetrainPolicyResource, obj)
        return show_history(policy, output_format(args), datetime.now(UTC), stdout_terminal())

    return run_command(args, history)


def versions_command(args: argparse.Namespace) -> int:
    async def versions(client: KubeClient, namespace: str) -> str:
        found = await client.list(MODEL, namespace, field_selector=f"spec.name={args.family}")
        models = [parse(ModelResource, obj) for obj in found]
        return show_versions(
            args.family,
            namespace,
            models,
            output_format(args),
            datetime.now(UTC),
            stdout_terminal(),
        )

    return run_command(args, versions)


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
        add_output_argument(parser)
        parser.set_defaults(handler=handler)
