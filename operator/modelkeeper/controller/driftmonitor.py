"""One reconcile of a DriftMonitor: gather, evaluate with the pure drift layer, report.

Thin on purpose: read the monitor, its Deployment's stable version, that version's Model
and reference profile from the cache and the profile store, read the live counts from
Prometheus, and hand everything to `drift.state`; then write the status once if it
changed, post an Event on a change of state, and update the gauges. Anything missing on
the way (no Deployment, no stable version, a profile the operator cannot read,
Prometheus down) is an Unknown evaluation whose Ready condition says what to fix.

A reconcile may run on any event: it evaluates only when `interval` has passed since
status.lastEvaluation (or the spec changed) and otherwise returns the seconds left.

The drift layer (scipy's statistics, some 30 MiB) is imported by the first evaluation,
so an operator whose cluster has no DriftMonitor never loads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from modelkeeper.api.deployment import DeploymentResource
from modelkeeper.api.driftmonitor import DriftMonitorResource, DriftState
from modelkeeper.api.model import ModelResource
from modelkeeper.controller.cache import Body, Cache
from modelkeeper.controller.metrics import DriftMetrics
from modelkeeper.controller.reconciler import Opening
from modelkeeper.controller.statuswrite import StatusWriter
from modelkeeper.kube.client import KubeClient
from modelkeeper.prometheus.client import ProviderError, ProviderPool
from modelkeeper.prometheus.promql import TemplateError

if TYPE_CHECKING:  # the drift layer needs scipy: imported by the first evaluation
    from modelkeeper.drift.reference import ProfileStore
    from modelkeeper.drift.state import Evaluation


@dataclass
class DriftMonitors:
    """Evaluates DriftMonitors; one instance for the operator's life."""

    client: KubeClient
    cache: Cache
    prometheus: ProviderPool
    profiles: ProfileStore | None = None
    """Made by the first evaluation that reads a profile, unless given."""
    profile_timeout_seconds: float = 10.0
    metrics: DriftMetrics = field(default_factory=DriftMetrics)
    statuses: StatusWriter = field(init=False)

    def __post_init__(self) -> None:
        self.statuses = StatusWriter(self.client)

    async def close(self) -> None:
        if self.profiles is not None:
            await self.profiles.close()

    async def reconcile(self, namespace: str, name: str) -> float | None:
        """Evaluate the monitor if due; returns the seconds until the next evaluation is due,
        or None when the monitor is gone."""
        opening = Opening(
            self.cache.drift_monitor, self.statuses, self._evaluate_if_due, self.metrics.forget
        )
        return await opening.reconcile(namespace, name)

    async def _evaluate_if_due(self, namespace: str, name: str, body: Body) -> float | None:
        monitor = DriftMonitorResource.from_object(body)
        previous = monitor.status
        now = datetime.now(UTC).replace(microsecond=0)
        interval = monitor.spec.interval
        if (
            previous.last_evaluation is not None
            and previous.observed_generation == monitor.metadata.generation
            and now < previous.last_evaluation + interval
        ):
            return (previous.last_evaluation + interval - now).total_seconds()
        evaluation = await self.evaluate(namespace, monitor, now)
        await self.statuses.write(body, previous, evaluation.status)
        self.metrics.record(namespace, name, evaluation)
        change = evaluation.change
        if change is not None:
            kind = "Warning" if change.current is DriftState.DRIFTED else "Normal"
            was = change.previous.value if change.previous is not None else "new"
            await self.client.post_event(
                body, kind, change.current.value, f"{was} -> {evaluation.status.message}"
            )
        return interval.total_seconds()

    async def evaluate(
        self, namespace: str, monitor: DriftMonitorResource, now: datetime
    ) -> Evaluation:
        from modelkeeper.drift.observe import observe
        from modelkeeper.drift.queries import Target, plan_queries
        from modelkeeper.drift.reference import ProfileStore, ProfileUnavailableError
        from modelkeeper.drift.state import Unreadable, evaluate, unknown

        spec, previous = monitor.spec, monitor.status
        generation = monitor.metadata.generation

        def cannot(reason: Unreadable, message: str, version: str | None = None) -> Evaluation:
            return unknown(spec, previous, version, reason, message, now, generation)

        deployment_body = self.cache.deployment(namespace, spec.deployment)
        if deployment_body is None:
            return cannot(
                Unreadable.DEPLOYMENT_NOT_FOUND,
                f"Deployment {spec.deployment} (modelkeeper.io) not found in {namespace}",
            )
        stable = DeploymentResource.from_object(deployment_body).status.stable
        if stable is None:
            return cannot(
                Unreadable.NO_STABLE_VERSION, f"Deployment {spec.deployment} serves no version yet"
            )
        version = stable.version
        model_body = self.cache.model(namespace, stable.model)
        if model_body is None:
            return cannot(
                Unreadable.MODEL_NOT_FOUND,
                f"Model {stable.model} (version {version}) not found in {namespace}",
                version,
            )
        model = ModelResource.from_object(model_body).spec
        reference = model.reference
        if reference is None:
            return cannot(
                Unreadable.NO_REFERENCE,
                f"Model {stable.model} (version {version}) has no spec.reference profile",
                version,
            )
        if self.profiles is None:
            self.profiles = ProfileStore(timeout_seconds=self.profile_timeout_seconds)
        try:
            profile = await self.profiles.load(reference)
        except ProfileUnavailableError as error:
            return cannot(error.reason, f"Model {stable.model}: {error.message}", version)
        performance, estimated = spec.performance, spec.estimated_performance
        target = Target(
            namespace=namespace,
            deployment=spec.deployment,
            version=version,
            window=spec.window,
            feedback_window=performance.window or spec.window if performance else spec.window,
            estimate_window=estimated.window or spec.window if estimated else spec.window,
        )
        try:
            queries = plan_queries(
                profile,
                spec.custom_metrics,
                performance is not None,
                estimated.metric if estimated is not None else None,
                target,
            )
        except TemplateError as error:
            return cannot(Unreadable.QUERY_INVALID, f"spec.customMetrics: {error}", version)
        try:
            observed = await observe(self.prometheus.provider(), profile, queries, now)
        except ProviderError as error:
            return cannot(Unreadable.PROMETHEUS_UNAVAILABLE, str(error), version)
        return evaluate(spec, previous, profile, version, observed, now, generation, model.metrics)
