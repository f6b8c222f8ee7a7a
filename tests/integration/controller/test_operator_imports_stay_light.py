"""`modelkeeper run` loads no data-science library until a code path needs one.

The operator's memory is mostly what it imports: pandas, pyarrow, scipy and
scikit-learn together cost more than a hundred MiB, and only a DriftMonitor's
evaluation (scipy), a profile's building (pandas) or the data scientists' commands
use them, and import them there. A fresh interpreter imports what `modelkeeper run`
imports (the command line and the handlers) and says which of them it loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("pandas", "pyarrow", "scipy", "sklearn", "joblib")

PROBE = f"""
import json, sys
import modelkeeper.cli
import modelkeeper.controller.handlers
print(json.dumps(sorted(name for name in {HEAVY} if name in sys.modules)))
"""


def test_the_operator_imports_none_of_them() -> None:
    found = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(found.stdout) == []
