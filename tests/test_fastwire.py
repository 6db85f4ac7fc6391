"""controller.fastwire against os-ken: the same bytes, byte for byte, for every entry of
compiled plans of every built-in topology and every operation; and os-ken's way for
whatever fastwire does not know."""
from __future__ import annotations

import random

import pytest
from os_ken.ofproto import ofproto_v1_3_parser as parser

from controller import fastwire, ofwire
from slices.compiler import compile_plan
from slices.engine import SliceEngine
from slices.errors import Rejected
from slices.rules import Group, Meter, Rule
from slices.spec import parse_spec
from tests.ofswitch import SimDatapath, SimSwitch
from topologies import builtin_names, load

OPS = ("add", "modify", "delete")


def slices_on(topo, seed: int = 7) -> SliceEngine:
    """An engine holding slices of every kind the compiler knows on ``topo``: untagged,
    tagged, with addresses, link-protected, with a standby endpoint, two and three clouds."""
    rng = random.Random(seed)
    clouds = [s for s in topo.sites if s.hosts]
    engine = SliceEngine(topo)
    vlans = iter(range(100, 4000))
    for i in range(40):
        sites = rng.sample(clouds, min(len(clouds), rng.choice([2, 3])))
        eps = []
        for j, s in enumerate(sites):
            ep = {"site": s.name, "port": rng.randint(1, s.hosts)}
            if i % 3 == 1:
                ep["vlan"] = next(vlans)
            if i % 4 == 2:
                ep["ip"] = f"10.{i}.0.{j + 5}"
            eps.append(ep)
        if i % 7 == 3 and len(clouds) > len(sites):
            spare = next(c for c in clouds if c not in sites)
            eps[0]["standby"] = {"site": spare.name, "port": rng.randint(1, spare.hosts)}
        doc = {"name": f"s{i}", "tenant": "t", "bandwidth_mbps": 1, "endpoints": eps,
               "protection": "link" if i % 2 else "none"}
        try:
            engine.admit(parse_spec(doc, topo))
        except Rejected:
            pass
    return engine


def oskens(dp, entry, op: str, xid: int) -> bytes:
    (msg,) = ofwire.to_messages(dp, entry, op)
    msg.set_xid(xid)
    msg.serialize()
    return bytes(msg.buf)


def test_every_entry_of_every_builtin_topology_encodes_as_os_ken_does():
    dp = SimDatapath(SimSwitch("x", 1))
    kinds, actions, fields, entries_seen = set(), set(), set(), 0
    for name in builtin_names():
        engine = slices_on(load(name))
        assert len(engine.slices) >= 10, f"{name}: too few slices to cover the compiler's rules"
        for entries in compile_plan(engine).values():
            for xid, e in enumerate(entries, start=1):
                for op in OPS:
                    fast = fastwire.encode(e, op)
                    assert fast is not None, f"{e} ({op}): fastwire should know every entry the compiler makes"
                    assert fastwire.frame(*fast, xid) == oskens(dp, e, op, xid), f"{name}: {e} ({op})"
                kinds.add(type(e).__name__)
                entries_seen += 1
                if isinstance(e, Rule):
                    actions |= {a[0] for a in e.actions}
                    fields |= {k for k, _v in e.match}
    assert kinds == {"Rule", "Meter", "Group"} and entries_seen > 5000
    assert actions == {"output", "meter", "goto", "set_vlan", "push_vlan", "pop_vlan", "group", "write_metadata",
                       "set_eth_src", "set_eth_dst"}, actions
    assert fields == {"in_port", "vlan_vid", "eth_type", "metadata", "eth_src", "eth_dst", "arp_spa", "arp_tpa",
                      "ip_proto", "ipv4_dst", "udp_dst"}, fields


def test_to_bytes_leaves_the_xid_to_the_sender():
    dp = SimDatapath(SimSwitch("x", 1))
    e = Rule("x", 0, 300, (("in_port", 1),), (("meter", 5), ("output", 2)), 0x51 << 56 | 5)
    (buf,) = ofwire.to_bytes(dp, e, "add")
    assert buf == oskens(dp, e, "add", 0) and dp.xid == 0


@pytest.mark.parametrize("entry", [
    Rule("x", 0, 300, (("in_port", 1), ("mpls_label", 16)), (("output", 2),), 1),        # unknown field
    Rule("x", 0, 300, (("in_port", 1),), (("push_mpls", 0x8847), ("output", 2)), 1),     # unknown action
    Rule("x", 0, 300, (("metadata", (1 << 32, 1 << 32)),), (("output", 2),), 1),         # masked value
    Rule("x", 0, 300, (("ipv4_dst", "10.0.0.0/24"),), (("output", 2),), 1),              # a prefix
    Group("x", 5 << 8, ((3, (("set_mpls_ttl", 9), ("output", 3))),), 1),                 # in a bucket
])
def test_what_fastwire_does_not_know_goes_the_os_ken_way(entry):
    assert fastwire.encode(entry, "add") is None
    dp = SimDatapath(SimSwitch("x", 1))
    try:
        want = oskens(dp, entry, "add", 0)
    except Exception:      # os-ken does not know it either: to_bytes raises as to_messages does
        with pytest.raises(Exception):
            ofwire.to_bytes(dp, entry, "add")
        return
    assert ofwire.to_bytes(dp, entry, "add") == [want]


def test_a_barrier_is_os_kens():
    dp = SimDatapath(SimSwitch("x", 1))
    msg = parser.OFPBarrierRequest(dp)
    msg.set_xid(77)
    msg.serialize()
    assert fastwire.barrier(77) == bytes(msg.buf)


def test_meters_and_groups_of_every_operation():
    dp = SimDatapath(SimSwitch("x", 1))
    for e in (Meter("x", 9, 64, 640, 9), Group("x", 9 << 8 | 1, ((3, (("set_vlan", 7), ("output", 3))),
                                                                 (4, (("set_eth_dst", "0a:00:00:00:00:01"),
                                                                      ("output", 4)))), 9)):
        for op in OPS:
            assert fastwire.frame(*fastwire.encode(e, op), 3) == oskens(dp, e, op, 3), (e, op)
