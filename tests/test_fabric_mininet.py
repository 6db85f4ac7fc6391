"""A fabric cloud end to end on Mininet (issue 28 item 1): fabric-two-clouds (two clouds,
each 2 spines and 2 leaves, under a real controller). Two VMs on leaves of the two clouds
are in one slice and ping each other; a host on another leaf, outside the slice, reaches
neither; the leaf-spine link the slice uses is cut and traffic comes back through the
other spine (a 10 ms ping stream measures the outage)."""
from __future__ import annotations

import re
import time

import pytest

from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from slicectl.failover import Stream, host_at
from tests.live import controller_and_wan
from tests.rawspec import raw_spec

pytestmark = pytest.mark.mininet
T, O = "tokyo-dc", "osaka-dc"
A, B, OUTSIDER = (f"{T}.leaf1", 1), (f"{O}.leaf2", 1), (f"{T}.leaf2", 1)


def pings(src, ip: str, count: int = 2) -> int:
    m = re.search(r"(\d+) received", src.cmd(f"ping -c {count} -i 0.2 -W 1 {ip}"))
    return int(m.group(1)) if m else 0


def connected(src, ip: str, timeout_s: float = 15) -> float:
    start = time.monotonic()
    while pings(src, ip, 1) == 0:
        assert time.monotonic() - start < timeout_s, f"no ping to {ip} after {timeout_s} s"
    return time.monotonic() - start


def test_a_slice_across_two_fabrics_is_isolated_and_survives_a_spine_link_cut(tmp_path):
    with controller_and_wan("fabric-two-clouds", tmp_path, prefix="g") as (ctl, wan):
        (ha, ip_a), (hb, ip_b), (hx, _ip_x) = (host_at(wan, *x) for x in (A, B, OUTSIDER))
        doc = {"name": "vms", "tenant": "lab", "bandwidth_mbps": 10,
               "endpoints": [{"site": s, "port": p, "ip": ip} for (s, p), ip in ((A, ip_a), (B, ip_b))]}
        created = ctl.slices.CreateSlice(pb.CreateSliceRequest(spec=raw_spec(doc)), timeout=30)
        assert created.state == pb.SLICE_STATE_ACTIVE, created
        connected(ha, ip_b)
        assert pings(hb, ip_a) == 2
        assert pings(hx, ip_a) == 0 and pings(hx, ip_b) == 0        # isolation inside the fabric
        tree = ctl.slices.GetSlice(pb.GetSliceRequest(name="vms")).tree
        spine = next(x for l in tree for x in (l.a, l.b) if x.startswith(f"{T}.spine"))
        stream = Stream(ha, ip_b, 6, tmp_path / "stream.txt")
        time.sleep(1.5)
        wan.fault_link(A[0], spine, "cut")
        try:
            outage = stream.outage("fabric-cut", f"{A[0]}—{spine}")
            moved = ctl.slices.GetSlice(pb.GetSliceRequest(name="vms"))
            print(f"leaf-spine link {A[0]}—{spine} cut: outage {outage.outage_s * 1000:.0f} ms, "
                  f"{outage.lost} of {outage.sent} pings lost; tree now "
                  f"{sorted(f'{l.a}—{l.b}' for l in moved.tree)}")
            assert {A[0], spine} not in [{l.a, l.b} for l in moved.tree]
            assert moved.state == pb.SLICE_STATE_ACTIVE
            assert outage.outage_s < 2.0
            assert pings(hx, ip_b) == 0                             # still isolated after the repair
        finally:
            wan.fault_link(A[0], spine, "restore")
