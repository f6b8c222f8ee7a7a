"""`kubectl modelkeeper history|versions|audit`: a family's retraining, versions and record.

The commands only read: `history` gets one RetrainPolicy, `versions` lists the Models of a
family by the field selector spec.name (the Model CRD declares it selectable, so the API
server filters), `audit` also lists the family's RetrainPolicies and Deployments (by
spec.model.name) and the namespace's Events about Models. `modelkeeper.plugin.views`,
`plugin.audit` and `plugin.modelcard` decide what is printed; this module fetches.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from modelkeeper.api.deployment import DeploymentResource
from modelkeeper.api.model import ModelResource
from modelkeeper.api.retrainpolicy import RetrainPolicyResource
from modelkeeper.kube.client import DEPLOYMENT, EVENT, MODEL, RETRAIN_POLICY, KubeClient
from modelkeeper.plugin.audit import audit_record
from modelkeeper.plugin.cluster import (
    add_subcommand_cluster_arguments,
    not_found,
    parse,
    run_command,
)
from modelkeeper.plugin.modelcard import AuditFormat, show_audit
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


def audit_command(args: argparse.Namespace) -> int:
    async def audit(client: KubeClient, namespace: str) -> str:
        family = f"spec.name={args.family}"
        served = f"spec.model.name={args.family}"
        record = audit_record(
            args.family,
            namespace,
            [
                parse(ModelResource, obj)
                for obj in await client.list(MODEL, namespace, field_selector=family)
            ],
            [
                parse(RetrainPolicyResource, obj)
                for obj in await client.list(RETRAIN_POLICY, namespace, field_selector=served)
            ],
            [
                parse(DeploymentResource, obj)
                for obj in await client.list(DEPLOYMENT, namespace, field_selector=served)
            ],
            await client.list(EVENT, namespace, field_selector="involvedObject.kind=Model"),
            datetime.now(UTC).replace(microsecond=0),
        )
        output = None if args.output is None else AuditFormat(args.output)
        return show_audit(record, output, stdout_terminal())

    return run_command(args, audit)


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
    parser = subparsers.add_parser(
        "audit",
        help="the audit record of a model family",
        description="Per version: lineage (data, code image, parameters), metrics, gate and "
        "fairness verdicts, approvals, the trigger and its evidence, rollouts and Events; "
        "as a table, as data (-o json|yaml) or as a Markdown model card (-o markdown).",
    )
    parser.add_argument("family", metavar="FAMILY", help="the model family (spec.name)")
    add_subcommand_cluster_arguments(parser)
    parser.add_argument(
        "-o",
        "--output",
        choices=[output.value for output in AuditFormat],
        help="print the record as data or as a Markdown model card instead of a table",
    )
    parser.set_defaults(handler=audit_command)
