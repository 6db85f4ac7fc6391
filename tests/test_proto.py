"""The committed gRPC code is exactly what `make proto` generates from the .proto."""
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROTO = "proto/intercloud/slicing/v1/slicing.proto"
GENERATED = ("slicing_pb2.py", "slicing_pb2.pyi", "slicing_pb2_grpc.py")


def test_generated_code_matches_the_proto(tmp_path):
    (tmp_path / "proto/intercloud/slicing/v1").mkdir(parents=True)
    (tmp_path / PROTO).write_text((REPO / PROTO).read_text())
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", ".", "--python_out=.",
                    "--grpc_python_out=.", "--pyi_out=.", PROTO], cwd=tmp_path, check=True)
    for name in GENERATED:
        fresh = (tmp_path / "proto/intercloud/slicing/v1" / name).read_text()
        committed = (REPO / "proto/intercloud/slicing/v1" / name).read_text()
        assert fresh == committed, f"{name} is stale: run `make proto` and commit"


def test_api_follows_the_buf_style():
    from proto.intercloud.slicing.v1 import slicing_pb2 as pb

    assert pb.DESCRIPTOR.package == "intercloud.slicing.v1"
    for enum in pb.DESCRIPTOR.enum_types_by_name.values():
        assert enum.values[0].number == 0 and enum.values[0].name.endswith("_UNSPECIFIED")
    assert set(pb.DESCRIPTOR.services_by_name) == {"SliceService", "TopologyService"}
    spec_fields = set(pb.SliceSpec.DESCRIPTOR.fields_by_name)
    assert spec_fields == {"name", "tenant", "endpoints", "bandwidth_mbps", "max_latency_ms",
                           "priority", "allowed_regions", "protection"}
    # the spec's endpoint fields, plus where the endpoint is now (output only)
    assert set(pb.Endpoint.DESCRIPTOR.fields_by_name) == {"site", "port", "ip", "vlan", "standby",
                                                          "location", "location_reason"}
    assert set(pb.Standby.DESCRIPTOR.fields_by_name) == {"site", "port"}
