"""The home controller of slices across domains, on three in-process domains with
simulated switches: a slice over east, west and korea is reserved, committed and
provisioned in each; a refusal anywhere leaves nothing anywhere and names the domain; a
lost border is routed around; a domain down is named; reconciliation drops what the home
does not know."""
import pytest

from controller.fedhome import FederatedRefusal, FederationHome
from controller.fedpeers import LocalDomain, PeerDomain
from slices.compiler import BASE_OWNER
from slices.errors import SpecError
from tests.fedharness import FED, RunningDomain

SLICE = {"name": "medical", "tenant": "hospital", "bandwidth_mbps": 10, "max_latency_ms": 40,
         "endpoints": [{"site": "tokyo-dc", "port": 1, "ip": "10.9.0.1"},
                       {"site": "west/osaka-dc", "port": 1, "ip": "10.9.0.2"},
                       {"site": "korea/busan-dc", "port": 1, "ip": "10.9.0.3"}]}


@pytest.fixture
def fed(tmp_path):
    policies = {"east": {"tenants": {"hospital": {"max_priority": 7}}},
                "west": {"tenants": {"peer:east": {"max_priority": 5}}}, "korea": {}}
    domains = {n: RunningDomain(n, tmp_path, policy=p) for n, p in policies.items()}
    peers = {n: PeerDomain(n, d.addr, "east") for n, d in domains.items() if n != "east"}
    home = FederationHome(FED, LocalDomain(domains["east"].provider), peers, records=tmp_path / "home.json")
    home.start()
    yield home, domains
    home.close()
    for d in domains.values():
        d.close()


def lit(domain: RunningDomain) -> set[str]:
    return set(domain.plan()) - {BASE_OWNER}


def test_a_slice_across_three_domains_is_provisioned_in_each(fed):
    home, domains = fed
    fs = home.create(dict(SLICE))
    assert set(fs.parts) == {"east", "west", "korea"}
    assert all(p.state == "Provisioned" for p in fs.parts.values())
    for name, d in domains.items():
        assert lit(d) == {fs.parts[name].cid}, name
    # east's own part is the tenant's slice under the slice's name
    assert fs.parts["east"].cid == "medical"
    # the bound is split: the budgets along the route add up to at most 40 ms
    assert sum(p.max_latency_ms for p in fs.parts.values()) <= 40 + 1e-6
    # every border crossed carries one tag, the same on both sides
    for border, tag in fs.tags.items():
        ends = [e for p in fs.parts.values() for e in p.endpoints if e[2] == tag]
        assert len(ends) == 2, border
        # each side of a border reaches, through it, the addresses beyond it: together, all but its own
        assert not set(ends[0][3]) & set(ends[1][3]) and len(set(ends[0][3]) | set(ends[1][3])) == 3
    home.delete("medical")
    for d in domains.values():
        assert lit(d) == set() and d.booked() == {}


def test_a_refusal_in_one_domain_leaves_nothing_anywhere_and_names_it(fed, tmp_path):
    home, domains = fed
    before = {n: d.residual() for n, d in domains.items()}
    # korea's busan-dc link is 100 Mbit/s: a slice of 90 passes the views... take most of it first
    korea = domains["korea"]
    korea.ctl.call(lambda: korea.ctl.create({"name": "local", "tenant": "k", "bandwidth_mbps": 95, "endpoints": [
        {"site": "busan-dc", "port": 1}, {"site": "seoul-dc", "port": 1}]}))
    korea_before = korea.residual()
    with pytest.raises(FederatedRefusal) as e:
        home.create({**SLICE, "bandwidth_mbps": 20})
    assert "domain korea" in str(e.value) and "bandwidth" in str(e.value)
    assert e.value.code == "RESOURCE_EXHAUSTED"
    for n, d in domains.items():
        assert lit(d) == ({"local"} if n == "korea" else set()), n
        assert set(d.booked()) == ({"local"} if n == "korea" else set()), n
        assert d.residual() == (korea_before if n == "korea" else before[n]), n
    assert not home.names()


def test_a_peer_refusing_a_reserve_aborts_the_parts_already_held(fed):
    home, domains = fed
    # east lets its tenant use 7, west grants peer:east 5, korea only the default 3: east's and
    # west's parts are held when korea refuses, and aborted
    with pytest.raises(FederatedRefusal) as e:
        home.create({**SLICE, "priority": 4})
    assert e.value.code == "PERMISSION_DENIED" and "domain korea" in str(e.value)
    for d in domains.values():
        assert d.booked() == {}


def test_a_malformed_request_names_the_field(fed):
    home, _ = fed
    with pytest.raises(SpecError) as e:
        home.create({**SLICE, "protection": "link", "endpoints": [{"site": "west/nowhere", "port": 1},
                                                                   {"site": "korea/busan-dc", "port": 9}]})
    text = str(e.value)
    assert "protection" in text and "endpoints[0].site" in text and "endpoints[1].port" in text


def test_a_lost_border_is_routed_around(fed):
    home, domains = fed
    fs = home.create(dict(SLICE))
    border = sorted(fs.tags)[0]
    b = next(x for x in FED.borders if x.name == border)
    side = b.a.domain
    port = next(p for (s, p), x in home._ports[side].items() if x == b)
    d = domains[side]
    d.ctl.call(lambda: d.ctl.port_changed(b.a.site, port, False))
    import time
    deadline = time.monotonic() + 5
    while border in home.get("medical").tags and time.monotonic() < deadline:
        time.sleep(0.02)
    after = home.get("medical")
    assert border not in after.tags and after.state == "active", after.reason
    assert "re-routed around" in after.reason
    for name, dom in domains.items():
        assert lit(dom) == ({after.parts[name].cid} if name in after.parts else set()), name


def test_a_domain_down_is_named_and_reconciled_when_back(fed, tmp_path):
    home, domains = fed
    west = domains["west"]
    west.server.stop(0)
    with pytest.raises(FederatedRefusal) as e:
        home.create(dict(SLICE))
    assert "domain west" in str(e.value) and "not answering" in str(e.value)
    for d in domains.values():
        assert d.booked() == {}


def cross(domains: dict, home, frame_for, start: tuple[str, str, int], limit: int = 6):
    """Send a frame from ``start`` (domain, site, port) and follow it across the borders:
    every (domain, site, port) where it leaves the federation (a host's port)."""
    from dataclasses import replace as copy

    from slices.fakenet import FakeNetwork
    nets = {n: FakeNetwork(d.topology, d.plan()) for n, d in domains.items()}
    todo, out = [(start, frame_for(None))], []
    for _ in range(limit):
        nxt = []
        for (dom, site, port), frame in todo:
            for d in nets[dom].send(site, port, frame):
                border = home._ports[dom].get((d.site, d.port))
                if border is None:
                    out.append((dom, d.site, d.port))
                    continue
                far = border.other(border.end_in(dom))
                far_port = next(p for (s, p), b in home._ports[far.domain].items() if b == border)
                nxt.append(((far.domain, far.site, far_port), copy(frame_for(d.vlan))))
        todo = nxt
    return sorted(out)


def test_packets_cross_the_borders_to_the_right_host_and_nowhere_else(fed):
    from slices.fakenet import Frame
    home, domains = fed
    home.create(dict(SLICE))
    # IPv4 from Tokyo's host to Busan's address arrives at Busan's host port only
    got = cross(domains, home, lambda vlan: Frame.ipv4("10.9.0.3", vlan=vlan, src="10.9.0.1"), ("east", "tokyo-dc", 1))
    assert got == [("korea", "busan-dc", 1)]
    got = cross(domains, home, lambda vlan: Frame.ipv4("10.9.0.1", vlan=vlan, src="10.9.0.2"), ("west", "osaka-dc", 1))
    assert got == [("east", "tokyo-dc", 1)]
    # an ARP request from Busan is broadcast along the slice: both other hosts, no one else
    got = cross(domains, home, lambda vlan: Frame.arp_request("10.9.0.1", vlan=vlan, sender="10.9.0.3"),
                ("korea", "busan-dc", 1))
    assert got == [("east", "tokyo-dc", 1)]
    # an address outside the slice goes nowhere; a host not in the slice gets nothing in
    assert cross(domains, home, lambda vlan: Frame.ipv4("10.9.0.9", vlan=vlan, src="10.9.0.1"),
                 ("east", "tokyo-dc", 1)) == []
    assert cross(domains, home, lambda vlan: Frame.ipv4("10.9.0.3", vlan=vlan, src="10.9.0.7"),
                 ("east", "sendai-dc", 1)) == []
