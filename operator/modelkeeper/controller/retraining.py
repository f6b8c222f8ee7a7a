"""One reconcile of a RetrainPolicy: observe its runs, finish them, maybe start one, report.

Plumbing around the pure `modelkeeper.retrain` modules: list the policy's workloads,
read a finished run's result from its pod's termination message, create the Model it
makes (or reuse the one an interrupted earlier attempt made) and write that Model's
evaluation, ask `triggers.decide` whether to start a run, create its workload, drop
runs beyond the history limit with their workloads, write the policy's status once,
and post an Event per run started, finished or throttled. Everything a run needs is
on its workload, so a run whose status write was lost is adopted from it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from pydantic import ValidationError

from modelkeeper.api.annotations import Annotation
from modelkeeper.api.conditions import ConditionStatus
from modelkeeper.api.deployment import DeploymentResource
from modelkeeper.api.driftmonitor import DriftMonitorResource, DriftMonitorStatus
from modelkeeper.api.model import ModelConditionType, ModelResource, RetrainingRun
from modelkeeper.api.retrainpolicy import (
    RetrainPolicyConditionType,
    RetrainPolicyResource,
    RetrainPolicyStatus,
    Run,
    RunOutcome,
    TriggerKind,
)
from modelkeeper.controller.cache import Body, Cache
from modelkeeper.controller.manifests import VERSION_LABEL
from modelkeeper.controller.metrics import RetrainMetrics
from modelkeeper.controller.reconciler import Opening
from modelkeeper.controller.status import get_condition, set_condition
from modelkeeper.controller.statuswrite import StatusWriter, status_document
from modelkeeper.kube import client as kinds
from modelkeeper.kube.client import ApiError, JsonObject, Kind, KubeClient
from modelkeeper.retrain.result import (
    ResultError,
    TrainingResult,
    auto_approval,
    build_model,
    evaluate,
    evaluated_status,
    find_champion,
    parse_result,
    schema_misfit,
)
from modelkeeper.retrain.triggers import Decision, decide, schedule_problems
from modelkeeper.retrain.workload import (
    PARENT_LABEL,
    REASON_ANNOTATION,
    RUN_LABEL,
    TRIGGER_LABEL,
    RunPlan,
    WorkloadState,
    build_workload,
    code_image,
    failure_message,
    next_version,
    observe,
    output_uri,
    policy_selector,
    result_message,
    run_name,
    run_selector,
    workload_ref,
)

log = logging.getLogger("modelkeeper.controller.retraining")
T = TypeVar("T")

ACTIVE_POLL_SECONDS = 30.0
"""How often a policy with runs going on looks at them without a watch event."""
MISSING_KIND_RETRY_SECONDS = 60.0
INVALID_SPEC = "InvalidSpec"


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _parsed_or_none(parse: Callable[[Body], T], body: Body | None) -> T | None:
    """An object parsed, or None when it is missing or does not parse (logged)."""
    if body is None:
        return None
    try:
        parsed = parse(body)
    except ValidationError as error:
        log.warning("%s does not parse: %s", body["metadata"].get("name"), error)
        return None
    return parsed


def _adopted(obj: JsonObject) -> Run:
    """A run found only from its workload (its status write was lost)."""
    metadata = obj["metadata"]
    return Run(
        name=metadata["labels"][RUN_LABEL],
        trigger=TriggerKind(metadata["labels"].get(TRIGGER_LABEL, TriggerKind.MANUAL.value)),
        reason=metadata.get("annotations", {}).get(REASON_ANNOTATION, "")[:1024],
        workload=workload_ref(obj),
        start_time=metadata.get("creationTimestamp") or _now(),
    )


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
        now = _now()
        kind = await self._workload_kind(policy)
        if kind is None:
            await self._write(body, policy, policy.status, None, now, self._kind_missing(policy))
            return MISSING_KIND_RETRY_SECONDS
        workloads = {
            obj["metadata"]["labels"][RUN_LABEL]: {
                **obj,
                "apiVersion": kind.api_version,
                "kind": kind.kind,
            }  # a list's items name no kind
            for obj in await self.client.list(kind, namespace, policy_selector(name))
            if RUN_LABEL in obj["metadata"].get("labels", {})
        }
        status, ended = await self._finish_runs(policy, workloads, now)
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
            started = await self._start(policy, kind, decision, status, workloads, now)
            status = status.model_copy(
                update={"active": [*status.active, started], "last_trigger_time": now}
            )
        await self._prune(policy, kind, workloads, status)
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
            parsed = _parsed_or_none(
                DriftMonitorResource.from_object, self.cache.drift_monitor(namespace, monitor)
            )
            found[monitor] = parsed.status if parsed is not None else None
        return found

    def _family(
        self, policy: RetrainPolicyResource
    ) -> tuple[list[ModelResource], list[DeploymentResource]]:
        namespace, family = policy.metadata.namespace or "", policy.spec.model.name
        models = [
            parsed
            for body in self.cache.family_models(namespace, family)
            if (parsed := _parsed_or_none(ModelResource.from_object, body)) is not None
        ]
        deployments = [
            deployment
            for name in self.cache.family_deployments(namespace, family)
            if (
                deployment := _parsed_or_none(
                    DeploymentResource.from_object, self.cache.deployment(namespace, name)
                )
            )
            is not None
        ]
        return models, deployments

    async def _finish_runs(
        self, policy: RetrainPolicyResource, workloads: dict[str, JsonObject], now: datetime
    ) -> tuple[RetrainPolicyStatus, list[Run]]:
        """The status with the runs that ended moved to history, and an Event for each."""
        status = policy.status
        known = {run.name for run in (*status.active, *status.history)}
        adopted = [
            _adopted(obj)
            for run, obj in sorted(workloads.items())
            if run not in known and not obj["metadata"].get("deletionTimestamp")
        ]
        active: list[Run] = []
        ended: list[Run] = []
        failures = status.consecutive_failures
        for run in (*status.active, *adopted):
            finished = await self._observe_run(policy, run, workloads.get(run.name), now)
            if finished is None:
                active.append(run)
                continue
            ended.append(finished)
            failures = failures + 1 if finished.outcome is RunOutcome.FAILED else 0
        starts = [run.start_time for run in adopted]
        if status.last_trigger_time is not None:
            starts.append(status.last_trigger_time)
        return (
            status.model_copy(
                update={
                    "active": active,
                    "history": [*reversed(ended), *status.history][: policy.spec.history_limit],
                    "consecutive_failures": failures,
                    "last_trigger_time": max(starts) if starts else None,
                }
            ),
            ended,
        )

    async def _observe_run(
        self, policy: RetrainPolicyResource, run: Run, obj: JsonObject | None, now: datetime
    ) -> Run | None:
        """How a run ended, or None while it goes on."""
        if obj is None:
            message = "its workload is gone"
            if run.workload is not None:
                message = f"its workload {run.workload.kind} {run.workload.name} is gone"
            return self._ended(run, RunOutcome.FAILED, message, None, now)
        observed = observe(policy, obj)
        if observed.state is WorkloadState.RUNNING:
            return None
        pods = await self.client.list(
            kinds.POD, policy.metadata.namespace, run_selector(policy.metadata.name, run.name)
        )
        if observed.state is WorkloadState.FAILED:
            details = "; ".join(part for part in (observed.message, failure_message(pods)) if part)
            return self._ended(run, RunOutcome.FAILED, f"the workload failed: {details}", None, now)
        try:
            result = parse_result(result_message(pods))
        except ResultError as error:
            return self._ended(run, RunOutcome.FAILED, str(error), None, now)
        return await self._register(policy, run, obj, result, now)

    async def _register(
        self,
        policy: RetrainPolicyResource,
        run: Run,
        obj: JsonObject,
        result: TrainingResult,
        now: datetime,
    ) -> Run:
        """Create the run's Model (or reuse it), write its evaluation, and end the run."""
        labels = obj["metadata"]["labels"]
        models, deployments = self._family(policy)
        champion = find_champion(policy.spec.model.name, models, deployments, now)
        if (misfit := schema_misfit(result, champion)) is not None:
            return self._ended(run, RunOutcome.FAILED, misfit, None, now)
        manifest = build_model(
            policy,
            run.name,
            labels[VERSION_LABEL],
            result,
            champion,
            labels.get(PARENT_LABEL),
            code_image(obj),
        )
        try:
            created = await self.client.create(kinds.MODEL, manifest)
        except ApiError as error:
            if error.status != 409:
                raise
            existing = await self.client.get(
                kinds.MODEL, policy.metadata.namespace, manifest["metadata"]["name"]
            )
            if existing is None:  # deleted since: create it on the next reconcile
                raise
            created = existing
        model = ModelResource.from_object(created)
        made_by = model.spec.lineage.retraining_run if model.spec.lineage else None
        if made_by != RetrainingRun(policy=policy.metadata.name, run=run.name):
            return self._ended(
                run,
                RunOutcome.FAILED,
                f"Model {model.metadata.name} exists already and was not made by this run",
                None,
                now,
            )
        evaluation = model.status.evaluation
        if get_condition(model.status.conditions, ModelConditionType.EVALUATED) is None:
            evaluation = evaluate(policy.spec.gate, model.spec.metrics, champion)
            approval = auto_approval(policy, model.spec.governance.risk_tier, evaluation, now)
            status = evaluated_status(model, evaluation, approval, now)
            await self.client.apply(status_document(created, status), "status")
        rejected = evaluation is not None and not evaluation.passed
        message = f"Model {model.metadata.name} (version {model.spec.version})"
        if evaluation is not None:
            message += f": {evaluation.message}"
        return self._ended(
            run,
            RunOutcome.REJECTED if rejected else RunOutcome.SUCCEEDED,
            message,
            model.metadata.name,
            now,
        )

    @staticmethod
    def _ended(
        run: Run, outcome: RunOutcome, message: str, model: str | None, now: datetime
    ) -> Run:
        return run.model_copy(
            update={
                "outcome": outcome,
                "message": message[:1024],
                "model": model,
                "completion_time": now,
            }
        )

    async def _start(
        self,
        policy: RetrainPolicyResource,
        kind: Kind,
        decision: Decision,
        status: RetrainPolicyStatus,
        workloads: dict[str, JsonObject],
        now: datetime,
    ) -> Run:
        """Create the workload of a new run; a workload of the same name already is that run."""
        assert decision.start is not None
        models, deployments = self._family(policy)
        champion = find_champion(policy.spec.model.name, models, deployments, now)
        reserved = {
            obj["metadata"]["labels"].get(VERSION_LABEL, "")
            for run, obj in workloads.items()
            if run in {active.name for active in status.active}
        }
        version = next_version(
            {model.spec.version for model in models} | reserved,
            champion.spec.version if champion is not None else None,
        )
        plan = RunPlan(
            run=run_name(decision.start.kind, now),
            version=version,
            trigger=decision.start.kind,
            reason=decision.start.reason,
            output_uri=output_uri(self.artifact_root, policy.spec.model.name, version),
            champion=champion,
        )
        obj = build_workload(policy, plan)
        try:
            await self.client.create(kind, obj)
        except ApiError as error:
            if error.status != 409:
                raise
        return Run(
            name=plan.run,
            trigger=plan.trigger,
            reason=plan.reason[:1024],
            workload=workload_ref(obj),
            start_time=now,
            message=f"training version {version}"
            + (f" against champion {champion.spec.version}" if champion else ""),
        )

    async def _prune(
        self,
        policy: RetrainPolicyResource,
        kind: Kind,
        workloads: dict[str, JsonObject],
        status: RetrainPolicyStatus,
    ) -> None:
        """Delete the workloads of runs that fell out of the history."""
        kept = {run.name for run in (*status.active, *status.history)}
        for run, obj in sorted(workloads.items()):
            if run not in kept and not obj["metadata"].get("deletionTimestamp"):
                await self.client.delete(kind, policy.metadata.namespace, obj["metadata"]["name"])

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
