"""Reading the routing config file, at start and again whenever it changes.

The operator writes the config into a ConfigMap mounted as a file; the kubelet swaps
the file in place. Polling its status once a second is enough to notice (and works
where inotify does not); a bad new config is logged, counted and ignored, so the
router keeps routing by the last good one.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path

from modelkeeper.router.config import ConfigError, RoutingConfig, parse_config

log = logging.getLogger(__name__)

FileSignature = tuple[int, int, int]  # mtime in ns, size, inode


def load_config_file(path: Path) -> RoutingConfig:
    """The routing config in the file at `path`, or ConfigError naming the file and the fault."""
    try:
        return parse_config(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}") from error
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from error


async def follow_config_file(
    path: Path,
    seen: FileSignature | None,
    interval_seconds: float,
    apply: Callable[[RoutingConfig], None],
    reloaded: Callable[[bool], None],
) -> None:
    """Apply the file's config each time it differs from `seen`; `reloaded` hears whether
    it was taken. Take `seen` before loading the running config, so no change slips by."""
    while True:
        await asyncio.sleep(interval_seconds)
        current = file_signature(path)
        if current is None or current == seen:
            continue
        seen = current
        try:
            apply(load_config_file(path))
        except ConfigError as error:
            log.error("kept the previous routing config: %s", error)
            reloaded(False)
        else:
            log.info("routing config reloaded from %s", path)
            reloaded(True)


def file_signature(path: Path) -> FileSignature | None:
    """What changes when the file does (a ConfigMap swap changes the inode); None if absent."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size, status.st_ino
