"""Link liveness from the controller's probes on a live WAN when *every* link falls silent
at once (two-clouds, BFD off): no link's answers show that the controller still hears
its switches, so the echoes it asks for must - all three links are reported down within
0.6 s, and come back after the restore. SLA monitoring, which sends an echo to every
switch each second anyway, is off: the echoes must be the ones the probes ask for."""
from __future__ import annotations

import time

import pytest

from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from tests.live import controller_and_wan
from topologies import load

pytestmark = pytest.mark.mininet
TOPOLOGY = load("two-clouds")


def test_every_link_silent_at_once_is_reported_down_by_the_probes(tmp_path):
    with controller_and_wan("two-clouds", tmp_path, options=("--sla-interval", "0"), bfd=False) as (ctl, wan):
        time.sleep(2)    # past the probes' grace after the switches connected
        links = [(l.a, l.b) for l in TOPOLOGY.links]
        for a, b in links:
            wan.fault_link(a, b, "silent")
        failed = time.monotonic()
        try:
            while True:
                down = [l for l in ctl.topology_api.GetTopology(pb.GetTopologyRequest()).links if not l.up]
                if len(down) == len(links):
                    break
                assert time.monotonic() - failed < 5, f"down so far: {[(l.a, l.b) for l in down]}"
                time.sleep(0.02)
            noticed = time.monotonic() - failed
            print(f"every link of two-clouds silent: all reported down after {noticed * 1000:.0f} ms "
                  f"({'; '.join(l.reason for l in down)})")
            assert all("unanswered" in l.reason for l in down)
            assert noticed < 0.6
        finally:
            for a, b in links:
                wan.fault_link(a, b, "restore")
        ctl.wait_switches(timeout=15)
