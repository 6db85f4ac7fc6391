"""A cluster of three controllers on a local etcd, every switch of the emulated WAN
connected to all three (Mininet, Open vSwitch): the leader is MASTER of every switch,
the others SLAVE; kill -9 of the leader under a 10 ms ping stream on a slice made before:
a follower is MASTER of every switch within 5 s, not one probe is lost, the rules that
were right are left as they were, a CreateSlice sent during the take-over either fails
cleanly (UNAVAILABLE, nothing made) or succeeds exactly once, and creations resume."""
from __future__ import annotations

import re
import subprocess
import threading
import time

import grpc
import pytest

from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from slicectl import chaos, client
from slicectl.chaos import flow_tables
from slicectl.demo import all_pairs_pass
from slicectl.failover import Stream, host_at
from slicectl.etcdlocal import EtcdProcess
from slicectl.launcher import ControllerProcess
from slices.rules import slice_cookie
from tests.rawspec import raw_spec
from topologies import load

pytestmark = pytest.mark.mininet
TAKEOVER_S = 5.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from topologies.emulation.wan import Wan

    d = tmp_path_factory.mktemp("cluster")
    with EtcdProcess(d / "etcd") as etcd:
        ctls = [ControllerProcess("two-clouds", d / f"unused-{i}.db", d / f"controller-{i}.log",
                                  ("--cluster", etcd.url, "--name", f"c{i}")).start() for i in range(3)]
        wan = Wan(load("two-clouds"), controller=[("127.0.0.1", c.of) for c in ctls])
        try:
            wan.start()
            for c in ctls:
                c.wait_switches()
            yield ctls, wan, d
        finally:
            for c in ctls:
                c.stop()
            wan.stop()


def roles(wan) -> dict[str, dict[int, str]]:
    """Each switch's role for each controller (by its OpenFlow port), as Open vSwitch says."""
    out = {}
    for s in wan.plan.switches:
        ids = subprocess.run(["ovs-vsctl", "--timeout=5", "get", "Bridge", s.name, "controller"],
                             capture_output=True, text=True, check=True).stdout.strip("[] \n").replace(",", " ").split()
        mine = {}
        for uuid in ids:
            target, role = subprocess.run(["ovs-vsctl", "--timeout=5", "--bare", "get", "Controller", uuid,
                                           "target", "role"], capture_output=True, text=True,
                                          check=True).stdout.split()
            mine[int(target.strip("\"").rsplit(":", 1)[1])] = role
        out[s.name] = mine
    return out


def confirmed_roles(ctl: ControllerProcess) -> dict[str, str]:
    """Site -> the role its switch confirmed to ``ctl`` (its role replies), as it reports."""
    t = ctl.topology_api.GetTopology(pb.GetTopologyRequest(), timeout=5)
    return {s.name: s.role for s in t.sites if s.role}


def wait_for_ovs_roles(wan, leader: ControllerProcess, timeout: float = 15.0) -> None:
    """Open vSwitch's own record agrees: ``leader`` MASTER of every switch, the other
    live instances SLAVE (it updates its database every few seconds, so this waits)."""
    started, seen = time.monotonic(), None
    while time.monotonic() - started < timeout:
        seen = roles(wan)
        if all(r.get(leader.of) == "master" and sorted(r.values()).count("master") == 1 for r in seen.values()):
            return
        time.sleep(0.5)
    raise AssertionError(f"Open vSwitch does not show {leader.grpc} as the only MASTER: {seen}")


def leader_of(ctls) -> ControllerProcess:
    found = chaos.leader_of(ctls)
    assert found is not None, "none of these controllers is named the leader"
    return found


def pair_doc(wan, name: str, port: int, vlan: int = 0) -> dict:
    """A Tokyo–Osaka slice between the hosts on ``port`` (tagged ``vlan``, if given)."""
    ends = [next(h for h in wan.plan.hosts if h.site == s and h.port == port and not h.probe)
            for s in ("tokyo-dc", "osaka-dc")]
    return {"name": name, "tenant": "lab", "bandwidth_mbps": 2,
            "endpoints": [{"site": h.site, "port": h.port, **({"vlan": vlan} if vlan else {"ip": h.address})}
                          for h in ends]}


def test_the_leader_is_master_and_a_follower_takes_over_when_it_is_killed(cluster):
    ctls, wan, d = cluster
    everyone = client.Server(",".join(c.grpc for c in reversed(ctls)))   # a follower first, likely
    slices = client.stub(everyone)
    made = slices.CreateSlice(pb.CreateSliceRequest(spec=raw_spec(pair_doc(wan, "before", 1))), timeout=30)
    assert made.state == pb.SLICE_STATE_ACTIVE, made.reason
    assert all_pairs_pass(wan, [pair_doc(wan, "before", 1)], timeout_s=20)[1] == 2

    old = leader_of(ctls)
    assert confirmed_roles(old) == {s.site: "master" for s in wan.plan.switches}
    # a switch may have connected to a follower before it knew of a leader: the follower
    # asks to be SLAVE on its next round (FOLLOW_S)
    followers = [c for c in ctls if c is not old]
    deadline = time.monotonic() + TAKEOVER_S
    while not all(confirmed_roles(c) == {s.site: "slave" for s in wan.plan.switches} for c in followers):
        assert time.monotonic() < deadline, [confirmed_roles(c) for c in followers]
        time.sleep(0.2)
    wait_for_ovs_roles(wan, old)
    # any instance answers reads, a follower once it has caught up with etcd (it looks every
    # 0.5 s; on two busy cores that may take a few rounds)
    deadline = time.monotonic() + 5
    for c in ctls:
        while (names := [s.spec.name for s in c.slices.ListSlices(pb.ListSlicesRequest(), timeout=10).slices]) \
                != ["before"]:
            assert time.monotonic() < deadline, f"{c.grpc} lists {names}"
            time.sleep(0.2)
    installed = flow_tables(wan)

    src, _ = host_at(wan, "tokyo-dc", 1)
    _, dst_ip = host_at(wan, "osaka-dc", 1)
    stream = Stream(src, dst_ip, 12.0, d / "ping-during-takeover.txt")
    time.sleep(2)
    survivors = [c for c in ctls if c is not old]
    killed = time.monotonic()
    old.kill9()

    during: dict = {"errors": []}

    def create_during_takeover():
        """As a CI job would: retry while the cluster says UNAVAILABLE (nothing done)."""
        stub = client.stub(client.Server(",".join(c.grpc for c in survivors)))
        while "slice" not in during and time.monotonic() - killed < 30:
            try:
                during["slice"] = stub.CreateSlice(pb.CreateSliceRequest(spec=raw_spec(pair_doc(wan, "during", 2))),
                                                   timeout=30)
                during["at"] = time.monotonic() - killed
            except grpc.RpcError as e:
                during["errors"].append((e.code(), e.details()))
                time.sleep(0.1)
    creator = threading.Thread(target=create_during_takeover)
    creator.start()

    new = None
    while time.monotonic() - killed < 15:
        try:
            new = leader_of(survivors)
        except AssertionError:
            time.sleep(0.05)
            continue
        try:
            if len(confirmed_roles(new)) == len(wan.plan.switches) and set(confirmed_roles(new).values()) == {"master"}:
                break
        except grpc.RpcError:
            pass
        time.sleep(0.05)
    took = time.monotonic() - killed
    assert new is not None and took < TAKEOVER_S, f"no new MASTER on every switch within {TAKEOVER_S} s ({took:.1f} s)"
    creator.join(timeout=60)
    print(f"\ntake-over: new leader MASTER of every switch {took:.2f} s after kill -9; a CreateSlice retried "
          f"through it was refused {len(during['errors'])} times (UNAVAILABLE) and made "
          f"{during.get('at', float('nan')):.2f} s after the kill")
    wait_for_ovs_roles(wan, new)

    outage = stream.outage("leader killed", old.grpc)
    assert outage.lost == 0, f"{outage.lost} of {outage.sent} probes lost during the take-over"

    # every refusal was a clean, retryable UNAVAILABLE, and the slice exists exactly once
    assert during["errors"] and {code for code, _ in during["errors"]} == {grpc.StatusCode.UNAVAILABLE}
    assert during["slice"].state == pb.SLICE_STATE_ACTIVE, during["slice"].reason
    names = [s.spec.name for s in new.slices.ListSlices(pb.ListSlicesRequest(), timeout=10).slices]
    assert sorted(names) == ["before", "during"]
    # what was right before is as it was: nothing but the slice made since has changed
    cookie = f"cookie={hex(slice_cookie(during['slice'].id))},"
    assert {sw: [r for r in rs if not r.startswith(cookie)] for sw, rs in flow_tables(wan).items()} == installed

    after = client.stub(client.Server(",".join(c.grpc for c in survivors)))
    made = after.CreateSlice(pb.CreateSliceRequest(spec=raw_spec(pair_doc(wan, "after", 1, vlan=30))), timeout=30)
    assert made.state == pb.SLICE_STATE_ACTIVE, made.reason
    log = (d / f"controller-{ctls.index(new)}.log").read_text()
    assert re.search(r"took over as the cluster's leader \(generation \d+\)", log)
    t = new.topology_api.GetTopology(pb.GetTopologyRequest(), timeout=10)
    assert sorted((c.name, c.leader) for c in t.controllers) == sorted(
        (f"c{ctls.index(c)}", c is new) for c in survivors)
