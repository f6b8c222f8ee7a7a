"""An object's counters exist at 0 from its first reconcile, and leave with the object."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from modelkeeper.api.retrainpolicy import TriggerKind
from modelkeeper.controller.metrics import remove_counters, zero_counters

POLICY = ("shop", "churn")
OUTCOMES = ("Succeeded", "Failed")


def runs() -> tuple[CollectorRegistry, Counter]:
    registry = CollectorRegistry()
    counter = Counter(
        "runs_total", "Runs.", ["namespace", "policy", "trigger", "outcome"], registry=registry
    )
    return registry, counter


def value(registry: CollectorRegistry, trigger: str, outcome: str) -> float | None:
    labels = {"namespace": "shop", "policy": "churn", "trigger": trigger, "outcome": outcome}
    return registry.get_sample_value("runs_total", labels)


def test_every_combination_starts_at_zero_and_keeps_its_count() -> None:
    registry, counter = runs()
    counter.labels(*POLICY, "Drift", "Failed").inc()

    zero_counters(counter, POLICY, TriggerKind, OUTCOMES)

    assert value(registry, "Drift", "Failed") == 1
    assert value(registry, "Schedule", "Failed") == 0
    assert value(registry, "Manual", "Succeeded") == 0
    assert value(registry, "Drift", "Rejected") is None


def test_removed_with_the_object_whether_counted_or_not() -> None:
    registry, counter = runs()
    zero_counters(counter, POLICY, TriggerKind, OUTCOMES)
    counter.labels(*POLICY, "Drift", "Failed").inc()
    counter.labels("shop", "other", "Drift", "Failed").inc()

    remove_counters(counter, POLICY, TriggerKind, OUTCOMES)

    assert value(registry, "Drift", "Failed") is None
    assert value(registry, "Schedule", "Succeeded") is None
    other = {"namespace": "shop", "policy": "other", "trigger": "Drift", "outcome": "Failed"}
    assert registry.get_sample_value("runs_total", other) == 1
