"""A protected slice between two sites gets the disjoint pair that exists, even where its
least-delay path would leave no backup (the trap topology of Suurballe's paper)."""
from dataclasses import replace

import pytest

from slices.audit import audit
from slices.disjoint import disjoint_pair
from slices.engine import SliceEngine
from slices.errors import Rejected
from slices.placement import link_key
from slices.spec import parse_spec
from topologies.model import Link, Site, Topology

# west—x—y—east is the least-delay path (3 ms); taking it leaves west—y and x—east, which
# join nothing. The pair that exists: west—x—east and west—y—east (4 ms each).
TRAP = Topology(name="trap", sites=(
    Site("west", "cloud", 35.0, 135.0, "JP", hosts=4, dpid=1), Site("east", "cloud", 35.0, 136.0, "JP", hosts=4, dpid=2),
    Site("x", "core", 35.5, 135.5, "JP", dpid=3), Site("y", "core", 34.5, 135.5, "JP", dpid=4)),
    links=(Link("west", "x", 100, 1.0), Link("x", "y", 100, 1.0), Link("y", "east", 100, 1.0),
           Link("west", "y", 100, 3.0), Link("x", "east", 100, 3.0)))
VIA_X = {link_key("west", "x"), link_key("x", "east")}
VIA_Y = {link_key("west", "y"), link_key("y", "east")}


def spec(name, port, protection, sites=("west", "east"), **kw):
    return parse_spec({"name": name, "tenant": "t", "bandwidth_mbps": 10, "protection": protection, **kw,
                       "endpoints": [{"site": s, "port": port} for s in sites]}, TRAP)


@pytest.mark.parametrize("protection", ["link", "site"])
def test_a_pair_of_sites_gets_the_disjoint_pair_its_shortest_path_would_block(protection):
    e = SliceEngine(TRAP)
    events = e.admit(spec("pair", 1, protection))
    s = e.get("pair")
    assert [ev.kind for ev in events] == ["admitted"]
    assert {s.tree.links, s.backup.links} == {frozenset(VIA_X), frozenset(VIA_Y)}
    assert s.tree.worst_delay_ms == s.backup.worst_delay_ms == 4.0
    assert audit(e) == []
    # a failure of any link of the primary leaves the backup whole: it becomes the primary
    events = e.link_down(*sorted(next(iter(s.tree.links))))
    assert [ev.kind for ev in events][:1] == ["switched-to-backup"]
    assert audit(e) == []


def test_the_pair_keeps_the_latency_bound_or_the_slice_is_refused():
    e = SliceEngine(TRAP)
    with pytest.raises(Rejected) as err:
        e.admit(spec("tight", 1, "link", max_latency_ms=3.5))   # the pair's paths take 4 ms
    assert err.value.constraint == "protection"
    assert err.value.reason == ("no link-disjoint backup for tight: "
                                "the disjoint pair between east and west takes 4.0 ms")
    assert e.slices == {} and e.residual == e.capacity


def test_the_pair_takes_only_links_with_room_for_it():
    thin = replace(TRAP, links=tuple(replace(l, bandwidth_mbps=5) if l.key == link_key("west", "y") else l
                                     for l in TRAP.links))
    e = SliceEngine(thin)
    with pytest.raises(Rejected) as err:
        e.admit(parse_spec({"name": "pair", "tenant": "t", "bandwidth_mbps": 10, "protection": "link",
                            "endpoints": [{"site": "west", "port": 1}, {"site": "east", "port": 1}]}, thin))
    assert err.value.constraint == "protection"
    assert e.slices == {} and e.residual == e.capacity


def test_site_protection_shares_no_transit_site_unless_no_backup_can_avoid_it():
    # two link-disjoint ways from west to east, both through hub
    sites = [("west", "cloud"), ("east", "cloud"), ("hub", "core"), ("p", "core"), ("q", "core")]
    topo = Topology(name="hub", sites=tuple(Site(n, k, 35.0, 135.0 + i / 10, "JP", hosts=2 * (k == "cloud"), dpid=i + 1)
                                            for i, (n, k) in enumerate(sites)),
                    links=tuple(Link(a, b, 100, 1.0) for a, b in
                                (("west", "hub"), ("hub", "east"), ("west", "p"), ("p", "hub"), ("hub", "q"), ("q", "east"))))
    g = SliceEngine(topo).graph
    pair = parse_spec({"name": "pair", "tenant": "t", "bandwidth_mbps": 10, "endpoints": [
        {"site": "west", "port": 1}, {"site": "east", "port": 1}]}, topo)
    capacity = {link_key(l.a, l.b): l.bandwidth_mbps for l in topo.links}
    primary, backup = disjoint_pair(g, pair, capacity)
    assert primary.links == {link_key("west", "hub"), link_key("hub", "east")} and not primary.links & backup.links
    with pytest.raises(Rejected):
        disjoint_pair(g, pair, capacity, sites_too=True)
    primary, backup = disjoint_pair(g, pair, capacity, sites_too=True, shared_sites={"hub"})   # a cut site
    assert "hub" in primary.sites & backup.sites
