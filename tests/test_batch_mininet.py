"""CreateSlices on real switches (Mininet, Open vSwitch): a batch is ACTIVE only once every
switch has its rules, the rules forward (hosts of an untagged slice in it ping each other),
and a batch with one slice that does not fit changes no switch at all; DeleteSlices takes
every rule away in one request, or none if one name is unknown."""
from __future__ import annotations

import grpc
import pytest

from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from slicectl.chaos import flow_tables
from slicectl.demo import all_pairs_pass
from tests.live import controller_and_wan
from tests.rawspec import raw_spec

pytestmark = pytest.mark.mininet


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with controller_and_wan("two-clouds", tmp_path_factory.mktemp("batch")) as both:
        yield both


def tagged(n: int, prefix: str, bw: float = 0.1, vlan: int = 100) -> list[dict]:
    """``n`` Tokyo–Osaka slices, each on a VLAN of its own from ``vlan`` on."""
    return [{"name": f"{prefix}-{i}", "tenant": "lab", "bandwidth_mbps": bw,
             "endpoints": [{"site": "tokyo-dc", "port": 1 + i % 2, "vlan": vlan + i},
                           {"site": "osaka-dc", "port": 1 + (i // 2) % 2, "vlan": vlan + i}]} for i in range(n)]


def untagged(wan) -> dict:
    ends = [next(h for h in wan.plan.hosts if h.site == s and h.port == 1) for s in ("tokyo-dc", "osaka-dc")]
    return {"name": "probe", "tenant": "lab", "bandwidth_mbps": 1,
            "endpoints": [{"site": h.site, "port": h.port, "ip": h.address} for h in ends]}


def create_slices(ctl, docs):
    return ctl.slices.CreateSlices(pb.CreateSlicesRequest(specs=[raw_spec(d) for d in docs]), timeout=60)


def test_a_batch_is_active_and_forwards_and_a_refused_one_changes_no_switch(lab):
    ctl, wan = lab
    empty = flow_tables(wan)
    docs = [untagged(wan)] + tagged(40, "bulk")
    out = create_slices(ctl, docs)
    assert [s.state for s in out.slices] == [pb.SLICE_STATE_ACTIVE] * 41
    _took, ok, pairs = all_pairs_pass(wan, docs[:1], timeout_s=20)
    assert ok == pairs == 2
    installed = flow_tables(wan)
    assert sum(map(len, installed.values())) > sum(map(len, empty.values())) + 40

    # 1 Mbit/s + 40 × 0.1 are taken of the 20 Mbit/s trunk; 30 × 1 more do not fit
    with pytest.raises(grpc.RpcError) as err:
        create_slices(ctl, tagged(30, "more", bw=1, vlan=1000))
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert flow_tables(wan) == installed
    assert len(ctl.slices.ListSlices(pb.ListSlicesRequest(), timeout=10).slices) == 41

    # DeleteSlices: one unknown name and nothing goes; then all of them in one request
    with pytest.raises(grpc.RpcError) as err:
        ctl.slices.DeleteSlices(pb.DeleteSlicesRequest(names=[d["name"] for d in docs] + ["nowhere"]), timeout=30)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND and "nowhere" in err.value.details()
    assert flow_tables(wan) == installed
    ctl.slices.DeleteSlice(pb.DeleteSliceRequest(name=docs[-1]["name"]), timeout=30)
    ctl.slices.DeleteSlices(pb.DeleteSlicesRequest(names=[d["name"] for d in docs[:-1]]), timeout=60)
    assert flow_tables(wan) == empty
    assert not ctl.slices.ListSlices(pb.ListSlicesRequest(), timeout=10).slices
