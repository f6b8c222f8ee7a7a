"""Argo CD health scripts run by the real Lua interpreter, on objects given as Lua tables.

Argo CD hands a script the live object as the Lua global `obj`; here the test's object (a
JSON-shaped dict) is written as a Lua table literal, and health.lua runs the script on it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).parents[3] / "charts/modelkeeper/files/argocd"
RUNNER = Path(__file__).with_name("health.lua")


@dataclass(frozen=True)
class Health:
    status: str
    message: str


def lua_literal(value: Any) -> str:
    """A JSON value as a Lua expression: objects and arrays as tables, null as nil."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # A JSON string is a valid Lua string once \u escapes are avoided: keep UTF-8 as is.
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "{" + ", ".join(lua_literal(item) for item in value) + "}"
    fields = (f"[{lua_literal(key)}] = {lua_literal(item)}" for key, item in value.items())
    return "{" + ", ".join(fields) + "}"


def health(kind: str, obj: dict[str, Any], workdir: Path) -> Health:
    """The status and message the kind's script gives the object."""
    lua = shutil.which("lua5.4")
    assert lua is not None, "lua5.4 not on PATH: run tests/ground/tools/install-deps.sh"
    given = workdir / "object.lua"
    given.write_text(f"return {lua_literal(obj)}\n")
    script = SCRIPTS / f"{kind.lower()}.lua"
    done = subprocess.run(
        [lua, str(RUNNER), str(script), str(given)],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    status, message = done.stdout.rstrip("\n").split("\t")
    return Health(status, message)
