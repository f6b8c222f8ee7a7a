"""A RetrainPolicy's runs: their workloads listed, the ended ones finished, new ones started.

The bookkeeping of one reconcile between a policy and the workloads (Jobs, or the kind
its spec names) of its runs. Everything a run needs is on its workload, so a run whose
status write was lost is adopted from it. A run whose workload ended moves to the
history (its result published by `retrainresults`); a new run gets the next free
version and a workload; runs that fell out of the history lose their workloads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from modelkeeper.api.labels import REASON_ANNOTATION, RUN_LABEL, TRIGGER_LABEL, VERSION_LABEL
from modelkeeper.api.retrainpolicy import (
    RetrainPolicyResource,
    RetrainPolicyStatus,
    Run,
    RunOutcome,
    TriggerKind,
)
from modelkeeper.controller.cache import Cache
from modelkeeper.controller.retrainresults import ResultPublisher, end_run, family_of
from modelkeeper.kube import client as kinds
from modelkeeper.kube.client import ApiError, JsonObject, Kind, KubeClient
from modelkeeper.retrain.result import ResultError, find_champion, parse_result
from modelkeeper.retrain.triggers import Decision
from modelkeeper.retrain.workload import (
    RunPlan,
    WorkloadState,
    build_workload,
    failure_message,
    next_version,
    observe,
    output_uri,
    policy_selector,
    result_container,
    run_name,
    run_selector,
    workload_ref,
)


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def adopted_run(obj: JsonObject) -> Run:
    """A run found only from its workload (its status write was lost)."""
    metadata = obj["metadata"]
    return Run(
        name=metadata["labels"][RUN_LABEL],
        trigger=TriggerKind(metadata["labels"].get(TRIGGER_LABEL, TriggerKind.MANUAL.value)),
        reason=metadata.get("annotations", {}).get(REASON_ANNOTATION, "")[:1024],
        workload=workload_ref(obj),
        start_time=metadata.get("creationTimestamp") or utc_now(),
    )


@dataclass(frozen=True)
class RunBook:
    """The runs of the policies, as one reconcile sees them (its cache)."""

    client: KubeClient
    cache: Cache
    artifact_root: str

    async def workloads(self, policy: RetrainPolicyResource, kind: Kind) -> dict[str, JsonObject]:
        """The policy's workloads, by run."""
        return {
            obj["metadata"]["labels"][RUN_LABEL]: {
                **obj,
                "apiVersion": kind.api_version,
                "kind": kind.kind,
            }  # a list's items name no kind
            for obj in await self.client.list(
                kind, policy.metadata.namespace, policy_selector(policy.metadata.name)
            )
            if RUN_LABEL in obj["metadata"].get("labels", {})
        }

    async def finish(
        self, policy: RetrainPolicyResource, workloads: dict[str, JsonObject], now: datetime
    ) -> tuple[RetrainPolicyStatus, list[Run]]:
        """The status with the runs that ended moved to history, and an Event for each."""
        status = policy.status
        known = {run.name for run in (*status.active, *status.history)}
        adopted = [
            adopted_run(obj)
            for run, obj in sorted(workloads.items())
            if run not in known and not obj["metadata"].get("deletionTimestamp")
        ]
        active: list[Run] = []
        ended: list[Run] = []
        failures = status.consecutive_failures
        for run in (*status.active, *adopted):
            finished = await self._observe(policy, run, workloads.get(run.name), now)
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

    async def _observe(
        self, policy: RetrainPolicyResource, run: Run, obj: JsonObject | None, now: datetime
    ) -> Run | None:
        """How a run ended, or None while it goes on."""
        if obj is None:
            message = "its workload is gone"
            if run.workload is not None:
                message = f"its workload {run.workload.kind} {run.workload.name} is gone"
            return end_run(run, RunOutcome.FAILED, message, None, now)
        observed = observe(policy, obj)
        if observed.state is WorkloadState.RUNNING:
            return None
        pods = await self.client.list(
            kinds.POD, policy.metadata.namespace, run_selector(policy.metadata.name, run.name)
        )
        if observed.state is WorkloadState.FAILED:
            details = "; ".join(part for part in (observed.message, failure_message(pods)) if part)
            return end_run(run, RunOutcome.FAILED, f"the workload failed: {details}", None, now)
        ended = result_container(pods)
        try:
            result = parse_result(ended.message if ended is not None else "")
        except ResultError as error:
            return end_run(run, RunOutcome.FAILED, str(error), None, now)
        digest = ended.image_digest if ended is not None else None
        return await ResultPublisher(self.client, self.cache).publish(
            policy, run, obj, result, digest, now
        )

    async def start(
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
        models, deployments = family_of(self.cache, policy)
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

    async def prune(
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
