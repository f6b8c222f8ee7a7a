"""Pool catalogues for tests and benchmarks: families of model directories written here.

A family is what the operator writes into a pool's catalogue ConfigMap (`api.pool`):
each version's artifact and profile as file:// URIs with their SHA-256, and its schema
in the Model resource's form.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from modelkeeper.api.pool import POOL_LABEL, PooledFamily, catalogue_name


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


def catalogue_config_map(pool: str, pooled: PooledFamily) -> dict[str, Any]:
    """The ConfigMap the operator writes for a pooled Deployment."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": catalogue_name(pooled.deployment),
            "labels": {POOL_LABEL: pool},
        },
        "data": pooled.to_data(),
    }
