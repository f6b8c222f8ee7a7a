"""Every Modelkeeper manifest the docs show parses into the typed API, strictly.

The typed models forbid unknown fields as the CRDs do, so `spec.signature` (finding 11:
the field is `spec.schema`) fails here, in the unit tier, before the integration tier
applies every manifest to the real API server (tests/integration/api/test_doc_manifests.py).
"""

from __future__ import annotations

import pytest

from modelkeeper.api.kinds import parse_object
from tests.unit.docs.docs_blocks import BLOCKS, FOREIGN, MODELKEEPER, Block

MODELKEEPER_BLOCKS = [
    pytest.param(block, id=block.where) for block in BLOCKS if MODELKEEPER in block.groups()
]


def test_the_docs_show_modelkeeper_manifests() -> None:
    assert len(MODELKEEPER_BLOCKS) >= 2


@pytest.mark.parametrize("block", MODELKEEPER_BLOCKS)
def test_each_modelkeeper_manifest_parses_by_its_wire_names(block: Block) -> None:
    """By the wire names only, as the API server reads them: the typed models also take
    Python names (`signature` for `schema`), which the API server refuses."""
    for document in block.documents:
        if document.get("apiVersion", "").startswith(f"{MODELKEEPER}/"):
            resource = type(parse_object(document))
            resource.model_validate(document, by_alias=True, by_name=False)


def test_every_group_the_docs_show_is_applied_or_said_why_not() -> None:
    served = {MODELKEEPER, "", "apps", "rbac.authorization.k8s.io", "batch"}
    unknown = {
        block.where: group
        for block in BLOCKS
        for group in block.groups()
        if group not in served and group not in FOREIGN
    }
    assert not unknown, f"say in FOREIGN how these are checked: {unknown}"
