"""A cloud with a fabric lost as a whole (issue 28): every switch of it gone and every link
out of it down is a lost cloud, even though its inner links (leaf–spine, spine–border)
never said they failed; its endpoints with standbys move, in one transaction."""
from __future__ import annotations

from proto.convert import doc_to_spec
from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from slices.audit import audit
from tests.harness import Running
from topologies import load

FABRIC = load("fabric-two-clouds")
OSAKA = [s.name for s in FABRIC.sites if s.name == "osaka-dc" or s.name.startswith("osaka-dc.")]


def dr_doc() -> dict:
    return {"name": "dr", "tenant": "t", "bandwidth_mbps": 5,
            "endpoints": [{"site": "tokyo-dc.leaf1", "port": 1, "ip": "10.0.1.1"},
                          {"site": "osaka-dc.leaf1", "port": 1, "ip": "10.0.2.1",
                           "standby": {"site": "tokyo-dc.leaf2", "port": 2}}]}


def test_a_fabric_cloud_gone_at_once_is_lost_and_its_endpoints_move(tmp_path):
    r = Running(tmp_path / "store.db", topology=FABRIC)
    try:
        r.slices.CreateSlice(pb.CreateSliceRequest(spec=doc_to_spec(dr_doc())))
        # every switch of the cloud goes (power lost in the room): no port status from them
        for site in OSAKA:
            r.wire.connected.discard(site)
            r.ctl.call(lambda site=site: r.ctl.switch_disconnected(site))
        got = r.slices.GetSlice(pb.GetSliceRequest(name="dr"))
        assert got.endpoints[1].location == "primary"          # its links out still answer
        # the links out of the cloud fail; its inner links are never heard of again
        out = [l for l in FABRIC.links if (l.a in OSAKA) != (l.b in OSAKA)]
        assert len(out) == 2
        r.ctl.call(lambda: r.ctl.link_verdict(out[0].a, out[0].b, False, "3 probes unanswered"))
        pushed = len(r.wire.batches)
        r.ctl.call(lambda: r.ctl.link_verdict(out[1].a, out[1].b, False, "3 probes unanswered"))
        assert len(r.wire.batches) == pushed + 1                 # the last link and the cloud: one push
        assert set(OSAKA) <= r.ctl.call(lambda: set(r.ctl.engine.down_sites))
        got = r.slices.GetSlice(pb.GetSliceRequest(name="dr"))
        moved = got.endpoints[1]
        assert (moved.site, moved.port, moved.location) == ("tokyo-dc.leaf2", 2, "standby")
        assert got.state == pb.SLICE_STATE_ACTIVE, got.reason
        assert not {x for l in got.tree for x in (l.a, l.b)} & set(OSAKA)
        assert audit(r.ctl.engine) == []
    finally:
        r.close()


def test_one_leaf_of_a_live_cloud_gone_is_not_the_cloud_lost(tmp_path):
    r = Running(tmp_path / "store.db", topology=FABRIC)
    try:
        r.slices.CreateSlice(pb.CreateSliceRequest(spec=doc_to_spec(dr_doc())))
        r.wire.connected.discard("osaka-dc.leaf2")
        r.ctl.call(lambda: r.ctl.switch_disconnected("osaka-dc.leaf2"))
        for l in FABRIC.links_of("osaka-dc.leaf2"):
            r.ctl.call(lambda l=l: r.ctl.link_verdict(l.a, l.b, False, "3 probes unanswered"))
        down = r.ctl.call(lambda: set(r.ctl.engine.down_sites))
        assert down == {"osaka-dc.leaf2"}                       # that leaf alone, as before
        assert r.slices.GetSlice(pb.GetSliceRequest(name="dr")).endpoints[1].location == "primary"
    finally:
        r.close()
