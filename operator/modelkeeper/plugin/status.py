"""`kubectl modelkeeper status|list`: where a rollout is, and the Deployments of a namespace.

Both commands only read. `status` gets the Deployment (modelkeeper.io), its scoring servers'
pods and, for the built-in router, the router's ConfigMap (the split it actually follows); for
a pooled Deployment (spec.pool) the pool's servers' and router's pods and the Deployment's
catalogue ConfigMap (the split the pool's router follows for it) instead; with --watch it
reads again every second and draws the new tree over the old one on a terminal, or prints
each change as a new block elsewhere. `modelkeeper.plugin.tree` decides what is shown; this
module fetches, waits and prints.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime

from modelkeeper.api.deployment import DeploymentResource, TrafficProvider
from modelkeeper.api.pool import catalogue_name
from modelkeeper.controller.traffic import ROUTING_FILE, router_name
from modelkeeper.kube.client import CONFIG_MAP, DEPLOYMENT, POD, KubeClient
from modelkeeper.plugin.cluster import (
    PluginError,
    add_subcommand_cluster_arguments,
    not_found,
    parse,
    run_command,
)
from modelkeeper.plugin.terminal import add_output_argument, output_format, stdout_terminal
from modelkeeper.plugin.tree import (
    ASCII,
    UNICODE,
    Glyphs,
    Readout,
    catalogue_routing,
    is_settled,
    pod_of,
    pod_selector,
    pool_pod_selector,
    pool_pods,
    redraw,
    router_routing,
    show_list,
    show_status,
)

POLL_SECONDS = 1.0
INTERRUPTED = 130  # the shell's code for a command ended by Ctrl-C


def status_command(args: argparse.Namespace) -> int:
    """Print the tree once; with --watch, until the rollout settles, --timeout, or Ctrl-C."""
    shown = stdout_terminal()
    glyphs = _glyphs()

    async def once(client: KubeClient, namespace: str) -> str:
        deployment, readout = await _read(client, namespace, args.name)
        return show_status(deployment, readout, shown, glyphs)

    async def watch(client: KubeClient, namespace: str) -> str:
        deadline = None if args.timeout is None else time.monotonic() + args.timeout
        previous: object = None
        height = 0
        while True:
            deployment, readout = await _read(client, namespace, args.name)
            # Ages tick every second: a terminal redraws them, a pipe gets a block per change.
            state = (deployment, tuple(readout.pods), readout.routing, readout.pool)
            if shown is not None or state != previous:
                frame = show_status(deployment, readout, shown, glyphs)
                if shown is not None:
                    drawn = redraw(frame, height)
                    height = frame.count("\n") + 1
                else:
                    drawn = frame if previous is None else "\n" + frame
                if is_settled(deployment) and not args.no_exit:
                    return drawn
                print(drawn, flush=True)
                previous = state
            if deadline is not None and time.monotonic() >= deadline:
                phase = deployment.status.phase or "Pending"
                raise PluginError(
                    f"deployment {args.name}: still {phase} after --timeout {args.timeout:g}s"
                )
            await asyncio.sleep(POLL_SECONDS)

    try:
        return run_command(args, watch if args.watch else once)
    except KeyboardInterrupt:
        return INTERRUPTED


def list_command(args: argparse.Namespace) -> int:
    async def listed(client: KubeClient, namespace: str) -> str:
        found = await client.list(DEPLOYMENT, None if args.all_namespaces else namespace)
        deployments = [parse(DeploymentResource, obj) for obj in found]
        return show_list(
            deployments,
            args.all_namespaces,
            output_format(args),
            datetime.now(UTC),
            stdout_terminal(),
        )

    return run_command(args, listed)


async def _read(
    client: KubeClient, namespace: str, name: str
) -> tuple[DeploymentResource, Readout]:
    """The Deployment, its scoring servers' pods, and the split of its router when it has one;
    with spec.pool, also its pool's pods, and the split from its catalogue."""
    obj = await client.get(DEPLOYMENT, namespace, name)
    if obj is None:
        raise not_found(DEPLOYMENT, name, namespace)
    deployment = parse(DeploymentResource, obj)
    # Pods of its own too when pooled: those of before it joined the pool, until they end.
    pods = [pod_of(pod) for pod in await client.list(POD, namespace, pod_selector(name))]
    pool = deployment.spec.pool
    if pool is not None:
        found = await client.list(POD, namespace, pool_pod_selector(pool))
        catalogue = await client.get(CONFIG_MAP, namespace, catalogue_name(name))
        split = None if catalogue is None else catalogue_routing(pool, catalogue)
        return deployment, Readout(pods, split, datetime.now(UTC), pool_pods(pool, found))
    split = None
    if deployment.spec.traffic.provider is TrafficProvider.ROUTER:
        config = await client.get(CONFIG_MAP, namespace, router_name(name))
        text = None if config is None else config.get("data", {}).get(ROUTING_FILE)
        split = None if text is None else router_routing(text)
    return deployment, Readout(pods, split, datetime.now(UTC))


def _glyphs() -> Glyphs:
    """Unicode icons and tree lines, or ASCII when stdout's encoding is not UTF-8."""
    encoding = (sys.stdout.encoding or "").lower().replace("-", "")
    return UNICODE if encoding == "utf8" else ASCII


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = subparsers.add_parser(
        "status",
        help="where a Deployment's rollout is, with its pods as a tree",
        description="Phase, step, weights, versions, the last analysis and the pods of each "
        "version of a Deployment (modelkeeper.io); for a pooled one, its ServingPool's pods.",
    )
    status.add_argument("name", metavar="DEPLOYMENT", help="the Deployment (modelkeeper.io)")
    add_subcommand_cluster_arguments(status)
    status.add_argument(
        "-w",
        "--watch",
        action="store_true",
        help="redraw as the rollout goes on; exit once it settles (Healthy, Degraded or "
        "Aborted with no candidate)",
    )
    status.add_argument(
        "--no-exit", action="store_true", help="with --watch: keep watching once it settles"
    )
    status.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        help="with --watch: give up after S seconds, with exit code 1",
    )
    status.set_defaults(handler=status_command)

    listed = subparsers.add_parser(
        "list",
        help="the Deployments (modelkeeper.io) of a namespace",
        description="NAME, MODEL, STABLE, CANDIDATE, WEIGHT, STEP, PHASE and AGE of each "
        "Deployment (modelkeeper.io).",
    )
    add_subcommand_cluster_arguments(listed)
    listed.add_argument(
        "-A", "--all-namespaces", action="store_true", help="the Deployments of every namespace"
    )
    add_output_argument(listed)
    listed.set_defaults(handler=list_command)
