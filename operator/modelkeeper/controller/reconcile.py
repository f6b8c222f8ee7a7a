"""One reconcile of a Deployment or a Model: read, decide with the pure layers, apply, report.

Everything here is plumbing around `selection`, `rollout`, `builders` and `status`:
gather what is observed, ask them, apply the desired objects with server-side apply,
delete what is no longer desired, write the status once if it changed, and post one
Event per decision. A reconcile returns when it wants to run again (a deadline or a
drain ends); the caller also runs it on every relevant watch event and every resync.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from modelkeeper.api.base import ApiModel
from modelkeeper.api.deployment import DeploymentResource, DeploymentStatus, Phase
from modelkeeper.api.model import ApprovalSource, ModelConditionType, ModelResource, Serving
from modelkeeper.api.types import ServingRole
from modelkeeper.controller import builders
from modelkeeper.controller.builders import BuildInput, RunningVersion
from modelkeeper.controller.cache import Body, Cache
from modelkeeper.controller.metrics import DeploymentGauges
from modelkeeper.controller.rollout import Plan, Readiness, plan_direct
from modelkeeper.controller.selection import select_model
from modelkeeper.controller.settings import OperatorSettings
from modelkeeper.controller.status import (
    Observation,
    deployment_status,
    get_condition,
    model_status,
)
from modelkeeper.controller.validation import model_problems
from modelkeeper.kube import client as kinds
from modelkeeper.kube.client import JsonObject, Kind, KubeClient

log = logging.getLogger("modelkeeper.controller")

STALE_RETRY_SECONDS = 0.2
PRUNED_KINDS: tuple[Kind, ...] = (
    kinds.APPS_DEPLOYMENT,
    kinds.SERVICE,
    kinds.CONFIG_MAP,
    kinds.HPA,
    kinds.PDB,
)


def _status_document(body: Body, status: ApiModel) -> JsonObject:
    """An apply configuration of the status subresource: exactly the fields the operator owns.

    It carries the resourceVersion it was computed from, so a status computed from a stale
    view is refused (409) and computed again, never written over a newer one.
    """
    metadata = body["metadata"]
    return {
        "apiVersion": body["apiVersion"],
        "kind": body["kind"],
        "metadata": {
            "name": metadata["name"],
            "namespace": metadata["namespace"],
            "resourceVersion": metadata["resourceVersion"],
        },
        "status": status.model_dump(mode="json", by_alias=True, exclude_none=True),
    }


def _older(seen: str, written: str) -> bool:
    """Whether the watch has not yet delivered the version the operator wrote."""
    try:
        return int(seen) < int(written)
    except ValueError:  # resourceVersions are opaque; without numbers, trust the watch
        return False


def _same(old: ApiModel, new: ApiModel) -> bool:
    return old.model_dump(mode="json") == new.model_dump(mode="json")


@dataclass
class Reconciler:
    client: KubeClient
    settings: OperatorSettings
    cache: Cache
    gauges: DeploymentGauges
    pod_monitor: bool
    applied: dict[tuple[str, str], tuple[str, float]] = field(default_factory=dict)
    """A fingerprint of each Deployment's last applied objects, and when they were applied."""
    written: dict[tuple[str, str], str] = field(default_factory=dict)
    """The resourceVersion of each Deployment's last status write, until the watch shows it."""

    def _parse_models(self, namespace: str, family: str) -> list[ModelResource]:
        models = []
        for body in self.cache.family_models(namespace, family):
            try:
                models.append(ModelResource.from_object(body))
            except ValidationError as error:
                log.warning("Model %s/%s does not parse: %s", namespace, body["metadata"], error)
        return models

    async def _observe(self, namespace: str, name: str) -> list[JsonObject]:
        return await self.client.list(
            kinds.APPS_DEPLOYMENT, namespace, f"{builders.DEPLOYMENT_LABEL}={name}"
        )

    async def deployment(self, namespace: str, name: str) -> tuple[float | None, str]:
        """Drive a Deployment towards its spec; returns (seconds until it wants to run, family)."""
        body = self.cache.deployment(namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            self.gauges.forget(namespace, name)
            self.applied.pop((namespace, name), None)
            return None, ""
        written = self.written.get((namespace, name))
        if written is not None and _older(body["metadata"]["resourceVersion"], written):
            return STALE_RETRY_SECONDS, ""
        self.written.pop((namespace, name), None)
        deployment = DeploymentResource.from_object(body)
        spec = deployment.spec
        now = datetime.now(UTC).replace(microsecond=0)
        models = self._parse_models(namespace, spec.model.name)
        selection = select_model(spec.model, models, now)
        children = await self._observe(namespace, name)
        observed = {
            child["metadata"]["labels"][builders.VERSION_LABEL]: Readiness(
                replicas=child.get("status", {}).get("replicas", 0),
                ready=child.get("status", {}).get("readyReplicas", 0),
            )
            for child in children
            if child["metadata"]["labels"].get(builders.COMPONENT) == "server"
        }
        replicas = spec.autoscaling.min_replicas if spec.autoscaling else spec.replicas
        target = selection.model.spec.version if selection.model is not None else None
        deadline = timedelta(seconds=self.settings.progress_deadline_seconds)
        drain = timedelta(seconds=self.settings.drain_seconds)
        plan = plan_direct(target, deployment.status, observed, replicas, now, deadline, drain)

        by_version = {model.spec.version: model for model in models}
        running = [
            RunningVersion(
                by_version[version],
                ServingRole.CANARY if version == plan.candidate else ServingRole.STABLE,
            )
            for version in sorted(plan.run)
            if version in by_version
        ]
        # A version whose Model is gone keeps its objects: they cannot be rebuilt, only kept.
        orphaned = {builders.version_name(name, v) for v in plan.run if v not in by_version}
        build = BuildInput(
            deployment=deployment,
            running=running,
            routed_version=plan.stable,
            default_image=self.settings.default_image,
            pod_monitor=self.pod_monitor,
        )
        desired = builders.build_children(build)
        await self._apply(namespace, name, desired, orphaned, children)

        model_names = {model.spec.version: model.metadata.name for model in models}
        last = deployment.status
        known = {v.version: v.model for v in (last.stable, last.candidate) if v is not None}
        for version in plan.run - set(model_names):  # its Model is gone: keep the name we had
            model_names[version] = known.get(version, version)
        status = deployment_status(
            Observation(deployment, selection, plan, model_names, observed, replicas, now)
        )
        if not _same(deployment.status, status):
            result = await self.client.apply(_status_document(body, status), "status")
            self.written[(namespace, name)] = result["metadata"]["resourceVersion"]
        await self._report(body, deployment, plan, status)
        served = {(v.version, "Stable") for v in [status.stable] if v is not None}
        served |= {(v.version, v.role.value) for v in [status.candidate] if v is not None}
        self.gauges.record(namespace, name, status.phase.value if status.phase else "", served)
        return self._next_wake(plan, now, deadline, drain), spec.model.name

    def _next_wake(
        self, plan: Plan, now: datetime, deadline: timedelta, drain: timedelta
    ) -> float | None:
        """When a deadline or a drain ends, so the reconcile runs then without any event."""
        moments = []
        if plan.started is not None and not plan.deadline_exceeded:
            moments.append(plan.started + deadline)
        if plan.history and plan.history[0].finished + drain > now:
            moments.append(plan.history[0].finished + drain)
        if not moments:
            return None
        return max(0.0, (min(moments) - now).total_seconds()) + 1.0

    async def _apply(
        self,
        namespace: str,
        name: str,
        desired: list[JsonObject],
        keep: set[str],
        children: list[JsonObject],
    ) -> None:
        """Apply the desired objects and prune the rest, unless nothing changed since last time.

        The same desired objects applied within a resync period, with every scoring-server
        Deployment still there, are skipped: server-side apply of them would write nothing,
        and each reconcile that follows a status write would otherwise cost a dozen calls.
        """
        key = (namespace, name)
        fingerprint = hashlib.sha256(json.dumps(desired, sort_keys=True).encode()).hexdigest()
        present = {child["metadata"]["name"] for child in children}
        wanted = {o["metadata"]["name"] for o in desired if o["kind"] == "Deployment"}
        last = self.applied.get(key)
        fresh = last is not None and time.monotonic() - last[1] < self.settings.resync_seconds
        if fresh and last is not None and last[0] == fingerprint and wanted <= present:
            return
        # Other objects first, so a Deployment's pods find their ConfigMap and ServiceAccount.
        for wave in (
            [obj for obj in desired if obj["kind"] != "Deployment"],
            [obj for obj in desired if obj["kind"] == "Deployment"],
        ):
            await asyncio.gather(*(self.client.apply(obj) for obj in wave))
        if last is not None or children:  # a new Deployment has nothing to prune yet
            await self._prune(namespace, name, desired, keep, children)
        self.applied[key] = (fingerprint, time.monotonic())

    async def _prune(
        self,
        namespace: str,
        name: str,
        desired: list[JsonObject],
        keep: set[str],
        apps_deployments: list[JsonObject],
    ) -> None:
        """Delete every object of this Deployment that is no longer desired."""
        wanted = {(obj["kind"], obj["metadata"]["name"]) for obj in desired}
        selector = f"{builders.DEPLOYMENT_LABEL}={name},{builders.MANAGED_BY}={builders.MANAGER}"
        for kind in PRUNED_KINDS + ((kinds.POD_MONITOR,) if self.pod_monitor else ()):
            existing = (
                apps_deployments
                if kind is kinds.APPS_DEPLOYMENT
                else await self.client.list(kind, namespace, selector)
            )
            for obj in existing:
                child = obj["metadata"]["name"]
                if (kind.kind, child) not in wanted and child not in keep:
                    log.info("deleting %s %s/%s: no longer desired", kind.kind, namespace, child)
                    await self.client.delete(kind, namespace, child)

    async def _report(
        self, body: Body, deployment: DeploymentResource, plan: Plan, status: DeploymentStatus
    ) -> None:
        """One Event per decision, and a Warning when the Deployment becomes Degraded."""
        for decision in plan.decisions:
            await self.client.post_event(body, "Normal", decision.reason.value, decision.message)
        if status.phase is Phase.DEGRADED and deployment.status.phase is not Phase.DEGRADED:
            await self.client.post_event(body, "Warning", "Degraded", status.message)

    async def model(self, namespace: str, name: str) -> str:
        """Validate a Model and report its stage, approval and servers; returns its family."""
        body = self.cache.model(namespace, name)
        if body is None:
            return ""
        model = ModelResource.from_object(body)
        now = datetime.now(UTC).replace(microsecond=0)
        problems = model_problems(model)
        served_by = self._served_by(namespace, model)
        status = model_status(model, served_by, problems, now)
        if not _same(model.status, status):
            await self.client.apply(_status_document(body, status), "status")
            if problems and problems != _problems_of(model):
                await self.client.post_event(
                    body, "Warning", "ValidationFailed", "; ".join(problems)
                )
            approval = status.approval
            if (
                approval
                and approval.source is not ApprovalSource.MANIFEST
                and not model.status.approved
            ):
                await self.client.post_event(
                    body, "Normal", "Approved", f"approved by {approval.by}"
                )
        return model.spec.name

    def _served_by(self, namespace: str, model: ModelResource) -> list[Serving]:
        served = []
        for deployment_name in self.cache.family_deployments(namespace, model.spec.name):
            body = self.cache.deployment(namespace, deployment_name) or {}
            status: Any = body.get("status") or {}
            if (status.get("stable") or {}).get("model") == model.metadata.name:
                served.append(Serving(deployment=deployment_name, role=ServingRole.STABLE))
            elif (candidate := status.get("candidate") or {}).get("model") == model.metadata.name:
                served.append(Serving(deployment=deployment_name, role=candidate["role"]))
        return served


def _problems_of(model: ModelResource) -> list[str]:
    """The problems the Model's status reports already, so each is posted as an Event once."""
    validated = get_condition(model.status.conditions, ModelConditionType.VALIDATED)
    if validated is None or validated.status == "True":
        return []
    return validated.message.split("; ")
