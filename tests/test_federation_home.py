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
        home.create({**SLICE, "protection": "link", "endpoints": [
            {"site": "nowhere", "port": 1, "ip": "10.9.0.1"}, {"site": "tokyo-dc", "port": 9, "ip": "10.9.0.2"},
            {"site": "mars/olympus-dc", "port": 1, "ip": "10.9.0.3"}]})
    text = str(e.value)
    assert "protection" in text and "endpoints[0].site" in text and "endpoints[1].port" in text
    assert "endpoints[2].site: unknown domain 'mars'" in text
    # another domain's sites are its to check: an internal one and a missing one read alike
    said = []
    for site in ("west/hiroshima-ix", "west/nowhere"):
        with pytest.raises(FederatedRefusal) as e:
            home.create({**SLICE, "endpoints": [SLICE["endpoints"][0], {"site": site, "port": 1, "ip": "10.9.0.5"}]})
        said.append(str(e.value).replace(site.split("/")[1], "X"))
    assert said[0] == said[1] and "domain west" in said[0]


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
    assert "domain west: unreachable" in str(e.value) and west.addr not in str(e.value)
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


@pytest.fixture
def api(fed):
    """East's slice API (gRPC) serving the home, as `slicectl controller --domain east` does."""
    from tests.fedharness import HomeApi
    home, domains = fed
    served = HomeApi(home, domains["east"])
    yield served.slices, served.topology, domains
    served.close()


def test_the_slice_api_creates_shows_lists_and_deletes_a_slice_across_domains(api):
    import grpc

    from proto.convert import doc_to_spec
    from proto.intercloud.slicing.v1 import slicing_pb2 as pb
    slices, topology, domains = api
    got = slices.CreateSlice(pb.CreateSliceRequest(spec=doc_to_spec(dict(SLICE))), timeout=30)
    assert got.state == pb.SLICE_STATE_ACTIVE and {p.domain for p in got.parts} == {"east", "west", "korea"}
    assert [e.site for e in got.spec.endpoints] == ["tokyo-dc", "west/osaka-dc", "korea/busan-dc"]
    assert all(p.state == "Provisioned" and p.endpoints for p in got.parts)
    again = slices.GetSlice(pb.GetSliceRequest(name="medical"), timeout=10)
    assert [p.connection_id for p in again.parts] == [p.connection_id for p in got.parts]
    listed = slices.ListSlices(pb.ListSlicesRequest(), timeout=10).slices
    assert [s.spec.name for s in listed] == ["medical"] and listed[0].parts
    st = topology.GetFederationStatus(pb.GetFederationStatusRequest(), timeout=10)
    assert st.domain == "east" and [s.spec.name for s in st.slices] == ["medical"]
    assert {p.domain for p in st.peers} == {"west", "korea"} and len(st.borders) == 3
    with pytest.raises(grpc.RpcError) as e:
        slices.CreateSlice(pb.CreateSliceRequest(spec=doc_to_spec(dict(SLICE))), timeout=30)
    assert e.value.code() == grpc.StatusCode.ALREADY_EXISTS
    with pytest.raises(grpc.RpcError) as e:
        slices.UpdateSlice(pb.UpdateSliceRequest(spec=doc_to_spec({**SLICE, "bandwidth_mbps": 20})), timeout=30)
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    slices.DeleteSlice(pb.DeleteSliceRequest(name="medical"), timeout=30)
    assert not slices.ListSlices(pb.ListSlicesRequest(), timeout=10).slices
    for d in domains.values():
        assert d.booked() == {} and lit(d) == set()
    # a malformed request: INVALID_ARGUMENT naming the field, nothing made
    bad = {**SLICE, "endpoints": [{**SLICE["endpoints"][0]}, {"site": "west/osaka-dc", "port": 1}]}
    with pytest.raises(grpc.RpcError) as e:
        slices.CreateSlice(pb.CreateSliceRequest(spec=doc_to_spec(bad)), timeout=30)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "endpoints[1].ip" in e.value.details()


def test_nothing_internal_to_a_domain_crosses_the_federation_api(fed):
    """Every message between the home and its peers, recorded: requests, answers, refusals
    and notifications, through a create, a re-route around a lost border, a refusal and a
    delete. No site of a domain that is neither a border point nor a cloud appears, nor a
    link of one (west's Hiroshima exchange, east's Sendai and Sapporo exchanges)."""
    import grpc

    from proto.intercloud.federation.v1 import federation_pb2_grpc as fpb_grpc
    from tests.fedharness import Recorder
    home, domains = fed
    recorder = Recorder()
    for peer in home.peers.values():
        peer.channel = grpc.intercept_channel(peer.channel, recorder)
        peer.stub = fpb_grpc.FederationServiceStub(peer.channel)
    fs = home.create(dict(SLICE))
    # cut the border east—west the slice uses: the re-route goes through west's inside again
    border = next(b for b in FED.borders if b.name in fs.tags and "west" in (b.a.domain, b.b.domain)
                  and "east" in (b.a.domain, b.b.domain))
    port = next(p for (s, p), x in home._ports["west"].items() if x == border)
    w = domains["west"]
    w.ctl.call(lambda: w.ctl.port_changed(border.end_in("west").site, port, False))
    import time
    deadline = time.monotonic() + 5
    while border.name in home.get("medical").tags and time.monotonic() < deadline:
        time.sleep(0.02)
    with pytest.raises(FederatedRefusal):
        home.create({**SLICE, "name": "second", "priority": 4})
    home.delete("medical")
    text = recorder.text()
    assert "Reserve" in text and "Modify" in text and "Terminate" in text and "PERMISSION_DENIED" in text
    internal = {"hiroshima-ix", "sendai-ix", "sapporo-ix"}
    assert not {name for name in internal if name in text}, [l for l in text.splitlines() if any(n in l for n in internal)][:5]


def test_a_border_tag_in_use_at_either_end_is_not_chosen_again(fed):
    home, _domains = fed

    class Scripted:
        """Random tags as scripted: 100 for the first slice, then 100 again (in use), then 200."""
        seq = iter([100] * 5 + [100, 200] * 5)

        def randint(self, _a, _b):
            return next(self.seq)
    home._rng = Scripted()
    two = {**SLICE, "endpoints": SLICE["endpoints"][:2]}
    first = home.create({**two, "name": "one"})
    second = home.create({**two, "name": "two", "endpoints": [
        {"site": "tokyo-dc", "port": 2, "ip": "10.9.1.1"}, {"site": "west/osaka-dc", "port": 2, "ip": "10.9.1.2"}]})
    assert set(first.tags) == set(second.tags) and set(first.tags.values()) == {100}
    assert set(second.tags.values()) == {200}


def test_a_slice_booked_ahead_across_domains_starts_and_ends_in_every_domain(fed):
    """Reserve carries the schedule, as NSI's does: each domain books its part ahead, lights
    it at the start (it was provisioned) and removes it at the end."""
    import time

    from slices.schedule import rfc3339
    home, domains = fed
    now = time.time()
    fs = home.create({**SLICE, "schedule": {"start": rfc3339(now + 2), "end": rfc3339(now + 4)}})
    assert all(p.state == "Provisioned" for p in fs.parts.values())
    from controller.auth import ANYONE
    from controller.fedapi import fed_slice_message
    from proto.intercloud.slicing.v1 import slicing_pb2 as pb
    assert fed_slice_message(fs, ANYONE).state == pb.SLICE_STATE_SCHEDULED
    for d in domains.values():   # booked, no rules yet
        assert lit(d) == set()
        assert d.ctl.call(lambda d=d: set(d.ctl.engine.bookings)) == {fs.parts[d.name].cid}
    deadline = time.monotonic() + 6
    while any(lit(d) == set() for d in domains.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(lit(d) == {fs.parts[n].cid} for n, d in domains.items()), "not lit at the start"
    assert time.time() >= now + 2
    while any(lit(d) for d in domains.values()) and time.monotonic() < deadline + 4:
        time.sleep(0.05)
    assert all(lit(d) == set() and d.booked() == {} for d in domains.values()), "not removed at the end"
    assert time.time() >= now + 4
    assert home.names() == []


def test_a_schedule_in_the_past_is_refused_by_its_field(fed):
    home, _ = fed
    with pytest.raises(SpecError) as e:
        home.create({**SLICE, "schedule": {"start": "2020-01-01T00:00:00Z", "end": "2020-01-01T01:00:00Z"}})
    assert "schedule.start" in str(e.value)


def test_a_reconciliation_at_the_moment_a_part_is_answered_leaves_it_alone(fed):
    """A peer's stream reopening makes the home reconcile with it; if that happens just as
    the peer answers a Reserve (before the home has noted the part), the part is the
    create's, not an orphan: the create goes through."""
    home, domains = fed
    west = home.peers["west"]
    real = west.reserve

    def reserve_then_reconcile(*args, **kwargs):
        answered = real(*args, **kwargs)
        home._reconcile("west")   # the moment the part exists at west and nowhere in the home's notes
        return answered
    west.reserve = reserve_then_reconcile
    fs = home.create(dict(SLICE))
    assert all(p.state == "Provisioned" for p in fs.parts.values())
    assert lit(domains["west"]) == {fs.parts["west"].cid}
