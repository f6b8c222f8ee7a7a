"""What a loaded model costs in memory, as a pool server's budget charges it.

The bytes of every object reachable from the loaded model (its estimator, arrays, schema
and profile), shared code left out (modules, classes, functions), and at least the
bytes of its files on disk, which stand in for what a library holds outside Python's
objects (an XGBoost booster, an ONNX session). The process's RSS growth around a load
would be the obvious measure, but it is not one: memory an unloaded model freed is
reused by the next load, which then seems free, the first model of a library is
charged the library's import, and requests served meanwhile count too.
`benchmarks/serving/pool.py` compares this estimate with the RSS a process really grows
by per model.
"""

from __future__ import annotations

import gc
import sys
import types
from pathlib import Path

import numpy as np

SHARED = (
    types.ModuleType,
    type,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.CodeType,
    types.FrameType,
)
"""Reachable from a model but not its own: freed with no model, so not charged to one."""
MAX_OBJECTS = 2_000_000
"""A walk stops here (a model that reaches half the process is charged what was seen)."""


def object_bytes(root: object) -> int:
    """The bytes of the objects reachable from `root`, each counted once."""
    seen: set[int] = set()
    stack = [root]
    total = 0
    while stack and len(seen) < MAX_OBJECTS:
        item = stack.pop()
        if id(item) in seen or isinstance(item, SHARED):
            continue
        seen.add(id(item))
        total += sys.getsizeof(item)
        if isinstance(item, np.ndarray) and item.base is not None:
            stack.append(item.base)  # a view's bytes are its base's
        stack.extend(gc.get_referents(item))
    return total


def files_bytes(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())


def footprint(model: object, directory: Path) -> int:
    """A loaded model's cost: its objects' bytes, at least its files' bytes."""
    return max(object_bytes(model), files_bytes(directory))
