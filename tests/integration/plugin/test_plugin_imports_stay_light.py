"""`kubectl modelkeeper` starts without the operator's runtime or a data-science library.

The plugin runs on a person's machine for every command, so its start is paid at the
terminal each time: kopf belongs to `modelkeeper run`, and pandas, pyarrow, scipy and
scikit-learn to the data scientists' commands. A fresh interpreter imports the plugin's
entry point, builds its command line (every command module loaded) and says which of
them it loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("kopf", "pandas", "pyarrow", "scipy", "sklearn", "joblib")

PROBE = f"""
import json, sys
from modelkeeper.plugin.main import build_plugin_parser
build_plugin_parser()
print(json.dumps(sorted(name for name in {HEAVY} if name in sys.modules)))
"""


def test_the_plugin_imports_none_of_them() -> None:
    found = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(found.stdout) == []
