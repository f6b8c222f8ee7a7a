"""`modelkeeper route`: the command line of the router (docs/router.md).

It only reads flags; the router's modules load when the command runs, so the rest
of `modelkeeper` works without the `serve` extra (aiohttp, uvloop, orjson).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from modelkeeper.router.config import ConfigError, ProxySettings

DEFAULTS = ProxySettings()


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `route` to the `modelkeeper` command."""
    parser = subparsers.add_parser(
        "route",
        help="route a model's inference traffic, or a pool's: weighted split, shadow mirroring",
        description=(
            "Forward inference requests to the stable and canary backends by weight, mirror "
            "a share to a shadow and compare its predictions, balancing across ready "
            "endpoints: for one model family (--config), or for every family of a pool, "
            "by the model named in the path (--pool). See docs/router.md."
        ),
    )
    family = parser.add_mutually_exclusive_group(required=True)
    family.add_argument("--config", type=Path, help="routing config, YAML or JSON")
    family.add_argument(
        "--pool",
        help="route every family of this pool, as its catalogue ConfigMaps in --namespace "
        "say, to the pool's scoring servers; needs --namespace",
    )
    parser.add_argument(
        "--pool-service",
        help="with --pool: the Service of the pool's scoring servers, whose EndpointSlices "
        "(port `http`) list them (default: POOL-servers)",
    )
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on")
    parser.add_argument("--http-port", type=int, default=8080, help="port to listen on")
    parser.add_argument(
        "--namespace",
        help="read endpoints from the EndpointSlices of this namespace, and a pool's "
        "catalogue (without it, every backend lists static `endpoints` in the config)",
    )
    parser.add_argument(
        "--kubeconfig",
        default=os.environ.get("KUBECONFIG") or None,
        help="kubeconfig for reading EndpointSlices and ConfigMaps "
        "(default: $KUBECONFIG, else ~/.kube/config, else in-cluster)",
    )
    parser.add_argument(
        "--config-map",
        help="the ConfigMap that --config is mounted from (the file's name is its key): "
        "followed through the API, so that a change is taken at once rather than when the "
        "kubelet refreshes the file; needs --namespace",
    )
    parser.add_argument(
        "--max-body-bytes",
        type=int,
        default=DEFAULTS.max_body_bytes,
        help="larger request bodies get 413 (default: %(default)s)",
    )
    parser.add_argument(
        "--upstream-timeout-seconds",
        type=float,
        default=DEFAULTS.upstream_timeout_seconds,
        help="seconds a backend may take to answer, else 504 (default: %(default)s)",
    )
    parser.add_argument(
        "--shadow-max-in-flight",
        type=int,
        default=DEFAULTS.shadow_max_in_flight,
        help="mirrored requests under way at once; more are dropped (default: %(default)s)",
    )
    parser.add_argument(
        "--reload-interval-seconds",
        type=float,
        default=1.0,
        help="seconds between checks of the config file, when no --config-map is followed "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--shutdown-timeout-seconds",
        type=float,
        default=30.0,
        help="seconds to finish requests in flight after SIGTERM (default: %(default)s)",
    )
    parser.add_argument("--log-level", default="INFO", help="default: %(default)s")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run the router; exit 2 at once for a config or flags that cannot be used."""
    from modelkeeper.router.service import RouterOptions, run_router

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    options = RouterOptions(
        config_path=args.config,
        pool=args.pool,
        pool_service=args.pool_service,
        host=args.host,
        port=args.http_port,
        settings=ProxySettings(
            max_body_bytes=args.max_body_bytes,
            upstream_timeout_seconds=args.upstream_timeout_seconds,
            shadow_max_in_flight=args.shadow_max_in_flight,
        ),
        namespace=args.namespace,
        kubeconfig=args.kubeconfig,
        config_map=args.config_map,
        reload_interval_seconds=args.reload_interval_seconds,
        shutdown_timeout_seconds=args.shutdown_timeout_seconds,
    )
    try:
        run_router(options)
    except ConfigError as error:
        print(f"modelkeeper route: {error}", file=sys.stderr)
        return 2
    return 0
