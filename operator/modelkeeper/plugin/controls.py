"""`kubectl modelkeeper promote|abort|pause|resume|retry|withdraw|approve|retrain`: manual controls.

Each command reads its object, lets `modelkeeper.plugin.plans` decide the annotations, and sends
them as a JSON merge patch of metadata.annotations (never spec, never status) under the field
manager "kubectl-modelkeeper". An annotation the user's manifest does not mention survives
`kubectl apply` and a GitOps re-sync. Every failure is one line on stderr and exit code 1,
and nothing is written then.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from modelkeeper.api.deployment import DeploymentResource
from modelkeeper.api.model import ModelResource
from modelkeeper.api.retrainpolicy import RetrainPolicyResource
from modelkeeper.kube.client import (
    DEPLOYMENT,
    MODEL,
    RETRAIN_POLICY,
    JsonObject,
    Kind,
    KubeClient,
)
from modelkeeper.plugin.cluster import (
    PluginError,
    add_subcommand_cluster_arguments,
    not_found,
    parse,
    run_command,
)
from modelkeeper.plugin.plans import (
    DeploymentControl,
    Plan,
    plan_approval,
    plan_deployment,
    plan_retrain,
)

FIELD_MANAGER = "kubectl-modelkeeper"

# What a command writes, decided from the object as read; the client serves approve's whoami.
Decide = Callable[[KubeClient, JsonObject], Awaitable[Plan]]


def deployment_command(args: argparse.Namespace) -> int:
    """promote, abort, pause, resume and retry: `args.control` says which."""

    async def decide(client: KubeClient, obj: JsonObject) -> Plan:
        deployment = parse(DeploymentResource, obj)
        return plan_deployment(args.control, deployment, datetime.now(UTC))

    return run(args, DEPLOYMENT, decide)


def approve_command(args: argparse.Namespace) -> int:
    """approve: in the name given by --by, else the caller's own user name."""

    async def decide(client: KubeClient, obj: JsonObject) -> Plan:
        model = parse(ModelResource, obj)
        approver = args.by if args.by is not None else await client.whoami()
        if approver is None:
            raise PluginError(
                "the API server cannot say who you are (no SelfSubjectReview); pass --by"
            )
        return plan_approval(model, approver)

    return run(args, MODEL, decide)


def retrain_command(args: argparse.Namespace) -> int:
    """retrain: a new manual request on a RetrainPolicy."""

    async def decide(client: KubeClient, obj: JsonObject) -> Plan:
        return plan_retrain(parse(RetrainPolicyResource, obj), datetime.now(UTC))

    return run(args, RETRAIN_POLICY, decide)


def run(args: argparse.Namespace, kind: Kind, decide: Decide) -> int:
    """Read, decide, patch, and print the plan's line (or with -o json the annotations)."""

    async def control(client: KubeClient, namespace: str) -> str:
        obj = await client.get(kind, namespace, args.name)
        if obj is None:
            raise not_found(kind, args.name, namespace)
        plan = await decide(client, obj)
        patched = await client.merge_patch(
            kind, namespace, args.name, plan.merge_patch(), FIELD_MANAGER
        )
        if patched is None:
            raise not_found(kind, args.name, namespace)
        if args.output == "json":
            annotations = patched["metadata"].get("annotations", {})
            return json.dumps(annotations, indent=2, sort_keys=True)
        return plan.message

    return run_command(args, control)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    promote = _add_deployment_control(
        subparsers,
        "promote",
        DeploymentControl.PROMOTE_STEP,
        "end the candidate's current step, or with --full promote it to all traffic",
        "modelkeeper.io/promote-step: a new request id, or with --full "
        "modelkeeper.io/promote: the candidate's version.",
    )
    promote.add_argument(
        "--full",
        dest="control",
        action="store_const",
        const=DeploymentControl.PROMOTE,
        default=DeploymentControl.PROMOTE_STEP,
        help="skip the remaining steps, pauses and analysis",
    )
    for control, summary, writes in (
        (
            DeploymentControl.ABORT,
            "roll the candidate back and keep it out",
            "modelkeeper.io/abort: the candidate's version.",
        ),
        (DeploymentControl.PAUSE, "hold the rollout where it is", 'modelkeeper.io/paused: "true".'),
        (DeploymentControl.RESUME, "go on with a paused rollout", "removes modelkeeper.io/paused."),
        (
            DeploymentControl.RETRY,
            "roll out again a version that was rolled back or aborted",
            "modelkeeper.io/retry: a new request id, and removes modelkeeper.io/abort and "
            "modelkeeper.io/withdraw.",
        ),
        (
            DeploymentControl.WITHDRAW,
            "withdraw the candidate (or the version an abort or rollback kept out) for good "
            "and stay Healthy on the stable version",
            "modelkeeper.io/withdraw: that version.",
        ),
    ):
        _add_deployment_control(subparsers, control.value, control, summary, writes)
    approve = _add(
        subparsers,
        "approve",
        "approve a Model version",
        "Writes modelkeeper.io/approved-by on the Model; the operator records when.",
        metavar="MODEL",
        target="the Model (one version of a family)",
        handler=approve_command,
    )
    approve.add_argument("--by", metavar="WHO", help="who approves (default: your user name)")
    _add(
        subparsers,
        "retrain",
        "start a retraining run of a RetrainPolicy now",
        "Writes modelkeeper.io/retrain: a new request id; the operator starts one run per id, "
        "past cooldown but within maxConcurrentRuns.",
        metavar="POLICY",
        target="the RetrainPolicy",
        handler=retrain_command,
    )


def _add(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    command: str,
    summary: str,
    description: str,
    *,
    metavar: str,
    target: str,
    handler: Callable[[argparse.Namespace], int],
) -> argparse.ArgumentParser:
    """A control's parser: the object's name, the cluster flags and -o json."""
    parser = subparsers.add_parser(command, help=summary, description=description)
    parser.add_argument("name", metavar=metavar, help=target)
    add_subcommand_cluster_arguments(parser)
    parser.add_argument(
        "-o", "--output", choices=("json",), help="json: print the object's annotations as JSON"
    )
    parser.set_defaults(handler=handler)
    return parser


def _add_deployment_control(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    command: str,
    control: DeploymentControl,
    summary: str,
    writes: str,
) -> argparse.ArgumentParser:
    """A Deployment control's parser, set to `control`."""
    parser = _add(
        subparsers,
        command,
        summary,
        f"{summary[0].upper()}{summary[1:]}. Writes {writes}",
        metavar="DEPLOYMENT",
        target="the Deployment (modelkeeper.io)",
        handler=deployment_command,
    )
    parser.set_defaults(control=control)
    return parser
