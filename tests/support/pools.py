"""Pool catalogues for tests and benchmarks: families of model directories written here.

A family is what the operator writes into a pool's catalogue ConfigMap (`api.pool`):
each version's artifact and profile as file:// URIs with their SHA-256, and its schema
in the Model resource's form. The ConfigMap is written as the operator writes it (its
labels, its name, a controller ownerReference to its modelkeeper.io Deployment), since a
pool's servers and router take no other; the Deployment is made for it, and no operator
acts on it in these tests.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from modelkeeper.api.base import API_VERSION
from modelkeeper.api.labels import DEPLOYMENT_LABEL, FAMILY_LABEL, app_labels
from modelkeeper.api.pool import POOL_LABEL, PooledFamily, catalogue_name
from tests.ground.ground import Kubectl
from tests.support.objects import deployment


def signature_of(directory: Path) -> dict[str, Any]:
    """A model directory's schema.json as a Model's spec.schema (capitalised types)."""
    schema = json.loads((directory / "schema.json").read_text())
    inputs = [
        {"name": spec["name"], "type": spec["type"].capitalize()}
        | ({"categories": spec["categories"]} if spec.get("categories") else {})
        for spec in schema["inputs"]
    ]
    output = {"type": schema["output"]["type"].capitalize()}
    if schema["output"].get("classes"):
        output["classes"] = [str(label) for label in schema["output"]["classes"]]
    return {"inputs": inputs, "output": output}


def pooled_version(
    version: str, directory: Path, role: str = "Stable", weight: int = 100
) -> dict[str, Any]:
    """One version of a family from a model directory (`save_model_dir`'s)."""
    model_file = directory / "model.joblib"
    profile = directory / "profile.json"
    return {
        "version": version,
        "model": f"{directory.name}-{version}",
        "role": role,
        "weight": weight,
        "uri": f"file://{model_file}",
        "sha256": hashlib.sha256(model_file.read_bytes()).hexdigest(),
        "format": "sklearn",
        "signature": signature_of(directory),
        "reference": {
            "uri": f"file://{profile}",
            "sha256": hashlib.sha256(profile.read_bytes()).hexdigest(),
        },
    }


def family(deployment: str, model: str, *versions: dict[str, Any], **fields: Any) -> PooledFamily:
    """A family of `versions`; `fields` sets its split or sampling."""
    return PooledFamily.model_validate(
        {"deployment": deployment, "model": model, "versions": list(versions), **fields}
    )


def catalogue_config_map(pool: str, pooled: PooledFamily, owner_uid: str) -> dict[str, Any]:
    """The ConfigMap the operator writes for a pooled Deployment (whose uid is given)."""
    name = pooled.deployment
    labels = app_labels(name, "catalogue") | {
        DEPLOYMENT_LABEL: name,
        FAMILY_LABEL: pooled.model,
        POOL_LABEL: pool,
    }
    owner = {
        "apiVersion": API_VERSION,
        "kind": "Deployment",
        "name": name,
        "uid": owner_uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": catalogue_name(name), "labels": labels, "ownerReferences": [owner]},
        "data": pooled.to_data(),
    }


def owned_catalogues(
    kubectl: Callable[..., subprocess.CompletedProcess[str]],
    pool: str,
    families: Sequence[PooledFamily],
) -> list[dict[str, Any]]:
    """The families' catalogue ConfigMaps, their modelkeeper.io Deployments (the CRDs must be
    installed) made first, all in one call: the garbage collector deletes a ConfigMap whose
    owner does not exist."""
    owners = [deployment(pooled.deployment, pooled.model, pool=pool) for pooled in families]
    listing = {"apiVersion": "v1", "kind": "List", "items": owners}
    kubectl("apply", "-f", "-", input=json.dumps(listing))
    made = json.loads(kubectl("get", "deployments.modelkeeper.io", "-o", "json").stdout)
    uids = {item["metadata"]["name"]: item["metadata"]["uid"] for item in made["items"]}
    return [catalogue_config_map(pool, pooled, uids[pooled.deployment]) for pooled in families]


def owned_catalogue(kubectl: Kubectl, pool: str, pooled: PooledFamily) -> dict[str, Any]:
    """The family's catalogue ConfigMap, its modelkeeper.io Deployment made first."""
    return owned_catalogues(kubectl, pool, [pooled])[0]
