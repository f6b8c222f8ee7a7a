"""The API server itself refuses each manifest of the invalid corpus, naming the field.

Each file under invalid/ says in its header which field the rejection must name
(`# rejects:`) and a phrase the message must hold (`# says:`). A file with two
documents is an update: the first is created, and changing it into the second
must be refused (immutable fields). Everything runs as server-side apply with
`--dry-run=server` for the refused document, in one namespace for the corpus.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.ground.controlplane import ControlPlane

INVALID = Path(__file__).parent / "invalid"


@dataclass(frozen=True)
class Case:
    """One invalid manifest and what its rejection must say."""

    path: Path
    field: str
    says: str
    documents: tuple[str, ...]

    @classmethod
    def read(cls, path: Path) -> Case:
        text = path.read_text(encoding="utf-8")
        header = dict(re.findall(r"^# (rejects|says): (.+)$", text, flags=re.MULTILINE))
        return cls(path, header["rejects"], header["says"], tuple(text.split("\n---\n")))

    def named_field(self, message: str) -> bool:
        """The message names the field itself, not a longer path that ends with it."""
        return (
            re.search(rf"(^|[\s*])\.?{re.escape(self.field)}: ", message, re.MULTILINE) is not None
        )


CASES = [Case.read(path) for path in sorted(INVALID.glob("*.yaml"))]


@pytest.fixture(scope="module")
def corpus_namespace(crds: Path, control_plane: ControlPlane) -> Iterator[str]:
    name = f"invalid-corpus-{uuid.uuid4().hex[:6]}"
    control_plane.kubectl("create", "namespace", name)
    yield name
    control_plane.kubectl("delete", "namespace", name, "--wait=false", check=False)


def test_the_corpus_covers_every_kind_with_at_least_forty_manifests() -> None:
    assert len(CASES) >= 40
    kinds = {re.search(r"^kind: (\w+)$", case.documents[-1], re.MULTILINE)[1] for case in CASES}  # type: ignore[index]
    assert kinds == {"Model", "Deployment", "DriftMonitor", "RetrainPolicy", "ServingPool"}


@pytest.mark.parametrize("case", [pytest.param(case, id=case.path.stem) for case in CASES])
def test_the_api_server_refuses_it_and_names_the_field(
    case: Case, corpus_namespace: str, control_plane: ControlPlane
) -> None:
    *earlier, refused = case.documents
    for document in earlier:
        control_plane.kubectl(
            "apply", "--server-side", "-n", corpus_namespace, "-f", "-", input=document
        )
    result = control_plane.kubectl(
        "apply",
        "--server-side",
        "--dry-run=server",
        "-n",
        corpus_namespace,
        "-f",
        "-",
        input=refused,
        check=False,
    )
    assert result.returncode != 0, f"accepted:\n{result.stdout}"
    assert case.named_field(result.stderr), f"{case.field!r} not named in:\n{result.stderr}"
    assert case.says in result.stderr
    # Finding 9: a rule's own evaluation error is never what a person reads.
    for leak in ("type conversion error", "google.protobuf", "no such overload"):
        assert leak not in result.stderr, result.stderr
