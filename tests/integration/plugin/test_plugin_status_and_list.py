"""`kubectl modelkeeper status|list` against the real API server.

Given a canary Deployment (modelkeeper.io), a scoring server's pod and the router's ConfigMap
as the operator would make them, and each phase's status written through the status
subresource: `status` prints the tree with the router's actual weight, `list` the table, and
`status --watch` prints each change until the rollout settles.
"""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.ground.ground import Kubectl
from tests.integration.plugin.plugin_harness import Plugin, write_status

DEPLOYMENT = """
apiVersion: modelkeeper.io/v1alpha1
kind: Deployment
metadata:
  name: fraud
spec:
  model:
    name: fraud
  replicas: 1
  strategy:
    type: Canary
    canary:
      steps:
        - setWeight: 10
        - pause: {}
        - setWeight: 50
"""
POD = """
apiVersion: v1
kind: Pod
metadata:
  name: fraud-2-server
  labels:
    modelkeeper.io/deployment: fraud
    modelkeeper.io/version: "2"
    app.kubernetes.io/component: server
spec:
  containers:
    - name: server
      image: registry.example.com/fraud:2
"""
ROUTING = {
    "model": "fraud",
    "deployment": "fraud",
    "backends": [
        {"name": "1", "role": "stable", "service": "fraud-1", "weight": 80},
        {"name": "2", "role": "canary", "service": "fraud-2", "weight": 20},
    ],
}
STABLE = {"version": "1", "model": "fraud-1", "replicas": 1, "readyReplicas": 1}
SINCE = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
CANARY = {
    "version": "2",
    "model": "fraud-2",
    "role": "Canary",
    "since": SINCE,
    "replicas": 1,
    "readyReplicas": 0,
}
PROGRESSING = {
    "phase": "Progressing",
    "message": "version 2: step 0, weight 20",
    "stable": STABLE,
    "candidate": CANARY,
    "weight": 20,
    "step": 0,
    "analysisRuns": [
        {
            "time": "2026-11-26T23:04:00Z",
            "step": 0,
            "phase": "Successful",
            "metrics": [{"name": "error-rate", "phase": "Successful", "value": 0.004}],
        }
    ],
}
# Merge patches: null removes what the previous status had.
SETTLED = {"candidate": None, "weight": None, "step": None, "analysisRuns": None}
AGE = re.compile(r"(?<![\w-])\d+[smhdy](\d+[smhdy])?\b")  # not inside a name such as ns-97d77d


def given(kubectl: Kubectl, status: dict[str, Any]) -> None:
    kubectl("apply", "-f", "-", input=DEPLOYMENT)
    kubectl("apply", "-f", "-", input=POD)
    kubectl(
        "create",
        "configmap",
        "fraud-router",
        f"--from-literal=routing.yaml={json.dumps(ROUTING)}",
    )
    write_status(kubectl, "deployments.modelkeeper.io/fraud", status)


def aged(text: str) -> str:
    """The text with every age as <age>: they depend on when the test runs."""
    return AGE.sub("<age>", text)


def test_status_shows_the_tree_with_the_routers_weight(plugin: Plugin, kubectl: Kubectl) -> None:
    given(kubectl, PROGRESSING)

    result = plugin("status", "fraud")

    assert (result.code, result.err) == (0, "")
    assert aged(result.out) == "\n".join(
        [
            "Name:           fraud",
            f"Namespace:      {plugin.namespace}",
            "Status:         ◌ Progressing",
            "Message:        version 2: step 0, weight 20",
            "Strategy:       Canary",
            "  Step:         0/3",
            "  SetWeight:    20",
            "  ActualWeight: 20",
            "Stable:         1 (fraud-1), 1/1 ready",
            "Candidate:      2 (fraud-2) Canary, 0/1 ready, since <age>",
            "",
            "Analysis:  ✔ Successful at 2026-11-26T23:04:00Z, step 0",
            "  METRIC       VALUE   VERDICT        MESSAGE",
            "  error-rate   0.004   ✔ Successful",
            "",
            "NAME                     READY   STATUS    RESTARTS   AGE",
            "fraud",
            "├── 1 (Stable, 80%)",
            "└── 2 (Canary, 20%)",
            "    └── fraud-2-server   0/1     Pending   0          <age>",
            "",
        ]
    )


@pytest.mark.parametrize(
    ("status", "line"),
    [
        pytest.param({"phase": "Pending"}, "Status:         … Pending", id="pending"),
        pytest.param(
            {"phase": "Paused", "message": "analysis inconclusive"},
            "Status:         ॥ Paused",
            id="paused",
        ),
        pytest.param(SETTLED | {"phase": "Healthy"}, "Status:    ✔ Healthy", id="healthy"),
        pytest.param(SETTLED | {"phase": "Degraded"}, "Status:    ✖ Degraded", id="degraded"),
        pytest.param(SETTLED | {"phase": "Aborted"}, "Status:    ⚠ Aborted", id="aborted"),
    ],
)
def test_status_and_list_show_each_phase(
    plugin: Plugin, kubectl: Kubectl, status: dict[str, Any], line: str
) -> None:
    given(kubectl, PROGRESSING)
    write_status(kubectl, "deployments.modelkeeper.io/fraud", status)

    shown = plugin("status", "fraud")
    listed = plugin("list")

    assert (shown.code, shown.err) == (0, "")
    assert line in shown.out.splitlines()
    phase = status["phase"]
    candidate, weight, step = ("-", "-", "-") if "candidate" in status else ("2", "20", "0")
    assert aged(listed.out).splitlines() == [
        f"NAME    MODEL   STABLE   CANDIDATE   WEIGHT   STEP   PHASE{' ' * (len(phase) - 5)}   AGE",
        f"fraud   fraud   1        {candidate}           {weight:<6}   {step:<4}   {phase}   <age>",
    ]


def test_list_as_data_and_refusals(plugin: Plugin, kubectl: Kubectl) -> None:
    given(kubectl, PROGRESSING)

    listed = json.loads(plugin("list", "-o", "json").out)
    missing = plugin("status", "ghost")

    assert [(row["name"], row["phase"], row["weight"]) for row in listed] == [
        ("fraud", "Progressing", 20)
    ]
    assert (missing.code, missing.out) == (1, "")
    assert missing.err == (
        f"kubectl modelkeeper status: Deployment ghost not found in namespace {plugin.namespace}\n"
    )


def watch(plugin: Plugin, *argv: str, stdout: int = subprocess.PIPE) -> subprocess.Popen[str]:
    """`status fraud --watch` in its own process, its stdout a pipe as in a script."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modelkeeper.plugin.main",
            "status",
            "fraud",
            "--watch",
            "-n",
            plugin.namespace,
            f"--kubeconfig={plugin.kubeconfig}",
            *argv,
        ],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONIOENCODING": "utf-8", "NO_COLOR": "1"},
        # As from a terminal, Ctrl-C reaches it: a run in the background of a
        # non-interactive shell (CI) inherits SIGINT ignored.
        preexec_fn=_interruptible,
    )


def _interruptible() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_watch_prints_each_change_and_exits_when_settled(plugin: Plugin, kubectl: Kubectl) -> None:
    # Given a rollout in progress, watched
    given(kubectl, PROGRESSING)
    with watch(plugin, "--timeout", "60") as watching:
        assert watching.stdout is not None
        assert watching.stderr is not None
        assert watching.stdout.readline() == "Name:           fraud\n"

        # When the operator promotes the candidate and the Deployment settles
        promoted = STABLE | {"version": "2"}
        write_status(
            kubectl,
            "deployments.modelkeeper.io/fraud",
            SETTLED | {"phase": "Healthy", "message": "serving 2", "stable": promoted},
        )
        # (read through the buffer that holds the first line; the watch's --timeout bounds it)
        out, err = watching.stdout.read(), watching.stderr.read()

    # Then the watch printed the settled block after the first, without terminal codes, and
    # exited
    assert (watching.returncode, err) == (0, "")
    assert "\x1b" not in out
    blocks = out.split("\nName:")
    assert "Status:         ◌ Progressing" in blocks[0]
    assert "Status:    ✔ Healthy" in blocks[-1]
    assert "Message:   serving 2" in blocks[-1]


def test_watch_on_a_terminal_redraws_in_place_until_its_timeout(
    plugin: Plugin, kubectl: Kubectl
) -> None:
    # Given a rollout in progress, watched on a terminal with a timeout of four seconds
    given(kubectl, PROGRESSING)
    terminal, screen = pty.openpty()
    with watch(plugin, "--timeout", "4", stdout=screen) as watching:
        os.close(screen)
        drawn = b""
        while chunk := _read_terminal(terminal):
            drawn += chunk
        _, err = watching.communicate(timeout=60)
    os.close(terminal)
    text = drawn.decode()

    # Then it gave up after the timeout, saying so on stderr
    assert watching.returncode == 1
    assert err == (
        "kubectl modelkeeper status: deployment fraud: still Progressing after --timeout 4s\n"
    )
    # And each frame after the first moves up over the previous one, clears to the end of
    # each line and below the last, and the screen is never cleared as a whole
    height = len(text.split("\x1b[J")[0].split("\n"))
    assert text.startswith("Name:           fraud\x1b[K\r\n")
    assert text.count(f"\x1b[{height}F") >= 1
    assert text.count(f"\x1b[{height}F") == text.count("\x1b[J") - 1
    assert "\x1b[2J" not in text
    assert "\x1b[H" not in text


def _read_terminal(terminal: int) -> bytes:
    """What the terminal shows next; nothing once the program has closed it."""
    try:
        return os.read(terminal, 65536)
    except OSError:  # Linux says EIO when the other side is closed
        return b""


def test_watch_ends_cleanly_on_ctrl_c(plugin: Plugin, kubectl: Kubectl) -> None:
    given(kubectl, PROGRESSING)

    with watch(plugin, "--no-exit") as watching:
        assert watching.stdout is not None
        assert watching.stdout.readline() == "Name:           fraud\n"
        watching.send_signal(signal.SIGINT)
        try:
            _, err = watching.communicate(timeout=60)
        finally:
            watching.kill()  # never left running, even when it ignored the interrupt

    assert (watching.returncode, err) == (130, "")
