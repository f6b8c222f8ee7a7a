"""How every `kubectl modelkeeper` command reaches the cluster and says why it could not.

The commands share their flags (-n, --kubeconfig, --context), the way they connect, and the
way a failure reaches the person at the terminal: one line on stderr, naming the command, and
exit code 1. A command supplies only its work, a coroutine that reads (and maybe writes) and
returns the text to print; this module turns every refusal on the way into that one line.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from kubernetes.config import ConfigException
from pydantic import ValidationError

from modelkeeper.api.base import Resource
from modelkeeper.kube.client import ApiError, Kind, KubeClient
from modelkeeper.kube.connection import connect
from modelkeeper.plugin.plans import ControlError

# A command's work: from a client and the namespace to act in, the text to print.
Work = Callable[[KubeClient, str], Awaitable[str]]
ResourceT = TypeVar("ResourceT", bound=Resource[Any, Any])


class PluginError(Exception):
    """Why a command did nothing, in one line for the person at the terminal."""


def not_found(kind: Kind, name: str, namespace: str) -> PluginError:
    return PluginError(f"{kind.kind} {name} not found in namespace {namespace}")


def parse(resource: type[ResourceT], obj: Mapping[str, Any]) -> ResourceT:
    """The object as its typed resource; a PluginError naming the object and field if it is not."""
    try:
        return resource.from_object(obj)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(map(str, first["loc"]))
        name = obj.get("metadata", {}).get("name")
        raise PluginError(
            f"{resource.KIND} {name}: {where}: {first['msg']} "
            "(is the plugin older than the operator?)"
        ) from None


def run_command(args: argparse.Namespace, work: Work) -> int:
    """Connect, do the work and print its text; or print the one-line reason and return 1."""
    if args.kubeconfig and not Path(args.kubeconfig).is_file():
        return _fail(args, f"kubeconfig {args.kubeconfig}: no such file")
    try:
        connection = connect(args.kubeconfig, args.context)
    except (ConfigException, OSError) as error:
        return _fail(args, f"kubeconfig: {error}")
    namespace = args.namespace or connection.namespace

    async def attempt() -> str:
        client = KubeClient(connection)
        try:
            return await work(client, namespace)
        except ControlError as error:
            raise PluginError(str(error)) from None
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

    try:
        text = asyncio.run(attempt())
    except PluginError as failure:
        return _fail(args, str(failure))
    print(text)
    return 0


def _fail(args: argparse.Namespace, reason: str) -> int:
    print(f"kubectl modelkeeper {args.command}: {reason}", file=sys.stderr)
    return 1


def add_cluster_arguments(parser: argparse.ArgumentParser, default: object = None) -> None:
    """-n, --kubeconfig and --context, as kubectl has them.

    The plugin's top-level parser takes them too (default None), so that kubectl's habit
    `kubectl modelkeeper -n NS status NAME` works; a subcommand's parser then adds them with
    `argparse.SUPPRESS`, so a flag given after the subcommand wins and one not given there
    does not overwrite the one given before it.
    """
    parser.add_argument(
        "-n",
        "--namespace",
        default=default,
        help="the object's namespace (default: the context's, else default)",
    )
    parser.add_argument(
        "--kubeconfig",
        default=default,
        help="the kubeconfig (default: $KUBECONFIG, ~/.kube/config)",
    )
    parser.add_argument(
        "--context", default=default, help="the kubeconfig context (default: the current one)"
    )


def add_subcommand_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """The cluster flags of one subcommand: they override the top-level ones only when given."""
    add_cluster_arguments(parser, argparse.SUPPRESS)
