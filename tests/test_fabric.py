"""Clouds with fabrics inside (issue 28 item 1), without switches: the loader's expansion of
``fabric:`` into spines, leaves and links; its errors; topologies without fabrics exactly
as before; a slice between leaves of two clouds placed, compiled and forwarding on fake
switches; a fabric link down repaired through the other spine."""
from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest

from slices.compiler import compile_plan
from slices.engine import SliceEngine
from slices.fakenet import Delivery, FakeNetwork, Frame, verify
from slices.spec import parse_spec
from topologies import TopologyError, load
from topologies.emulation.plan import make_plan
from topologies.fabric import FABRIC_DPID_BASE, describe
from topologies.loader import parse_yaml
from topologies.ports import PortMap

FABRIC = load("fabric-two-clouds")
T, O = "tokyo-dc", "osaka-dc"

SMALL = """
name: small
defaults: {bandwidth_mbps: 100, region: JP}
sites:
  tokyo-dc: {kind: cloud, lat: 35.68, lon: 139.76, label: Tokyo, fabric: %s}
  tokyo-ix: {kind: core,  lat: 35.66, lon: 139.74}
links:
  - {a: tokyo-dc, b: tokyo-ix}
"""


def small(fabric: str):
    return parse_yaml(SMALL % fabric, source="small.yaml")


def test_a_fabric_becomes_spines_leaves_and_a_full_mesh():
    t = small("{spines: 2, leaves: 4, hosts_per_leaf: 8, bandwidth_mbps: 400, delay_ms: 0.02}")
    names = [s.name for s in t.sites]
    assert names == ["tokyo-dc", "tokyo-ix", "tokyo-dc.spine1", "tokyo-dc.spine2",
                     *(f"tokyo-dc.leaf{j}" for j in range(1, 5))]
    kinds = {s.name: s.kind for s in t.sites}
    assert kinds["tokyo-dc"] == "cloud" and kinds["tokyo-dc.spine2"] == "spine" and kinds["tokyo-dc.leaf4"] == "leaf"
    hosts = {s.name: s.hosts for s in t.sites}
    assert hosts["tokyo-dc"] == 0 and hosts["tokyo-dc.spine1"] == 0 and hosts["tokyo-dc.leaf3"] == 8
    for s in t.sites[2:]:
        assert (s.lat, s.lon, s.region) == (35.68, 139.76, "JP") and s.label.startswith("Tokyo ")
    fabric = [l for l in t.links if l.label == "fabric"]
    assert len(fabric) == 2 + 4 * 2
    assert all((l.bandwidth_mbps, l.delay_ms) == (400, 0.02) for l in fabric)
    for j in range(1, 5):
        for i in (1, 2):
            assert t.has_link(f"tokyo-dc.leaf{j}", f"tokyo-dc.spine{i}")
    assert t.has_link("tokyo-dc", "tokyo-dc.spine1") and not t.has_link("tokyo-dc", "tokyo-dc.leaf1")
    dpids = [s.dpid for s in t.sites]
    assert len(set(dpids)) == len(dpids)
    assert {s.name: s.dpid for s in t.sites}["tokyo-dc.leaf2"] == FABRIC_DPID_BASE | 1 << 8 | 0x42
    ports = PortMap(t)
    assert ports.toward("tokyo-dc", "tokyo-ix") == 1          # the WAN port, as without a fabric
    assert ports.toward("tokyo-dc", "tokyo-dc.spine2") == 3
    assert ports.toward("tokyo-dc.leaf1", "tokyo-dc.spine1") == 9   # after hosts 1..8
    assert ports.toward("tokyo-dc.spine2", "tokyo-dc") == 1
    assert ports.toward("tokyo-dc.spine2", "tokyo-dc.leaf3") == 4
    assert describe(t) == ["fabric tokyo-dc: border tokyo-dc, 2 spines, 4 leaves x 8 hosts, "
                           "links 400 Mbit/s 0.02 ms"]


def test_defaults_and_the_emulation_plan():
    t = small("{spines: 1, leaves: 2}")
    assert {s.name: s.hosts for s in t.sites}["tokyo-dc.leaf2"] == 2
    assert all((l.bandwidth_mbps, l.delay_ms) == (1000, 0.01) for l in t.links if l.label == "fabric")
    plan = make_plan(t, prefix="g")
    assert [h.site for h in plan.hosts] == ["tokyo-dc.leaf1"] * 2 + ["tokyo-dc.leaf2"] * 2
    assert plan.switch_of("tokyo-dc.leaf2").dpid_hex == "00fa000000000142"


@pytest.mark.parametrize("fabric, field, problem", [
    ("{spines: 2, leaves: 0}", "sites.tokyo-dc.fabric.leaves", "must be an integer 1-64, got 0"),
    ("{spines: 2, leaves: 65}", "sites.tokyo-dc.fabric.leaves", "must be an integer 1-64, got 65"),
    ("{spines: two, leaves: 2}", "sites.tokyo-dc.fabric.spines", "must be an integer 1-16, got 'two'"),
    ("{leaves: 2}", "sites.tokyo-dc.fabric.spines", "is required (an integer 1-16)"),
    ("{spines: 1, leaves: 2, hosts_per_leaf: 99}", "sites.tokyo-dc.fabric.hosts_per_leaf",
     "must be an integer 0-64, got 99"),
    ("{spines: 1, leaves: 2, bandwidth_mbps: 0}", "sites.tokyo-dc.fabric.bandwidth_mbps",
     "must be a number > 0, got 0"),
    ("{spines: 1, leaves: 2, delay_ms: -1}", "sites.tokyo-dc.fabric.delay_ms", "must be a number >= 0, got -1"),
    ("{spines: 1, leaves: 2, leafs: 3}", "sites.tokyo-dc.fabric.leafs", "unknown key 'leafs'"),
    ("[2, 4]", "sites.tokyo-dc.fabric", "must be a mapping"),
])
def test_bad_fabric_specs_name_the_field(fabric, field, problem):
    with pytest.raises(TopologyError) as e:
        small(fabric)
    line = str(e.value)
    assert "\n" not in line and f"small.yaml: {field}: {problem}" in line, line


def test_a_fabric_only_on_a_cloud_and_without_name_clashes():
    with pytest.raises(TopologyError, match=r"sites.tokyo-ix.fabric: only a cloud site may have a fabric"):
        parse_yaml((SMALL % "{spines: 1, leaves: 1}").replace("{kind: core, ", "{kind: core, fabric: {spines: 1, leaves: 1}, "))
    clash = SMALL % "{spines: 1, leaves: 1}" + "  - {a: tokyo-ix, b: tokyo-dc.leaf1}\n"
    clash = clash.replace("sites:\n", "sites:\n  tokyo-dc.leaf1: {kind: edge, lat: 35.6, lon: 139.7}\n")
    with pytest.raises(TopologyError, match=r"sites.tokyo-dc.fabric: its switch 'tokyo-dc.leaf1' has the name"):
        parse_yaml(clash)
    taken = (SMALL % "{spines: 1, leaves: 1}").replace("{kind: core, ", f"{{kind: core, dpid: {FABRIC_DPID_BASE | 1 << 8 | 1}, ")
    with pytest.raises(TopologyError, match=r"dpid 0xfa00000000010[1] of|would have dpid 0xfa000000000101, also used by site 'tokyo-ix'"):
        parse_yaml(taken)
    with pytest.raises(TopologyError, match=r"sites.kind: unknown kind 'leaf'|sites.tokyo-ix.kind: unknown kind 'leaf'"):
        parse_yaml((SMALL % "{spines: 1, leaves: 1}").replace("{kind: core, ", "{kind: leaf, "))


# sha256 of repr(load(name)) and of repr(make_plan(...)), taken before fabrics existed
# (with the topology's source, a path that depends on where the clone is, left out)
BEFORE = {
    "global-intercloud": ("669b4c333e493c2f", "dbffbc7dbf73788a"),
    "japan-intercloud": ("1666fd28a0643afd", "3d90432dff53fad7"),
    "two-clouds": ("11a68e9d5fcb5caa", "4a7691bf23df1e67"),
}


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_topologies_without_fabrics_load_byte_identical_to_before(name):
    t = replace(load(name), source="")
    got = (hashlib.sha256(repr(t).encode()).hexdigest()[:16],
           hashlib.sha256(repr(make_plan(t)).encode()).hexdigest()[:16])
    assert got == BEFORE[name]


def leaf_slice(name: str, ends, bw=10):
    return parse_spec({"name": name, "tenant": "t", "bandwidth_mbps": bw,
                       "endpoints": [{"site": s, "port": p} for s, p in ends]}, FABRIC)


def test_a_slice_between_leaves_of_two_fabric_clouds_is_placed_and_forwards():
    e = SliceEngine(FABRIC)
    e.admit(leaf_slice("a", [(f"{T}.leaf1", 1), (f"{O}.leaf2", 1)]))
    e.admit(leaf_slice("b", [(f"{T}.leaf2", 1), (f"{O}.leaf2", 2), (f"{T}.leaf1", 2)]))
    tree = e.slices["a"].tree
    sites = {x for k in tree.links for x in k}
    assert {T, O} <= sites and any(".spine" in x for x in sites)
    assert not sites & {f"{T}.leaf2", f"{O}.leaf1"}           # never through another leaf
    net = FakeNetwork(FABRIC, compile_plan(e))
    assert verify(e, net) == []
    a = e.slices["a"]
    far = next(x for x in a.spec.endpoints if x.site == f"{O}.leaf2")
    assert net.send(f"{T}.leaf1", 1, Frame.ipv4(a.addresses[far])) == [Delivery(f"{O}.leaf2", 1, None)]
    # a host on the other leaf, port not in slice a, reaches nothing of it
    assert net.send(f"{T}.leaf2", 2, Frame.ipv4(a.addresses[far])) == []
    # the fabric links are booked like WAN links
    used = next(k for k in tree.links if all(x.startswith(T) for x in k) and len(k) == 2)
    assert e.residual[used] == pytest.approx(1000 - 10 - (10 if used in e.slices["b"].tree.links else 0))


def test_a_fabric_link_down_is_repaired_through_the_other_spine():
    e = SliceEngine(FABRIC)
    e.admit(leaf_slice("a", [(f"{T}.leaf1", 1), (f"{O}.leaf2", 1)]))
    spine = next(x for k in e.slices["a"].tree.links for x in k if x.startswith(f"{T}.spine"))
    other = f"{T}.spine2" if spine.endswith("1") else f"{T}.spine1"
    events = e.link_down(f"{T}.leaf1", spine)
    assert [ev.slice for ev in events] == ["a"]
    moved = {x for k in e.slices["a"].tree.links for x in k}
    assert other in moved and frozenset((f"{T}.leaf1", spine)) not in e.slices["a"].tree.links
    net = FakeNetwork(FABRIC, compile_plan(e))
    net.set_link(f"{T}.leaf1", spine, up=False)
    assert verify(e, net) == []
