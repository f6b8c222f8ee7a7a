"""`modelkeeper serve` and `modelkeeper fetch-artifact`: the scoring server's commands.

`serve` reads its settings (flags over MODELKEEPER_* variables), fetches the
artifact if an URI is set, loads the model directory and runs the workers; with
`--pool` or `--catalogue-dir` it serves a pool's catalogue instead (`serving.pool_server`).
`fetch-artifact` is the same fetch as a pod's init step. Setting, fetch and load
errors are one line on stderr (and in a container's termination message) and exit code 1:
the server never starts half-right.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from pathlib import Path

from modelkeeper.envflags import SettingsError, add_setting_flags, load_settings
from modelkeeper.serving.fetch import ArtifactError, fetch_artifact
from modelkeeper.serving.settings import ServerSettings

log = logging.getLogger("modelkeeper.serve")

TERMINATION_LOG = Path("/dev/termination-log")
"""The container's termination-message file, which the kubelet mounts into every container
and keeps in the pod's status; the logs it falls back to without it are gone once a crash
loop's restarts have rotated them away."""


def _last_words(line: str) -> None:
    """Why the command gives up: the termination message too, when it runs in a container."""
    if TERMINATION_LOG.exists():
        with contextlib.suppress(OSError):
            TERMINATION_LOG.write_text(line)


def serve_command(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Imported here, so that other commands do not pay for the model libraries and the
    # server stack (aiohttp, uvloop: the `serve` extra).
    from modelkeeper.serving.pool_server import run_pool
    from modelkeeper.serving.runtime import ModelLoadError, load_model_dir, model_file_name
    from modelkeeper.serving.workers import prepare, run

    try:
        settings = load_settings(ServerSettings, os.environ, vars(args))
        if settings.pooled:
            return run_pool(settings)
        if settings.artifact_uri is not None:
            target = settings.model_dir / model_file_name(settings.model_format)
            digest = fetch_artifact(settings.artifact_uri, target, settings.artifact_sha256)
            log.info("fetched %s to %s (sha256 %s)", settings.artifact_uri, target, digest)
        model = load_model_dir(settings.model_dir, settings.model_format)
    except (SettingsError, ArtifactError, ModelLoadError) as error:
        log.error("not starting: %s", error)
        _last_words(f"not starting: {error}")
        return 1
    return run(prepare(settings, model))


def fetch_command(args: argparse.Namespace) -> int:
    try:
        digest = fetch_artifact(args.uri, args.out, args.sha256)
    except ArtifactError as error:
        print(f"modelkeeper fetch-artifact: {error}", file=sys.stderr)
        _last_words(f"modelkeeper fetch-artifact: {error}")
        return 1
    print(f"fetched {args.uri} to {args.out} (sha256 {digest})")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="serve a model over V2 and V1 REST, with batching, metrics and feedback",
        description="Serve the model in --model-dir. Every flag can also be set as the "
        "environment variable named in its help. See docs/serving.md.",
    )
    add_setting_flags(serve, ServerSettings)
    serve.set_defaults(handler=serve_command)

    fetch = subparsers.add_parser(
        "fetch-artifact",
        help="fetch a model file or directory from its artifact URI and check its SHA-256",
        description="Copy the file at URI (file, http, https, s3, gs) to --out, or the directory "
        "(file, pvc, or an MLflow models:/NAME/VERSION or models:/NAME@ALIAS resolved at "
        "MLFLOW_TRACKING_URI); with --sha256, exit 1 and leave nothing at --out when the "
        "digest differs.",
    )
    fetch.add_argument("uri", metavar="URI")
    fetch.add_argument("--out", type=Path, required=True, help="where to write the file")
    fetch.add_argument("--sha256", help="the expected SHA-256, in hex")
    fetch.set_defaults(handler=fetch_command)
