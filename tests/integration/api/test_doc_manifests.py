"""Every manifest the docs show is accepted by the real API server (server-side dry-run).

The blocks are those of tests/unit/docs/docs_blocks.py: every fenced block of docs/ and
README.md with an `apiVersion:`. Each document is applied with `--server-side
--dry-run=server` in a fresh namespace, with the CRDs installed; a document that names its
own namespace gets that namespace created first. A doc example the API refuses fails
the build (finding 11: `spec.signature` was refused as an unknown field). Groups the
test ground does not serve are listed, with the reason, in docs_blocks.FOREIGN.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml

from tests.ground.controlplane import ControlPlane
from tests.unit.docs.docs_blocks import BLOCKS, FOREIGN, Block, group_of

APPLIED = [
    pytest.param(block, id=block.where)
    for block in BLOCKS
    if any(group_of(document) not in FOREIGN for document in block.documents)
]


def test_the_docs_have_manifests_to_apply() -> None:
    assert len(APPLIED) >= 3


@pytest.mark.parametrize("block", APPLIED)
def test_the_api_server_accepts_each_doc_manifest(
    block: Block, crds: Path, control_plane: ControlPlane
) -> None:
    namespace = f"docs-{uuid.uuid4().hex[:6]}"
    control_plane.kubectl("create", "namespace", namespace)
    try:
        for document in block.documents:
            if group_of(document) in FOREIGN:
                continue
            own = document.get("metadata", {}).get("namespace")
            if own:
                control_plane.kubectl("create", "namespace", own, check=False)
            result = control_plane.kubectl(
                "apply",
                "--server-side",
                "--dry-run=server",
                "--field-manager=docs-test",
                "-n",
                own or namespace,
                "-f",
                "-",
                input=yaml.safe_dump(document),
                check=False,
            )
            assert result.returncode == 0, f"{block.where}: refused:\n{result.stderr}"
    finally:
        control_plane.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
