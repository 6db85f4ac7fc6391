"""The rule compiler, judged by behaviour on a simulated network (slices.fakenet):
where frames come out, not what the rules look like. Plus golden plans and diffs."""
from pathlib import Path

import pytest

from slices.compiler import (BASE_OWNER, compile_plan, compile_slice, diff, recompile, render)
from slices.engine import SliceEngine
from slices.fakenet import Delivery, FakeNetwork, Frame, verify
from slices.rules import OFPP_CONTROLLER, Group, Meter, Rule, cookie_slice
from slices.spec import parse_spec
from topologies import load
from topologies.ports import PortMap

JAPAN = load("japan-intercloud")
GOLDEN = Path(__file__).parent / "golden"


def spec(name, eps, bw=10, topo=JAPAN, **kw):
    return parse_spec({"name": name, "tenant": "t", "bandwidth_mbps": bw,
                       "endpoints": [dict(zip(("site", "port", "vlan"), e)) for e in eps], **kw}, topo)


def engine_with(*specs, topo=JAPAN):
    e = SliceEngine(topo)
    for s in specs:
        e.admit(s)
    return e


MEDICAL = spec("medical", [("tokyo-dc", 1), ("osaka-dc", 1), ("sendai-dc", 1)], 20,
               priority=7, max_latency_ms=15)
BUSINESS = spec("business", [("tokyo-dc", 2, 100), ("fukuoka-dc", 2), ("seoul-dc", 1, 200)], 30)


def test_endpoints_reach_each_other_and_nothing_else():
    e = engine_with(MEDICAL, BUSINESS)
    net = FakeNetwork(JAPAN, compile_plan(e))
    assert verify(e, net) == []
    m = e.slices["medical"]
    osaka = next(x for x in MEDICAL.endpoints if x.site == "osaka-dc")
    assert net.send("tokyo-dc", 1, Frame.ipv4(m.addresses[osaka])) == [Delivery("osaka-dc", 1, None)]
    # the same destination address from the other slice's port goes nowhere
    assert net.send("tokyo-dc", 2, Frame.ipv4(m.addresses[osaka], vlan=100)) == []


def test_vlan_endpoints_are_untagged_on_entry_and_retagged_on_exit():
    e = engine_with(BUSINESS)
    net = FakeNetwork(JAPAN, compile_plan(e))
    b = e.slices["business"]
    seoul = next(x for x in BUSINESS.endpoints if x.site == "seoul-dc")
    assert net.send("tokyo-dc", 2, Frame.ipv4(b.addresses[seoul], vlan=100)) == [Delivery("seoul-dc", 1, 200)]
    # wrong VLAN on the endpoint port, or untagged: not the slice's traffic
    assert net.send("tokyo-dc", 2, Frame.ipv4(b.addresses[seoul], vlan=101)) == []
    assert net.send("tokyo-dc", 2, Frame.ipv4(b.addresses[seoul])) == []


def test_broadcast_and_arp_stay_inside_the_slice():
    e = engine_with(MEDICAL, BUSINESS)
    net = FakeNetwork(JAPAN, compile_plan(e))
    m = e.slices["medical"]
    osaka = m.addresses[next(x for x in MEDICAL.endpoints if x.site == "osaka-dc")]
    got = net.send("osaka-dc", 1, Frame(ip_src=osaka))
    assert got == [Delivery("sendai-dc", 1, None), Delivery("tokyo-dc", 1, None)]
    sendai = next(x for x in MEDICAL.endpoints if x.site == "sendai-dc")
    assert net.send("osaka-dc", 1, Frame.arp_request(m.addresses[sendai], sender=osaka)) == [
        Delivery("sendai-dc", 1, None)]
    # the host there configured with another address: its ARP goes to the controller only
    assert net.send("osaka-dc", 1, Frame.arp_request(m.addresses[sendai], sender="10.0.0.9")) == [
        Delivery("osaka-dc", OFPP_CONTROLLER, None)]


def test_overlapping_prefixes_stay_isolated():
    e = engine_with(spec("a", [("tokyo-dc", 1), ("osaka-dc", 1)]))
    taken = {x.site: ip for x, ip in e.slices["a"].addresses.items()}
    # b brings its own addresses: the very same as a's
    e.admit(parse_spec({"name": "b", "tenant": "t", "bandwidth_mbps": 10, "endpoints": [
        {"site": site, "port": 2, "ip": ip} for site, ip in sorted(taken.items())]}, JAPAN))
    assert set(e.slices["a"].addresses.values()) == set(e.slices["b"].addresses.values())
    net = FakeNetwork(JAPAN, compile_plan(e))
    assert verify(e, net) == []
    assert net.send("tokyo-dc", 2, Frame.ipv4(taken["osaka-dc"])) == [Delivery("osaka-dc", 2, None)]


def test_frames_from_outside_or_with_foreign_tags_are_dropped():
    e = engine_with(MEDICAL)
    net = FakeNetwork(JAPAN, compile_plan(e))
    ports = PortMap(JAPAN)
    m = e.slices["medical"]
    addr = next(iter(m.addresses.values()))
    assert net.send("nagoya-dc", 1, Frame.ipv4(addr)) == []      # a host in no slice
    link_port = ports.toward("tokyo-ix", "osaka-ix")
    used = set(m.tags.values())
    foreign = next(t for t in range(2, 4095) if t not in used)
    assert net.send("tokyo-ix", link_port, Frame.ipv4(addr, vlan=foreign)) == []
    assert net.send("tokyo-ix", link_port, Frame.ipv4(addr)) == []  # untagged on a link


def test_fast_failover_groups_carry_traffic_onto_the_backup():
    prot = spec("prot", [("tokyo-dc", 1), ("osaka-dc", 1)], protection="link")
    e = engine_with(prot)
    s = e.slices["prot"]
    plan = compile_plan(e)
    assert any(isinstance(x, Group) for x in plan["prot"])
    net = FakeNetwork(JAPAN, plan)
    osaka = next(x for x in prot.endpoints if x.site == "osaka-dc")
    frame = Frame.ipv4(s.addresses[osaka])
    assert net.send("tokyo-dc", 1, frame) == [Delivery("osaka-dc", 1, None)]
    # take down a primary link next to a site on both trees: the group fails over locally
    shared_sites = s.tree.sites & s.backup.sites
    a, b = next(tuple(k) for k in sorted(s.tree.links - s.backup.links, key=sorted)
                if k & shared_sites)
    net.set_link(a, b, up=False)
    assert net.send("tokyo-dc", 1, frame) == [Delivery("osaka-dc", 1, None)]
    back = net.send("osaka-dc", 1, Frame.ipv4(s.addresses[next(x for x in prot.endpoints if x.site == "tokyo-dc")]))
    assert back == [Delivery("tokyo-dc", 1, None)]
    # without the group (unprotected slice) the same failure cuts the slice
    e2 = engine_with(spec("plain", [("tokyo-dc", 1), ("osaka-dc", 1)]))
    net2 = FakeNetwork(JAPAN, compile_plan(e2))
    plain = e2.slices["plain"]
    assert frozenset((a, b)) in plain.tree.links  # the same tree, without a backup
    net2.set_link(a, b, up=False)
    assert net2.send("tokyo-dc", 1, Frame.ipv4(plain.addresses[osaka])) == []


def test_every_entry_carries_its_slice_id_and_meters_police_at_ingress():
    e = engine_with(MEDICAL, BUSINESS)
    plan = compile_plan(e)
    for name in ("medical", "business"):
        s = e.slices[name]
        assert {cookie_slice(x.cookie) for x in plan[name]} == {s.number}
        meters = [x for x in plan[name] if isinstance(x, Meter)]
        assert {m.switch for m in meters} == set(s.spec.sites)
        assert all(m.rate_kbps == s.spec.bandwidth_mbps * 1000 for m in meters)
    net = FakeNetwork(JAPAN, plan)
    m = e.slices["medical"]
    osaka = next(x for x in MEDICAL.endpoints if x.site == "osaka-dc")
    net.send("tokyo-dc", 1, Frame.ipv4(m.addresses[osaka]))
    assert dict(net.meter_hits) == {("tokyo-dc", m.number): 1}


def test_rules_per_switch_grow_with_endpoints_not_pairs():
    clouds = [s.name for s in JAPAN.sites if s.kind == "cloud"]
    counts = []
    for k in range(2, len(clouds) + 1):
        e = engine_with(spec("s", [(c, 1) for c in clouds[:k]], 1))
        entries = compile_slice(e.record("s"), PortMap(JAPAN))
        per_switch = {}
        for x in entries:
            if isinstance(x, Rule) and x.table == 1 and x.priority == 200:
                per_switch[x.switch] = per_switch.get(x.switch, 0) + 1
        assert set(per_switch.values()) == {2 * k}  # IPv4 + ARP per endpoint, every tree site
        counts.append(max(sum(1 for x in entries if x.switch == sw) for sw in per_switch))
    assert counts[-1] < 3 * counts[0] * (len(clouds) / 2)


def apply(installed: dict, changes) -> dict:
    out = dict(installed)
    for x in changes.deletes:
        del out[x.key]
    for x in changes.modifies + changes.adds:
        out[x.key] = x
    return out


def keyed(plan) -> dict:
    return {x.key: x for entries in plan.values() for x in entries}


def test_incremental_changes_touch_only_the_slice_and_its_switches():
    e = engine_with(MEDICAL, BUSINESS)
    plan0 = compile_plan(e)
    third = spec("third", [("nagoya-dc", 1), ("fukuoka-dc", 1)], 5)
    e.admit(third)
    plan1 = recompile(plan0, e, ["third"])
    assert plan1 == compile_plan(e)
    ch = diff(plan0, plan1)
    n = e.slices["third"].number
    assert not ch.deletes and not ch.modifies and ch.adds
    assert {cookie_slice(x.cookie) for x in ch.adds} == {n}
    assert set(ch.switches) == set(e.slices["third"].tree.sites)
    kinds = [type(x).__name__ for x in ch.adds if x.switch == ch.switches[0]]
    assert kinds == sorted(kinds, key=["Meter", "Group", "Rule"].index)  # meters before flows
    assert apply(keyed(plan0), ch) == keyed(plan1)
    assert diff(plan0, plan1) == ch  # deterministic

    gone = e.slices["business"].number
    e.release("business")
    plan2 = recompile(plan1, e, ["business"])
    ch = diff(plan1, plan2)
    assert not ch.adds and not ch.modifies
    assert {cookie_slice(x.cookie) for x in ch.deletes} == {gone}
    flows_first = [type(x).__name__ for x in ch.deletes if x.switch == ch.switches[0]]
    assert flows_first == sorted(flows_first, key=["Rule", "Group", "Meter"].index)
    assert apply(keyed(plan1), ch) == keyed(plan2)
    assert verify(e, FakeNetwork(JAPAN, plan2)) == []


def test_a_reroute_changes_only_the_rerouted_slice():
    e = engine_with(MEDICAL, BUSINESS)
    plan0 = compile_plan(e)
    a, b = sorted(next(iter(sorted(e.slices["medical"].tree.links - e.slices["business"].tree.links,
                                   key=sorted))))
    events = e.link_down(a, b)
    touched = sorted({ev.slice for ev in events})
    assert touched == ["medical"]
    plan1 = recompile(plan0, e, touched)
    ch = diff(plan0, plan1)
    assert {cookie_slice(x.cookie) for x in ch.deletes + ch.modifies + ch.adds} == {e.slices["medical"].number}
    assert plan1["business"] is plan0["business"] and plan1[BASE_OWNER] is plan0[BASE_OWNER]
    net = FakeNetwork(JAPAN, plan1)
    net.set_link(a, b, up=False)
    assert verify(e, net) == []


SCENARIOS = {
    "japan-medical-and-business": lambda: engine_with(MEDICAL, BUSINESS),
    "japan-link-protected": lambda: engine_with(spec("prot", [("tokyo-dc", 1), ("osaka-dc", 1, 10)],
                                                     20, protection="link")),
    "two-clouds-pair": lambda: engine_with(
        parse_spec({"name": "pair", "tenant": "t", "bandwidth_mbps": 5,
                    "endpoints": [{"site": "tokyo-dc", "port": 1}, {"site": "osaka-dc", "port": 2}]},
                   load("two-clouds")), topo=load("two-clouds")),
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_golden_rule_plans(name, request):
    """The exact plan of named scenarios; regenerate with `pytest --update-golden` and
    review the diff."""
    text = render(compile_plan(SCENARIOS[name]()))
    path = GOLDEN / f"{name}.txt"
    if request.config.getoption("--update-golden"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        pytest.skip(f"rewrote {path}: review the diff (a file compared with what was just written proves nothing)")
    assert path.exists(), f"no golden file {path}; run pytest --update-golden"
    assert text == path.read_text(), f"plan of {name} changed; if intended: pytest --update-golden"


def test_identifiers_stay_clear_of_openflows_reserved_ids_and_never_collide():
    from slices.rules import (MAX_GROUP_INDEX, MAX_SLICE_ID, group_id, group_slice, meter_id, meter_slice)
    OFPG_MAX, OFPM_MAX = 0xFFFFFF00, 0xFFFF0000
    assert group_id(MAX_SLICE_ID, MAX_GROUP_INDEX) < OFPG_MAX and meter_id(MAX_SLICE_ID) <= OFPM_MAX
    assert group_slice(group_id(77, MAX_GROUP_INDEX)) == 77 == meter_slice(meter_id(77))
    assert group_id(1, MAX_GROUP_INDEX) != group_id(2, 0)
    for bad in ((1, MAX_GROUP_INDEX + 1), (MAX_SLICE_ID + 1, 0), (0, 0)):
        with pytest.raises(ValueError):
            group_id(*bad)
