"""The slice engine: admission, reasons, preemption, failures, addresses and tags."""
from dataclasses import replace

import pytest

from slices.audit import audit
from slices.engine import PLACED, PREEMPTED, SliceEngine
from slices.errors import Rejected
from slices.spec import parse_spec
from topologies import load

JAPAN = load("japan-intercloud")


def spec(name, eps, bw, priority=3, topo=JAPAN, **kw):
    return parse_spec({"name": name, "tenant": "t", "bandwidth_mbps": bw, "priority": priority,
                       "endpoints": [{"site": s, "port": p} for s, p in eps], **kw}, topo)


@pytest.fixture
def engine():
    e = SliceEngine(JAPAN)
    yield e
    assert audit(e) == []


@pytest.fixture
def tiny():
    """two-clouds with 4 hosts per cloud: one 20 Mbit/s inter-cloud link to fight over."""
    topo = load("two-clouds")
    topo = replace(topo, sites=tuple(replace(s, hosts=4 if s.kind == "cloud" else 0) for s in topo.sites))
    e = SliceEngine(topo)
    e.pair = lambda name, port, bw, prio: spec(name, [("tokyo-dc", port), ("osaka-dc", port)],
                                               bw, prio, topo=topo)
    yield e
    assert audit(e) == []


def test_admission_books_bandwidth_on_every_tree_link(engine):
    ev = engine.admit(spec("med", [("tokyo-dc", 1), ("osaka-dc", 1), ("sendai-dc", 1)], 20,
                           priority=7, max_latency_ms=15))
    assert [e.kind for e in ev] == ["admitted"]
    s = engine.get("med")
    assert s.tree.worst_delay_ms < 15
    for key in s.tree.links:
        assert engine.residual[key] == engine.capacity[key] - 20
    assert sum(engine.residual.values()) == sum(engine.capacity.values()) - 20 * len(s.tree.links)


def test_latency_rejection_gives_the_best_value_and_changes_nothing(engine):
    engine.admit(spec("filler", [("sendai-dc", 1), ("sapporo-dc", 1)], 50, priority=7))
    before = dict(engine.residual)
    with pytest.raises(Rejected) as err:
        engine.admit(spec("fast", [("tokyo-dc", 1), ("sapporo-dc", 2)], 10, max_latency_ms=8))
    assert err.value.constraint == "latency"
    assert err.value.reason == "no tree within 8 ms between sapporo-dc and tokyo-dc; best is 12.0 ms"
    assert engine.residual == before and "fast" not in engine.slices


def test_bandwidth_rejection_says_which_link_and_how_much_is_free(tiny):
    tiny.admit(tiny.pair("first", 1, 15, 3))
    before = dict(tiny.residual)
    with pytest.raises(Rejected) as err:
        tiny.admit(tiny.pair("second", 2, 10, 3))   # equal priority: never preempts
    assert err.value.constraint == "bandwidth"
    assert err.value.reason == "link tokyo-ix—osaka-ix has 5 of 20 Mbit/s free; second needs 10"
    assert tiny.residual == before and tiny.get("first").status == PLACED


def test_an_endpoint_belongs_to_one_slice(engine):
    engine.admit(spec("a", [("tokyo-dc", 1), ("osaka-dc", 1)], 1))
    with pytest.raises(Rejected, match="endpoint tokyo-dc:1 already belongs to slice a"):
        engine.admit(spec("b", [("tokyo-dc", 1), ("nagoya-dc", 1)], 1))
    with pytest.raises(Rejected, match="a slice named a already exists"):
        engine.admit(spec("a", [("tokyo-dc", 2), ("nagoya-dc", 1)], 1))


def test_geofence_keeps_slices_out_of_other_regions(engine):
    # with both domestic routes into Fukuoka down, only the submarine route via Seoul is left
    engine.link_down("osaka-ix", "fukuoka-ix")
    engine.link_down("hiroshima-ix", "fukuoka-ix")
    engine.admit(spec("anywhere", [("tokyo-dc", 1), ("fukuoka-dc", 1)], 10))
    assert "seoul-ix" in engine.get("anywhere").tree.sites
    before = dict(engine.residual)
    with pytest.raises(Rejected) as err:
        engine.admit(spec("domestic", [("tokyo-dc", 2), ("fukuoka-dc", 2)], 10, allowed_regions=["JP"]))
    assert err.value.constraint == "region"
    assert err.value.reason.startswith("no path between fukuoka-dc and tokyo-dc inside regions ['JP']; "
                                       "2 links down now (fukuoka-ix—hiroshima-ix, fukuoka-ix—osaka-ix)")
    assert engine.residual == before and "domestic" not in engine.slices
    engine.link_up("osaka-ix", "fukuoka-ix")
    engine.admit(spec("domestic", [("tokyo-dc", 2), ("fukuoka-dc", 2)], 10, allowed_regions=["JP"]))
    assert all(JAPAN.site(x).region == "JP" for x in engine.get("domestic").tree.sites)


def test_no_preemption_when_capacity_suffices(engine):
    engine.admit(spec("bulk", [("sapporo-dc", 1), ("sendai-dc", 1)], 45, priority=2))
    engine.admit(spec("bg", [("sapporo-dc", 2), ("tokyo-dc", 1)], 45, priority=1))
    ev = engine.admit(spec("life", [("tokyo-dc", 2), ("sendai-dc", 2)], 40, priority=7))
    assert [e.kind for e in ev] == ["admitted"]
    assert engine.get("bg").status == PLACED and engine.get("bulk").status == PLACED


def test_preemption_takes_the_smallest_set_lowest_priority_first_then_restores(tiny):
    tiny.admit(tiny.pair("p0", 1, 6, 0))
    tiny.admit(tiny.pair("p1", 2, 6, 1))
    tiny.admit(tiny.pair("p2", 3, 6, 2))           # 18 of 20 Mbit/s booked
    ev = tiny.admit(tiny.pair("life", 4, 8, 7))     # needs 6 more: one victim, the lowest
    assert ev[0].kind == "admitted" and "preempting p0" in ev[0].reason
    assert [(x.kind, x.slice) for x in ev[1:]] == [("preempted", "p0")]
    assert "preempted by life (priority 7 > 0)" in ev[1].reason and "no room elsewhere" in ev[1].reason
    assert tiny.get("p0").status == PREEMPTED and tiny.get("p0").tree is None
    assert tiny.get("p1").status == PLACED and tiny.get("p2").status == PLACED
    assert audit(tiny) == []
    ev = tiny.release("life")
    assert [(x.kind, x.slice) for x in ev] == [("released", "life"), ("restored", "p0")]


def test_restoration_can_be_spread_over_several_calls_in_priority_order(tiny):
    """As the controller does after a delete: the delete answers at once, the waiting
    slices come back a few at a time, highest priority first, until none is left."""
    for port, prio in ((1, 0), (2, 1), (3, 2)):
        tiny.admit(tiny.pair(f"p{prio}", port, 6, prio))
    tiny.admit(tiny.pair("life", 4, 20, 7))          # takes the whole link: all three wait
    assert {n: tiny.get(n).status for n in ("p0", "p1", "p2")} == dict.fromkeys(("p0", "p1", "p2"), PREEMPTED)
    assert [e.kind for e in tiny.release("life", restore=False)] == ["released"]
    assert tiny.get("p2").status == PREEMPTED and tiny.waiting()
    calls = []
    while True:
        calls.append([e.slice for e in tiny.restore_waiting(limit=1)])
        assert audit(tiny) == []
        if not tiny.restore_pending:
            break
    assert calls == [["p2"], ["p1"], ["p0"]] and not tiny.waiting()
    tiny.admit(tiny.pair("big", 4, 20, 7))           # the link full again: nothing comes back
    assert tiny.restore_waiting() == [] and tiny.get("p0").status == PREEMPTED


def test_preempted_slices_are_replaced_elsewhere_when_they_fit(engine):
    # Sapporo has two routes: via Sendai (~6 ms) and direct to Tokyo (12 ms), 50 Mbit/s each
    engine.admit(spec("bg", [("sapporo-dc", 1), ("tokyo-dc", 1)], 30, priority=1))
    route = engine.get("bg").tree.links
    assert frozenset(("sendai-ix", "sapporo-ix")) in route
    ev = engine.admit(spec("life", [("sapporo-dc", 2), ("tokyo-dc", 2)], 40, priority=7,
                           max_latency_ms=8))     # only the Sendai route is fast enough
    assert [(x.kind, x.slice) for x in ev] == [("admitted", "life"), ("re-placed", "bg")]
    assert engine.get("bg").status == PLACED and engine.get("bg").tree.links != route


def test_link_failure_moves_protected_slices_to_their_backup_and_replaces_others(engine):
    ev = engine.admit(spec("prot", [("tokyo-dc", 1), ("osaka-dc", 1)], 10, protection="link"))
    assert "unprotectable single links shared: osaka-dc—osaka-ix, tokyo-dc—tokyo-ix" in ev[0].reason
    engine.admit(spec("plain", [("tokyo-dc", 2), ("osaka-dc", 2)], 10))
    prot = engine.get("prot")
    old_backup = prot.backup.links
    assert frozenset(("tokyo-ix", "osaka-ix")) in prot.tree.links
    ev = engine.link_down("tokyo-ix", "osaka-ix")
    assert ("switched-to-backup", "prot") in {(x.kind, x.slice) for x in ev}
    assert ("re-placed", "plain") in {(x.kind, x.slice) for x in ev}
    assert engine.get("prot").tree.links == old_backup
    assert frozenset(("tokyo-ix", "osaka-ix")) not in engine.get("plain").tree.links
    assert audit(engine) == []


def test_site_failure_without_alternative_preempts_then_restores(engine):
    engine.admit(spec("sap", [("sapporo-dc", 1), ("tokyo-dc", 1)], 10))
    ev = engine.site_down("sapporo-ix")
    assert [(x.kind, x.slice) for x in ev] == [("preempted", "sap")]
    assert ev[0].reason.startswith("site sapporo-ix down; no alternative")
    assert audit(engine) == []
    assert [(x.kind, x.slice) for x in engine.site_up("sapporo-ix")] == [("restored", "sap")]


def test_addresses_and_tags_are_assigned_then_released_without_leaks():
    e = SliceEngine(JAPAN, prefix_pool="10.200.0.0/16", prefix_len=24)
    e.admit(parse_spec({"name": "a", "tenant": "t", "bandwidth_mbps": 1, "endpoints": [
        {"site": "tokyo-dc", "port": 1, "ip": "10.200.0.1"}, {"site": "osaka-dc", "port": 1}]}, JAPAN))
    e.admit(parse_spec({"name": "b", "tenant": "t", "bandwidth_mbps": 1, "endpoints": [
        {"site": "tokyo-dc", "port": 2, "ip": "192.168.1.1"},
        {"site": "osaka-dc", "port": 2, "ip": "192.168.1.2"}]}, JAPAN))
    a, b = e.get("a"), e.get("b")
    assert (str(a.prefix), str(b.prefix)) == ("10.200.0.0/24", "10.200.1.0/24")
    assert sorted(a.addresses.values()) == ["10.200.0.1", "10.200.0.2"]   # given kept, next assigned
    shared = set(a.tree.links) & set(b.tree.links)
    assert shared and all(a.tags[k] != b.tags[k] for k in shared)
    e.release("a")
    e.release("b")
    assert e.prefixes.in_use == 0 and e.tags.in_use == 0 and e.residual == e.capacity
    assert audit(e) == []


def test_update_keeps_id_addresses_and_tags_of_what_stays(engine):
    engine.admit(spec("u", [("tokyo-dc", 1), ("osaka-dc", 1)], 10))
    before = engine.slices["u"]
    number, prefix, tags = before.number, before.prefix, dict(before.tags)
    addrs = {e.key: a for e, a in before.addresses.items()}
    events = engine.update(spec("u", [("tokyo-dc", 1), ("osaka-dc", 1), ("sendai-dc", 1)], 20))
    s = engine.slices["u"]
    assert [e.kind for e in events] == ["updated"]
    assert (s.number, s.prefix) == (number, prefix)
    assert all(s.tags[k] == t for k, t in tags.items() if k in s.tags)
    assert {e.key: a for e, a in s.addresses.items() if e.key in addrs} == addrs
    assert all(engine.capacity[k] - engine.residual[k] == 20 for k in s.tree.links)


def test_a_failed_update_changes_nothing(tiny):
    tiny.admit(tiny.pair("keep", 1, 10, 3))
    snap = (dict(tiny.residual), tiny.slices["keep"].tree, dict(tiny.slices["keep"].tags))
    with pytest.raises(Rejected) as err:
        tiny.update(tiny.pair("keep", 1, 25, 3))  # the inter-cloud link has 20
    assert err.value.constraint == "bandwidth"
    assert (dict(tiny.residual), tiny.slices["keep"].tree, dict(tiny.slices["keep"].tags)) == snap
    assert tiny.slices["keep"].spec.bandwidth_mbps == 10


def test_adopt_restores_a_slice_exactly():
    a = SliceEngine(JAPAN)
    a.admit(spec("x", [("tokyo-dc", 1), ("osaka-dc", 1)], 10))
    a.admit(spec("y", [("tokyo-dc", 2), ("fukuoka-dc", 1)], 10, protection="link"))
    a.release("x")
    y = a.slices["y"]
    b = SliceEngine(JAPAN)
    b.adopt(a.record("y"))
    z = b.slices["y"]
    assert (z.number, z.prefix, z.tags, z.backup_tags, z.addresses) == (y.number, y.prefix, y.tags, y.backup_tags, y.addresses)
    assert b.residual == a.residual and audit(b) == [] and b.record("y") == a.record("y")
    with pytest.raises(ValueError, match="exists already"):
        b.adopt(a.record("y"))


def test_in_a_disaster_the_lifeline_is_restored_first_and_the_preempted_come_back_after(engine):
    """Issue 8, priority live: capacity short after a failure goes to the lifeline, the
    lower slice is preempted (said so), and restored once the failed link returns."""
    low = engine.admit(spec("batch", [("sapporo-dc", 1), ("tokyo-dc", 1)], 40, priority=1))
    assert frozenset(("sapporo-ix", "sendai-ix")) in engine.slices["batch"].tree.links   # the fast way
    engine.admit(spec("lifeline", [("sapporo-dc", 2), ("tokyo-dc", 2)], 40, priority=7))
    assert frozenset(("sapporo-ix", "tokyo-ix")) in engine.slices["lifeline"].tree.links  # what was left
    assert low and engine.slices["batch"].status == PLACED
    events = engine.link_down("sapporo-ix", "tokyo-ix")
    assert [(e.kind, e.slice) for e in events] == [("re-placed", "lifeline"), ("preempted", "batch")]
    assert "preempting batch" in events[0].reason and "lifeline" in engine.slices["batch"].reason
    assert engine.slices["lifeline"].status == PLACED and engine.slices["batch"].status == PREEMPTED
    events = engine.link_up("sapporo-ix", "tokyo-ix")
    assert [(e.kind, e.slice) for e in events] == [("restored", "batch")]
    assert engine.slices["batch"].status == PLACED


def test_no_path_while_links_are_down_names_the_down_links(engine):
    """Found walking README's HA section: an apply the moment the WAN came up was refused
    "no path between osaka-dc and sendai-dc" — true, but only because the controller had
    not yet seen the links up. The refusal says which links are down, and changes nothing."""
    engine.link_down("sapporo-dc", "sapporo-ix")
    with pytest.raises(Rejected) as refused:
        engine.admit(spec("north", [("sapporo-dc", 1), ("tokyo-dc", 1)], 10))
    assert refused.value.constraint == "topology"
    assert "no path between" in refused.value.reason
    assert "1 link down now (sapporo-dc—sapporo-ix)" in refused.value.reason
    assert "north" not in engine.slices
