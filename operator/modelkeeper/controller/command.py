"""`modelkeeper run`: start the operator (kopf in module mode, handlers from `handlers`).

Settings come from flags and MODELKEEPER_* variables (settings.py). A setting that does
not parse is one line on stderr and exit code 2, before anything connects.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from modelkeeper.controller.settings import LogFormat, OperatorSettings
from modelkeeper.envflags import SettingsError, add_setting_flags, load_settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `run` to the `modelkeeper` command."""
    parser = subparsers.add_parser(
        "run",
        help="run the operator: reconcile Models and Deployments into scoring servers",
        description="Run the Modelkeeper operator against the cluster of $KUBECONFIG (or the "
        "in-cluster service account). See docs/architecture.md.",
    )
    add_setting_flags(parser, OperatorSettings)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run kopf with the handlers until it is stopped (SIGTERM or SIGINT)."""
    try:
        settings = load_settings(OperatorSettings, os.environ, vars(args))
    except SettingsError as error:
        print(f"modelkeeper run: {error}", file=sys.stderr)
        return 2
    import kopf

    import modelkeeper.controller.handlers  # noqa: F401  (registers the handlers with kopf)

    kopf.configure(
        log_format=kopf.LogFormat.JSON
        if settings.log_format is LogFormat.JSON
        else kopf.LogFormat.FULL,
    )
    # One line per watch event is noise; kopf's own warnings and errors still show.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    liveness = (
        f"http://{settings.host}:{settings.liveness_port}/healthz"
        if settings.liveness_port
        else None
    )
    kopf.run(
        standalone=True,  # one leader by a Lease (handlers.start), not kopf's peering
        liveness_endpoint=liveness,
        clusterwide=not settings.namespaces,
        namespaces=settings.namespaces,
        memo=kopf.Memo(settings=settings),
    )
    return 0
