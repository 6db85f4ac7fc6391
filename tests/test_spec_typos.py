"""A typo in a spec is an error with its field path on every way in - `slicectl apply -f`,
`slicectl spec check`, a raw gRPC client - and nothing is created. Defaults are the same
whichever way a spec comes."""
from __future__ import annotations

import math
import struct

import grpc
import pytest
import yaml
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from slices.errors import SpecError
from slices.spec import MAX_BANDWIDTH_MBPS, MAX_ENDPOINTS, parse_spec
from tests.rawspec import raw_spec
from tests.harness import Running, doc, error_of
from tests.test_cli_client import run
from topologies import load

JAPAN = load("japan-intercloud")

# (typo, the document with it, field path, words the message must have)
TYPOS = [
    ("protection: lnk", {"protection": "lnk"}, "protection", "did you mean 'link'"),
    ("max_latncy_ms: 3", {"max_latncy_ms": 3}, "max_latncy_ms", "did you mean 'max_latency_ms'"),
    ("vlna: 7", {"endpoints": [{"site": "tokyo-dc", "port": 1, "vlna": 7}, {"site": "osaka-dc", "port": 1}]},
     "endpoints[0].vlna", "did you mean 'vlan'"),
    ("bandwidth as text", {"bandwidth_mbps": "20"}, "bandwidth_mbps", "must be a number"),
    ("bandwidth as bool", {"bandwidth_mbps": True}, "bandwidth_mbps", "must be a number"),
    ("float port", {"endpoints": [{"site": "tokyo-dc", "port": 1.5}, {"site": "osaka-dc", "port": 1}]},
     "endpoints[0].port", "whole number"),
    ("priority as text", {"priority": "high"}, "priority", "whole number"),
    ("ip as a number", {"endpoints": [{"site": "tokyo-dc", "port": 1, "ip": 10}, {"site": "osaka-dc", "port": 1}]},
     "endpoints[0].ip", "as text"),
    ("regions as text", {"allowed_regions": "JP"}, "allowed_regions", "list"),
    ("same port tagged and untagged", {"endpoints": [{"site": "tokyo-dc", "port": 1},
                                                     {"site": "tokyo-dc", "port": 1, "vlan": 7}]},
     "endpoints[1]", "duplicate endpoint"),
    ("infinite bandwidth", {"bandwidth_mbps": math.inf}, "bandwidth_mbps", "finite"),
    ("1e308 bandwidth", {"bandwidth_mbps": 1e308}, "bandwidth_mbps", "at most"),
    ("bandwidth over a meter's 32 bits", {"bandwidth_mbps": 5e6}, "bandwidth_mbps", "at most"),
    ("infinite bound", {"max_latency_ms": math.inf}, "max_latency_ms", "finite"),
    ("too many endpoints", {"endpoints": [{"site": "tokyo-dc", "port": p} for p in range(1, 300)]},
     "endpoints", f"at most {MAX_ENDPOINTS} endpoints"),
]


def bad(change: dict) -> dict:
    d = doc(name="typo")
    d.update(change)
    return d


@pytest.mark.parametrize("typo,change,field,words", TYPOS, ids=[t[0] for t in TYPOS])
def test_parse_spec_refuses_each_typo_with_its_path(typo, change, field, words):
    with pytest.raises(SpecError) as e:
        parse_spec(bad(change))
    assert any(f == field and words in p for f, p in e.value.violations), e.value.violations


def test_single_site_slices_are_held_to_the_networks_capacity():
    one_site = {"endpoints": [{"site": "tokyo-dc", "port": 1}, {"site": "tokyo-dc", "port": 2}]}
    with pytest.raises(SpecError, match=r"bandwidth_mbps: must be at most 100 Mbit/s \(the largest link"):
        parse_spec(bad({**one_site, "bandwidth_mbps": 1_000_000}), JAPAN)
    assert parse_spec(bad({**one_site, "bandwidth_mbps": 100}), JAPAN).bandwidth_mbps == 100
    assert MAX_BANDWIDTH_MBPS * 1000 <= 0xFFFFFFFF  # a meter's rate in kbit/s fits 32 bits


def test_defaults_are_the_same_whatever_the_path(tmp_path):
    d = doc(name="plain")
    del d["priority"]
    assert parse_spec(d).priority == 3 and parse_spec(d).protection == "none"
    r = Running(tmp_path / "s.db")
    try:
        s = r.slices.CreateSlice(pb.CreateSliceRequest(spec=raw_spec(d)))
        assert s.spec.priority == 3 and s.spec.protection == pb.PROTECTION_NONE
    finally:
        r.close()


# -- slicectl apply -f and slicectl spec check ---------------------------------------------

CLI_TYPOS = [t for t in TYPOS if not isinstance(t[1].get("bandwidth_mbps", 0), float)
             or math.isfinite(t[1]["bandwidth_mbps"])]


@pytest.mark.parametrize("typo,change,field,words", CLI_TYPOS, ids=[t[0] for t in CLI_TYPOS])
def test_apply_refuses_each_typo_before_sending_anything(api, capsys, tmp_path, typo, change, field, words):
    good = doc(name="good")
    f = tmp_path / "specs.yaml"
    f.write_text(yaml.safe_dump_all([good, bad(change)]))  # the valid one is not created either
    before, sent = api.store.dump(), sum(api.wire.sent.values())
    code, _, err = run(capsys, "apply", "-f", str(f), "--server", api.addr)
    assert code == 2, err
    assert f"spec 2 (typo): {field}:" in err and words in err and "Traceback" not in err
    assert api.store.dump() == before and api.ctl.engine.slices == {} and sum(api.wire.sent.values()) == sent


@pytest.mark.parametrize("typo,change,field,words", CLI_TYPOS, ids=[t[0] for t in CLI_TYPOS])
def test_spec_check_refuses_each_typo(capsys, tmp_path, typo, change, field, words):
    f = tmp_path / "specs.yaml"
    f.write_text(yaml.safe_dump(bad(change)))
    code, _, err = run(capsys, "spec", "check", str(f), "--topology", "japan-intercloud")
    assert code == 2 and f"{f}: spec 1 (typo): {field}:" in err and words in err


def test_spec_check_passes_the_examples_and_checks_the_topology(capsys, tmp_path):
    code, out, err = run(capsys, "spec", "check", "examples/japan/medical.yaml", "examples/japan/business.yaml",
                         "--topology", "japan-intercloud")
    assert code == 0 and "medical-lifeline: ok" in out and "2 valid, 0 problems" in err
    f = tmp_path / "far.yaml"
    f.write_text(yaml.safe_dump(bad({"endpoints": [{"site": "osaka-dcx", "port": 1}, {"site": "tokyo-dc", "port": 1}]})))
    code, _, err = run(capsys, "spec", "check", str(f))  # without a topology, sites are not known
    assert code == 0
    code, _, err = run(capsys, "spec", "check", str(f), "--topology", "japan-intercloud")
    assert code == 2 and "endpoints[0].site: unknown site 'osaka-dcx'; did you mean 'osaka-dc'?" in err


def test_spec_files_refuse_a_key_written_twice_and_unreadable_files(capsys, tmp_path):
    f = tmp_path / "twice.yaml"
    f.write_text("name: a\ntenant: t\nbandwidth_mbps: 5\nbandwidth_mbps: 50\nendpoints: []\n")
    code, _, err = run(capsys, "spec", "check", str(f))
    assert code == 2 and "'bandwidth_mbps' twice" in err
    code, _, err = run(capsys, "spec", "check", str(tmp_path / "none.yaml"))
    assert code == 2 and "none.yaml: cannot read" in err
    g = tmp_path / "broken.yaml"
    g.write_text("name: [a\n")
    code, _, err = run(capsys, "spec", "check", str(g))
    assert code == 2 and "broken.yaml: not valid YAML" in err and "Traceback" not in err


# -- a raw gRPC client: bytes the generated classes would never send -------------------------

def field_bytes(number: int, wire_type: int, payload: bytes) -> bytes:
    """One protobuf field on the wire (tags and lengths under 128 only)."""
    return bytes([number << 3 | wire_type]) + payload


def create_raw(api, spec_bytes: bytes):
    call = api.channel.unary_unary("/intercloud.slicing.v1.SliceService/CreateSlice",
                                   request_serializer=lambda b: b, response_deserializer=pb.Slice.FromString)
    request = field_bytes(1, 2, bytes([len(spec_bytes)]) + spec_bytes)  # CreateSliceRequest.spec
    return error_of(lambda: call(request))


def violations_of(err) -> dict[str, str]:
    br = error_details_pb2.BadRequest()
    assert rpc_status.from_call(err).details[0].Unpack(br)
    return {v.field: v.description for v in br.field_violations}


def test_raw_grpc_unknown_enum_value_is_invalid_argument(api):
    spec = raw_spec(doc(name="typo", protection=99)).SerializeToString()
    err = create_raw(api, spec)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "unknown value 99" in violations_of(err)["spec.protection"]
    assert api.ctl.engine.slices == {} and api.store.dump()[0] == []


def test_raw_grpc_unknown_fields_are_invalid_argument(api):
    base = raw_spec(doc(name="typo"))
    # max_latncy_ms: a double in a field number SliceSpec does not define
    err = create_raw(api, base.SerializeToString() + field_bytes(15, 1, struct.pack("<d", 3.0)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "unknown field number 15" in violations_of(err)["spec"]
    # vlna: a varint field number Endpoint does not define, inside endpoints[0]
    endpoint = base.endpoints[0].SerializeToString() + field_bytes(9, 0, b"\x07")
    rest = pb.SliceSpec()
    rest.CopyFrom(base)
    del rest.endpoints[0]
    spec = field_bytes(3, 2, bytes([len(endpoint)]) + endpoint) + rest.SerializeToString()
    err = create_raw(api, spec)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "unknown field number 9" in violations_of(err)["spec.endpoints[0]"]
    assert api.ctl.engine.slices == {} and api.store.dump()[0] == []
