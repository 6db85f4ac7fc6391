"""The committed gRPC code is exactly what `make proto` generates from the .proto."""
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
import pytest

PROTOS = ("proto/intercloud/slicing/v1/slicing.proto", "proto/intercloud/federation/v1/federation.proto")


def test_make_proto_builds_every_proto():
    assert f"PROTOS := {' '.join(PROTOS)}" in (REPO / "Makefile").read_text()


@pytest.mark.parametrize("proto", PROTOS)
def test_generated_code_matches_the_proto(tmp_path, proto):
    folder, stem = proto.rsplit("/", 1)[0], proto.rsplit("/", 1)[1][:-len(".proto")]
    (tmp_path / folder).mkdir(parents=True)
    (tmp_path / proto).write_text((REPO / proto).read_text())
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", ".", "--python_out=.",
                    "--grpc_python_out=.", "--pyi_out=.", proto], cwd=tmp_path, check=True)
    for name in (f"{stem}_pb2.py", f"{stem}_pb2.pyi", f"{stem}_pb2_grpc.py"):
        fresh = (tmp_path / folder / name).read_text()
        committed = (REPO / folder / name).read_text()
        assert fresh == committed, f"{name} is stale: run `make proto` and commit"


def test_api_follows_the_buf_style():
    from proto.intercloud.slicing.v1 import slicing_pb2 as pb

    assert pb.DESCRIPTOR.package == "intercloud.slicing.v1"
    for enum in pb.DESCRIPTOR.enum_types_by_name.values():
        assert enum.values[0].number == 0 and enum.values[0].name.endswith("_UNSPECIFIED")
    assert set(pb.DESCRIPTOR.services_by_name) == {"SliceService", "TopologyService"}
    spec_fields = set(pb.SliceSpec.DESCRIPTOR.fields_by_name)
    assert spec_fields == {"name", "tenant", "endpoints", "bandwidth_mbps", "max_latency_ms",
                           "priority", "allowed_regions", "protection", "schedule"}
    assert set(pb.Schedule.DESCRIPTOR.fields_by_name) == {"start", "end", "duration"}
    # the spec's endpoint fields, plus where the endpoint is now (output only)
    assert set(pb.Endpoint.DESCRIPTOR.fields_by_name) == {"site", "port", "ip", "vlan", "standby",
                                                          "location", "location_reason"}
    assert set(pb.Standby.DESCRIPTOR.fields_by_name) == {"site", "port"}


def _locked(package: str) -> str:
    """The version requirements.lock pins for ``package``."""
    import re

    text = (REPO / "requirements.lock").read_text()
    found = re.search(rf"^{re.escape(package)}==(\S+)", text, re.MULTILINE)
    assert found, f"requirements.lock pins no {package}"
    return found.group(1)


def test_generated_code_is_from_the_locked_generator():
    """The comparison above means something only when it runs the generator the lock pins
    (`make setup` installs exactly that), and the committed code says which one made it."""
    from importlib.metadata import version

    assert version("grpcio-tools") == _locked("grpcio-tools"), \
        "grpcio-tools differs from requirements.lock: run `sudo make setup`"
    made_by = (REPO / "proto/intercloud/slicing/v1/slicing_pb2_grpc.py").read_text()
    assert f"GRPC_GENERATED_VERSION = '{_locked('grpcio-tools')}'" in made_by


def test_the_lock_pins_every_package_with_hashes():
    """Each requirement of setup.cfg is pinned exactly and hashed, so two machines install
    the same bytes; the runtime grpcio is at least the generator that made the code."""
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    wanted = cfg["options"]["install_requires"].split() + cfg["options.extras_require"]["test"].split()
    text = (REPO / "requirements.lock").read_text()
    for requirement in wanted:
        name = requirement.split(">=")[0].lower().replace("_", "-")
        _locked(name)
    blocks = [b for b in text.split("\n") if b and b[0].isalpha()]
    assert blocks and all("==" in b and b.rstrip().endswith("\\") for b in blocks)
    from packaging.version import Version

    assert Version(_locked("grpcio")) >= Version(_locked("grpcio-tools"))


def test_the_federation_api_follows_the_buf_style_and_names_nsi_operations():
    from proto.intercloud.federation.v1 import federation_pb2 as fpb

    assert fpb.DESCRIPTOR.package == "intercloud.federation.v1"
    for enum in fpb.DESCRIPTOR.enum_types_by_name.values():
        assert enum.values[0].number == 0 and enum.values[0].name.endswith("_UNSPECIFIED")
    methods = set(fpb.DESCRIPTOR.services_by_name["FederationService"].methods_by_name)
    assert methods == {"GetView", "Reserve", "Commit", "Abort", "Provision", "Release", "Terminate", "Modify", "Query",
                       "WatchNotifications"}
