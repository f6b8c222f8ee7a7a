"""The docs' claims that the first hour relied on, held against the code (findings 12, 13).

Each test takes the behaviour from the code (the plugin's rendering, the trigger rules,
the URI pattern, the router's port) and checks the sentence of the doc that describes it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from modelkeeper.api.deployment import DeploymentResource
from modelkeeper.api.retrainpolicy import RetrainPolicyStatus
from modelkeeper.api.types import ARTIFACT_URI_PATTERN
from modelkeeper.controller.manifests import HTTP_PORT
from modelkeeper.plugin.tree import UNICODE, Readout, show_status
from modelkeeper.retrain.triggers import Throttle, decide
from tests.support.objects import manifest
from tests.unit.retrain.factories import policy

DOCS = Path(__file__).resolve().parents[3] / "docs"
NOW = datetime(2026, 11, 26, 23, 5, tzinfo=UTC)
STEPS = [{"setWeight": 20}, {"setWeight": 60}, {"setWeight": 100}]


def _text(name: str) -> str:
    return " ".join((DOCS / name).read_text(encoding="utf-8").split())


def _step_line(step: int | None) -> str:
    candidate = {
        "version": "2",
        "model": "fraud-2",
        "role": "Canary",
        "since": "2026-11-26T23:00:00Z",
    }
    status: dict[str, object] = {
        "stable": {"version": "1", "model": "fraud-1"},
        "phase": "Healthy",
    }
    if step is not None:
        status |= {"candidate": candidate, "step": step, "phase": "Progressing"}
    deployment = DeploymentResource.from_object(
        manifest(
            "Deployment",
            "fraud",
            {
                "model": {"name": "fraud"},
                "strategy": {"type": "Canary", "canary": {"steps": STEPS}},
            },
            status=status,
            namespace="risk",
        )
    )
    shown = show_status(deployment, Readout([], None, NOW), None, UNICODE)
    [line] = [line for line in shown.splitlines() if line.strip().startswith("Step:")]
    return line.split()[-1]


def test_plugin_md_says_the_steps_the_plugin_shows() -> None:
    """Finding 12: plugin.md said `3/3` means every step passed; the plugin never shows it."""
    shown = [_step_line(step) for step in (0, 1, 2, None)]
    assert shown == ["0/3", "1/3", "2/3", "-/3"]
    text = _text("plugin.md")
    for value in shown:
        assert f"`{value}`" in text
    assert "`3/3`" not in text


def test_concepts_md_says_a_manual_run_starts_the_cooldown_too() -> None:
    """Finding 13: a manual start also holds triggered runs back by cooldown."""
    spec = policy(cooldown="6h", triggers=[{"schedule": {"cron": "* * * * *"}}]).spec
    after_manual = RetrainPolicyStatus(
        last_trigger_time=NOW - timedelta(minutes=5),
        next_schedule_time=NOW - timedelta(minutes=1),
    )
    decision = decide(spec, after_manual, {}, None, NOW)
    assert decision.throttled is Throttle.COOLDOWN
    assert "a manual one included" in _text("concepts.md")
    assert "between triggered starts" not in _text("concepts.md")


def test_publishing_models_md_says_a_version_is_served_only_once_approved() -> None:
    text = _text("publishing-models.md")
    assert "A version is served only when it is both" in text
    assert "kubectl modelkeeper approve" in text


def test_quickstart_md_lists_every_artifact_scheme_the_api_accepts() -> None:
    """Finding 13: quickstart listed https, s3, gs, without file and pvc."""
    candidates = ("s3", "gs", "http", "https", "file", "pvc", "ftp", "hdfs")
    accepted = [s for s in candidates if re.match(ARTIFACT_URI_PATTERN, f"{s}://store/m.joblib")]
    assert len(accepted) == 6
    sentence = _text("quickstart.md").split("whose `artifact.uri` the scoring server can fetch")[1]
    sentence = sentence[: sentence.index(")")]
    for scheme in accepted:
        assert scheme in sentence, scheme


def test_quickstart_md_says_how_to_reach_a_router_on_the_local_ground() -> None:
    """Finding 13: the router's pod address and port were written nowhere."""
    text = _text("quickstart.md")
    assert "status.podIP" in text
    assert f":{HTTP_PORT}/v2/models/" in text
