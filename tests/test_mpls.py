"""The MPLS transport (a topology's ``transport: mpls``): slices cross links labelled
instead of VLAN-tagged, so a link carries far more than 4,093 of them. Judged on the
simulated network (slices.fakenet), which pushes, swaps and pops labels as a switch does:
a pop names the payload's ethertype, and naming the wrong one garbles the frame."""
from dataclasses import replace

import pytest

from controller import ofwire
from slices.compiler import compile_plan
from slices.engine import SliceEngine
from slices.errors import Rejected
from slices.fakenet import Delivery, FakeNetwork, Frame, verify
from slices.resources import TAG_MAX, TagSpace, tags_per_link
from slices.rules import (MPLS_ETH_TYPE, MPLS_PAYLOADS, MPLS_TAG_MAX, Group, Rule, mpls_label,
                          mpls_label_tag)
from slices.spec import parse_spec
from tests.ofswitch import round_trip
from topologies import load
from topologies.errors import TopologyError
from topologies.loader import parse_yaml

JAPAN = replace(load("japan-intercloud"), transport="mpls")
TWO = replace(load("two-clouds"), transport="mpls")


def spec(name, eps, topo=JAPAN, bw=10, **kw):
    return parse_spec({"name": name, "tenant": "t", "bandwidth_mbps": bw,
                       "endpoints": [dict(zip(("site", "port", "vlan"), e)) for e in eps], **kw}, topo)


def engine_with(topo, *specs):
    e = SliceEngine(topo)
    for s in specs:
        e.admit(s)
    return e


MEDICAL = spec("medical", [("tokyo-dc", 1), ("osaka-dc", 1), ("sendai-dc", 1)], bw=20)
BUSINESS = spec("business", [("tokyo-dc", 2, 100), ("fukuoka-dc", 2), ("seoul-dc", 1, 200)], bw=30)
RETAIL = spec("retail", [("nagoya-dc", 1, 7), ("sapporo-dc", 1)], protection="link")


def labels(plan) -> list[int]:
    """Every label a plan matches or sets."""
    out = []
    for entries in plan.values():
        for e in entries:
            acts = [a for _w, b in e.buckets for a in b] if isinstance(e, Group) else getattr(e, "actions", ())
            out += [v for k, v in getattr(e, "match", ()) if k == "mpls_label"]
            out += [a[1] for a in acts if a[0] == "set_mpls_label"]
    return out


def test_the_topology_file_chooses_the_transport_and_vlan_is_the_default():
    base = "name: t\ndefaults: {bandwidth_mbps: 10, region: X}\nsites:\n  a: {kind: cloud}\n  b: {kind: cloud}\n" \
           "links:\n  - {a: a, b: b, delay_ms: 1}\n"
    assert parse_yaml(base).transport == "vlan"
    assert parse_yaml("transport: mpls\n" + base).transport == "mpls"
    with pytest.raises(TopologyError, match=r"transport.*unknown transport 'vxlan' \(one of vlan, mpls\)"):
        parse_yaml("transport: vxlan\n" + base)
    assert load("two-clouds").transport == "vlan"


def test_a_link_has_over_half_a_million_tags_with_mpls_and_refusals_say_so():
    assert tags_per_link("mpls") == 524_278 and tags_per_link("vlan") == 4_093
    assert mpls_label(2, 0x0800) == 20 and mpls_label(2, 0x0806) == 21
    assert mpls_label(MPLS_TAG_MAX, 0x0806) == (1 << 20) - 1
    assert mpls_label_tag(mpls_label(70_000, 0x0806)) == (70_000, 0x0806)
    space = TagSpace("mpls")
    link = frozenset(("a", "b"))
    assert space.take(link, MPLS_TAG_MAX) and not space.take(link, MPLS_TAG_MAX + 1)
    small = TagSpace("mpls")
    small.high = small.low   # one tag: the second is refused, with the space's real size
    small.allocate(link)
    with pytest.raises(Rejected, match="already carries 524278 slices: no tag left"):
        small.allocate(link)


def test_endpoints_reach_each_other_only_and_links_carry_labels_not_vlans():
    e = engine_with(JAPAN, MEDICAL, BUSINESS, RETAIL)
    plan = compile_plan(e)
    net = FakeNetwork(JAPAN, plan)
    assert verify(e, net) == []
    found = labels(plan)
    assert found and all(16 <= x < 1 << 20 for x in found)
    for entries in plan.values():
        for r in entries:
            if isinstance(r, Rule) and any(k == "mpls_label" for k, _ in r.match):
                assert ("eth_type", MPLS_ETH_TYPE) in r.match
                assert not any(k == "vlan_vid" for k, _ in r.match)
    b = e.slices["business"]
    seoul = next(x for x in BUSINESS.endpoints if x.site == "seoul-dc")
    # the endpoint's VLANs are as they were: in with 100, out with 200
    assert net.send("tokyo-dc", 2, Frame.ipv4(b.addresses[seoul], vlan=100)) == [Delivery("seoul-dc", 1, 200)]
    assert net.send("tokyo-dc", 2, Frame.ipv4(b.addresses[seoul], vlan=101)) == []


def test_a_frame_on_a_link_is_labelled_per_payload_and_nothing_else_enters():
    e = engine_with(TWO, spec("a", [("tokyo-dc", 1), ("osaka-dc", 1)], TWO),
                    spec("b", [("tokyo-dc", 2), ("osaka-dc", 2)], TWO))
    net = FakeNetwork(TWO, compile_plan(e))
    a, b = e.slices["a"], e.slices["b"]
    link = frozenset(("tokyo-dc", "tokyo-ix"))
    port = net.ports.toward("tokyo-ix", "tokyo-dc")
    osaka_a = next(x for x in a.spec.endpoints if x.site == "osaka-dc")
    # a frame arriving on the link with slice a's label for its payload gets through
    for eth, frame in ((0x0800, Frame.ipv4(a.addresses[osaka_a])), (0x0806, Frame.arp_request(a.addresses[osaka_a]))):
        labelled = replace(frame, mpls=mpls_label(a.tags[link], eth))
        assert net.send("tokyo-ix", port, labelled) == [Delivery("osaka-dc", 1, None)]
    # with slice b's label it stays in slice b: b's port, whatever address it carries
    assert net.send("tokyo-ix", port, replace(Frame.ipv4(a.addresses[osaka_a]),
                                              mpls=mpls_label(b.tags[link], 0x0800))) == []
    # a label saying ARP over an IPv4 payload is popped as ARP: garbage, dropped
    assert net.send("tokyo-ix", port, replace(Frame.ipv4(a.addresses[osaka_a]),
                                              mpls=mpls_label(a.tags[link], 0x0806))) == []
    # no label (or a VLAN tag as the VLAN transport would send): nothing
    assert net.send("tokyo-ix", port, Frame.ipv4(a.addresses[osaka_a])) == []
    assert net.send("tokyo-ix", port, Frame.ipv4(a.addresses[osaka_a], vlan=a.tags[link])) == []


def test_a_pass_through_site_swaps_labels_in_two_rules_per_payload():
    e = engine_with(TWO, spec("a", [("tokyo-dc", 1), ("osaka-dc", 1)], TWO))
    plan = compile_plan(e)
    s = e.slices["a"]
    at_ix = [r for r in plan["a"] if r.switch == "tokyo-ix"]
    assert len(at_ix) == 2 * len(MPLS_PAYLOADS)
    west, east = s.tags[frozenset(("tokyo-dc", "tokyo-ix"))], s.tags[frozenset(("tokyo-ix", "osaka-ix"))]
    for r in at_ix:
        (label,) = [v for k, v in r.match if k == "mpls_label"]
        tag, eth = mpls_label_tag(label)
        assert tag in (west, east)
        out = east if tag == west else west
        assert r.actions[0] == ("set_mpls_label", mpls_label(out, eth))
    assert verify(e, FakeNetwork(TWO, plan)) == []


def test_protected_slices_fail_over_with_a_group_per_payload():
    prot = spec("prot", [("tokyo-dc", 1), ("osaka-dc", 1)], protection="link")
    e = engine_with(JAPAN, prot)
    s = e.slices["prot"]
    plan = compile_plan(e)
    groups = [x for x in plan["prot"] if isinstance(x, Group)]
    assert groups and len({g.group_id for g in groups}) == len(groups)
    net = FakeNetwork(JAPAN, plan)
    tokyo, osaka = (next(x for x in prot.endpoints if x.site == site) for site in ("tokyo-dc", "osaka-dc"))
    shared_sites = s.tree.sites & s.backup.sites
    a, b = next(tuple(k) for k in sorted(s.tree.links - s.backup.links, key=sorted) if k & shared_sites)
    net.set_link(a, b, up=False)
    for frame in (Frame.ipv4(s.addresses[osaka]), Frame.arp_request(s.addresses[osaka], sender=s.addresses[tokyo])):
        assert net.send("tokyo-dc", 1, frame) == [Delivery("osaka-dc", 1, None)], frame
    assert net.send("osaka-dc", 1, Frame.ipv4(s.addresses[tokyo])) == [Delivery("tokyo-dc", 1, None)]


def test_more_slices_than_vlan_ids_cross_one_link():
    """4,200 slices over the one tokyo-ix - osaka-ix link: tags past 4,094 on it."""
    topo = replace(TWO, links=tuple(replace(l, bandwidth_mbps=100_000) for l in TWO.links))
    e = SliceEngine(topo)
    n = 4_200
    for i in range(n):
        port, vlan = 1 + i % 2, 2 + i // 2
        e.admit(spec(f"s{i}", [("tokyo-dc", port, vlan), ("osaka-dc", port, vlan)], topo, bw=0.1))
    wan = frozenset(("tokyo-ix", "osaka-ix"))
    assert max(s.tags[wan] for s in e.slices.values()) > TAG_MAX
    assert e.tags.free(wan) == tags_per_link("mpls") - n
    plan = compile_plan(e)
    net = FakeNetwork(topo, plan)
    last, first = e.slices[f"s{n - 1}"], e.slices["s0"]
    assert last.tags[wan] == n + 1
    for s in (first, e.slices["s4093"], last):
        src, dst = sorted(s.spec.endpoints, key=lambda x: x.site, reverse=True)   # tokyo, osaka
        assert net.send("tokyo-dc", src.port, Frame.ipv4(s.addresses[dst], vlan=src.vlan)) == \
            [Delivery("osaka-dc", dst.port, dst.vlan)]
        # from the next slice on the same port (one VLAN over), the address is not there
        assert net.send("tokyo-dc", src.port, Frame.ipv4(s.addresses[dst], vlan=src.vlan + 1)) == []


def test_vlan_topologies_compile_as_before():
    vlan = load("japan-intercloud")
    e = engine_with(vlan, spec("medical", [("tokyo-dc", 1), ("osaka-dc", 1)], vlan, protection="link"))
    plan = compile_plan(e)
    assert labels(plan) == []
    assert any(("pop_vlan",) in r.actions for r in plan["medical"] if isinstance(r, Rule))


def test_a_slice_on_mpls_has_at_most_128_endpoints():
    topo = replace(TWO, sites=tuple(replace(s, hosts=64) for s in TWO.sites))
    eps = [(s.name, p) for s in topo.sites for p in range(1, 65)][:129]
    with pytest.raises(Rejected, match="at most 128 endpoints per slice with MPLS, got 129"):
        SliceEngine(topo).admit(spec("big", eps, topo, bw=0.1))
    assert SliceEngine(topo).admit(spec("fits", eps[:128], topo, bw=0.1))


def test_every_mpls_entry_survives_the_round_trip_through_bytes():
    """to_messages -> bytes -> os-ken's parser -> the controller's readers == the plan."""
    e = engine_with(JAPAN, MEDICAL, BUSINESS, RETAIL)
    kinds = set()
    for entries in compile_plan(e).values():
        for entry in entries:
            got = round_trip(entry)
            assert got == ofwire.canonical_entry(entry), entry
            kinds.update(a[0] for a in getattr(got, "actions", ()))
    assert {"push_mpls", "pop_mpls", "set_mpls_label"} <= kinds
