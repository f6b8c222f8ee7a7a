"""The committed V2 gRPC modules are what `modelkeeper.grpcgen` writes from the .proto."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelkeeper import grpcgen
from modelkeeper.protocol import grpc_predict_v2_pb2 as pb

REPO = Path(__file__).resolve().parents[3]


def test_committed_modules_match_the_generator() -> None:
    diffs = grpcgen.stale(REPO)
    assert not diffs, "run `python -m modelkeeper.grpcgen`:\n" + "\n".join(diffs)


def test_check_fails_with_a_diff_when_a_module_differs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / grpcgen.PROTO).parent.mkdir(parents=True)
    (tmp_path / grpcgen.PROTO).write_bytes((REPO / grpcgen.PROTO).read_bytes())
    (tmp_path / grpcgen.MESSAGES).write_text("# stale\n")
    assert grpcgen.main(["--check", "--root", str(tmp_path)]) == 1
    assert "3 generated file(s) are stale" in capsys.readouterr().out


def test_the_service_is_the_v2_protocols() -> None:
    service = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    assert service.full_name == "inference.GRPCInferenceService"
    assert [method.name for method in service.methods] == [
        "ServerLive",
        "ServerReady",
        "ModelReady",
        "ServerMetadata",
        "ModelMetadata",
        "ModelInfer",
    ]
