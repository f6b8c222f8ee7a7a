"""One reconcile of a Deployment or a Model: read, decide with the pure layers, apply, report.

Everything here is plumbing around `selection`, `rollout`, `builders` and `status`:
gather what is observed, ask them, apply the desired objects with server-side apply,
delete what is no longer desired, write the status once if it changed, and post one
Event per decision. A reconcile returns when it wants to run again (a deadline or a
drain ends); the caller also runs it on every relevant watch event and every resync.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from pydantic import ValidationError

from modelkeeper.analysis.run import analyse, judge_shadow, read_experiment
from modelkeeper.analysis.templates import Subject
from modelkeeper.api.approval import APPROVAL_NEEDED
from modelkeeper.api.conditions import get_condition
from modelkeeper.api.deployment import (
    AnalysisPhase,
    AnalysisStatus,
    DeploymentResource,
    DeploymentStatus,
    ExperimentStatus,
    Outcome,
    Phase,
    TrafficProvider,
)
from modelkeeper.api.labels import VERSION_LABEL
from modelkeeper.api.model import ApprovalSource, ModelConditionType, ModelResource, ModelStatus
from modelkeeper.api.strategy import ABTest, Shadow
from modelkeeper.controller.applied import (
    ObjectKey,
    object_key,
)
from modelkeeper.controller.applying import OwnedObjects
from modelkeeper.controller.cache import Body, Cache
from modelkeeper.controller.desired import Seen, desired
from modelkeeper.controller.metrics import DeploymentGauges, RolloutMetrics
from modelkeeper.controller.podstates import PodProblem, pod_problem
from modelkeeper.controller.pools import pool_view
from modelkeeper.controller.rollout import (
    AnalysisDue,
    Controls,
    Plan,
    analysis_due,
)
from modelkeeper.controller.settings import OperatorSettings
from modelkeeper.controller.status import deployment_status, model_status, served_by, starts
from modelkeeper.controller.statuswrite import StatusWriter
from modelkeeper.controller.validation import validate_model
from modelkeeper.kube import client as kinds
from modelkeeper.kube.client import JsonObject, Kind, KubeClient
from modelkeeper.prometheus.client import ProviderPool

log = logging.getLogger("modelkeeper.controller")

OWNED_KINDS: tuple[Kind, ...] = (
    kinds.APPS_DEPLOYMENT,
    kinds.SERVICE,
    kinds.CONFIG_MAP,
    kinds.HPA,
    kinds.PDB,
    kinds.SERVICE_ACCOUNT,
    kinds.ROLE,
    kinds.ROLE_BINDING,
    kinds.POD_MONITOR,
    kinds.HTTP_ROUTE,
)
"""Every kind a Deployment's objects may be of: the operator watches them (those the API
server serves) and prunes what it holds of them."""
OWNED_BY_KIND = {kind.kind: kind for kind in OWNED_KINDS}


def _describe(run: AnalysisStatus) -> str:
    """One line for an Event: each check's value and verdict."""
    checks = ", ".join(
        f"{m.name} {m.phase.value.lower()}" + (f" ({m.value:.4g})" if m.value is not None else "")
        for m in run.metrics
    )
    prefix = f"analysis {run.phase.value.lower()}"
    return "; ".join(part for part in (f"{prefix}: {checks}", run.message) if part)


@dataclass
class Reconciler:
    client: KubeClient
    settings: OperatorSettings
    cache: Cache
    gauges: DeploymentGauges
    rollouts: RolloutMetrics
    prometheus: ProviderPool
    pod_monitor: bool
    gateway_api: bool
    statuses: StatusWriter = field(init=False)
    owned: OwnedObjects = field(init=False)
    """What was last applied for each owner, and what the watch saw deleted or edited."""
    model_statuses: StatusWriter = field(init=False)

    def __post_init__(self) -> None:
        self.statuses = StatusWriter(self.client)
        self.model_statuses = StatusWriter(self.client)
        self.owned = OwnedObjects(self.client)

    def _parse_models(self, namespace: str, family: str) -> list[ModelResource]:
        models = []
        for body in self.cache.family_models(namespace, family):
            try:
                models.append(ModelResource.from_object(body))
            except ValidationError as error:
                log.warning("Model %s/%s does not parse: %s", namespace, body["metadata"], error)
        return models

    def forget_deployment(self, namespace: str, name: str) -> None:
        """The Deployment is gone: its series go, and what was applied for it is forgotten."""
        self.gauges.forget(namespace, name)
        self.rollouts.forget(namespace, name)
        self.owned.forget((namespace, name))

    async def deployment(self, namespace: str, name: str, body: Body) -> float | None:
        """Drive a Deployment towards its spec, after the common opening (`reconciler`);
        returns the seconds until it wants to run."""
        deployment = DeploymentResource.from_object(body)
        now = datetime.now(UTC).replace(microsecond=0)
        models = self._parse_models(namespace, deployment.spec.model.name)
        children = self.cache.owned(namespace, name)
        controls = Controls.read(deployment.metadata.annotations)
        due = analysis_due(deployment.spec.strategy, deployment.status, controls, now)
        run = await self._analyse(deployment, due, now) if due is not None else None
        seen = Seen(deployment, models, children, run, now, pool_view(self.cache, deployment))
        want = desired(seen, self.settings, pod_monitor=self.pod_monitor)
        await self._apply(namespace, name, want.objects, want.keep)
        if want.unready:
            failing = self._failing(namespace, name, want.unready)
            want = replace(want, observation=replace(want.observation, failing=failing))
        status = deployment_status(want.observation)
        await self.statuses.write(body, deployment.status, status)
        analysed = run if isinstance(run, AnalysisStatus) else None
        await self._report(body, deployment, want.plan, status, analysed)
        self._measure(namespace, name, deployment, want.plan, status, analysed)
        return want.wake_after()

    def _measure(
        self,
        namespace: str,
        name: str,
        deployment: DeploymentResource,
        plan: Plan,
        status: DeploymentStatus,
        run: AnalysisStatus | None,
    ) -> None:
        """The Deployment's gauges (phase, versions served) and its rollout's counters."""
        served = {(v.version, "Stable") for v in [status.stable] if v is not None}
        served |= {(v.version, v.role.value) for v in [status.candidate] if v is not None}
        self.gauges.record(namespace, name, status.phase.value if status.phase else "", served)
        self.rollouts.record(namespace, name, deployment.spec.strategy.type.value, plan, run)

    def _failing(self, namespace: str, name: str, versions: set[str]) -> dict[str, PodProblem]:
        """Why each of these (not ready) versions fails to start, from its pods' states as
        the watch holds them (a pod's change wakes its Deployment)."""
        pods = self.cache.pods(namespace, name)
        found = {}
        for version in versions:
            mine = [
                pod
                for pod in pods
                if pod["metadata"].get("labels", {}).get(VERSION_LABEL) == version
            ]
            if (problem := pod_problem(mine)) is not None:
                found[version] = problem
        return found

    async def _analyse(
        self, deployment: DeploymentResource, due: AnalysisDue, now: datetime
    ) -> AnalysisStatus | ExperimentStatus | None:
        """Take the analysis run (or A/B test reading) that is due: the candidate against the
        stable version."""
        status, spec = deployment.status, deployment.spec
        if status.candidate is None or status.stable is None:
            return None
        subject = Subject(
            namespace=deployment.metadata.namespace or "",
            deployment=deployment.metadata.name,
            family=spec.model.name,
            stable=status.stable.version,
            candidate=status.candidate.version,
            window=due.window,
            compare=spec.traffic.provider is TrafficProvider.ROUTER,
        )
        provider = self.prometheus.provider(spec.strategy.prometheus_url)
        if isinstance(due.analysis, Shadow):
            return await judge_shadow(provider, due.analysis, subject, now)
        if isinstance(due.analysis, ABTest):
            return await read_experiment(provider, due.analysis, subject, status.experiment, now)
        return await analyse(provider, due.analysis, subject, now)

    async def _apply(
        self, namespace: str, name: str, desired: list[JsonObject], keep: set[str]
    ) -> None:
        """Apply the desired objects that changed, were deleted or were edited by someone
        else since the last apply, and prune the rest; see `applied`."""
        observed = self.cache.observed(namespace, name)
        writes = await self.owned.apply((namespace, name), desired, keep, observed)
        if writes.prune:
            await self._prune(namespace, desired, keep, observed)

    async def _prune(
        self,
        namespace: str,
        desired: list[JsonObject],
        keep: set[str],
        observed: Mapping[ObjectKey, str],
    ) -> None:
        """Delete every object of this Deployment, as the watch holds them, that is no
        longer desired."""
        wanted = {object_key(obj) for obj in desired}
        for kind, child in sorted(observed.keys() - wanted):
            if child not in keep:
                log.info("deleting %s %s/%s: no longer desired", kind, namespace, child)
                await self.client.delete(OWNED_BY_KIND[kind], namespace, child)

    async def _report(
        self,
        body: Body,
        deployment: DeploymentResource,
        plan: Plan,
        status: DeploymentStatus,
        run: AnalysisStatus | None,
    ) -> None:
        """One Event per analysis run and per decision; a Warning when it becomes Degraded."""
        if run is not None:
            kind = "Normal" if run.phase is AnalysisPhase.SUCCESSFUL else "Warning"
            await self.client.post_event(body, kind, f"Analysis{run.phase.value}", _describe(run))
        for decision in plan.decisions:
            failed = decision.outcome in (Outcome.ROLLED_BACK, Outcome.ABORTED)
            kind = "Warning" if failed else "Normal"
            await self.client.post_event(body, kind, decision.reason.value, decision.message)
        if status.phase is Phase.DEGRADED and deployment.status.phase is not Phase.DEGRADED:
            await self.client.post_event(body, "Warning", "Degraded", status.message)

    async def model(self, namespace: str, name: str, body: Body) -> None:
        """Validate a Model and report its stage, approval and servers, after the common
        opening (`reconciler`)."""
        model = ModelResource.from_object(body)
        now = datetime.now(UTC).replace(microsecond=0)
        validation = validate_model(model)
        problems = validation.problems
        statuses = {
            deployment: (self.cache.deployment(namespace, deployment) or {}).get("status") or {}
            for deployment in self.cache.family_deployments(namespace, model.spec.name)
        }
        status = model_status(
            model, served_by(model, statuses), validation, now, starts(model, statuses)
        )
        if await self.model_statuses.write(body, model.status, status):
            if problems and problems != _problems_of(model):
                await self.client.post_event(
                    body, "Warning", "ValidationFailed", "; ".join(problems)
                )
            await self._report_approval(body, model, status)

    async def _report_approval(self, body: Body, model: ModelResource, status: ModelStatus) -> None:
        """An Event when a version becomes approved, and one each time what it needs changes."""
        after = get_condition(status.conditions, ModelConditionType.APPROVED)
        before = get_condition(model.status.conditions, ModelConditionType.APPROVED)
        if after is None:
            return
        approval = status.approval
        if approval is None and (before is None or before.message != after.message):
            await self.client.post_event(body, "Normal", APPROVAL_NEEDED, after.message)
        elif (
            approval is not None
            and approval.source is not ApprovalSource.MANIFEST
            and not model.status.approved
        ):
            await self.client.post_event(body, "Normal", "Approved", after.message)


def _problems_of(model: ModelResource) -> list[str]:
    """The problems the Model's status reports already, so each is posted as an Event once."""
    validated = get_condition(model.status.conditions, ModelConditionType.VALIDATED)
    if validated is None or validated.status == "True":
        return []
    return validated.message.split("; ")
