"""A thin async client for the few calls the operator makes, on aiohttp.

Get, list by label selector, server-side apply (field manager "modelkeeper", forced:
the operator owns what it applies), delete, apply status, and post Events; for the
kubectl plugin, a JSON merge patch and the caller's own user name. Kinds are named by
a small table, so a caller writes `client.list(APPS_DEPLOYMENT, ...)` and never builds
a URL. Every request is counted by method (`modelkeeper_kube_requests_total`), so what
the operator asks of the API server shows in its own /metrics.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import aiohttp
from prometheus_client import Counter

from modelkeeper.kube.connection import Connection

FIELD_MANAGER = "modelkeeper"
JsonObject = dict[str, Any]
REQUESTS = Counter(
    "modelkeeper_kube_requests_total",
    "Requests to the Kubernetes API server by this process's client, by HTTP method (kopf's "
    "own lists and watches not included).",
    ["method"],
)
EventListener = Callable[[Mapping[str, Any], JsonObject], None]
"""Told of each Event the client posted (the object it regards, the Event); must not block."""


@dataclass(frozen=True)
class Kind:
    """One kind of object the operator touches, and where its API lives."""

    kind: str
    api_version: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        prefix = "/api/" if "/" not in self.api_version else "/apis/"
        path = prefix + self.api_version
        if self.namespaced and namespace is not None:
            path += f"/namespaces/{namespace}"
        path += f"/{self.plural}"
        return path + (f"/{name}" if name is not None else "")


APPS_DEPLOYMENT = Kind("Deployment", "apps/v1", "deployments")
SERVICE = Kind("Service", "v1", "services")
CONFIG_MAP = Kind("ConfigMap", "v1", "configmaps")
SERVICE_ACCOUNT = Kind("ServiceAccount", "v1", "serviceaccounts")
EVENT = Kind("Event", "v1", "events")
ROLE = Kind("Role", "rbac.authorization.k8s.io/v1", "roles")
ROLE_BINDING = Kind("RoleBinding", "rbac.authorization.k8s.io/v1", "rolebindings")
HPA = Kind("HorizontalPodAutoscaler", "autoscaling/v2", "horizontalpodautoscalers")
PDB = Kind("PodDisruptionBudget", "policy/v1", "poddisruptionbudgets")
POD_MONITOR = Kind("PodMonitor", "monitoring.coreos.com/v1", "podmonitors")
HTTP_ROUTE = Kind("HTTPRoute", "gateway.networking.k8s.io/v1", "httproutes")
SELF_SUBJECT_REVIEW = Kind(
    "SelfSubjectReview", "authentication.k8s.io/v1", "selfsubjectreviews", namespaced=False
)
MODEL = Kind("Model", "modelkeeper.io/v1alpha1", "models")
DEPLOYMENT = Kind("Deployment", "modelkeeper.io/v1alpha1", "deployments")
DRIFT_MONITOR = Kind("DriftMonitor", "modelkeeper.io/v1alpha1", "driftmonitors")
RETRAIN_POLICY = Kind("RetrainPolicy", "modelkeeper.io/v1alpha1", "retrainpolicies")
SERVING_POOL = Kind("ServingPool", "modelkeeper.io/v1alpha1", "servingpools")
JOB = Kind("Job", "batch/v1", "jobs")
LEASE = Kind("Lease", "coordination.k8s.io/v1", "leases")
POD = Kind("Pod", "v1", "pods")

KINDS: tuple[Kind, ...] = (
    APPS_DEPLOYMENT,
    SERVICE,
    CONFIG_MAP,
    SERVICE_ACCOUNT,
    EVENT,
    ROLE,
    ROLE_BINDING,
    HPA,
    PDB,
    POD_MONITOR,
    HTTP_ROUTE,
    MODEL,
    DEPLOYMENT,
    DRIFT_MONITOR,
    RETRAIN_POLICY,
    SERVING_POOL,
    JOB,
    POD,
)
_BY_TYPE = {(kind.api_version, kind.kind): kind for kind in KINDS}


def kind_of(obj: Mapping[str, Any]) -> Kind:
    """The table entry for an object, by its apiVersion and kind."""
    return _BY_TYPE[(obj["apiVersion"], obj["kind"])]


class ApiError(RuntimeError):
    """The API server refused a call; `status` is its HTTP status."""

    def __init__(self, status: int, method: str, path: str, message: str) -> None:
        super().__init__(f"{method} {path}: {status} {message}")
        self.status = status
        self.message = message


class KubeClient:
    """One aiohttp session to one API server."""

    def __init__(
        self,
        connection: Connection,
        listeners: Sequence[EventListener] = (),
        instance: str = FIELD_MANAGER,
    ) -> None:
        self._connection = connection
        # Which replica of the operator this is: its Events name it as reportingInstance.
        self._instance = instance
        self._listeners = tuple(listeners)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=connection.ssl_context, limit=32),
            timeout=aiohttp.ClientTimeout(total=30),
        )

    async def close(self) -> None:
        await self._session.close()

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> JsonObject | None:
        """One request; None for 404, ApiError for any other failure."""
        REQUESTS.labels(method).inc()
        headers = {**self._connection.headers(), "Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body)
        async with self._session.request(
            method, self._connection.base_url + path, params=params, data=data, headers=headers
        ) as response:
            text = await response.text()
            if response.status == 404:
                return None
            if response.status >= 400:
                try:
                    message = json.loads(text).get("message", text)
                except ValueError:
                    message = text
                raise ApiError(response.status, method, path, message)
            result: JsonObject = json.loads(text) if text else {}
            return result

    async def get(self, kind: Kind, namespace: str | None, name: str) -> JsonObject | None:
        return await self._call("GET", kind.path(namespace, name))

    async def list(
        self, kind: Kind, namespace: str | None, selector: str = "", *, field_selector: str = ""
    ) -> list[JsonObject]:
        """Objects of a kind matching a label and a field selector; none if it is not served."""
        params = {"labelSelector": selector, "fieldSelector": field_selector}
        wanted = {key: value for key, value in params.items() if value}
        found = await self._call("GET", kind.path(namespace), params=wanted)
        return [] if found is None else list(found.get("items", []))

    async def apply(self, obj: Mapping[str, Any], subresource: str = "") -> JsonObject:
        """Server-side apply: the operator's field manager owns exactly the fields in `obj`."""
        kind = kind_of(obj)
        metadata = obj["metadata"]
        path = kind.path(metadata.get("namespace"), metadata["name"])
        result = await self._call(
            "PATCH",
            path + (f"/{subresource}" if subresource else ""),
            params={"fieldManager": FIELD_MANAGER, "force": "true"},
            body=obj,
            content_type="application/apply-patch+yaml",
        )
        if result is None:
            raise ApiError(404, "PATCH", path, "not found")
        return result

    async def create(self, kind: Kind, obj: Mapping[str, Any]) -> JsonObject:
        """Create an object; ApiError 409 when one of its name exists already."""
        path = kind.path(obj["metadata"].get("namespace"))
        result = await self._call("POST", path, body=obj)
        if result is None:
            raise ApiError(404, "POST", path, "not found")
        return result

    async def find_kind(self, api_version: str, kind: str) -> Kind | None:
        """A kind the table does not name (a workload kind from a CRD), from API discovery."""
        prefix = "/api/" if "/" not in api_version else "/apis/"
        found = await self._call("GET", prefix + api_version)
        for resource in (found or {}).get("resources", []):
            if resource.get("kind") == kind and "/" not in resource.get("name", "/"):
                return Kind(kind, api_version, resource["name"], resource.get("namespaced", True))
        return None

    async def merge_patch(
        self, kind: Kind, namespace: str | None, name: str, patch: JsonObject, field_manager: str
    ) -> JsonObject | None:
        """A JSON merge patch (null removes a key), recorded under `field_manager`; None if gone."""
        return await self._call(
            "PATCH",
            kind.path(namespace, name),
            params={"fieldManager": field_manager},
            body=patch,
            content_type="application/merge-patch+json",
        )

    async def whoami(self) -> str | None:
        """The caller's user name, by a SelfSubjectReview; None if the server has no such API."""
        review = await self._call(
            "POST",
            SELF_SUBJECT_REVIEW.path(),
            body={"apiVersion": SELF_SUBJECT_REVIEW.api_version, "kind": SELF_SUBJECT_REVIEW.kind},
        )
        if review is None:
            return None
        username: str | None = review.get("status", {}).get("userInfo", {}).get("username")
        return username

    async def delete(self, kind: Kind, namespace: str | None, name: str) -> None:
        """Delete in the background (dependents go through the garbage collector); gone is fine."""
        await self._call(
            "DELETE", kind.path(namespace, name), body={"propagationPolicy": "Background"}
        )

    async def serves(self, api_version: str) -> bool:
        """Whether the API server serves a group version, such as monitoring.coreos.com/v1."""
        return await self._call("GET", f"/apis/{api_version}") is not None

    async def post_event(
        self, regarding: Mapping[str, Any], event_type: str, reason: str, message: str
    ) -> None:
        """A core/v1 Event about an object, as `kubectl describe` shows them; then the
        listeners are told (the operator's notifications)."""
        metadata = regarding["metadata"]
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{metadata['name']}.{uuid4().hex[:12]}",
                "namespace": metadata["namespace"],
            },
            "involvedObject": {
                "apiVersion": regarding["apiVersion"],
                "kind": regarding["kind"],
                "name": metadata["name"],
                "namespace": metadata["namespace"],
                "uid": metadata.get("uid"),
            },
            "type": event_type,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": FIELD_MANAGER},
            "reportingComponent": FIELD_MANAGER,
            "reportingInstance": self._instance[:128],
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        await self._call("POST", EVENT.path(metadata["namespace"]), body=event)
        for listener in self._listeners:
            listener(regarding, event)
