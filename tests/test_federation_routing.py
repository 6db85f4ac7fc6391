"""Abstract views (what a domain advertises) and routing a slice across domains over them."""
from pathlib import Path

import pytest

from slices.abstract import abstract_view
from slices.engine import SliceEngine
from slices.interdomain import FedEndpoint, FedRequest, Refused, parse_endpoint, route
from slices.spec import parse_spec
from topologies.federation import load_federation

FED = load_federation(Path(__file__).resolve().parent.parent / "topologies" / "federations" / "japan-korea.yaml")


def _view(name, engine=None):
    topo = FED.domain(name).topology
    engine = engine or SliceEngine(topo)
    return abstract_view(name, topo, engine.residual, [p.site for p in FED.border_points(name)], engine.down_links)


def _views(**engines):
    return {d.name: _view(d.name, engines.get(d.name)) for d in FED.domains}


def test_a_view_names_only_border_points_and_clouds():
    view = _view("west")
    topo = FED.domain("west").topology
    internal = {s.name for s in topo.sites} - {"osaka-dc", "nagoya-dc", "fukuoka-dc", "osaka-ix", "nagoya-ix",
                                                "fukuoka-ix"}
    assert internal == {"hiroshima-ix"}
    assert view.names() == {"west", "osaka-dc", "nagoya-dc", "fukuoka-dc", "osaka-ix", "nagoya-ix", "fukuoka-ix"}
    assert len(view.pairs) == 15          # every pair of the six points
    # Osaka-Fukuoka: the 50 Mbit/s direct link is the fastest; via Hiroshima 100 Mbit/s is the widest
    offer = view.offer("osaka-ix", "fukuoka-ix")
    assert offer.bandwidth_mbps == 100
    direct = topo.link("osaka-ix", "fukuoka-ix").delay_ms
    assert offer.min_delay_ms == pytest.approx(direct, abs=1e-3)


def test_a_view_follows_the_engines_residual_capacity_and_down_links():
    topo = FED.domain("east").topology
    engine = SliceEngine(topo)
    engine.admit(parse_spec({"name": "big", "tenant": "t", "bandwidth_mbps": 70, "endpoints": [
        {"site": "sendai-dc", "port": 1}, {"site": "tokyo-dc", "port": 1}]}, topo))
    assert _view("east", engine).offer("sendai-dc", "tokyo-ix").bandwidth_mbps == 30
    engine.link_down("tokyo-ix", "sapporo-ix")
    slow = _view("east", engine).offer("sapporo-dc", "tokyo-ix")
    assert slow.min_delay_ms > 5.9 and slow.bandwidth_mbps == 30   # now via Sendai, 30 left there


def test_routing_three_domains_splits_the_bound_and_passes_the_fence_down():
    req = FedRequest("x", "east", (parse_endpoint("sendai-dc", 1, "east", FED),
                                   parse_endpoint("west/osaka-dc", 1, "east", FED),
                                   parse_endpoint("korea/seoul-dc", 1, "east", FED)),
                     bandwidth_mbps=20, max_latency_ms=40, allowed_regions=frozenset({"JP", "KR"}))
    r = route(req, FED, _views())
    parts = {p.domain: p for p in r.parts}
    assert set(parts) == {"east", "west", "korea"}
    assert parts["east"].endpoints == (FedEndpoint("east", "sendai-dc", 1),)
    assert parts["east"].borders == ("tokyo-ix",)
    assert all(p.allowed_regions == {"JP", "KR"} for p in r.parts)
    # every part gets its base plus a share of the slack proportional to its base
    slack = 40 - r.worst_delay_ms
    total = sum(p.base_delay_ms for p in r.parts)
    for p in r.parts:
        assert p.max_latency_ms == pytest.approx(p.base_delay_ms + slack * p.base_delay_ms / total, abs=1e-3)
    # two borders join three domains: a tree, no loop
    assert len(r.borders) == 2


def test_budgets_along_every_endpoint_path_add_up_to_at_most_the_bound():
    req = FedRequest("x", "west", (FedEndpoint("east", "sapporo-dc", 1), FedEndpoint("korea", "busan-dc", 1)),
                     bandwidth_mbps=10, max_latency_ms=30)
    r = route(req, FED, _views())
    assert sum(p.max_latency_ms for p in r.parts) + sum(b.delay_ms for b in r.borders) <= 30 + 1e-6


def test_a_bound_too_tight_is_refused_naming_the_slowest_domain():
    req = FedRequest("x", "east", (FedEndpoint("east", "sapporo-dc", 1), FedEndpoint("korea", "busan-dc", 1)),
                     bandwidth_mbps=10, max_latency_ms=5)
    with pytest.raises(Refused) as e:
        route(req, FED, _views())
    assert e.value.constraint == "latency" and e.value.domain == "east"
    assert str(e.value).startswith("domain east: latency: the route needs")


def test_the_geo_fence_refuses_naming_the_domain():
    req = FedRequest("x", "east", (FedEndpoint("east", "tokyo-dc", 1), FedEndpoint("korea", "seoul-dc", 1)),
                     bandwidth_mbps=10, allowed_regions=frozenset({"JP"}))
    with pytest.raises(Refused) as e:
        route(req, FED, _views())
    assert str(e.value) == "domain korea: geo-fence: seoul-dc is in region KR, allowed: JP"


def test_a_full_domain_is_named_with_the_bandwidth_it_has():
    korea = SliceEngine(FED.domain("korea").topology)
    korea.admit(parse_spec({"name": "fill", "tenant": "t", "bandwidth_mbps": 95, "endpoints": [
        {"site": "seoul-dc", "port": 1}, {"site": "busan-dc", "port": 1}]}, korea.topology))
    req = FedRequest("x", "east", (FedEndpoint("east", "tokyo-dc", 1), FedEndpoint("korea", "busan-dc", 1)),
                     bandwidth_mbps=10)
    with pytest.raises(Refused) as e:
        route(req, FED, _views(korea=korea))
    assert str(e.value) == "domain korea: bandwidth: busan-dc reaches its borders with at most 5 Mbit/s, asked 10"


def test_a_full_border_is_routed_around_through_the_third_domain():
    req = FedRequest("x", "east", (FedEndpoint("east", "tokyo-dc", 1), FedEndpoint("korea", "seoul-dc", 1)),
                     bandwidth_mbps=10)
    direct = route(req, FED, _views())
    assert [b.name for b in direct.borders] == ["east/tokyo-ix—korea/seoul-ix"]
    around = route(req, FED, _views(), border_free={"east/tokyo-ix—korea/seoul-ix": 5})
    assert {p.domain for p in around.parts} == {"east", "west", "korea"}


def test_an_unknown_domain_or_site_is_refused():
    with pytest.raises(Refused, match="unknown domain 'kr'"):
        parse_endpoint("kr/seoul-dc", 1, "east", FED)
    with pytest.raises(Refused, match="domain west: endpoint: no site 'tokyo-dc'"):
        parse_endpoint("west/tokyo-dc", 1, "east", FED)
    req = FedRequest("x", "east", (FedEndpoint("east", "tokyo-dc", 1), FedEndpoint("korea", "seoul-dc", 1)), 1)
    views = _views()
    del views["korea"]
    with pytest.raises(Refused, match="domain korea: unreachable"):
        route(req, FED, views)


def test_a_route_entering_a_domain_twice_is_refused_not_looped():
    """West offers nothing between its Nagoya and Osaka sides (full inside): the cheapest
    tree reaches each through its own border from Tokyo. West would join the two inside
    its one part and close a loop, so the route is refused."""
    from dataclasses import replace

    views = _views()
    west = views["west"]
    sides = [{"nagoya-dc", "nagoya-ix"}, {"osaka-dc", "osaka-ix"}]
    views["west"] = replace(west, pairs=tuple(p for p in west.pairs if any({p.a, p.b} <= s for s in sides)))
    req = FedRequest("x", "east", (FedEndpoint("east", "tokyo-dc", 1), FedEndpoint("west", "nagoya-dc", 1),
                                   FedEndpoint("west", "osaka-dc", 1)), bandwidth_mbps=10)
    with pytest.raises(Refused) as e:
        route(req, FED, views)
    assert e.value.constraint == "loop" and "enters a domain twice (east, west)" in str(e.value)
