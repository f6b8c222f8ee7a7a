"""Files the repository commits but a generator writes: check them, or write them again.

`crdgen` (the CRDs and docs/api.md) and `grpcgen` (the V2 gRPC modules) each render
their files as text by path; this module compares that with what is committed, as a
unified diff per stale file, and writes what changed. So CI refuses a committed file
that differs from its generator's output, the same way for both.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Mapping
from pathlib import Path


def stale(files: Mapping[Path, str], root: Path) -> list[str]:
    """A unified diff for each file that differs from what is under `root`."""
    diffs = []
    for path, wanted in files.items():
        target = root / path
        found = target.read_text(encoding="utf-8") if target.exists() else ""
        if found != wanted:
            diff = difflib.unified_diff(
                found.splitlines(keepends=True),
                wanted.splitlines(keepends=True),
                fromfile=f"{path} (committed)",
                tofile=f"{path} (generated)",
            )
            diffs.append("".join(diff))
    return diffs


def write(files: Mapping[Path, str], root: Path) -> list[Path]:
    """Write every file under `root` that is missing or differs; return those written."""
    changed = []
    for path, text in files.items():
        target = root / path
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`--check` and `--root`, the options of every generator."""
    parser.add_argument(
        "--check", action="store_true", help="do not write; exit 1 with a diff when stale"
    )
    parser.add_argument(
        "--root", type=Path, default=Path.cwd(), help="the repository root (default: here)"
    )


def check_or_write(files: Mapping[Path, str], args: argparse.Namespace, command: str) -> int:
    """With --check: print the diffs and return 1 when any file is stale. Else write."""
    root: Path = args.root
    if args.check:
        diffs = stale(files, root)
        for diff in diffs:
            sys.stdout.write(diff)
        if diffs:
            print(f"{len(diffs)} generated file(s) are stale: run {command}")
        return 1 if diffs else 0
    for path in write(files, root):
        print(f"wrote {path}")
    return 0
