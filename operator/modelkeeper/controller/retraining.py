"""One reconcile of a RetrainPolicy: observe its runs, finish them, maybe start one, report.

Plumbing around the pure `modelkeeper.retrain` modules: find the policy's workload
kind, let `retrainruns` list its workloads and finish the runs that ended (a finished
run's result is published by `retrainresults`: the Model it makes, with its
evaluation), ask `triggers.decide` whether to start a run, let `retrainruns` start it
and drop runs beyond the history limit with their workloads; then write the policy's
status once, and post an Event per run started, finished or throttled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from modelkeeper.api.annotations import Annotation
from modelkeeper.api.conditions import ConditionStatus, get_condition, set_condition
from modelkeeper.api.driftmonitor import DriftMonitorResource, DriftMonitorStatus
from modelkeeper.api.retrainpolicy import (
    RetrainPolicyConditionType,
    RetrainPolicyResource,
    RetrainPolicyStatus,
    Run,
    RunOutcome,
)
from modelkeeper.controller.cache import Body, Cache
from modelkeeper.controller.metrics import RetrainMetrics
from modelkeeper.controller.reconciler import Opening
from modelkeeper.controller.retrainresults import parsed_or_none
from modelkeeper.controller.retrainruns import RunBook, utc_now
from modelkeeper.controller.statuswrite import StatusWriter
from modelkeeper.kube import client as kinds
from modelkeeper.kube.client import Kind, KubeClient
from modelkeeper.retrain.triggers import Decision, decide, schedule_problems

ACTIVE_POLL_SECONDS = 30.0
"""How often a policy with runs going on looks at them without a watch event."""
MISSING_KIND_RETRY_SECONDS = 60.0
INVALID_SPEC = "InvalidSpec"


@dataclass
class RetrainPolicies:
    """Reconciles RetrainPolicies; the caller queues one on its own, DriftMonitor or Job events."""

    client: KubeClient
    cache: Cache
    artifact_root: str
    statuses: StatusWriter = field(init=False)
    metrics: RetrainMetrics = field(default_factory=RetrainMetrics)
    workload_kinds: dict[tuple[str, str], Kind] = field(default_factory=dict)
    """Workload kinds found by discovery, by (apiVersion, kind)."""

    def __post_init__(self) -> None:
        self.statuses = StatusWriter(self.client)

    async def reconcile(self, namespace: str, name: str) -> float | None:
        """Drive one policy; returns the seconds until it wants to run again, if it does."""
        opening = Opening(
            self.cache.retrain_policy, self.statuses, self._drive, self.metrics.forget
        )
        return await opening.reconcile(namespace, name)

    async def _drive(self, namespace: str, name: str, body: Body) -> float | None:
        policy = RetrainPolicyResource.from_object(body)
        now = utc_now()
        kind = await self._workload_kind(policy)
        if kind is None:
            await self._write(body, policy, policy.status, None, now, self._kind_missing(policy))
            return MISSING_KIND_RETRY_SECONDS
        runs = RunBook(self.client, self.cache, self.artifact_root)
        workloads = await runs.workloads(policy, kind)
        status, ended = await runs.finish(policy, workloads, now)
        if invalid := schedule_problems(policy.spec, now):
            await self._refuse(body, policy, status, ended, now, "; ".join(invalid))
            return ACTIVE_POLL_SECONDS if status.active else None
        monitors = self._monitors(policy)
        decision = decide(
            policy.spec,
            status,
            monitors,
            policy.metadata.annotations.get(Annotation.RETRAIN),
            now,
        )
        status = status.model_copy(
            update={
                "next_schedule_time": decision.next_schedule_time,
                "manual_request": decision.manual_request,
            }
        )
        if decision.start is not None:
            started = await runs.start(policy, kind, decision, status, workloads, now)
            status = status.model_copy(
                update={"active": [*status.active, started], "last_trigger_time": now}
            )
        await runs.prune(policy, kind, workloads, status)
        missing = [m for m, found in monitors.items() if found is None]
        problem = f"DriftMonitor(s) not found: {', '.join(missing)}" if missing else None
        await self._write(body, policy, status, decision, now, problem)
        await self._report(body, policy, ended, decision)
        self.metrics.record(namespace, name, len(status.active))
        return self._wake(status, decision, now)

    async def _workload_kind(self, policy: RetrainPolicyResource) -> Kind | None:
        resource = policy.spec.workload.resource
        if resource is None:
            return kinds.JOB
        key = (str(resource.object.get("apiVersion")), str(resource.object.get("kind")))
        if key not in self.workload_kinds:
            found = await self.client.find_kind(*key)
            if found is None:
                return None
            self.workload_kinds[key] = found
        return self.workload_kinds[key]

    @staticmethod
    def _kind_missing(policy: RetrainPolicyResource) -> str:
        obj = policy.spec.workload.resource.object if policy.spec.workload.resource else {}
        return (
            f"the API server serves no kind {obj.get('kind')} in {obj.get('apiVersion')}: "
            "install its CRD, or fix spec.workload.resource.object"
        )

    def _monitors(self, policy: RetrainPolicyResource) -> dict[str, DriftMonitorStatus | None]:
        names = {
            watched.monitor
            for trigger in policy.spec.triggers
            for watched in (trigger.drift, trigger.performance)
            if watched is not None
        }
        namespace = policy.metadata.namespace or ""
        found: dict[str, DriftMonitorStatus | None] = {}
        for monitor in sorted(names):
            parsed = parsed_or_none(
                DriftMonitorResource.from_object, self.cache.drift_monitor(namespace, monitor)
            )
            found[monitor] = parsed.status if parsed is not None else None
        return found

    async def _refuse(
        self,
        body: Body,
        policy: RetrainPolicyResource,
        status: RetrainPolicyStatus,
        ended: list[Run],
        now: datetime,
        problem: str,
    ) -> None:
        """A spec the API server accepted but that cannot run: Ready False, a Warning, no run.

        Runs that ended are still recorded; nothing new starts until the spec is fixed (a
        change of the policy reconciles it again).
        """
        previous = get_condition(policy.status.conditions, RetrainPolicyConditionType.READY)
        await self._write(body, policy, status, None, now, problem, INVALID_SPEC)
        await self._report(body, policy, ended, None)
        if previous is None or previous.reason != INVALID_SPEC or previous.message != problem:
            await self.client.post_event(body, "Warning", INVALID_SPEC, problem)

    async def _write(
        self,
        body: Body,
        policy: RetrainPolicyResource,
        status: RetrainPolicyStatus,
        decision: Decision | None,
        now: datetime,
        problem: str | None,
        reason: str = "ReferenceNotFound",
    ) -> None:
        generation = policy.metadata.generation
        conditions = set_condition(
            status.conditions,
            RetrainPolicyConditionType.READY,
            ConditionStatus.FALSE if problem else ConditionStatus.TRUE,
            reason if problem else "Ready",
            problem or "the workload kind and the DriftMonitors named are there",
            now,
            generation,
        )
        conditions = set_condition(
            conditions,
            RetrainPolicyConditionType.RUNNING,
            ConditionStatus.TRUE if status.active else ConditionStatus.FALSE,
            "RunActive" if status.active else "Idle",
            ", ".join(run.name for run in status.active) or "no run going on",
            now,
            generation,
        )
        throttled = decision.throttled if decision is not None else None
        conditions = set_condition(
            conditions,
            RetrainPolicyConditionType.THROTTLED,
            ConditionStatus.TRUE if throttled else ConditionStatus.FALSE,
            throttled.value if throttled else "NotThrottled",
            decision.message if decision is not None and throttled else "nothing held back",
            now,
            generation,
        )
        new = status.model_copy(
            update={"observed_generation": generation, "conditions": conditions}
        )
        await self.statuses.write(body, policy.status, new)

    async def _report(
        self,
        body: Body,
        policy: RetrainPolicyResource,
        ended: list[Run],
        decision: Decision | None,
    ) -> None:
        """An Event (and the run metrics) per run ended and started; an Event when a throttle
        begins or changes. Called after the status write, so a retried reconcile counts once."""
        namespace, name = policy.metadata.namespace or "", policy.metadata.name
        for run in ended:
            self.metrics.ended(namespace, name, run)
            failed = run.outcome is RunOutcome.FAILED
            await self.client.post_event(
                body,
                "Warning" if failed else "Normal",
                f"Run{run.outcome.value}",
                f"run {run.name}: {run.message}",
            )
        if decision is None:
            return
        if decision.start is not None:
            await self.client.post_event(
                body, "Normal", "RunStarted", f"{decision.start.kind.value} run: {decision.message}"
            )
        previous = get_condition(policy.status.conditions, RetrainPolicyConditionType.THROTTLED)
        if decision.throttled is not None and (
            previous is None
            or previous.status is not ConditionStatus.TRUE
            or previous.reason != decision.throttled.value
        ):
            await self.client.post_event(body, "Normal", "Throttled", decision.message)

    @staticmethod
    def _wake(status: RetrainPolicyStatus, decision: Decision, now: datetime) -> float | None:
        waits = [ACTIVE_POLL_SECONDS] if status.active else []
        if decision.wake is not None:
            waits.append(max(1.0, (decision.wake - now).total_seconds()))
        return min(waits) if waits else None
