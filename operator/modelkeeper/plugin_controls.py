"""`kubectl modelkeeper promote|abort|pause|resume|retry|approve`: manual controls at a terminal.

Each command reads its object, lets `modelkeeper.controls` decide the annotations, and sends
them as a JSON merge patch of metadata.annotations (never spec, never status) under the field
manager "kubectl-modelkeeper". An annotation the user's manifest does not mention survives
`kubectl apply` and a GitOps re-sync. Every failure is one line on stderr and exit code 1,
and nothing is written then.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from kubernetes.config import ConfigException
from pydantic import ValidationError

from modelkeeper.api.deployment import DeploymentResource
from modelkeeper.api.model import ModelResource
from modelkeeper.controls import (
    ControlError,
    DeploymentControl,
    Plan,
    plan_approval,
    plan_deployment,
)
from modelkeeper.kube.client import DEPLOYMENT, MODEL, ApiError, JsonObject, Kind, KubeClient
from modelkeeper.kube.connection import Connection, connect

FIELD_MANAGER = "kubectl-modelkeeper"

# What a command writes, decided from the object as read; the client serves approve's whoami.
Decide = Callable[[KubeClient, JsonObject], Awaitable[Plan]]


class PluginError(Exception):
    """Why a control was not applied, in one line for the person at the terminal."""


def deployment_command(args: argparse.Namespace) -> int:
    """promote, abort, pause, resume and retry: `args.control` says which."""

    async def decide(client: KubeClient, obj: JsonObject) -> Plan:
        deployment = DeploymentResource.from_object(obj)
        return plan_deployment(args.control, deployment, datetime.now(UTC))

    return run(args, DEPLOYMENT, decide)


def approve_command(args: argparse.Namespace) -> int:
    """approve: in the name given by --by, else the caller's own user name."""

    async def decide(client: KubeClient, obj: JsonObject) -> Plan:
        model = ModelResource.from_object(obj)
        approver = args.by if args.by is not None else await client.whoami()
        if approver is None:
            raise PluginError(
                "the API server cannot say who you are (no SelfSubjectReview); pass --by"
            )
        return plan_approval(model, approver)

    return run(args, MODEL, decide)


def run(args: argparse.Namespace, kind: Kind, decide: Decide) -> int:
    """Read, decide, patch, print; or print the one-line reason and return 1."""
    if args.kubeconfig and not Path(args.kubeconfig).is_file():
        return _fail(args, f"kubeconfig {args.kubeconfig}: no such file")
    try:
        connection = connect(args.kubeconfig, args.context)
    except (ConfigException, OSError) as error:
        return _fail(args, f"kubeconfig: {error}")
    namespace = args.namespace or connection.namespace
    try:
        plan, patched = asyncio.run(_control(connection, kind, namespace, args.name, decide))
    except PluginError as failure:
        return _fail(args, str(failure))
    if args.output == "json":
        print(json.dumps(patched["metadata"].get("annotations", {}), indent=2, sort_keys=True))
    else:
        print(plan.message)
    return 0


async def _control(
    connection: Connection, kind: Kind, namespace: str, name: str, decide: Decide
) -> tuple[Plan, JsonObject]:
    """The plan and the patched object; every refusal becomes a PluginError."""
    missing = PluginError(f"{kind.kind} {name} not found in namespace {namespace}")
    client = KubeClient(connection)
    try:
        obj = await client.get(kind, namespace, name)
        if obj is None:
            raise missing
        plan = await decide(client, obj)
        patched = await client.merge_patch(kind, namespace, name, plan.merge_patch(), FIELD_MANAGER)
        if patched is None:
            raise missing
        return plan, patched
    except ControlError as error:
        raise PluginError(str(error)) from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(map(str, first["loc"]))
        raise PluginError(
            f"{kind.kind} {name}: {where}: {first['msg']} (is the plugin older than the operator?)"
        ) from None
    except ApiError as error:
        refused = "not allowed" if error.status == 403 else f"refused ({error.status})"
        raise PluginError(f"{refused}: {error.message}") from None
    except (aiohttp.ClientError, TimeoutError) as error:
        reason = str(error) or "no answer in time"
        raise PluginError(
            f"cannot reach the API server at {connection.base_url}: {reason}"
        ) from None
    finally:
        await client.close()


def _fail(args: argparse.Namespace, reason: str) -> int:
    print(f"kubectl modelkeeper {args.command}: {reason}", file=sys.stderr)
    return 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    promote = _add(
        subparsers,
        "promote",
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
            "modelkeeper.io/retry: a new request id, and removes modelkeeper.io/abort.",
        ),
    ):
        _add(subparsers, control, summary, writes).set_defaults(control=control)
    approve = subparsers.add_parser(
        "approve",
        help="approve a Model version",
        description="Writes modelkeeper.io/approved-by on the Model; the operator records when.",
    )
    approve.add_argument("name", metavar="MODEL", help="the Model (one version of a family)")
    approve.add_argument("--by", metavar="WHO", help="who approves (default: your user name)")
    _add_cluster_arguments(approve)
    approve.set_defaults(handler=approve_command)


def _add(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    command: str,
    summary: str,
    writes: str,
) -> argparse.ArgumentParser:
    """A Deployment control's parser."""
    parser = subparsers.add_parser(
        command, help=summary, description=f"{summary[0].upper()}{summary[1:]}. Writes {writes}"
    )
    parser.add_argument("name", metavar="DEPLOYMENT", help="the Deployment (modelkeeper.io)")
    _add_cluster_arguments(parser)
    parser.set_defaults(handler=deployment_command)
    return parser


def _add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-n", "--namespace", help="the object's namespace (default: the context's, else default)"
    )
    parser.add_argument(
        "--kubeconfig", help="the kubeconfig (default: $KUBECONFIG, ~/.kube/config)"
    )
    parser.add_argument("--context", help="the kubeconfig context (default: the current one)")
    parser.add_argument(
        "-o", "--output", choices=("json",), help="json: print the object's annotations as JSON"
    )
