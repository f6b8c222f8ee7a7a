"""`kubectl modelkeeper audit` against the real API server.

Given a family's Models, RetrainPolicy and Deployment applied from manifests, their statuses
written through the status subresource as the operator would, and Events about them: the
plugin lists each kind by its selectable field (and Events by involvedObject.kind) and prints
the record as a table, as JSON and as a Markdown model card.
"""

from __future__ import annotations

import json
import re

import yaml

from tests.ground.ground import Kubectl
from tests.integration.plugin.plugin_harness import Plugin, write_status
from tests.support import auditfamily


def given_the_family(kubectl: Kubectl, namespace: str) -> None:
    """The objects applied, their statuses written, and the Events created."""
    objects = [*auditfamily.models(), auditfamily.policy(), auditfamily.deployment()]
    statuses = [
        (obj["kind"].lower(), obj["metadata"]["name"], obj.pop("status", None)) for obj in objects
    ]
    kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))
    for kind, name, status in statuses:
        if status:
            plural = {"model": "models", "retrainpolicy": "retrainpolicies"}.get(
                kind, "deployments.modelkeeper.io"
            )
            write_status(kubectl, f"{plural}/{name}", status)
    events = auditfamily.events()
    for event in events:
        event["metadata"]["namespace"] = namespace
        event["involvedObject"]["namespace"] = namespace
    kubectl("create", "-f", "-", input=yaml.safe_dump_all(events))


def test_the_record_in_three_formats(plugin: Plugin, kubectl: Kubectl, namespace: str) -> None:
    # Given a family with three versions, a policy's runs, a Deployment's rollouts and Events
    given_the_family(kubectl, namespace)

    # When the record is asked for as data
    data = plugin("audit", auditfamily.FAMILY, "-o", "json")

    # Then it holds the family's versions only, each with what the API server holds of it
    assert (data.code, data.err) == (0, "")
    record = json.loads(data.out)
    assert (record["family"], record["namespace"]) == (auditfamily.FAMILY, namespace)
    versions = {version["version"]: version for version in record["versions"]}
    assert [version["version"] for version in record["versions"]] == ["1", "2", "3"]
    second = versions["2"]
    assert second["lineage"]["codeImageDigest"] == auditfamily.TRAINER_DIGEST
    assert second["trigger"]["reason"] == auditfamily.DRIFT_REASON
    assert second["trigger"]["outcome"] == "Succeeded"
    assert [r["outcome"] for r in second["rollouts"]] == ["RolledBack", "Promoted"]
    assert second["servedBy"] == [{"deployment": auditfamily.FAMILY, "role": "Stable"}]
    assert [(e["reason"], e["message"]) for e in second["events"]] == [
        ("Approved", "approved by retrainpolicy/diabetes-retrain")
    ]
    assert second["evaluation"]["fairness"]["demographicParityDifference"] == 0.063492
    assert versions["3"]["approvals"] == [
        {"by": "jane@example.com", "at": None, "source": "Annotation"}
    ]
    assert versions["3"]["trigger"]["trigger"] == "Manual"

    # When it is asked for as a table and as a model card
    table = plugin("audit", auditfamily.FAMILY)
    card = plugin("audit", auditfamily.FAMILY, "-o", "markdown")

    # Then the table has a row per version and the card a section per version
    assert (table.code, card.code) == (0, 0)
    rows = [re.split(r" {3,}", line) for line in table.out.splitlines()]
    assert [row[:3] for row in rows] == [
        ["VERSION", "STAGE", "TRIGGER"],
        ["1", "Retired", "-"],
        ["2", "Production", "Drift"],
        ["3", "Rejected", "Manual"],
    ]
    assert "failed sex: dpd 0.31" in rows[3][6]
    assert card.out.startswith(f"# Model card: {auditfamily.FAMILY}\n")
    sections = re.findall(r"^## Version (\S+) ", card.out, flags=re.MULTILINE)
    assert sections == ["1", "2", "3"]
    assert "**Failed**: r2 0.41 against the champion's 0.369025" in card.out


def test_a_family_without_models(plugin: Plugin) -> None:
    result = plugin("audit", "churn")

    assert (result.code, result.err) == (0, "")
    assert result.out == "no Models of family churn in namespace " + plugin.namespace + "\n"
