"""More slices across one link than VLAN ids allow, on real Open vSwitch (issue 28 item 4):
tests/topologies/mpls-two-clouds.yaml (two clouds, two host ports each, one link, ``transport:
mpls``) under a real controller. 4,200 slices, created with CreateSlices in batches, all
cross the one link, each on endpoints tagged with a VLAN of its own on its port (VLANs repeat
across the two ports); with VLAN tags on the link only 4,093 would fit. For a sample - the
first slices and the last, whose labels on the link stand for tags past 4,094 - the hosts
ping across in their slices' VLANs with the slices' addresses (tests/vlanping.py: tagged
ARP and echo on a raw socket, since this kernel has no VLAN interfaces); a host in one
slice reaches no address of another. Everything is deleted at the end and the switches hold
their base flows again.

     tokyo-dc ──── one link, MPLS labels ──── osaka-dc
     ports 1, 2: VLANs 2..2101                ports 1, 2: VLANs 2..2101
"""
from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from slicectl.batchbench import flow_count
from slicectl.failover import host_at
from slices.rules import TABLE_CLASSIFY, mpls_label_tag, slice_cookie
from tests.live import controller_and_wan
from tests.rawspec import raw_spec

pytestmark = pytest.mark.mininet
TOPOLOGY = str(Path(__file__).parent / "topologies" / "mpls-two-clouds.yaml")
VLANPING = str(Path(__file__).parent / "vlanping.py")
SLICES, BATCH = 4_200, 300   # 1,000 a batch took 12-17 s here, 300 2-3.5 s: far from a request's 30 s
T, O = "tokyo-dc", "osaka-dc"
# The controller's periodic reads and probes off: with ~85,000 flows a switch, a flow-stats
# read or an audit takes the one ovs-vswitchd (and the controller parsing it) longer than a
# request's 30 s, and 4,200 slices' delay probes are 8,400 packets a round; none of them is
# what this test is about. Link liveness comes from port status (as in bench batch).
QUIET = ("--no-probes", "--sla-interval", "0", "--stats-interval", "0", "--audit-interval", "0")


def doc(i: int) -> dict:
    """Slice ``i``: port 1 or 2 of both clouds, VLAN 2 + i // 2 there (each VLAN on both ports)."""
    port, vlan = 1 + i % 2, 2 + i // 2
    return {"name": f"m{i}", "tenant": "lab", "bandwidth_mbps": 0.064,
            "endpoints": [{"site": s, "port": port, "vlan": vlan} for s in (T, O)]}


def labels_on_link(wan, site: str, slice_id: int) -> set[int]:
    """The labels ``site``'s switch takes off frames of the slice arriving on the link."""
    switch = next(s.name for s in wan.plan.switches if s.site == site)
    dump = subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "dump-flows", switch,
                           f"table={TABLE_CLASSIFY},cookie={slice_cookie(slice_id):#x}/-1", "--no-stats"],
                          capture_output=True, text=True, check=True).stdout
    return {int(x) for x in re.findall(r"mpls_label=(\d+)", dump)}


def ping(host, vlan: int, src: str, dst: str, count: int = 2, timeout_s: float = 10) -> int:
    """Echo replies to ``count`` pings from ``src`` to ``dst`` in ``vlan`` on ``host``'s port."""
    out = host.cmd(f"{sys.executable} {VLANPING} ping {host.defaultIntf().name} {vlan} {src} {dst} {count} {timeout_s}")
    m = re.search(r"received (\d+)", out)
    return int(m.group(1)) if m else 0


def test_4200_slices_cross_one_mpls_link_and_keep_apart(tmp_path):
    started = time.monotonic()
    with controller_and_wan(TOPOLOGY, tmp_path, QUIET, bfd=False, prefix="mp") as (ctl, wan):
        base = flow_count(wan)
        made = []
        for i in range(0, SLICES, BATCH):
            docs = [doc(j) for j in range(i, min(i + BATCH, SLICES))]
            t0 = time.monotonic()
            made += ctl.slices.CreateSlices(pb.CreateSlicesRequest(specs=[raw_spec(d) for d in docs]),
                                            timeout=300).slices
            print(f"{len(made)} created, the last {len(docs)} in {time.monotonic() - t0:.1f} s", flush=True)
        created_s = time.monotonic() - started
        assert len(made) == SLICES and all(s.state == pb.SLICE_STATE_ACTIVE for s in made)
        by_name = {s.spec.name: s for s in made}
        sample = [0, 1, 2, 3, SLICES - 4, SLICES - 3, SLICES - 2, SLICES - 1]
        hosts = {(site, port): host_at(wan, site, port)[0] for site in (T, O) for port in (1, 2)}
        ends = {i: [next(e for e in by_name[f"m{i}"].endpoints if e.site == x) for x in (T, O)] for i in sample}
        for i in sample:
            tags = {mpls_label_tag(x)[0] for x in labels_on_link(wan, O, by_name[f"m{i}"].id)}
            assert len(tags) == 1, tags   # one tag on the one link, a label for IPv4 and one for ARP
            if i >= SLICES - 4:
                assert tags.pop() > 4_094
        # Osaka's hosts answer for the sampled slices' addresses there, each in its VLAN
        answering = {port: hosts[(O, port)].popen(
            [sys.executable, VLANPING, "answer", hosts[(O, port)].defaultIntf().name, "60"]
            + [f"{osaka.vlan}:{osaka.ip}" for tokyo, osaka in ends.values() if osaka.port == port],
            stdout=subprocess.PIPE, text=True) for port in (1, 2)}
        try:
            time.sleep(0.5)
            for i, (tokyo, osaka) in ends.items():
                assert ping(hosts[(T, tokyo.port)], tokyo.vlan, tokyo.ip, osaka.ip) == 2, \
                    f"m{i}: {tokyo.ip} -> {osaka.ip} in VLAN {tokyo.vlan}"
            # isolation: from the first slice's Tokyo endpoint, in its VLAN, the address of the
            # last slice and of the slice on the same VLAN at the other port get no answer
            tokyo, _ = ends[0]
            for other in (1, SLICES - 1):
                target = ends[other][1].ip
                assert ping(hosts[(T, tokyo.port)], tokyo.vlan, tokyo.ip, target, 1, 3) == 0, f"m0 reached {target}"
        finally:
            heard = {}
            for port, proc in answering.items():
                proc.terminate()
                heard[port] = proc.communicate(timeout=10)[0]
        assert f"from {tokyo.ip} to {ends[1][1].ip}" not in heard[2]
        assert f"from {tokyo.ip} to {ends[SLICES - 1][1].ip}" not in heard[2]
        connected_s = time.monotonic() - started
        for i in range(0, SLICES, BATCH):
            ctl.slices.DeleteSlices(pb.DeleteSlicesRequest(names=[f"m{j}" for j in range(i, min(i + BATCH, SLICES))]),
                                    timeout=300)
        assert not ctl.slices.ListSlices(pb.ListSlicesRequest(), timeout=30).slices
        assert flow_count(wan) == base
    print(f"{SLICES} slices over one MPLS link (times from the start, the WAN's included): created and ACTIVE "
          f"in {created_s:.1f} s, pinged "
          f"{len(sample)} by {connected_s:.1f} s, all deleted (flows back to {base}) in "
          f"{time.monotonic() - started:.1f} s")
